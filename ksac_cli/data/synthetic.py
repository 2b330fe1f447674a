"""The built-in dataset: shapes that differ only by outline, at every scale, on cluttered texture.

Its design is docs/datasets.md's. Image i of a split is drawn from a generator seeded by (seed, split, i),
whatever the number of workers, and written in the PASCAL VOC layout plus dataset.json, written last."""

from __future__ import annotations

import hashlib
import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ksac_cli import io, signals
from ksac_cli.config import SyntheticConfig
from ksac_cli.data.classes import SYNTHETIC_CLASSES, voc_palette

GENERATOR_VERSION = 2
SPLITS = {"train": 0, "val": 1}


def colour(rng: np.random.Generator, saturated: bool) -> np.ndarray:
    """An RGB colour: saturated (any hue) for objects, greyish for the background."""
    if not saturated:
        return rng.uniform(30, 225) + rng.uniform(-12, 12, 3)
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.55, 1.0), rng.uniform(0.45, 1.0)
    i, f = int(hue * 6) % 6, hue * 6 - int(hue * 6)
    p, q, t = val * (1 - sat), val * (1 - f * sat), val * (1 - (1 - f) * sat)
    rgb = [(val, t, p), (q, val, p), (p, val, t), (p, q, val), (t, p, val), (val, p, q)][i]
    return 255 * np.asarray(rgb)


def texture(rng: np.random.Generator, size: int, saturated: bool = True) -> np.ndarray:
    """(size, size, 3) float32: two random colours blended by smooth noise, plus pixel noise."""
    c1, c2 = colour(rng, saturated), colour(rng, saturated)
    cells = int(rng.integers(2, 9))
    coarse = Image.fromarray((rng.random((cells, cells)) * 255).astype(np.uint8))
    t = np.asarray(coarse.resize((size, size), Image.BICUBIC), dtype=np.float32)[..., None] / 255.0
    out = c1 * (1 - t) + c2 * t
    return out + rng.normal(0, 10, (size, size, 1)).astype(np.float32)


def outline(kind: str, cx: float, cy: float, r: float, angle: float) -> list[tuple[float, float]]:
    """Polygon vertices of a shape of circumradius r (disc and ring are drawn as ellipses instead)."""
    def rotate(points):
        c, s = math.cos(angle), math.sin(angle)
        return [(cx + x * c - y * s, cy + x * s + y * c) for x, y in points]

    if kind == "square":
        return rotate([(r * math.cos(a), r * math.sin(a)) for a in np.arange(4) * math.pi / 2 + math.pi / 4])
    if kind == "triangle":
        return rotate([(r * math.cos(a), r * math.sin(a)) for a in np.arange(3) * 2 * math.pi / 3])
    if kind == "cross":
        w = r / 3
        return rotate([(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w),
                       (-r, -w), (-w, -w)])
    raise ValueError(kind)


def shape_mask(kind: str, size: int, cx: float, cy: float, r: float, angle: float) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    if kind in ("disc", "ring"):
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
        if kind == "ring":
            ri = 0.55 * r
            draw.ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=0)
    else:
        draw.polygon(outline(kind, cx, cy, r, angle), fill=1)
    return np.asarray(canvas, dtype=bool)


def clutter(rng: np.random.Generator, size: int) -> np.ndarray:
    """Background distractors: strokes and small blobs (labelled background)."""
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(3, 9))):
        x0, y0 = rng.uniform(0, size, 2)
        length, angle = rng.uniform(0.05, 0.4) * size, rng.uniform(0, 2 * math.pi)
        draw.line([x0, y0, x0 + length * math.cos(angle), y0 + length * math.sin(angle)], fill=1,
                  width=int(rng.integers(1, 5)))
    for _ in range(int(rng.integers(0, 4))):
        x0, y0 = rng.uniform(0, size, 2)
        rx, ry = rng.uniform(2, max(2.0, 0.06 * size), 2)  # radii of 2 px at least (size 32: 0.06 * 32 < 2)
        draw.ellipse([x0 - rx, y0 - ry, x0 + rx, y0 + ry], fill=1)
    return np.asarray(canvas, dtype=bool)


