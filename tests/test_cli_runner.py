"""The tests' in-process `ksac` (tests/cli_runner.py) checked against a real `python -m ksac_cli` process: the
same exit status and output, the same trained weights bit for bit, and nothing of the command left behind in
the test process."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import warnings

import numpy as np
import pytest
import torch
from cli_runner import ksac, ksac_subprocess
from tiny_run import write_tiny_recipe


def _without_speeds(text: str) -> list[str]:
    # speeds and durations: images/s, the start line's estimate, an evaluation's time left, the time taken
    return [re.sub(r"[\d.]+ images/s|[\d.]+ (?:s|min|h)\b", "", line) for line in text.splitlines()]


@pytest.mark.parametrize("args", [("train", "--help"), ("train", "--iters", "abc"), ("eval", "--checkpoint", "no.pt"),
                                  ("frobnicate",), ()])
def test_help_and_refusals_are_the_same_to_the_byte(tmp_path, args):
    here, process = ksac(*args, cwd=tmp_path), ksac_subprocess(*args, cwd=tmp_path)
    assert (here.returncode, here.stdout, here.stderr) == (process.returncode, process.stdout, process.stderr)
    assert here.returncode in (0, 2) and (here.stdout + here.stderr).strip()


def _process_state() -> dict:
    """What a command may change in the process that runs it."""
    return {"cwd": os.getcwd(), "env": dict(os.environ), "threads": torch.get_num_threads(),
            "deterministic": (torch.are_deterministic_algorithms_enabled(),
                              torch.is_deterministic_algorithms_warn_only_enabled()),
            "benchmark": torch.backends.cudnn.benchmark, "grad": torch.is_grad_enabled(),
            "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state()[1].copy(),
            "random": random.getstate(), "showwarning": warnings.showwarning, "filters": list(warnings.filters),
            "signals": (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))}


def test_a_run_in_this_process_trains_what_a_process_trains_and_leaves_nothing_behind(tmp_path):
    """The same tiny training (relative paths, resolved in each command's own folder) in this process and
    in `python -m ksac_cli`: the same exit status, printed lines (speeds aside), logs and weights (torch.equal);
    and the test process's working folder, environment, torch threads and modes, random generators, warnings
    and signal handlers as before. Breaks when the runner leaks state from one command into the next test,
    or runs the command differently from a process (cwd, environment, threads)."""
    done = {}
    for mode in ("here", "process"):
        folder = tmp_path / mode
        folder.mkdir()
        write_tiny_recipe(folder / "tiny.yaml", folder / "synth", iters=4, save_every=2)
        args = ("train", "--recipe", "tiny.yaml", "--run-dir", "run")
        if mode == "here":
            before = _process_state()
            done[mode] = ksac(*args, cwd=folder, env={**os.environ, "KSAC_TEST_MARK": "1"})
            after = _process_state()
        else:
            done[mode] = ksac_subprocess(*args, cwd=folder)
    here, process = done["here"], done["process"]
    assert here.returncode == process.returncode == 0, (here.stderr[-2000:], process.stderr[-2000:])
    assert _without_speeds(here.stdout) == _without_speeds(process.stdout) and "iter 4/4" in here.stdout
    assert here.stderr == process.stderr
    runs = {mode: tmp_path / mode / "run" for mode in done}
    logs = {mode: [{k: v for k, v in json.loads(line).items() if k not in ("images_per_s", "seconds")}
                   for line in (run / "metrics.jsonl").read_text().splitlines()] for mode, run in runs.items()}
    assert logs["here"] == logs["process"] and [m["iteration"] for m in logs["here"]] == [1, 2, 3, 4]
    states = {mode: torch.load(run / "checkpoints/last.pt", weights_only=True) for mode, run in runs.items()}
    assert states["here"]["model"].keys() == states["process"]["model"].keys()
    for key, value in states["process"]["model"].items():
        assert torch.equal(value, states["here"]["model"][key]), key

    assert before.keys() == after.keys()
    for key in before:
        a, b = before[key], after[key]
        same = torch.equal(a, b) if isinstance(a, torch.Tensor) else np.array_equal(a, b) \
            if isinstance(a, np.ndarray) else a == b
        assert same, key
    assert "KSAC_TEST_MARK" not in os.environ


def test_an_uncaught_exception_gives_a_traceback_and_exit_1(monkeypatch):
    from ksac_cli.cli import main as cli_main

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli_main.typer.main, "get_command", broken)
    proc = ksac("--help")
    assert proc.returncode == 1 and proc.stdout == ""
    assert "Traceback" in proc.stderr and proc.stderr.splitlines()[-1] == "RuntimeError: a bug"


def test_a_fault_to_inject_is_refused_here_and_installed_in_its_own_process():
    with pytest.raises(ValueError, match="KSAC_FAULT is installed in a process of its own"):
        ksac("--help", env={**os.environ, "KSAC_FAULT": "step@1=kill"})
    proc = ksac_subprocess("--help", env={**os.environ, "KSAC_FAULT": "bogus"})
    assert proc.returncode == 1 and "Traceback" in proc.stderr
    assert proc.stderr.splitlines()[-1] == "ValueError: KSAC_FAULT: cannot read 'bogus'; expected <point>@<n>=<action>"
