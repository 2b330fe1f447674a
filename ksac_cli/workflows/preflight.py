"""What `ksac train` can refuse before torch is imported, so that the refusal comes in a fraction of a second
instead of after a model's imports (several seconds, per process of a torchrun launch): an uneven global
batch, and starting over (--no-resume) on a run without --force. The engine asks the same functions again
when it runs (launch.check_batch_split, rundir.refuse_start_over). No torch import here."""

from __future__ import annotations

from ksac_cli import launch
from ksac_cli.config import RunConfig
from ksac_cli.config.load import run_dir_of
from ksac_cli.engine import rundir


def check_train(cfg: RunConfig, resume: bool, force: bool, world_size: int) -> None:
    """Raises KsacError when `cfg` cannot train on `world_size` processes, or when --no-resume without
    --force meets a run directory that holds a run."""
    launch.check_batch_split(cfg.train.batch_size, world_size)
    rundir.refuse_start_over(run_dir_of(cfg), resume, force)