def render(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One image (size, size, 3) uint8 and its mask (size, size) uint8 of class indices."""
    image = texture(rng, size, saturated=False)
    strokes = clutter(rng, size)
    image[strokes] = texture(rng, size, saturated=False)[strokes]
    mask = np.zeros((size, size), dtype=np.uint8)
    n = int(rng.integers(3, 9))
    kinds = rng.integers(1, len(SYNTHETIC_CLASSES), n)
    diameters = np.exp(rng.uniform(math.log(6), math.log(0.95 * size), n))
    for k, d in sorted(zip(kinds.tolist(), diameters.tolist()), key=lambda kd: -kd[1]):  # large first
        cx, cy = rng.uniform(0, size, 2)
        region = shape_mask(SYNTHETIC_CLASSES[k], size, cx, cy, d / 2, rng.uniform(0, 2 * math.pi))
        image[region] = texture(rng, size)[region]
        mask[region] = k
    return np.clip(image, 0, 255).astype(np.uint8), mask


def sample_id(split: str, index: int) -> str:
    return f"{split}_{index:05d}"


def generator_key(seed: int, split: str, index: int) -> tuple[int, int, int]:
    """The seed sequence image `index` of `split` is drawn from: two datasets share an image only if they
    share a key (ksac pretrain uses another dataset seed, so none of its keys is an experiment's)."""
    return (seed, SPLITS[split], index)


def generator_keys(cfg: SyntheticConfig) -> set[tuple[int, int, int]]:
    """Every image's key of a dataset with these settings (train and val)."""
    return {generator_key(cfg.seed, split, i) for split, count in (("train", cfg.train), ("val", cfg.val))
            for i in range(count)}


def _write_range(folder: str, split: str, start: int, stop: int, size: int, seed: int) -> None:
    palette = voc_palette().reshape(-1).tolist()
    for index in range(start, stop):
        rng = np.random.default_rng(list(generator_key(seed, split, index)))
        image, mask = render(rng, size)
        name = sample_id(split, index)
        jpeg = io.serialised(lambda f: Image.fromarray(image).save(f, format="JPEG", quality=90))
        io.write_bytes(Path(folder) / "JPEGImages" / f"{name}.jpg", jpeg)
        png = Image.fromarray(mask, mode="P")
        png.putpalette(palette)
        io.write_bytes(Path(folder) / "SegmentationClass" / f"{name}.png",
                       io.serialised(lambda f: png.save(f, format="PNG")))


def settings_of(cfg: SyntheticConfig) -> dict:
    return {"generator_version": GENERATOR_VERSION, "train": cfg.train, "val": cfg.val, "size": cfg.size,
            "seed": cfg.seed}


def is_complete(folder: Path, settings: dict) -> bool:
    info = folder / "dataset.json"
    try:
        return info.is_file() and json.loads(info.read_text())["settings"] == settings
    except (json.JSONDecodeError, KeyError):
        return False


def generate(folder: Path, cfg: SyntheticConfig, workers: int | None = None) -> Path:
    """Write the dataset into `folder` (in parallel), dataset.json last; reuse it when already complete."""
    settings = settings_of(cfg)
    if is_complete(folder, settings):
        return folder
    with io.file_lock(folder):
        if is_complete(folder, settings):  # another process made it while we waited
            return folder
        workers = workers or min(os.cpu_count() or 1, 8)
        jobs = []
        for split, count in (("train", cfg.train), ("val", cfg.val)):
            step = max(1, math.ceil(count / (4 * workers)))
            jobs += [(str(folder), split, s, min(s + step, count), cfg.size, cfg.seed) for s in range(0, count, step)]
        if workers > 1:
            pool = ProcessPoolExecutor(workers, initializer=signals.ignore)
            try:
                for future in [pool.submit(_write_range, *job) for job in jobs]:
                    future.result()
            finally:  # stopped by a signal: the workers end the range they write, the others are dropped
                pool.shutdown(cancel_futures=True)
        else:
            for job in jobs:
                _write_range(*job)
        for split, count in (("train", cfg.train), ("val", cfg.val)):
            io.write_text(folder / "ImageSets" / "Segmentation" / f"{split}.txt",
                          "".join(sample_id(split, i) + "\n" for i in range(count)))
        io.write_json(folder / "dataset.json", {
            "name": "ksac synthetic shapes", "classes": SYNTHETIC_CLASSES, "settings": settings,
            "layout": "PASCAL VOC", "borders_ignored": False,
            "description": "shape classes differing only by outline; sizes log-uniform 6 px .. 95% of the side"})
    return folder


def default_root() -> Path:
    home = os.environ.get("KSAC_HOME")
    return (Path(home) if home else Path.home() / ".cache" / "ksac") / "datasets"


def ensure_synthetic(cfg: SyntheticConfig, root: str | Path | None = None, workers: int | None = None) -> Path:
    """The folder of the built-in dataset with these settings, generated on first use. `root` (--data-root) is
    a cache folder of one synthetic-<hash> per setting, or a `ksac data synth --out` folder of these settings."""
    root = Path(root) if root else default_root()
    settings = settings_of(cfg)
    if is_complete(root, settings):
        return root
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    return generate(root / f"synthetic-{digest}", cfg, workers)


def figure(folder: Path, path: str | Path, count: int = 4) -> None:
    """A PNG of the first `count` training images above their masks (VOC colours)."""
    columns = []
    for i in range(count):
        name = sample_id("train", i)
        image = np.asarray(Image.open(folder / "JPEGImages" / f"{name}.jpg").convert("RGB"))
        mask = np.asarray(Image.open(folder / "SegmentationClass" / f"{name}.png"))
        columns.append(np.concatenate([image, voc_palette()[mask]], axis=0))
    gap = np.full((columns[0].shape[0], 4, 3), 255, np.uint8)
    grid = np.concatenate([c for col in columns for c in (col, gap)][:-1], axis=1)
    io.write_bytes(path, io.serialised(lambda f: Image.fromarray(grid).save(f, format="PNG")))
