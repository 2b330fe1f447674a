"""The learning-rate schedule: a pure function of progress (DeepLab's poly, optional linear warm-up)."""

from __future__ import annotations


def poly_factor(iteration: int, total: int, power: float = 0.9, warmup: int = 0) -> float:
    """Multiplier of the base lr at `iteration` (0-based) of `total`: iteration i < warmup gets (i + 1) / warmup,
    from 1/warmup at the first step up to exactly 1 at step warmup - 1; after it (and with warmup = 0),
    DeepLab's poly (1 - iteration/total) ** power, the same curve as without warm-up."""
    if warmup and iteration < warmup:
        return (iteration + 1) / warmup
    return max(0.0, 1.0 - iteration / total) ** power
