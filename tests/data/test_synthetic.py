"""The built-in dataset: deterministic, every class at every size, and colour says nothing of the class."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ksac_cli.config import DataConfig, SyntheticConfig
from ksac_cli.data import build_dataset
from ksac_cli.data.classes import SYNTHETIC_CLASSES
from ksac_cli.data.objects import bucket, object_sizes
from ksac_cli.data.synthetic import ensure_synthetic, generate


def files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
            and not p.name.endswith(".lock")}


def test_same_seed_same_bytes_whatever_the_workers(tmp_path):
    cfg = SyntheticConfig(train=6, val=2, size=96, seed=5)
    a, b = files(generate(tmp_path / "a", cfg, workers=1)), files(generate(tmp_path / "b", cfg, workers=2))
    assert a == b and len(a) == 2 * 8 + 3  # images + masks, two lists, dataset.json
    c = files(generate(tmp_path / "c", SyntheticConfig(train=6, val=2, size=96, seed=6), workers=1))
    assert c.keys() == a.keys() and c != a


def test_cache_reuse_and_a_folder_per_setting(tmp_path):
    one = ensure_synthetic(SyntheticConfig(train=3, val=1, size=64), tmp_path)
    stamp = (one / "dataset.json").stat().st_mtime_ns
    assert ensure_synthetic(SyntheticConfig(train=3, val=1, size=64), tmp_path) == one
    assert (one / "dataset.json").stat().st_mtime_ns == stamp  # reused, not rewritten
    other = ensure_synthetic(SyntheticConfig(train=3, val=1, size=64, seed=1), tmp_path)
    assert other != one and other.parent == one.parent
    info = json.loads((one / "dataset.json").read_text())
    assert info["classes"] == SYNTHETIC_CLASSES and info["settings"]["size"] == 64
    # a folder made with --out and these settings is used as it is
    assert ensure_synthetic(SyntheticConfig(train=3, val=1, size=64), one) == one


SAMPLE = SyntheticConfig(train=80, val=1, size=256, seed=0)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    folder = generate(tmp_path_factory.mktemp("synth") / "d", SAMPLE)
    pairs = []
    for i in range(80):
        image = np.asarray(Image.open(folder / "JPEGImages" / f"train_{i:05d}.jpg"))
        mask = np.asarray(Image.open(folder / "SegmentationClass" / f"train_{i:05d}.png"))
        pairs.append((image, mask))
    return folder, pairs


def test_every_class_at_small_medium_and_large_sizes(sample):
    folder, pairs = sample
    counts = {(c, b): 0 for c in range(1, 6) for b in ("small", "medium", "large")}
    for _, mask in pairs:
        for c, area in object_sizes(mask, set(range(1, 6))):
            counts[(c, bucket(area))] += 1
    assert min(counts.values()) >= 3, counts
    # the folder as it is (its settings): with the default settings the cache would make another dataset in it
    ds = build_dataset(DataConfig(data_root=str(folder), synthetic=SAMPLE), "train", train=False)
    assert len(ds) == 80 and not any(p.name.startswith("synthetic-") for p in folder.iterdir())
    assert ds.classes == SYNTHETIC_CLASSES and ds.object_classes == [1, 2, 3, 4, 5]


def test_colour_does_not_tell_the_classes_apart(sample):
    """A nearest-class-mean classifier on each object pixel's RGB (and on each object's mean RGB) is at
    chance on held-out images, while it separates a deliberately colour-coded copy of the same data."""
    _, pairs = sample
    train, test = pairs[:50], pairs[50:]

    def pixels(subset, coded=False):
        xs, ys = [], []
        rng = np.random.default_rng(0)
        for image, mask in subset:
            keep = (mask > 0) & (mask < 255)
            idx = np.flatnonzero(keep)
            idx = rng.choice(idx, min(len(idx), 2000), replace=False) if len(idx) else idx
            x = image.reshape(-1, 3)[idx].astype(np.float64)
            y = mask.reshape(-1)[idx].astype(np.int64)
            if coded:  # control: make each class brighter by a class-specific amount
                x = x + 150.0 * y[:, None]
            xs.append(x), ys.append(y)
        return np.concatenate(xs), np.concatenate(ys)

    def accuracy(coded):
        x, y = pixels(train, coded)
        means = np.stack([x[y == c].mean(0) for c in range(1, 6)])
        xt, yt = pixels(test, coded)
        pred = 1 + np.argmin(((xt[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
        return float((pred == yt).mean()), float(np.bincount(yt).max() / len(yt))

    acc, majority = accuracy(coded=False)
    assert acc < max(0.2 + 0.07, majority + 0.05), (acc, majority)  # chance is 1/5
    coded_acc, _ = accuracy(coded=True)
    assert coded_acc > 0.8  # the same classifier does see colour when colour carries the class


def test_the_smallest_allowed_size_generates(tmp_path):
    """`ksac data synth --size 32` (the minimum the config accepts) once crashed drawing the clutter's
    ellipses (radius range 2 .. 0.06 * 32 = 1.92 px)."""
    folder = generate(tmp_path / "s32", SyntheticConfig(train=12, val=4, size=32, seed=0), workers=1)
    masks = sorted(folder.rglob("*.png"))
    assert masks and all(Image.open(p).size == (32, 32) for p in masks)


def test_the_class_count_is_known_without_generating_the_dataset(tmp_path):
    """`ksac ablate --dry-run` needs only the number of classes: on a fresh machine it generates no data."""
    from ksac_cli.data import val_facts

    cfg = DataConfig(data_root=str(tmp_path / "root"), synthetic=SyntheticConfig(train=3, val=1, size=64))
    assert val_facts(cfg) == (len(SYNTHETIC_CLASSES), 1, 64)
    assert not (tmp_path / "root").exists()
    assert build_dataset(cfg, "val", train=False).num_classes == val_facts(cfg)[0]
