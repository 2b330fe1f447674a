"""Latency like a benchmark: warm up, synchronise the device, repeat, report median and p90."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Latency:
    ms_median: float
    ms_p90: float
    images_per_s: float
    runs: int


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@torch.inference_mode()
def measure_latency(model: nn.Module, x: torch.Tensor, runs: int = 10, warmup: int = 3) -> Latency:
    """Forward-pass wall time of `model(x)` in eval mode; images/s = batch / median time."""
    was_training = model.training
    model.eval()
    try:
        for _ in range(warmup):
            model(x)
        _sync(x.device)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            model(x)
            _sync(x.device)
            times.append((time.perf_counter() - start) * 1000.0)
    finally:
        model.train(was_training)
    median = statistics.median(times)
    return Latency(median, percentile(times, 90), x.shape[0] / (median / 1000.0), runs)
