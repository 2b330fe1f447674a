"""A real SIGTERM (or SIGINT) sent to the whole process group of a real `ksac` process, in every phase: the
training and the final evaluation of `ksac train`, `ksac eval`, `ksac ablate`'s dry-run timing, a cell's
training, a cell's evaluation and the time between cells, and `ksac analyze`. Each ends with exit 143 (130),
leaves no process of its group behind, and the same command again (in this process, tests/cli_runner.py)
goes on from where it stopped. Each process leads a new process group (start_new_session), as a shell job
does, so the signal also reaches its DataLoader workers (`--workers 1`), as Ctrl-C or a scheduler's group
kill does. Every wait is for a condition (a line in the output, a file); none asserts a duration."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_runner import ksac
from tiny_run import write_tiny_recipe

from ksac_cli import io

VAL = 120  # val images of the recipes whose evaluation is stopped: long enough to land in
HANG = 600  # seconds after which a wait fails: a hang, not a slow machine


def start(args: list[str], log: Path) -> subprocess.Popen:
    """`python -m ksac_cli ARGS` leading its own process group, its output (unbuffered) into `log`."""
    return subprocess.Popen([sys.executable, "-m", "ksac_cli", *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "KSAC_FAULT": ""}, start_new_session=True)


def wait_for(proc: subprocess.Popen, condition, what: str) -> None:
    deadline = time.monotonic() + HANG
    while not condition():
        assert proc.poll() is None, f"the command ended before {what}"
        assert time.monotonic() < deadline, f"still no {what}"
        time.sleep(0.05)


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()  # after "pid (comm)": state ppid pgrp ...
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def stop(proc: subprocess.Popen, log: Path, sig: int = signal.SIGTERM) -> str:
    """Send `sig` to the process group; returns the output once the process ended (its exit status checked by
    the caller) and every process of its group is gone."""
    os.killpg(proc.pid, sig)
    proc.wait(timeout=HANG)
    deadline = time.monotonic() + HANG
    while group_members(proc.pid):
        assert time.monotonic() < deadline, f"processes left behind: {group_members(proc.pid)}"
        time.sleep(0.05)
    return log.read_text()


def lines_of(log: Path, start: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.lstrip().startswith(start)]


@pytest.fixture(scope="module")
def big_val(tmp_path_factory) -> Path:
    """The tiny recipe with VAL val images."""
    folder = tmp_path_factory.mktemp("signals")
    return write_tiny_recipe(folder / "bigval.yaml", folder / "synth", name="bigval", iters=2, val=VAL)


@pytest.fixture(scope="module")
def trained(big_val, tmp_path_factory) -> Path:
    """A finished run of it (its evaluation bounded to 2 images): the checkpoint evaluated and analysed below."""
    run = tmp_path_factory.mktemp("trained") / "run"
    proc = ksac("train", "--recipe", str(big_val), "--run-dir", str(run), "--iters", "1", "--eval-images", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    return run / "checkpoints" / "last.pt"


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_train_stopped_while_training_saves_exits_and_resumes(sig, code, tiny_recipe, tmp_path):
    recipe, run, log = tiny_recipe(iters=60, save_every=1000, crop=96), tmp_path / "run", tmp_path / "log"
    args = ["train", "--recipe", str(recipe), "--run-dir", str(run), "--workers", "1"]
    proc = start(args, log)
    wait_for(proc, lambda: (run / "metrics.jsonl").is_file() and (run / "metrics.jsonl").read_text().strip(),
             "training step")
    out = stop(proc, log, sig)
    assert proc.returncode == code, out[-2000:]
    stopped_at = io.read_jsonl(run / "metrics.jsonl")[-1]["iteration"]
    assert f"{signal.Signals(sig).name} received: saved {run / 'checkpoints' / 'last.pt'} at iteration" in out
    assert stopped_at < 60

    again = ksac(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming from {run / 'checkpoints' / 'last.pt'} at iteration" in again.stdout


def test_train_stopped_in_its_final_evaluation_exits_143_and_the_rerun_evaluates(big_val, tmp_path):
    run, log = tmp_path / "run", tmp_path / "log"
    args = ["train", "--recipe", str(big_val), "--run-dir", str(run)]
    proc = start(args, log)
    wait_for(proc, lambda: lines_of(log, "evaluating:"), "evaluation progress line")
    out = stop(proc, log)
    assert proc.returncode == 143, out[-2000:]  # not 0: the run did not finish
    assert f"SIGTERM received: saved {run / 'checkpoints' / 'last.pt'} at iteration 2" in out
    assert io.read_jsonl(run / "eval.jsonl") == []  # the evaluation was stopped, not finished

    again = ksac(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming from {run / 'checkpoints' / 'last.pt'} at iteration 2" in again.stdout
    assert [r["iteration"] for r in io.read_jsonl(run / "eval.jsonl")] == [2]  # made by the rerun, once
    assert f"{VAL}/{VAL} images" in again.stdout


def test_eval_stopped_exits_143_and_writes_nothing(trained, tmp_path):
    out_file, log = tmp_path / "eval.json", tmp_path / "log"
    args = ["eval", "--checkpoint", str(trained), "--out", str(out_file)]
    proc = start(args, log)
    wait_for(proc, lambda: lines_of(log, "evaluating:"), "evaluation progress line")
    out = stop(proc, log)
    assert proc.returncode == 143, out[-2000:]
    assert "SIGTERM received" in out and not out_file.exists()
    again = ksac(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(out_file.read_text())["images"] == VAL


def test_analyze_stopped_exits_143_and_the_rerun_finishes(trained, tmp_path):
    out_dir, log = tmp_path / "analysis", tmp_path / "log"
    args = ["analyze", "--checkpoint", str(trained), "--scales", "0.5,1.0", "--erf-images", "1", "--out", str(out_dir)]
    proc = start(args, log)
    wait_for(proc, lambda: lines_of(log, "[1/1]"), "model being analysed")
    out = stop(proc, log)
    assert proc.returncode == 143, out[-2000:]
    again = ksac(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert (out_dir / "analysis_scales.csv").is_file()


def grid_log(tmp: Path) -> str:
    """`ksac ablate`'s per-cell lines (start, skip, resume, evaluation progress): its log file, not the screen."""
    path = tmp / "grid" / "ablate.log"
    return path.read_text() if path.is_file() else ""


