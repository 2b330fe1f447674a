"""Your own data: a folder of images and masks. Layout (docs/datasets.md): classes.txt, images/, masks/ and
an optional <split>.txt."""

from __future__ import annotations

from pathlib import Path

from ksac_cli.data.base import Sample, SegmentationDataset
from ksac_cli.data.classes import voc_palette
from ksac_cli.data.voc import read_ids
from ksac_cli.errors import KsacError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def folder(root: str | Path, split: str, transform=None) -> SegmentationDataset:
    root = Path(root)
    classes_file = root / "classes.txt"
    if not classes_file.is_file() or not (root / "images").is_dir():
        raise KsacError(f"--data-root {root}: expected classes.txt, images/ and masks/ there (see `ksac data check --help`)")
    classes = [line.strip() for line in classes_file.read_text().splitlines() if line.strip()]
    images = {p.stem: p for p in sorted((root / "images").iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    list_file = root / f"{split}.txt"
    ids = read_ids(list_file) if list_file.is_file() else sorted(images)
    samples = [Sample(i, images.get(i, root / "images" / f"{i}.jpg"), root / "masks" / f"{i}.png") for i in ids]
    return SegmentationDataset("folder", split, samples, classes, voc_palette(), transform,
                               list_file=list_file if list_file.is_file() else root / "images")
