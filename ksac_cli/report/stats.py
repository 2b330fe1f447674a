"""Statistics a reviewer accepts, from numbers and confusion matrices (numpy and scipy; no torch).

Over seeds, Student's t interval of a mean; over images, a paired bootstrap (Efron & Tibshirani, "An
Introduction to the Bootstrap", 1993, ch. 13: percentile intervals), ONE resample of the val images for both
models. mIoU follows engine/metrics.py (one matrix; a class absent from truth and predictions left out),
the per-size IoU engine/evaluate.py::object_miou."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
CHUNK = 20_000_000  # float64 values of summed evidence held at once (160 MB)


class Interval(NamedTuple):
    """(mean, low, high): unpacks like a tuple."""

    mean: float
    low: float | None  # None where it cannot be made (fewer than 2 values)
    high: float | None


def _iou(mats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(..., K, K) [true, predicted] -> per-class IoU (..., K) (0 where the union is empty), union, truth."""
    mats = np.asarray(mats, dtype=np.float64)
    tp = np.diagonal(mats, axis1=-2, axis2=-1)
    truth = mats.sum(axis=-1)
    union = truth + mats.sum(axis=-2) - tp
    return np.divide(tp, union, out=np.zeros_like(tp), where=union > 0), union, truth


def _masked_mean(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    count = keep.sum(axis=-1)
    total = np.where(keep, values, 0.0).sum(axis=-1)
    return np.divide(total, count, out=np.full(total.shape, np.nan), where=count > 0)


def miou(mats: np.ndarray) -> np.ndarray:
    """mIoU of each (K, K) matrix of `mats` (..., K, K): the mean over the classes present in truth or
    predictions; NaN where no class is."""
    iou, union, _ = _iou(mats)
    return _masked_mean(iou, union > 0)


def size_iou(mats: np.ndarray) -> np.ndarray:
    """IoU of a size bucket's matrices (..., K, K) (object pixels only): the mean over the classes with
    ground-truth pixels; NaN where there are none."""
    iou, _, truth = _iou(mats)
    return _masked_mean(iou, truth > 0)


def class_iou(c: int) -> Callable[[np.ndarray], np.ndarray]:
    """The score "IoU of class c" of matrices (..., K, K): NaN where the class is absent from truth and
    predictions (as the rows' per_class_iou holds null)."""
    def score(mats: np.ndarray) -> np.ndarray:
        iou, union, _ = _iou(mats)
        return np.where(union[..., c] > 0, iou[..., c], np.nan)

    return score


def t_bounds(mean: float, se: float, df: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """mean ∓ t_{(1+c)/2, df} · se: Student's t interval of a mean with standard error `se` (zero width for se 0)."""
    half = 0.0 if se == 0 else float(scipy_stats.t.ppf(0.5 + confidence / 2, df)) * se
    return mean - half, mean + half


def t_interval(values, confidence: float = CONFIDENCE) -> Interval:
    """Mean and Student's t interval: `t_bounds` with se = s / √n (s with ddof 1) and n - 1 df. No interval
    (low, high None) for fewer than 2 values; a zero-width one when all values are equal."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("t_interval needs at least one value")
    mean = float(values.mean())
    if values.size < 2:
        return Interval(mean, None, None)
    return Interval(mean, *t_bounds(mean, float(values.std(ddof=1) / np.sqrt(values.size)), values.size - 1,
                                    confidence))


def interval_text(ci, sign: str = "+") -> str:
    """'[low, high]' of an interval (anything with low and high), 2 decimals, signed unless `sign` is "";
    '-' where there is none."""
    return "-" if ci is None or ci.low is None else f"[{ci.low:{sign}.2f}, {ci.high:{sign}.2f}]"


def t_half_width(values) -> float | None:
    """The half width of the 95% `t_interval` (error bars), None for fewer than 2 values."""
    ci = t_interval(values)
    return None if ci.low is None else ci.high - ci.mean


@lru_cache(maxsize=8)
def resample_counts(n: int, resamples: int, seed: int = 0) -> np.ndarray:
    """(resamples, n) float64 (exact: counts are far below 2**53), read-only (cached: every comparison of a
    report draws the same resamples): how often each of n images is drawn in each resample. Draw r is
    `numpy.random.default_rng(seed).integers(0, n, size=(resamples, n))[r]` (n indices with replacement)."""
    draws = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    rows = np.repeat(np.arange(resamples), n)
    counts = np.bincount(rows * n + draws.ravel(), minlength=resamples * n).reshape(resamples, n).astype(np.float64)
    counts.setflags(write=False)
    return counts


def boot_differences(first: np.ndarray, second: np.ndarray, counts: np.ndarray,
                     score: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """(R, S): score(first) - score(second) of each seed's evidence (first, second: (S, N, *E)) summed over
    each resample of the N images (counts (R, N)), in chunks of CHUNK values."""
    s, n = first.shape[:2]
    evidence = np.stack([first, second]).astype(np.float64)  # (2, S, N, *E)
    shape = evidence.shape[3:]
    flat = np.moveaxis(evidence, 2, 0).reshape(n, -1)  # (N, 2 * S * E)
    step = max(1, CHUNK // max(flat.shape[1], 1))
    out = []
    for start in range(0, len(counts), step):
        summed = (counts[start:start + step] @ flat).reshape(-1, 2, s, *shape)  # (r, 2, S, *E)
        scores = score(summed)  # (r, 2, S)
        out.append(scores[:, 0] - scores[:, 1])
    return np.concatenate(out)


def paired_bootstrap(conf_a: np.ndarray, conf_b: np.ndarray, resamples: int = 1000, seed: int = 0,
                     score: Callable[[np.ndarray], np.ndarray] = miou) -> Interval | None:
    """score(a) - score(b) over bootstrap resamples of the images: conf_a, conf_b (N, K, K) per-image
    matrices of the SAME N images in the same order. Returns the differences' mean and 95% percentile
    interval (NaN differences, from resamples where a score is undefined, are left out); None when every
    difference is NaN."""
    conf_a, conf_b = np.asarray(conf_a), np.asarray(conf_b)
    if conf_a.shape != conf_b.shape or conf_a.ndim != 3 or conf_a.shape[1] != conf_a.shape[2]:
        raise ValueError(f"paired_bootstrap needs two (N, K, K) arrays of one shape, got {conf_a.shape} "
                         f"and {conf_b.shape}")
    if len(conf_a) == 0:
        return None
    diff = boot_differences(conf_a[None], conf_b[None], resample_counts(len(conf_a), resamples, seed), score)[:, 0]
    diff = diff[~np.isnan(diff)]
    if diff.size == 0:
        return None
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(diff, [tail, 100 - tail])
    return Interval(float(diff.mean()), float(low), float(high))