def ablate_args(recipe: Path, tmp: Path, *extra: str) -> list[str]:
    return ["ablate", "--recipe", str(recipe), "--out", str(tmp / "grid"), "--results", str(tmp),
            "--head", "ksac", "--rates", "1,2", "--rates", "1,2,3", "--seeds", "1", *extra]


def test_ablate_dry_run_stopped_while_timing_exits_143(tiny_recipe, tmp_path):
    log = tmp_path / "log"
    proc = start(ablate_args(tiny_recipe(crop=96), tmp_path, "--dry-run", "--crop-size", "512"), log)
    wait_for(proc, lambda: lines_of(log, "timing one training step"), "timing")
    out = stop(proc, log)
    assert proc.returncode == 143, out[-2000:]
    assert "SIGTERM received" in out and "estimated time" not in out


def test_ablate_stopped_in_a_cell_s_training_resumes_it_at_amp_auto(tiny_recipe, tmp_path):
    """The default recipe's --amp auto: the rerun resumes the cell, it does not start it over."""
    log = tmp_path / "log"
    args = ablate_args(tiny_recipe(iters=40, save_every=1000, crop=96), tmp_path, "--amp", "auto", "--workers", "1")
    first = tmp_path / "grid" / "mobilenetv2_035_ksac-concat_r1-2_os16_seed0"
    proc = start(args, log)
    wait_for(proc, lambda: (first / "metrics.jsonl").is_file() and (first / "metrics.jsonl").read_text().strip(),
             "training step of the first cell")
    out = stop(proc, log)
    assert proc.returncode == 143, out[-2000:]
    assert f"SIGTERM received: saved {first / 'checkpoints' / 'last.pt'} at iteration" in out
    assert "cell 1/2" in grid_log(tmp_path) and "cell 2/2" not in grid_log(tmp_path)
    assert not (tmp_path / "ablation.csv").exists()

    again = ksac(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"resuming from {first / 'checkpoints' / 'last.pt'} at iteration" in grid_log(tmp_path)
    assert "starting it over" not in again.stderr + grid_log(tmp_path)
    assert [r["status"] for r in io.read_csv_rows(tmp_path / "ablation.csv")] == ["ok", "ok"]


def test_ablate_stopped_in_a_cell_s_evaluation_resumes_it(big_val, tmp_path):
    log = tmp_path / "log"
    args = ablate_args(big_val, tmp_path)
    proc = start(args, log)
    wait_for(proc, lambda: "evaluating:" in grid_log(tmp_path), "evaluation of the first cell")
    out = stop(proc, log)
    assert proc.returncode == 143, out[-2000:]
    assert "at iteration 2" in out and not (tmp_path / "ablation.csv").exists()

    again = ksac(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming from" in grid_log(tmp_path) and "at iteration 2" in grid_log(tmp_path)
    assert [r["status"] for r in io.read_csv_rows(tmp_path / "ablation.csv")] == ["ok", "ok"]


def test_ablate_stopped_between_cells_starts_no_further_cell(tiny_recipe, tmp_path):
    """The signal is sent when the first cell's row is written: it lands between cells or, on a busy machine,
    in the second cell (whose cells take a second); either way no cell starts after it, so the third never
    does, and the rerun skips the first cell and finishes the rest."""
    log = tmp_path / "log"
    args = ablate_args(tiny_recipe(iters=2, crop=96), tmp_path, "--rates", "2,3")
    proc = start(args, log)
    wait_for(proc, lambda: (tmp_path / "ablation.csv").is_file(), "first cell's row")
    out = stop(proc, log)
    assert proc.returncode == 143, out[-2000:]
    assert len(io.read_csv_rows(tmp_path / "ablation.csv")) == 1
    assert "cell 3/3" not in grid_log(tmp_path)
    assert not (tmp_path / "grid" / "mobilenetv2_035_ksac-concat_r2-3_os16_seed0").exists()

    again = ksac(*args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "skipped mobilenetv2_035_ksac-concat_r1-2_os16_seed0: done" in grid_log(tmp_path)
    assert len(io.read_csv_rows(tmp_path / "ablation.csv")) == 3
