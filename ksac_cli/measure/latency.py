"""Latency like a benchmark: warm up, synchronise the device, repeat, report median and p90."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch
from torch import nn

from ksac_cli.engine.evaluate import AUTOCAST_DTYPES, autocast, eval_mode


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
def measure_latency(model: nn.Module, x: torch.Tensor, runs: int = 10, warmup: int = 3,
                    amp: str = "off") -> Latency:
    """Forward-pass wall time of `model(x)` in eval mode (under autocast when `amp` is bf16/fp16);
    images/s = batch / median time."""
    with eval_mode(model), autocast(x.device, amp):
        times = time_calls(lambda: model(x), x.device, runs, warmup)
    median = statistics.median(times)
    return Latency(median, percentile(times, 90), x.shape[0] / (median / 1000.0), runs)


def time_calls(fn, device: torch.device, runs: int, warmup: int) -> list[float]:
    """Milliseconds of each of `runs` calls of fn() after `warmup` untimed ones, the device synchronised."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


@torch.inference_mode()
def matmul_peak_gflops(device: torch.device, amp: str = "off", size: int = 4096, runs: int = 5,
                       budget_s: float = 1.0) -> float:
    """The GFLOP/s (2 flops per multiply-add) of a large square matmul in the dtype of `amp`, this device's
    practical peak: the side doubles from 512 up to `size` while the next side's product (8 times the work) is
    expected to take at most `budget_s`; `runs` products of the side reached are then timed."""
    dtype = AUTOCAST_DTYPES.get(amp, torch.float32)
    side = min(512, size)
    while True:
        a = torch.randn(side, side, device=device).to(dtype)
        b = torch.randn(side, side, device=device).to(dtype)
        first = time_calls(lambda: a @ b, device, 1, warmup=1)[0] / 1000.0
        if side >= size or 8 * first > budget_s:
            break
        side *= 2
    median = statistics.median(time_calls(lambda: a @ b, device, runs, warmup=1))
    return 2.0 * side**3 / (median / 1000.0) / 1e9
