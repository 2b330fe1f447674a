"""What `ksac train` and `ksac eval` can refuse before torch is imported, so that the refusal comes in a
fraction of a second instead of after a model's imports (several seconds, per process of a torchrun launch):
an uneven global batch, --amp fp16 on --device cpu, starting over (--no-resume) on a run without --force,
resuming a run with settings that would make it another run, and eval flags that make no valid config with
the checkpoint's. The engine asks the same questions again when it runs (launch.check_batch_split,
rundir.refuse_start_over, rundir.resume_conflicts on the checkpoint it loads, resolve_eval_config)."""

from __future__ import annotations

from pathlib import Path

from ksac_cli import launch
from ksac_cli.config import RunConfig, from_dict, to_dict
from ksac_cli.config.load import checkpoint_config, resolve_eval_config, run_dir_of
from ksac_cli.engine import rundir
from ksac_cli.errors import FP16_NEEDS_CUDA, KsacError

# set by the engine when it runs, so not comparable here: the model's class count becomes the dataset's, and
# --amp auto the mode the device computes natively (machine.resolve_amp, which needs torch; any other --amp
# is compared as given). The engine compares them when it loads the checkpoint.
RESOLVED_AT_RUN = ("model.num_classes",)


def check_train(cfg: RunConfig, resume: bool, force: bool, world_size: int) -> None:
    """Raises KsacError when `cfg` cannot train on `world_size` processes or asks fp16 of the CPU, when
    --no-resume without --force meets a run directory that holds a run, or when resuming that run would
    change what it computes."""
    launch.check_batch_split(cfg.train.batch_size, world_size)
    if cfg.train.amp == "fp16" and cfg.train.device == "cpu":  # a device "auto" finds: the engine's check
        raise KsacError(FP16_NEEDS_CUDA)
    run_dir = run_dir_of(cfg)
    rundir.refuse_start_over(run_dir, resume, force)
    if resume and not force:
        refuse_another_config(run_dir, cfg)


def refuse_another_config(run_dir: Path, cfg: RunConfig) -> None:
    """The checkpoint's config (read without torch) against `cfg`, as the engine's resume compares them,
    leaving out RESOLVED_AT_RUN. A checkpoint that cannot be read is left to the engine, which names it."""
    last = rundir.last_checkpoint(run_dir)
    if not last.is_file():
        return
    try:
        saved = to_dict(from_dict(RunConfig, checkpoint_config(last), where=f"{last} (config)"))
    except KsacError:
        return
    changed = rundir.resume_conflicts(saved, to_dict(cfg))
    unknown = RESOLVED_AT_RUN + (("train.amp",) if cfg.train.amp == "auto" else ())
    rundir.refuse_changes(run_dir, [c for c in changed if c.split(":")[0] not in unknown])


def check_eval(checkpoint: Path, overrides: dict) -> None:
    """Raises KsacError when the eval flags `overrides` make no valid config with the checkpoint's (read
    without torch), naming the flag. A checkpoint that cannot be read is left to the engine, which names it."""
    try:
        saved = checkpoint_config(checkpoint)
    except KsacError:
        return
    resolve_eval_config(saved, overrides, where=f"{checkpoint} (config)")
