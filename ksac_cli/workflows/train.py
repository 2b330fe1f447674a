"""`ksac train`: a validated RunConfig -> a run directory. The lifecycle (directory, resume, seeding,
building, the loop, evaluations, summary) is `engine.run.train_run`; this adapter is what the CLI and
`ksac ablate` call."""

from __future__ import annotations

from ksac_cli.config import RunConfig
from ksac_cli.engine.run import EventFn, train_run

__all__ = ["EventFn", "train"]


def train(cfg: RunConfig, resume: bool = True, force: bool = False, on_event: EventFn | None = None) -> dict:
    """Train `cfg` in its run directory (resuming from checkpoints/last.pt when present); returns the
    summary: best mIoU and iteration, final metrics, seconds, run directory, skipped bad samples.
    `on_event(kind, data)` sees resume, step, log, eval_start, eval and checkpoint events."""
    return train_run(cfg, resume, force, on_event)
