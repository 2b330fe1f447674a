"""The common dataset: a list of (id, image path, mask path) samples, read and validated one at a time.

`SegmentationDataset[i]` is `(image, mask, id)`, image float32 (3, H, W) normalised and mask int64 (H, W),
255 = ignore; or, for a sample that cannot be used, a `BadSample(path, problem)`, never raised inside a
DataLoader worker: `collate` passes it on and the engine stops with one message or counts it (`--skip-bad`).
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from ksac_cli.conventions import IGNORE_INDEX
from ksac_cli.data.transforms import eval_transform, normalise, one_thread
from ksac_cli.errors import KsacError


@dataclass(frozen=True)
class Sample:
    id: str
    image: Path
    mask: Path


@dataclass(frozen=True)
class BadSample:
    path: str  # the file at fault
    problem: str  # what is wrong with it


class SampleProblem(Exception):
    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.bad = BadSample(str(path), problem)


def _decode(path: Path, data: bytes | None, what: str) -> Image.Image:
    """The decoded file `path` (from `data`, its bytes, when given); SampleProblem naming `what` otherwise."""
    if data is None and not path.is_file():
        raise SampleProblem(path, f"missing {what}")
    try:
        with Image.open(path if data is None else BytesIO(data)) as im:
            im.load()  # decodes everything: a truncated file fails here
            return im
    except (OSError, UnidentifiedImageError, SyntaxError) as e:
        raise SampleProblem(path, f"unreadable or truncated {what} ({e})") from None


def read_mask(path: Path, num_classes: int, table: np.ndarray | None, data: bytes | None = None) -> np.ndarray:
    """(H, W) uint8 class indices with 255 = ignore, after the dataset's raw-value table (decoded from
    `data`, the bytes of `path`, when given)."""
    im = _decode(path, data, "mask")
    mode, mask = im.mode, np.asarray(im)
    if mode not in ("P", "L") or mask.ndim != 2:
        raise SampleProblem(path, f"mask has mode {mode}; expected a single-channel (L) or palette (P) PNG of "
                                  f"class indices")
    if table is not None:
        mask = table[mask]
    bad = np.unique(mask[(mask >= num_classes) & (mask != IGNORE_INDEX)])
    if bad.size:
        raise SampleProblem(path, f"mask has labels {', '.join(map(str, bad[:10].tolist()))} outside the "
                                  f"dataset's classes 0..{num_classes - 1} and {IGNORE_INDEX}")
    return mask


def read_sample(sample: Sample, num_classes: int, table: np.ndarray | None, image_data: bytes | None = None,
                mask_data: bytes | None = None) -> tuple[Image.Image, np.ndarray]:
    """The validated (image, mask) pair (from the files' bytes when given); raises SampleProblem naming the
    file and the problem."""
    image = _decode(sample.image, image_data, "image").convert("RGB")
    mask = read_mask(sample.mask, num_classes, table, mask_data)
    if image.size != (mask.shape[1], mask.shape[0]):
        raise SampleProblem(sample.mask, f"mask is {mask.shape[1]}x{mask.shape[0]} but image {sample.image.name} "
                                         f"is {image.size[0]}x{image.size[1]}")
    return image, mask


class SegmentationDataset(Dataset):
    def __init__(self, name: str, split: str, samples: list[Sample], classes: list[str], palette: np.ndarray,
                 transform=None, table: np.ndarray | None = None, list_file: Path | str | None = None,
                 decoded=None) -> None:
        if not samples:
            where = f" (list {list_file})" if list_file else ""
            raise KsacError(f"dataset {name!r} split {split!r} is empty{where}; check --data-root and --split")
        self.name, self.split = name, split
        self.samples = samples
        self.classes = list(classes)
        self.num_classes = len(classes)
        self.palette = palette
        self.transform = transform
        self.table = table
        self.decoded = decoded  # a data.decoded.DecodedStore, or None: decode the files at every read
        self.ignore_index = IGNORE_INDEX
        # classes whose connected components count as objects for the per-size metrics
        self.object_classes = [i for i, c in enumerate(self.classes) if c != "background"]

    def __len__(self) -> int:
        return len(self.samples)

    def read(self, index: int) -> tuple[Image.Image | np.ndarray, np.ndarray]:
        """The validated (image: PIL or (H, W, 3) uint8, mask (H, W) uint8) of sample `index`."""
        if self.decoded is not None:
            return self.decoded.read(self.samples[index], self.num_classes, self.table)
        return read_sample(self.samples[index], self.num_classes, self.table)

    def __getitem__(self, index: int):
        return self.item(index)

    def item(self, index: int, normalised: bool = True):
        """`self[index]`; with `normalised=False` the image is uint8 and the mask uint8 (`Uint8Items`)."""
        sample = self.samples[index]
        try:
            image, mask = self.read(index)
        except SampleProblem as e:
            return e.bad
        if self.transform is None:
            self.transform = eval_transform()
        image_t, mask_t = self.transform(image, mask, normalised=normalised)
        return image_t, mask_t, sample.id


class Uint8Items(Dataset):
    """A `SegmentationDataset` whose items keep uint8 images and masks: `collate` normalises them a batch
    at a time (the loaders), a quarter of the bytes to move between processes."""

    def __init__(self, dataset: SegmentationDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str):
        if name == "dataset":  # not set yet (unpickling in a worker)
            raise AttributeError(name)
        return getattr(self.dataset, name)

    def __getitem__(self, index: int):
        return self.dataset.item(index, normalised=False)


class Batch(NamedTuple):
    images: torch.Tensor | None  # (B, 3, H, W) float, normalised; None when every sample was bad
    masks: torch.Tensor | None  # (B, H, W) int64 class indices, 255 = ignore
    ids: list[str]
    bad: list[BadSample]
    sizes: torch.Tensor | None = None  # (B, H, W) uint8 object-size map (evaluation, `WithObjectSizes`)


def collate(batch: list) -> Batch:
    """Stack the good samples (training crops: all one size); pass the bad ones on. (None, None, [], bad,
    None) when every sample is bad."""
    groups = collate_by_size(batch)
    if len(groups) > 1:
        shapes = sorted({tuple(g.images.shape[1:]) for g in groups})
        raise KsacError(f"training samples of different sizes {shapes} in one batch; every training sample "
                        f"must be cropped to --crop-size")
    return groups[0]


def collate_by_size(batch: list) -> list[Batch]:
    """One `Batch` per image size, in order of first appearance (real datasets' images differ in size, so an
    evaluation batch may hold several); the bad samples ride with the first. Always at least one Batch."""
    good = [b for b in batch if not isinstance(b, BadSample)]
    bad = [b for b in batch if isinstance(b, BadSample)]
    if not good:
        return [Batch(None, None, [], bad)]
    by_shape: dict[tuple, list] = {}
    for sample in good:
        by_shape.setdefault(tuple(sample[0].shape), []).append(sample)
    out = []
    with one_thread():
        for i, same in enumerate(by_shape.values()):
            sizes = torch.stack([g[3] for g in same]) if len(same[0]) > 3 else None
            images, masks = torch.stack([g[0] for g in same]), torch.stack([g[1] for g in same])
            if images.dtype == torch.uint8:  # `Uint8Items`: normalised here, the whole batch at once
                images, masks = normalise(images), masks.to(torch.int64)
            out.append(Batch(images, masks, [g[2] for g in same], bad if i == 0 else [], sizes))
    return out
