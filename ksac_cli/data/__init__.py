"""Datasets: the name table, the one translation point `build_dataset`, and the batch contract (every
reader returns a `SegmentationDataset`; data/base.py states its items and `collate`'s `Batch`es)."""

from __future__ import annotations

from pathlib import Path

from ksac_cli.config import DataConfig
from ksac_cli.data.ade20k import ade20k
from ksac_cli.data.base import BadSample, Batch, SegmentationDataset, Uint8Items, collate, collate_by_size
from ksac_cli.data.cityscapes import cityscapes
from ksac_cli.data.classes import SYNTHETIC_CLASSES
from ksac_cli.data.decoded import FOLDER as DECODED_FOLDER
from ksac_cli.data.decoded import DecodedStore
from ksac_cli.data.folder import folder
from ksac_cli.data.objects import WithObjectSizes, object_size_map
from ksac_cli.data.synthetic import ensure_synthetic
from ksac_cli.data.transforms import eval_transform, train_transform
from ksac_cli.data.voc import voc
from ksac_cli.errors import unknown_name

DATASETS = {"synthetic": voc, "voc": voc, "ade20k": ade20k, "cityscapes": cityscapes, "folder": folder}


def dataset_root(cfg: DataConfig):
    """The folder the reader reads; for the built-in dataset, generated on first use."""
    if cfg.dataset == "synthetic":
        return ensure_synthetic(cfg.synthetic, cfg.data_root)
    return cfg.data_root


def val_facts(cfg: DataConfig) -> tuple[int, int, int]:
    """(classes, images, side in px) of `cfg`'s evaluation split, for `ksac ablate`'s plan: the built-in
    dataset's from its settings (not generated); another dataset's read once from its split, with the crop
    size standing in for its images' sides, which vary."""
    if cfg.dataset == "synthetic":
        return len(SYNTHETIC_CLASSES), cfg.synthetic.val, cfg.synthetic.size
    val = build_dataset(cfg, cfg.val_split, train=False)
    return val.num_classes, len(val), cfg.crop_size


def build_dataset(cfg: DataConfig, split: str, train: bool, eval_scale: float = 1.0,
                  images: int | None = None) -> SegmentationDataset:
    """`split` of `cfg.dataset` (its first `images` samples; None: all), with the training transform (random
    scale, crop, flip) or the evaluation one (every image and mask rescaled by `eval_scale`: `ksac analyze`'s
    scale sweep)."""
    if cfg.dataset not in DATASETS:
        raise unknown_name("dataset", cfg.dataset, DATASETS)
    transform = train_transform(cfg.crop_size, cfg.scale_min, cfg.scale_max) if train else eval_transform(eval_scale)
    root = dataset_root(cfg)
    dataset = DATASETS[cfg.dataset](root, split, transform)
    dataset.name = cfg.dataset
    dataset.samples = dataset.samples[:images]  # eval.max_images (--eval-images), ksac analyze --images
    if cfg.dataset == "synthetic":  # small, and in the toolkit's own folder: decoded once (data/decoded.py)
        dataset.decoded = DecodedStore(Path(root) / DECODED_FOLDER)
    return dataset


__all__ = ["BadSample", "Batch", "DATASETS", "SegmentationDataset", "build_dataset", "collate", "collate_by_size",
           "dataset_root", "val_facts",
           "Uint8Items", "WithObjectSizes", "object_size_map"]
