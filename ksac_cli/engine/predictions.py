"""`ksac eval --save-predictions DIR`: one palette PNG of class indices per image (`<id>.png`, the size
of the original image), and a side-by-side overlay (`<id>_overlay.jpg`: the image | the prediction's
colours blended half and half with the image | the truth's colours)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ksac_cli import io


def encode(image: Image.Image, fmt: str, quality: int = 90) -> bytes:
    """The image as PNG or JPEG bytes (`quality` for JPEG)."""
    return io.serialised(lambda f: image.save(f, format=fmt, **({"quality": quality} if fmt == "JPEG" else {})))


def denormalised(image: torch.Tensor, mean, std) -> np.ndarray:
    """(3, H, W) normalised float -> (H, W, 3) uint8 RGB."""
    mean = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)
    rgb = (image.cpu().float().numpy() * std + mean) * 255
    return rgb.round().clip(0, 255).astype(np.uint8).transpose(1, 2, 0)


def colourise(labels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(H, W) class indices (255 = ignore) -> (H, W, 3) uint8 colours."""
    return palette[labels.astype(np.int64).clip(0, 255)]


def full_palette(palette) -> np.ndarray:
    """(256, 3) uint8: the dataset's palette padded with black."""
    palette = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:256]
    return np.concatenate([palette, np.zeros((256 - len(palette), 3), np.uint8)])


def palette_png(labels_hw: np.ndarray, palette: np.ndarray) -> bytes:
    """A palette PNG of class indices (255 = ignore kept as 255); `palette` as `full_palette` makes it."""
    image = Image.fromarray(labels_hw.astype(np.uint8), mode="P")
    image.putpalette(palette.reshape(-1).tolist())
    return encode(image, "PNG")


def overlay_panel(rgb: np.ndarray, pred_rgb: np.ndarray, truth_rgb: np.ndarray) -> np.ndarray:
    """(H, 3W, 3) uint8: the image | the prediction's colours blended half and half with it | the truth's colours."""
    blend = (0.5 * rgb.astype(np.float32) + 0.5 * pred_rgb.astype(np.float32)).astype(np.uint8)
    return np.concatenate([rgb.astype(np.uint8), blend, truth_rgb.astype(np.uint8)], axis=1)


class PredictionWriter:
    def __init__(self, out_dir: str | Path, palette, mean: tuple, std: tuple) -> None:
        self.out_dir = Path(out_dir)
        self.palette = full_palette(palette)
        self.mean, self.std = mean, std

    def write(self, image: torch.Tensor, pred: torch.Tensor, truth: torch.Tensor, sample_id: str) -> None:
        labels = pred.cpu().numpy().astype(np.uint8)  # (H, W)
        io.write_bytes(self.out_dir / f"{sample_id}.png", palette_png(labels, self.palette))
        rgb = denormalised(image, self.mean, self.std)
        side = overlay_panel(rgb, colourise(labels, self.palette), colourise(truth.cpu().numpy(), self.palette))
        io.write_bytes(self.out_dir / f"{sample_id}_overlay.jpg", encode(Image.fromarray(side), "JPEG"))
