"""The run directory: what exists, whether to resume, and what a resumed run may change.

Layout: config.yaml, metrics.jsonl, eval.jsonl, checkpoints/last.pt, checkpoints/best.pt (+ eval.json
and friends written by `ksac eval`)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ksac_cli.errors import KsacError

RUN_FILES = ("metrics.jsonl", "eval.jsonl", "config.yaml", "eval_images.npz")  # deleted by --force
RUN_FOLDERS = ("checkpoints", "samples", "tb")  # tb: where runs made before TensorBoard events moved kept them
TENSORBOARD_EVENTS = "events.out.tfevents.*"  # TensorBoard's event files, in the run directory itself


def last_checkpoint(run_dir: Path) -> Path:
    return run_dir / "checkpoints" / "last.pt"


def prepare(run_dir: Path, resume: bool, force: bool) -> bool:
    """Returns True when the run should resume from `last.pt`. --force starts over (`engine.run.start_over`
    deleted the previous run's checkpoints and logs before); without it, starting over (--no-resume) on a run
    that has a checkpoint is refused. Temporary files of writes a kill interrupted are removed; so are the logs of a
    run killed before its first checkpoint (they describe iterations that will be trained again)."""
    last = last_checkpoint(run_dir)
    for folder in (run_dir, run_dir / "checkpoints"):
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
    if force:
        return False
    if not last.exists():
        for name in ("metrics.jsonl", "eval.jsonl"):
            (run_dir / name).unlink(missing_ok=True)
        return False
    refuse_start_over(run_dir, resume, force)
    return True


def refuse_start_over(run_dir: Path, resume: bool, force: bool) -> None:
    """--no-resume without --force on a run directory that holds a run (a last.pt) is refused. The CLI asks
    this before it imports torch, so the refusal comes at once."""
    last = last_checkpoint(run_dir)
    if not resume and not force and last.exists():
        raise KsacError(f"{run_dir} already holds a run ({last}); run the same command with --resume to "
                        f"continue it, add --force to delete it and start over, or choose another --run-dir")


def remove_run(run_dir: Path) -> bool:
    """Delete a run's checkpoints, logs, evaluations, samples and TensorBoard events (what --force starts
    over from); other files in the folder stay. Returns True when there was any."""
    found = [run_dir / n for n in RUN_FOLDERS + RUN_FILES if (run_dir / n).exists()]
    found += sorted(run_dir.glob(TENSORBOARD_EVENTS))
    for path in found:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return bool(found)


# settings a resumed run may change: how it is computed, logged and saved, and how long it trains; any other
# change (the model, data, optimisation, seed, precision) would make the resumed run a different run
RESUMABLE_CHANGES = ("data.workers", "data.skip_bad", "model.ksac_impl", "train.iters", "train.eval_every",
                     "train.save_every", "train.log_every", "train.device", "train.run_dir", "train.deterministic",
                     "train.sync_bn", "train.tensorboard")


def resume_conflicts(saved: dict, current: dict) -> list[str]:
    """The changes between a checkpoint's config and this run's that forbid resuming it
    ('model.head: 'aspp' -> 'ksac'')."""
    out = []
    for section in ("model", "data", "train"):
        a, b = saved.get(section, {}), current.get(section, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key) and f"{section}.{key}" not in RESUMABLE_CHANGES:
                out.append(f"{section}.{key}: {a.get(key)!r} -> {b.get(key)!r}")
    return out


def refuse_changes(run_dir: Path, changed: list[str]) -> None:
    """Resuming the run in `run_dir` with the `changed` settings (resume_conflicts) is refused."""
    if changed:
        raise KsacError(f"{run_dir} holds a run of another configuration ({'; '.join(changed)}); use another "
                        f"--run-dir, or --force to start over there")
