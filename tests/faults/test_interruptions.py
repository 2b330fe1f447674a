"""SIGKILL and SIGTERM at chosen and at random points of `ksac train` (during a step, a checkpoint write, a
log write, an evaluation), then the same command again: the run ends bit for bit like an uninterrupted
one (deterministic CPU mode), each iteration is logged once, and no file is ever half-written."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from faultkit import assert_no_half_written_file, assert_same_state, ci_or_full, final_state, iterations, rotating, run

ITERS, SAVE_EVERY, EVAL_EVERY, VAL = 8, 3, 4, 4  # checkpoints at 3, 6, 8; evaluations at 4 and 8 (4 batches)
FLAGS = ("--eval-every", str(EVAL_EVERY))

# each moment the issue names, at least once
FIXED = [
    "step@2=kill",  # before the first checkpoint: the resume starts over
    "step@5=term",  # SIGTERM between steps: saved, exit 143
    "write:last.pt@2=kill",  # inside the second checkpoint write: the first one must survive
    "write:last.pt@2=term",  # SIGTERM during a write: the write completes, then the run stops cleanly
    "write:best.pt@1=kill",
    "write:metrics.jsonl@4=kill",  # half a log line on disk
    "eval@2=kill",  # during the evaluation at iteration 4
    "eval@6=term",  # during the final evaluation: stopped there (143), made by the resumed run
]
POINTS = ([f"step@{n}" for n in range(1, ITERS + 1)] + [f"eval@{n}" for n in range(1, 2 * VAL + 1)]
          + [f"write:last.pt@{n}" for n in (1, 2, 3)] + [f"write:metrics.jsonl@{n}" for n in range(1, ITERS + 1)]
          + [f"write:eval.jsonl@{n}" for n in (1, 2)] + ["write:best.pt@1", "write:config.yaml@1"])
CI = ["step@5=term", "write:last.pt@2=kill", "write:metrics.jsonl@4=kill", "eval@2=kill", "eval@6=term"]
# CI: the 5 above and 2 more points drawn with the day's seed (faultkit.rotating); FULL: all 8 fixed + all points
CASES = ci_or_full(FIXED, CI) + rotating(sorted({f"{p}={a}" for p in POINTS for a in ("kill", "term")} - set(FIXED)), 2)


def term_iteration(fault: str) -> int | None:
    """The iteration a SIGTERM injected at `fault` stops the run at (its last.pt's iteration), or None when it
    lands before training starts. The loop finishes the step it is in (and that step's log line and
    checkpoint); an evaluation stops at its next batch and is made again by the resumed run. The last
    iteration is no exception: a run stopped before it ended exits 143, whatever was left to do."""
    point, n = fault.split("=")[0].rsplit("@", 1)
    n = int(n)
    if point == "write:config.yaml":
        return None
    if point == "eval":
        return EVAL_EVERY * -(-n // VAL)  # evaluation batches of one image
    if point == "write:last.pt":
        return [SAVE_EVERY, 2 * SAVE_EVERY, ITERS][n - 1]
    if point == "write:eval.jsonl":
        return EVAL_EVERY * n
    if point == "write:best.pt":
        return EVAL_EVERY
    return n  # step, write:metrics.jsonl (one log line per iteration)


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, synth_root) -> Path:
    from tiny_run import write_tiny_recipe

    folder = tmp_path_factory.mktemp("interrupt")
    return write_tiny_recipe(folder / "tiny.yaml", synth_root, iters=ITERS, save_every=SAVE_EVERY, crop=64, val=VAL)


@pytest.fixture(scope="module")
def reference(recipe, tmp_path_factory) -> dict:
    """The same run uninterrupted, trained in this process (tiny_run.train_here)."""
    from tiny_run import train_here

    run_dir = tmp_path_factory.mktemp("reference") / "run"
    train_here("--recipe", str(recipe), "--run-dir", str(run_dir), *FLAGS)
    return final_state(run_dir)


@pytest.mark.parametrize("fault", CASES)
def test_interrupted_then_resumed_run_equals_the_uninterrupted_one(fault, recipe, reference, tmp_path):
    run_dir = tmp_path / "run"
    args = ("train", "--recipe", str(recipe), "--run-dir", str(run_dir), *FLAGS)
    proc = run(*args, fault=fault)
    if fault.endswith("=kill"):
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    elif term_iteration(fault) is None:  # before training started: nothing to save, stopped at once
        assert proc.returncode == 143, proc.stderr[-2000:]
        assert "SIGTERM received; run the same command again" in proc.stderr
        assert not (run_dir / "checkpoints").exists(), proc.stderr[-2000:]
    else:  # a checkpoint at that iteration (the last one too), one message, exit 143
        stop = term_iteration(fault)
        assert proc.returncode == 143, proc.stderr[-2000:]
        assert f"SIGTERM received: saved {run_dir / 'checkpoints' / 'last.pt'} at iteration {stop}" in proc.stderr
        assert "run the same command again" in proc.stderr
        assert final_state(run_dir)["iteration"] == stop
    if (run_dir / "checkpoints/last.pt").exists():  # whatever the moment, the checkpoint on disk is whole
        final_state(run_dir)

    resumed = run(*args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert_same_state(final_state(run_dir), reference)
    assert iterations(run_dir / "metrics.jsonl") == list(range(1, ITERS + 1))
    assert iterations(run_dir / "eval.jsonl") == [EVAL_EVERY, ITERS]
    assert_no_half_written_file(run_dir)
