"""`ksac profile`: parameters, MACs, latency and training-step time of every model of a grid."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ksac_cli import heads, io
from ksac_cli.config import ProfileConfig, format_rates
from ksac_cli.machine import resolve_device
from ksac_cli.models import check_heads, warn_large_rates

ProgressFn = Callable[[int, int, str], None]


def profile(cfg: ProfileConfig, progress: ProgressFn | None = None) -> list:
    """Profile every model of `cfg`'s grids; write `cfg.out` (CSV) and the reduction table beside it (.md)."""
    from ksac_cli.measure.latency import matmul_peak_gflops  # torch-heavy; imported on use
    from ksac_cli.measure.profile import COLUMNS, profile_model
    from ksac_cli.report.ablation import heads_compared
    from ksac_cli.report.params import reduction_table
    from ksac_cli.report.tables import to_markdown

    progress = progress or (lambda i, n, what: None)
    models = cfg.models()
    check_heads(models)
    device = resolve_device(cfg.device)
    peaks = {}
    if cfg.peak:
        for amp in cfg.amp:
            progress(0, len(models), f"peak: {amp} matmul")
            peaks[amp] = matmul_peak_gflops(device, amp)
    warned: set[tuple[int, int]] = set()
    rows = []
    for i, model_cfg in enumerate(models):
        progress(i, len(models), describe(model_cfg))
        new = tuple(r for r in model_cfg.rates if (r, model_cfg.output_stride) not in warned)
        warned.update((r, model_cfg.output_stride) for r in new)
        warn_large_rates(new, cfg.size, model_cfg.output_stride)
        rows += profile_model(model_cfg, cfg.size, cfg.batch_size, device, cfg.latency, cfg.runs, cfg.warmup,
                              tuple(cfg.variants()), peaks, cfg.train_step)
    progress(len(models), len(models), "done")
    out, records = Path(cfg.out), [dataclasses.asdict(r) for r in rows]
    io.write_csv(out, records, COLUMNS)
    table = reduction_table(pd.DataFrame(records))
    if len(table):
        first, second = heads_compared(r["head"] for r in records)
        io.write_text(out.with_suffix(".md"), f"# {first} vs {second}: whole-model parameters\n\nInput {cfg.size}x"
                      f"{cfg.size}, {cfg.num_classes} classes. MACs from fvcore (one multiply-add = one flop), batch 1. "
                      f"Made by `ksac profile`, rows in `{out.name}`.\n\n" + to_markdown(table))
    return rows


def describe(model) -> str:
    """A model's label, from its ModelConfig or its profile row (whose rates are already a comma list)."""
    rates = model.rates if isinstance(model.rates, str) else format_rates(model.rates)
    return (f"{model.backbone} {heads.spec(model.head).label(model.merge, model.ksac_impl)} rates {rates} "
            f"OS{model.output_stride} {'V3+' if model.decoder else 'V3'}")


def describe_variant(row) -> str:
    """How a profile row was timed: dtype, memory format, compiled or eager."""
    return f"{row.dtype} {row.memory_format}{' compiled' if row.compiled else ''}"
