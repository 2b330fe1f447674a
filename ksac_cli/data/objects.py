"""Objects as connected components of one class, and their size buckets (COCO's convention in pixels
of area: small < 32x32, medium < 96x96, large otherwise). Used by `ksac data check` and by the
per-size IoU of the evaluation."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

SMALL, MEDIUM = 32 * 32, 96 * 96
BUCKETS = ("small", "medium", "large")


def bucket(area: int) -> str:
    return "small" if area < SMALL else "medium" if area < MEDIUM else "large"


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


def object_size_masks(mask: torch.Tensor, classes) -> dict[str, torch.Tensor]:
    """{bucket: bool (H, W)}: the pixels of the ground-truth objects of each size."""
    m = mask.cpu().numpy()
    areas = np.zeros(m.shape, dtype=np.int64)  # per pixel: the area of the object it belongs to (0: none)
    for _, labels, _ in _labelled(m, classes):
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        areas = np.where(labels > 0, sizes[labels], areas)
    return {
        "small": torch.from_numpy((areas > 0) & (areas < SMALL)),
        "medium": torch.from_numpy((areas >= SMALL) & (areas < MEDIUM)),
        "large": torch.from_numpy(areas >= MEDIUM),
    }
