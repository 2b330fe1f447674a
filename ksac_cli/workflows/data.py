"""`ksac data synth` and `ksac data check`."""

from __future__ import annotations

import time
from pathlib import Path

from ksac_cli import io
from ksac_cli.config import DataConfig, SyntheticConfig


def data_synth(cfg: SyntheticConfig, out=None, workers: int | None = None, figure=None):
    """Make (or reuse) the built-in dataset, and optionally a PNG of a few images and masks;
    returns (folder, seconds, reused)."""
    from ksac_cli.data import synthetic

    start = time.perf_counter()
    if out is None:
        folder = synthetic.ensure_synthetic(cfg, None, workers)
        reused = time.perf_counter() - start < 0.5
    else:
        reused = synthetic.is_complete(Path(out), synthetic.settings_of(cfg))
        folder = synthetic.generate(Path(out), cfg, workers)
    seconds = time.perf_counter() - start
    if figure is not None:
        synthetic.figure(folder, figure, min(4, cfg.train))
    return folder, seconds, reused


def data_check(cfg: DataConfig, split: str, out=None, workers: int = 0, on_start=None, on_sample=None):
    """Check every sample of a split; write the JSON report; returns (report, path)."""
    from ksac_cli.data import DATASETS, dataset_root
    from ksac_cli.data.check import check_dataset

    ds = DATASETS[cfg.dataset](dataset_root(cfg), split)
    ds.name = cfg.dataset
    if on_start:
        on_start(len(ds))
    report = check_dataset(ds, workers, progress=on_sample)
    path = Path(out) if out else Path(f"data-check-{cfg.dataset}-{split}.json")
    io.write_json(path, report)
    return report, path
