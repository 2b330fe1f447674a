"""Samples decoded once: the validated pixels of each (image, mask) pair kept on disk, keyed by the content
of its two files, so that training and evaluation read raw pixels instead of decoding a JPEG and a PNG
(about 0.7 ms per 256x256 sample on this project's CPU, against about 0.1 ms here).

One file per pair: an 8-byte header (height, width: uint32 little-endian), the image's (H, W, 3) bytes, the
mask's (H, W) class indices after the dataset's table; the key digests both files, the class count, the
table and VERSION. A bad pair is never stored; a folder that cannot be written turns storing off; a file of
the wrong length is decoded again; deleting the folder is always safe (docs/performance.md)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ksac_cli import io
from ksac_cli.data.base import Sample, SampleProblem, read_sample

FOLDER = ".decoded"  # beside the masks, as data.objects' .size_maps
VERSION = 1  # part of every key: a change of the format or of the validation starts afresh
HEADER = 8


def read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise SampleProblem(path, f"missing {what}") from None
    except OSError as e:
        raise SampleProblem(path, f"unreadable {what} ({e})") from None


class DecodedStore(io.CacheFolder):
    def read(self, sample: Sample, num_classes: int, table: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(image (H, W, 3) uint8, mask (H, W) uint8) of a validated sample, as `base.read_sample` gives
        them; raises `SampleProblem` as it does."""
        image_bytes, mask_bytes = read_bytes(sample.image, "image"), read_bytes(sample.mask, "mask")
        if self.folder is None:
            return pixels(read_sample(sample, num_classes, table, image_bytes, mask_bytes))
        h = hashlib.blake2b(f"v{VERSION} {num_classes} {len(image_bytes)}".encode(), digest_size=16)
        h.update(b"" if table is None else np.ascontiguousarray(table).tobytes())
        h.update(image_bytes)
        h.update(mask_bytes)
        path = self.folder / f"{h.hexdigest()}.u8"
        stored = self.load(path)
        if stored is not None:
            return stored
        image, mask = pixels(read_sample(sample, num_classes, table, image_bytes, mask_bytes))
        header = np.array(mask.shape, dtype="<u4").tobytes()
        self.write(path, header + np.ascontiguousarray(image).tobytes() + np.ascontiguousarray(mask).tobytes())
        return image, mask

    @staticmethod
    def load(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            data = np.fromfile(path, dtype=np.uint8)
        except OSError:
            return None  # not stored yet (or unreadable): decoded again
        if data.size < HEADER:
            return None
        h, w = (int(v) for v in data[:HEADER].view("<u4"))
        if data.size != HEADER + 4 * h * w:
            return None
        return data[HEADER:HEADER + 3 * h * w].reshape(h, w, 3), data[HEADER + 3 * h * w:].reshape(h, w)


def pixels(pair) -> tuple[np.ndarray, np.ndarray]:
    image, mask = pair
    return np.asarray(image, dtype=np.uint8), np.ascontiguousarray(mask, dtype=np.uint8)
