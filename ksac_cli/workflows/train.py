"""`ksac train`: a validated RunConfig -> a run directory. The lifecycle (directory, resume, seeding,
building, the loop, evaluations, summary) is `engine.run.train_run`; this adapter is what the CLI,
`ksac pretrain` and `ksac ablate` call."""

from __future__ import annotations

from ksac_cli import launch
from ksac_cli.config import RunConfig
from ksac_cli.config.load import run_dir_of
from ksac_cli.engine import rundir
from ksac_cli.engine.run import EventFn, train_run

__all__ = ["EventFn", "train"]


def train(cfg: RunConfig, resume: bool = True, force: bool = False, on_event: EventFn | None = None) -> dict:
    """Train `cfg` in its run directory (resuming from checkpoints/last.pt when present; with `force`, the
    previous run there is deleted first and training starts from iteration 0, whatever `resume` says);
    returns the summary: best mIoU and iteration, final metrics, seconds, run directory, skipped bad samples.
    `on_event(kind, data)` sees restart, resume, step, log, eval_start, eval and checkpoint events."""
    if force:
        resume = False  # every process of a torchrun launch agrees: nothing to resume
        if launch.is_main_process() and rundir.remove_run(run_dir_of(cfg)) and on_event is not None:
            on_event("restart", {"run_dir": str(run_dir_of(cfg))})
    return train_run(cfg, resume, force, on_event)
