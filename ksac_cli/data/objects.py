"""Objects as connected components of one class, and their size buckets (COCO's convention in pixels
of area: small < 32x32, medium < 96x96, large otherwise), for `ksac data check` and the per-size IoU."""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from torch.utils.data import Dataset

from ksac_cli import io
from ksac_cli.conventions import MEDIUM_AREA, SIZE_BUCKETS, SMALL_AREA
from ksac_cli.data.base import BadSample

BUCKETS = SIZE_BUCKETS
CACHE_FOLDER = ".size_maps"  # beside the masks: the folder holding them all
CACHE_VERSION = 1  # part of every cache key: a change of the format or of object_size_map starts afresh


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


class SizeMapCache(io.CacheFolder):
    """`object_size_map`'s results kept on disk, one file per map in `folder` (None: none kept), its (H, W)
    uint8 bytes zlib-compressed, named by `size_map_key`. A file of another length is computed again; a folder
    that cannot be written turns the writing off. Deleting the folder is always safe."""

    def __call__(self, mask: np.ndarray, classes) -> np.ndarray:
        """`object_size_map(mask, classes)`, from the folder when it holds it."""
        if self.folder is None:
            return object_size_map(mask, classes)
        small = mask.astype(np.uint8, copy=False)
        if small.dtype != mask.dtype and not np.array_equal(small, mask):
            small = mask  # labels beyond uint8: keyed by their own bytes
        path = self.folder / f"{size_map_key(small, classes)}.zlib"
        sizes = self.read(path, mask.shape)
        if sizes is None:
            sizes = object_size_map(small, classes)
            self.write(path, zlib.compress(np.ascontiguousarray(sizes).tobytes()))
        return sizes

    @staticmethod
    def read(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
        try:
            data = zlib.decompress(path.read_bytes())
        except (OSError, zlib.error):
            return None  # not there yet (or unreadable): computed again
        if len(data) != int(np.prod(shape)):
            return None
        return np.frombuffer(bytearray(data), dtype=np.uint8).reshape(shape)


def size_map_key(mask: np.ndarray, classes) -> str:
    """The name of a mask's size map: a digest of the mask's dtype, shape and bytes, of the object classes
    and of what decides a bucket."""
    h = hashlib.sha256(f"v{CACHE_VERSION} {SMALL_AREA} {MEDIUM_AREA} {sorted(int(c) for c in classes)} "
                       f"{mask.dtype.str} {mask.shape}".encode())
    h.update(np.ascontiguousarray(mask).data)
    return h.hexdigest()[:32]


def cache_folder(dataset) -> Path | None:
    """Where a dataset's size maps are kept: `.size_maps/` in the folder holding all its masks (for PASCAL
    VOC, SegmentationClass/.size_maps); None for a dataset without files, or whose masks share no folder
    but the file system's root."""
    samples = getattr(dataset, "samples", None)
    if not samples:
        return None
    common = Path(os.path.commonpath([str(s.mask.parent.absolute()) for s in samples]))
    return None if common.parent == common else common / CACHE_FOLDER


class WithObjectSizes(Dataset):
    """A segmentation dataset whose samples carry their object-size map as a 4th item, made where the sample
    is read (the loader's workers) or read from `cache`. Bad samples pass through."""

    def __init__(self, dataset, cache: SizeMapCache | None = None) -> None:
        self.dataset = dataset
        self.classes = dataset.object_classes
        self.size_map = cache or SizeMapCache(None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        item = self.dataset[index]
        if isinstance(item, BadSample):
            return item
        image, mask, sample_id = item
        return image, mask, sample_id, torch.from_numpy(self.size_map(mask.numpy(), self.classes))
