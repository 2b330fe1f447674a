"""ADE20K SceneParsing (ADEChallengeData2016), 150 classes. Layout (docs/datasets.md): images/ and
annotations/{training,validation}; label 0 becomes 255 (ignore) and 1..150 become 0..149."""

from __future__ import annotations

from pathlib import Path

from ksac_cli.data.base import Sample, SegmentationDataset
from ksac_cli.data.classes import ADE20K_CLASSES, lookup_table, voc_palette
from ksac_cli.errors import KsacError

ALIASES = {"train": "training", "val": "validation"}
TABLE = lookup_table({k: k - 1 for k in range(1, 151)})  # 0 -> 255


def ade20k(root: str | Path, split: str, transform=None) -> SegmentationDataset:
    root = Path(root)
    if (root / "ADEChallengeData2016").is_dir():
        root = root / "ADEChallengeData2016"
    split_dir = ALIASES.get(split, split)
    images = root / "images" / split_dir
    if not images.is_dir():
        raise KsacError(f"--data-root {root}: no {images} (expected ADEChallengeData2016/images/{{training,validation}} "
                        f"and annotations/...; --split training or validation)")
    samples = [Sample(p.stem, p, root / "annotations" / split_dir / f"{p.stem}.png")
               for p in sorted(images.glob("*.jpg"))]
    return SegmentationDataset("ade20k", split, samples, ADE20K_CLASSES, voc_palette(), transform, TABLE,
                               list_file=images)
