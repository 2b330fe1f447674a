"""Cityscapes (fine annotations), 19 training classes. Layout (docs/datasets.md): leftImg8bit/ and gtFine/;
where only *_gtFine_labelIds.png exist, they are mapped to trainIds by the official table on reading."""

from __future__ import annotations

from pathlib import Path

from ksac_cli.data.base import Sample, SegmentationDataset
from ksac_cli.data.classes import CITYSCAPES_CLASSES, CITYSCAPES_ID_TO_TRAIN_ID, cityscapes_palette, lookup_table
from ksac_cli.errors import KsacError

ID_TABLE = lookup_table(CITYSCAPES_ID_TO_TRAIN_ID)
SUFFIX = "_leftImg8bit.png"


def cityscapes(root: str | Path, split: str, transform=None) -> SegmentationDataset:
    root = Path(root)
    images = root / "leftImg8bit" / split
    if not images.is_dir():
        raise KsacError(f"--data-root {root}: no {images} (expected leftImg8bit/{{train,val}}/<city>/ and "
                        f"gtFine/{{train,val}}/<city>/)")
    samples = []
    for path in sorted(images.glob(f"*/*{SUFFIX}")):
        stem = path.name[: -len(SUFFIX)]
        gt = root / "gtFine" / split / path.parent.name
        train_ids = gt / f"{stem}_gtFine_labelTrainIds.png"
        samples.append(Sample(stem, path, train_ids if train_ids.exists() else gt / f"{stem}_gtFine_labelIds.png"))
    label_ids = [s for s in samples if s.mask.name.endswith("_labelIds.png")]
    if label_ids and len(label_ids) < len(samples):
        raise KsacError(f"{label_ids[0].mask.parent}: some images have *_labelTrainIds.png and some only "
                        f"*_labelIds.png (e.g. {label_ids[0].mask.name}); make them all one kind")
    return SegmentationDataset("cityscapes", split, samples, CITYSCAPES_CLASSES, cityscapes_palette(), transform,
                               ID_TABLE if label_ids else None, list_file=images)  # only labelIds: mapped
