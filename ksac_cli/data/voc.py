"""PASCAL VOC 2012 (and the built-in dataset, written in the same layout). Layout (docs/datasets.md):
JPEGImages/, SegmentationClass/ (SegmentationClassAug/ for trainaug) and ImageSets/Segmentation/."""

from __future__ import annotations

import json
from pathlib import Path

from ksac_cli.data.base import Sample, SegmentationDataset
from ksac_cli.data.classes import VOC_CLASSES, voc_palette
from ksac_cli.errors import KsacError

SPLIT_FILES = {"trainaug": "train_aug.txt", "train_aug": "train_aug.txt"}


def find_root(root: Path) -> Path:
    for candidate in (root, root / "VOC2012", root / "VOCdevkit" / "VOC2012"):
        if (candidate / "JPEGImages").is_dir():
            return candidate
    raise KsacError(f"--data-root {root}: no PASCAL VOC layout there (expected JPEGImages/, SegmentationClass/ and "
                    f"ImageSets/Segmentation/ in it, in VOC2012/ or in VOCdevkit/VOC2012/)")


def read_ids(list_file: Path) -> list[str]:
    if not list_file.is_file():
        raise KsacError(f"split list {list_file} does not exist")
    return [Path(line.split()[0]).stem for line in list_file.read_text().splitlines() if line.strip()]


def voc(root: str | Path, split: str, transform=None) -> SegmentationDataset:
    root = find_root(Path(root))
    sets = root / "ImageSets" / "Segmentation"
    list_file = sets / SPLIT_FILES.get(split, f"{split}.txt")
    if not list_file.is_file():
        found = sorted(p.stem for p in sets.glob("*.txt")) if sets.is_dir() else []
        raise KsacError(f"--split {split!r}: no list {list_file}; splits found there: {', '.join(found) or 'none'} "
                        f"(trainaug reads train_aug.txt)")
    masks = "SegmentationClassAug" if split in SPLIT_FILES else "SegmentationClass"
    samples = [Sample(i, root / "JPEGImages" / f"{i}.jpg", root / masks / f"{i}.png") for i in read_ids(list_file)]
    info = root / "dataset.json"  # the built-in dataset's
    classes = json.loads(info.read_text())["classes"] if info.is_file() else VOC_CLASSES
    return SegmentationDataset("voc", split, samples, classes, voc_palette(), transform, list_file=list_file)
