"""Training and evaluation transforms: geometry on uint8 tensors one sample at a time, normalisation on
whole batches. The random draws come from torch's global RNG (seeded per sample by engine/sampler.py) in
torchvision.transforms.v2's order and formulas: the crops are bit for bit v2's, and `normalise` equals
v2.ToDtype(scale=True) + v2.Normalize(MEAN, STD) to the bit (docs/performance.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from ksac_cli.conventions import IGNORE_INDEX

MEAN = (0.485, 0.456, 0.406)  # ImageNet, as the pretrained backbones expect
STD = (0.229, 0.224, 0.225)
MEAN_UINT8 = tuple(round(255 * m) for m in MEAN)


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one thread inside: the data path's small ops, which on the model's threads wait for the
    slowest one (docs/performance.md). A loader worker runs on one thread already."""
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


_MEAN, _STD = torch.tensor(MEAN).view(3, 1, 1), torch.tensor(STD).view(3, 1, 1)
_MEAN_FILL = torch.tensor(MEAN_UINT8, dtype=torch.uint8).view(3, 1, 1)  # (3, 1, 1): the image's padding


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> float32 (..., 3, H, W): x / 255, minus MEAN, over STD, per channel; the ops
    of v2.ToDtype(float32, scale=True) and v2.Normalize in their order, in place on one new tensor."""
    out = images.to(torch.float32)
    return out.mul_(1.0 / 255).sub_(_MEAN.to(out.device)).div_(_STD.to(out.device))


def as_tensors(image: Image.Image | np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 image (3, H, W), uint8 mask (H, W)) of a PIL image or an (H, W, 3) array, and a mask array."""
    if isinstance(image, Image.Image):
        image = TF.pil_to_tensor(image)
    elif isinstance(image, np.ndarray):
        pixels = image if image.flags.writeable else image.copy()
        image = torch.from_numpy(pixels).permute(2, 0, 1)  # (3, H, W), a view of the (H, W, 3) pixels
    if isinstance(mask, np.ndarray):
        mask = torch.from_numpy(mask if mask.dtype == np.uint8 and mask.flags.writeable else mask.astype(np.uint8))
    return image, mask


def resize(image: torch.Tensor, mask: torch.Tensor, size: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Image bilinear (antialiased), mask nearest, both to `size` [H, W]; unchanged when already that size."""
    if list(image.shape[-2:]) == size:
        return image, mask
    return resize_image(image, size), TF.resize(mask[None], size, interpolation=v2.InterpolationMode.NEAREST)[0]


def resize_image(image: torch.Tensor, size: list[int]) -> torch.Tensor:
    """uint8 (3, H, W) -> (3, *size), bilinear and antialiased; unchanged when already that size."""
    return TF.resize(image, size, interpolation=v2.InterpolationMode.BILINEAR, antialias=True)


@lru_cache(maxsize=1024)  # the built-in dataset needs about 200 (one image side, rescaled to 192..384)
def nearest_sources(length: int, size: int) -> np.ndarray:
    """(size,) int64, read-only: the source index of each position when `length` positions are resized to
    `size` by the mask's nearest interpolation (`resize`), read off torch's own nearest resize of 0, 1, ...,
    length - 1. That resize is separable (an output row's source depends on the two heights alone, a
    column's on the two widths), so a mask's crop is `mask[sources_y][:, sources_x]`, bit for bit."""
    positions = torch.arange(length, dtype=torch.float32).view(1, length, 1)  # exact below 2**24
    sources = TF.resize(positions, [size, 1], interpolation=v2.InterpolationMode.NEAREST).view(size)
    out = sources.to(torch.int64).numpy()
    out.flags.writeable = False  # shared by every caller (the cache)
    return out


def scaled_size(h: int, w: int, scale: float) -> list[int]:
    return [max(1, round(h * scale)), max(1, round(w * scale))]


@dataclass(frozen=True)
class Rescale:
    """Resize image and mask by `factor` (1.0: untouched)."""

    factor: float = 1.0

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return resize(image, mask, scaled_size(*image.shape[-2:], self.factor))


@dataclass(frozen=True)
class Augment:
    """Random scale in [low, high] (image bilinear and antialiased), pad (image with the mean colour, mask with
    255) to `crop` x `crop` at the right and bottom, random crop, horizontal flip (p = 0.5), in one copy."""

    crop: int
    low: float
    high: float

    def __call__(self, image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        crop = self.crop
        h, w = image.shape[-2:]
        size = scaled_size(h, w, self.low + (self.high - self.low) * float(torch.rand(())))
        padded = [max(s, crop) for s in size]
        top = int(torch.randint(0, padded[0] - crop + 1, size=())) if padded[0] > crop else 0
        left = int(torch.randint(0, padded[1] - crop + 1, size=())) if padded[1] > crop else 0
        flip = bool(torch.rand(1) < 0.5)
        rows, cols = min(crop, size[0] - top), min(crop, size[1] - left)  # the rest of the crop is padding
        first = crop - cols if flip else 0  # the crop's first column: flipped, the padding comes first
        out_image, out_mask = image.new_empty((3, crop, crop)), mask.new_empty((crop, crop))
        if rows < crop or cols < crop:
            out_image.copy_(_MEAN_FILL)
            out_mask.fill_(IGNORE_INDEX)
        # The image is rescaled whole: torch's uint8 antialiased kernel derives every pixel's weights from the
        # whole axis (its scale, and one fixed-point precision set by the axis's largest weight), so no
        # smaller call gives the crop's pixels bit for bit. The crop is copied out with numpy: it reads the
        # flip as a negative stride, and copies the (H, W, 3) memory of the rescaled image into (3, H, W)
        # twice as fast as torch's copy_ (0.06 ms against 0.11 for a 256 crop here).
        pixels = resize_image(image, size)[:, top:top + rows, left:left + cols].numpy()  # (3, rows, cols)
        np.copyto(out_image.numpy()[:, :rows, first:first + cols], pixels[..., ::-1] if flip else pixels)
        # The mask is not rescaled: the crop's labels are gathered from their nearest sources.
        sources_y = nearest_sources(h, size[0])[top:top + rows]
        sources_x = nearest_sources(w, size[1])[left:left + cols]
        labels = mask.numpy().take(sources_y, axis=0).take(sources_x[::-1] if flip else sources_x, axis=1)
        out_mask.numpy()[:rows, first:first + cols] = labels  # (rows, cols)
        return out_image, out_mask


@dataclass(frozen=True)
class Pair:
    """(image, mask) -> (float32 image (3, H, W) normalised, int64 mask (H, W)); with `normalised=False`
    (the loaders: `data.collate` normalises the whole batch) a uint8 image and a uint8 mask."""

    geometry: Augment | Rescale

    def __call__(self, image, mask, normalised: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        with one_thread():
            image, mask = self.geometry(*as_tensors(image, mask))
            if not normalised:
                return image, mask
            return normalise(image), mask.to(torch.int64)


def train_transform(crop_size: int, scale_min: float = 0.5, scale_max: float = 2.0) -> Pair:
    return Pair(Augment(crop_size, scale_min, scale_max))


def eval_transform(scale: float = 1.0) -> Pair:
    """The whole image (and mask), optionally rescaled by `scale`; 1.0 leaves both untouched."""
    return Pair(Rescale(scale))
