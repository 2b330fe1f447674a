"""Reading the per-image evidence a run left: `<run_dir>/eval_images.npz` (written by
engine/evidence.py; arrays documented in results/README.md). No torch."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ksac_cli.errors import KsacError
from ksac_cli.report.stats import miou

EVAL_IMAGES = "eval_images.npz"


@dataclass(frozen=True)
class Evidence:
    path: Path
    ids: list[str]  # (N,) sorted as written
    confusion: np.ndarray  # (N, G, K, K) [image, size group (0: no object, 1..3: small/medium/large), true, predicted]
    classes: list[str]

    def matrices(self, group: int | None = None) -> np.ndarray:
        """(N, K, K): the whole image (group None: the sum over groups) or one size group's pixels."""
        return self.confusion.sum(axis=1) if group is None else self.confusion[:, group]

    @cached_property
    def split_miou(self) -> float:
        """The mIoU of the whole split's matrix (the sum over images and groups), a fraction."""
        return float(miou(self.confusion.sum(axis=(0, 1))))


def load_evidence(run_dir: str | Path) -> Evidence | str:
    """The run's evidence, or why there is none (a short phrase for a table cell)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return "run directory missing"
    path = run_dir / EVAL_IMAGES
    if not path.is_file():
        return f"no {EVAL_IMAGES} (run made before it existed)"
    try:
        with np.load(path, allow_pickle=False) as data:
            ids, confusion, classes = data["ids"], data["confusion"], data["classes"]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return f"unreadable {EVAL_IMAGES}"
    if confusion.ndim != 4 or confusion.shape[0] != len(ids) or confusion.shape[2:] != (len(classes),) * 2:
        return f"{EVAL_IMAGES} has arrays of unexpected shapes"
    return Evidence(path, [str(i) for i in ids], confusion, [str(c) for c in classes])


class EvidenceStore:
    """Loads each run directory's evidence once per report."""

    def __init__(self) -> None:
        self._cache: dict[str, Evidence | str] = {}

    def get(self, run_dir: str | Path) -> Evidence | str:
        key = str(run_dir)
        if key not in self._cache:
            self._cache[key] = load_evidence(run_dir)
        return self._cache[key]


def aligned(a: Evidence, b: Evidence, group: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The two runs' (N, K, K) matrices of the same images, both in the order of the sorted ids. Raises
    KsacError naming both files when the two runs were evaluated on different images or classes."""
    if a.classes != b.classes:
        raise KsacError(f"{a.path} and {b.path} have different classes; compare runs on one dataset")
    for e in (a, b):
        if len(set(e.ids)) != len(e.ids):
            raise KsacError(f"{e.path} repeats image ids; images cannot be paired")
    if set(a.ids) != set(b.ids):
        only_a, only_b = sorted(set(a.ids) - set(b.ids)), sorted(set(b.ids) - set(a.ids))
        raise KsacError(f"{a.path} and {b.path} hold different val images ({len(only_a)} only in the first, "
                        f"{len(only_b)} only in the second, e.g. {(only_a or only_b)[0]!r}); evaluate both on "
                        f"the same split")
    # one order whatever the files' order, the sorted ids': the bootstrap's draws then pick the same images
    return tuple(e.matrices(group)[np.argsort(e.ids)] for e in (a, b))
