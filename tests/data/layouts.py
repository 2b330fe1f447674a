"""Tiny fixtures written on disk in each dataset's real layout (a module name unique across tests/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ksac_cli.data.classes import voc_palette


def rgb(h: int, w: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8))


def palette_png(labels: np.ndarray, path: Path) -> None:
    im = Image.fromarray(labels.astype(np.uint8), mode="P")
    im.putpalette(voc_palette().reshape(-1).tolist())
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def gray_png(labels: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels.astype(np.uint8), mode="L").save(path)


def jpeg(image: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=95)


def voc_mask(h: int, w: int) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    m[4:12, 4:12] = 15  # person
    m[3, 3:13] = 255  # a border
    return m


def make_voc(root: Path, ids=("2007_000032", "2007_000039", "2007_000063"), aug_ids=("2008_000001",)) -> Path:
    voc = root / "VOCdevkit" / "VOC2012"
    for i, name in enumerate(ids):
        jpeg(rgb(20, 24, i), voc / "JPEGImages" / f"{name}.jpg")
        palette_png(voc_mask(20, 24), voc / "SegmentationClass" / f"{name}.png")
    for i, name in enumerate(list(ids) + list(aug_ids)):
        if name in aug_ids:
            jpeg(rgb(20, 24, 10 + i), voc / "JPEGImages" / f"{name}.jpg")
        m = voc_mask(20, 24)
        m[m == 255] = 0
        gray_png(m, voc / "SegmentationClassAug" / f"{name}.png")  # SBD-converted masks are often 'L'
    sets = voc / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "train.txt").write_text("\n".join(ids[:2]) + "\n")
    (sets / "val.txt").write_text(ids[2] + "\n")
    (sets / "trainval.txt").write_text("\n".join(ids) + "\n")
    (sets / "train_aug.txt").write_text("".join(f"/JPEGImages/{n}.jpg /SegmentationClassAug/{n}.png\n"
                                                for n in list(ids[:2]) + list(aug_ids)))
    return root


def make_ade(root: Path) -> Path:
    ade = root / "ADEChallengeData2016"
    for split in ("training", "validation"):
        for i in range(2):
            name = f"ADE_{split[:5]}_{i:08d}"
            jpeg(rgb(16, 18, i), ade / "images" / split / f"{name}.jpg")
            m = np.zeros((16, 18), np.uint8)  # 0 = "other"
            m[:8] = 1  # wall
            m[8:, :9] = 150  # flag
            gray_png(m, ade / "annotations" / split / f"{name}.png")
    return root


def make_cityscapes(root: Path, train_ids: bool) -> Path:
    for split in ("train", "val"):
        for city in ("aachen", "bremen"):
            stem = f"{city}_000000_000019"
            Image.fromarray(np.zeros((16, 32, 3), np.uint8)).save(
                _mk(root / "leftImg8bit" / split / city) / f"{stem}_leftImg8bit.png")
            ids = np.full((16, 32), 7, np.uint8)  # road
            ids[:, 16:] = 26  # car
            ids[0] = 1  # ego vehicle: ignored
            gray_png(ids, root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")
            if train_ids:
                t = np.zeros((16, 32), np.uint8)
                t[:, 16:] = 13
                t[0] = 255
                gray_png(t, root / "gtFine" / split / city / f"{stem}_gtFine_labelTrainIds.png")
    return root


def make_folder(root: Path) -> Path:
    (root / "classes.txt").parent.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("sky\ntree\nhouse\n")
    for i in range(3):
        jpeg(rgb(10, 12, i), root / "images" / f"img{i}.jpg")
        m = np.full((10, 12), i, np.uint8)
        m[0, 0] = 255
        gray_png(m, root / "masks" / f"img{i}.png")
    (root / "val.txt").write_text("img2\n")
    return root


def _mk(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_voc_mixed_sizes(root: Path, train: int = 6, val: int = 7, seed: int = 0) -> Path:
    """A VOC2012 copy whose images ALL differ in size (odd and even sides, portrait and landscape, as in the
    real dataset): a few rectangles of random classes each (most of the 20 classes absent), their outlines
    labelled 255 like VOC's object borders. Ids are VOC-like; train.txt and val.txt list them."""
    rng = np.random.default_rng(seed)
    voc = root / "VOCdevkit" / "VOC2012"
    ids = [f"2008_{i:06d}" for i in range(train + val)]
    seen = set()
    for i, name in enumerate(ids):
        while True:
            h, w = int(rng.integers(37, 90)), int(rng.integers(37, 90))
            if (h, w) not in seen:
                seen.add((h, w))
                break
        m = np.zeros((h, w), np.uint8)
        image = rng.integers(60, 120, (h, w, 3)).astype(np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            c = int(rng.choice([1, 8, 12, 15]))  # aeroplane, cat, dog, person
            y0, x0 = int(rng.integers(0, h - 8)), int(rng.integers(0, w - 8))
            y1, x1 = min(h, y0 + int(rng.integers(6, h))), min(w, x0 + int(rng.integers(6, w)))
            m[y0:y1, x0:x1] = 255
            m[y0 + 1:y1 - 1, x0 + 1:x1 - 1] = c
            image[y0:y1, x0:x1] = (40 * c % 255, 255 - 12 * c, 17 * c % 255)
        jpeg(Image.fromarray(image), voc / "JPEGImages" / f"{name}.jpg")
        palette_png(m, voc / "SegmentationClass" / f"{name}.png")
    sets = voc / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "train.txt").write_text("\n".join(ids[:train]) + "\n")
    (sets / "val.txt").write_text("\n".join(ids[train:]) + "\n")
    return root
