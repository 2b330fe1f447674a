"""The interval of a paired difference that covers what a reader generalises over: other training runs
(seeds) AND other val images. numpy and scipy; no torch.

Every seed of both models is scored on the same N val images (a crossed seed x image design); the variance
of the seed mean is V = A' + B' - C from the seeds (A), a paired bootstrap over images (B) and their
residual (C), df by Welch-Satterthwaite, bounded below by n - 1 (docs/results.md, "What an interval
covers"). Each TwoWay also carries the interval with each seed left out (`dropped`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ksac_cli.report.stats import boot_differences, resample_counts, t_bounds

BOTH = "t over seeds + bootstrap over images"
SEEDS_ONLY = "t over seeds only"  # the val images' sampling is not measured (no per-image evidence)
IMAGES_ONLY = "bootstrap over images, 1 seed"  # training randomness is not measured


class TwoWay(NamedTuple):
    """A difference (first minus second, in the evidence's units), its interval and where its width
    comes from. low/high/se/df are None where no interval can be made."""

    delta: float  # mean over seeds of the per-seed differences
    low: float | None
    high: float | None
    se: float | None  # sqrt(V)
    df: float | None  # degrees of freedom of the t quantile (inf: none estimated, a normal quantile)
    seeds: int
    images: int  # 0: the images were not resampled
    seed_var: float | None  # A (None with 1 seed)
    image_var: float | None  # B (None without per-image evidence)
    residual_var: float | None  # C (None unless both)
    method: str  # BOTH, SEEDS_ONLY or IMAGES_ONLY
    dropped: tuple = ()  # the same interval without seed i, for each seed i in order (2 or fewer seeds: none)


def _interval(delta: float, variance: float, df: float, *rest) -> TwoWay:
    """TwoWay(delta, its 95% t interval with `df` degrees of freedom and standard error sqrt(variance), *rest)."""
    se = float(np.sqrt(max(variance, 0.0)))
    return TwoWay(delta, *t_bounds(delta, se, df), se, float(df), *rest)


def seeds_only(deltas, leave_out: bool = True) -> TwoWay:
    """Student's t over the per-seed differences (n - 1 df): what is left when the images cannot be
    resampled. No interval with one seed. With `leave_out` (and 3 seeds or more), each seed's leave-one-out
    interval too."""
    deltas = np.asarray(deltas, dtype=np.float64).ravel()
    n, delta = deltas.size, float(deltas.mean())
    if n < 2:
        return TwoWay(delta, None, None, None, None, n, 0, None, None, None, SEEDS_ONLY)
    a = float(deltas.var(ddof=1) / n)
    dropped = tuple(seeds_only(np.delete(deltas, i), False) for i in range(n)) if leave_out and n > 2 else ()
    return _interval(delta, a, n - 1, n, 0, a, None, None, SEEDS_ONLY, dropped)


def seeds_and_images(first, second, score: Callable[[np.ndarray], np.ndarray], resamples: int = 1000) -> TwoWay | None:
    """first, second: (S, N, *E) per-seed, per-image evidence of the two models, seeds paired by index,
    images by position (the same N images for every seed). `score` maps evidence summed over images
    (..., *E) to the metric (...): miou for (K, K) confusion matrices, or sums / counts for per-image values
    stored as (value, 1). Returns the module docstring's interval; None when the score is undefined (NaN)
    on the full data."""
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape or first.ndim < 2:
        raise ValueError(f"seeds_and_images needs two (S, N, ...) arrays of one shape, got {first.shape} "
                         f"and {second.shape}")
    n, images = first.shape[:2]
    deltas = score(first.sum(axis=1).astype(np.float64)) - score(second.sum(axis=1).astype(np.float64))  # (S,)
    if images == 0 or np.isnan(deltas).any():
        return None
    delta = float(deltas.mean())
    boot = boot_differences(first, second, resample_counts(images, resamples), score)
    boot = boot[~np.isnan(boot).any(axis=1)]  # a resample where some score is undefined is left out
    if len(boot) < 2 or images < 2:
        return TwoWay(delta, None, None, None, None, n, images, None, None, None, BOTH if n > 1 else IMAGES_ONLY)
    return _combine(deltas, boot, images, leave_out=n > 2)


def _combine(deltas: np.ndarray, boot: np.ndarray, images: int, leave_out: bool) -> TwoWay:
    """The module docstring's interval from the per-seed differences (S,) and their bootstrap draws (R, S);
    with `leave_out`, also each seed's leave-one-out interval (the same draws without its column)."""
    n, delta = deltas.size, float(deltas.mean())
    finite = images / (images - 1)  # the bootstrap's plug-in variance is (N - 1) / N of the unbiased one
    mean = boot.mean(axis=1)  # (R,): the seed mean on each resample
    b = float(mean.var(ddof=1)) * finite
    if n < 2:
        return _interval(delta, b, images - 1, 1, images, None, b, None, IMAGES_ONLY)
    a = float(deltas.var(ddof=1) / n)
    c = float((boot - mean[:, None]).var(axis=0, ddof=1).mean() / (n - 1)) * finite
    a_floor, b_floor = max(a, c), max(b, c)  # a component below 0 is 0: V >= max(A, B)
    v = a_floor + b_floor - c
    terms = a_floor ** 2 / (n - 1) + b_floor ** 2 / (images - 1) + c ** 2 / ((n - 1) * (images - 1))
    df = max(v ** 2 / terms, n - 1) if terms > 0 else np.inf  # never below the seeds' own df
    dropped = tuple(_combine(np.delete(deltas, i), np.delete(boot, i, axis=1), images, False)
                    for i in range(n)) if leave_out else ()
    return _interval(delta, v, df, n, images, a, b, c, BOTH, dropped)


def scaled(interval: TwoWay, factor: float) -> TwoWay:
    """The same interval in other units (fractions -> points: 100): differences times `factor`, variances
    times its square, the leave-one-out intervals too."""
    def times(value, k):
        return None if value is None else k * value

    return interval._replace(
        delta=factor * interval.delta, low=times(interval.low, factor), high=times(interval.high, factor),
        se=times(interval.se, factor), seed_var=times(interval.seed_var, factor ** 2),
        image_var=times(interval.image_var, factor ** 2), residual_var=times(interval.residual_var, factor ** 2),
        dropped=tuple(scaled(d, factor) for d in interval.dropped))

