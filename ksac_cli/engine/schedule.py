"""The learning-rate schedule: a pure function of progress (DeepLab's poly, optional linear warm-up)."""

from __future__ import annotations


def poly_factor(iteration: int, total: int, power: float = 0.9, warmup: int = 0) -> float:
    """Multiplier of the base lr at `iteration` (0-based) of `total`:
    linear from 1/warmup to 1 over the warm-up, then (1 - iteration/total) ** power."""
    if warmup and iteration < warmup:
        return (iteration + 1) / warmup
    return max(0.0, 1.0 - iteration / total) ** power
