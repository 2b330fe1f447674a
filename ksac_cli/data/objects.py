"""Objects as connected components of one class, and their size buckets (COCO's convention in pixels
of area: small < 32x32, medium < 96x96, large otherwise). Used by `ksac data check` and by the
per-size IoU of the evaluation, whose loader adds each sample's size map in its worker processes."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from ksac_cli.conventions import MEDIUM_AREA, SIZE_BUCKETS, SMALL_AREA
from ksac_cli.data.base import BadSample

BUCKETS = SIZE_BUCKETS



def bucket(area: int) -> str:
    return "small" if area < SMALL_AREA else "medium" if area < MEDIUM_AREA else "large"


def _labelled(mask: np.ndarray, classes):
    """For each class of `classes` present in `mask`: (class, 8-connected component labels, count)."""
    classes = set(classes)
    for c in np.unique(mask):
        if int(c) in classes:
            labels, n = ndimage.label(mask == c, structure=np.ones((3, 3), dtype=bool))
            if n:
                yield int(c), labels, n


def object_sizes(mask: np.ndarray, classes) -> list[tuple[int, int]]:
    """[(class, area in pixels)] of every object (connected component) of the given classes."""
    return [(c, int(a)) for c, labels, _ in _labelled(mask, classes) for a in np.bincount(labels.ravel())[1:]]


def object_size_map(mask: np.ndarray, classes) -> np.ndarray:
    """(H, W) uint8: per pixel, 1 + the index in BUCKETS of the size of the ground-truth object it belongs
    to, 0 for pixels of no object (background, non-object classes, ignored)."""
    areas = np.zeros(mask.shape, dtype=np.int64)  # per pixel: the area of the object it belongs to (0: none)
    for _, labels, _ in _labelled(mask, classes):
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        areas = np.where(labels > 0, sizes[labels], areas)
    return ((areas > 0).astype(np.uint8) + (areas >= SMALL_AREA) + (areas >= MEDIUM_AREA)).astype(np.uint8)


class WithObjectSizes(Dataset):
    """A segmentation dataset whose samples carry their object-size map as a 4th item (computed where
    the sample is read: in the loader's workers, not in the evaluation loop). Bad samples pass through."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset
        self.classes = dataset.object_classes

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self.dataset[index]
        if isinstance(item, BadSample):
            return item
        image, mask, sample_id = item
        return image, mask, sample_id, torch.from_numpy(object_size_map(mask.numpy(), self.classes))
