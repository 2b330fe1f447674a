"""The warm start of the tests' `ksac` child processes (tests/ksac_process.py), checked against a fresh
interpreter: a child forked by the warm server must do what `python -m ksac_cli` does, bit for bit."""

from __future__ import annotations

import json
import os
import re
import subprocess

import ksac_process
import pytest
import torch
from tiny_run import write_tiny_recipe

warm_only = pytest.mark.skipif(ksac_process.FRESH, reason="KSAC_TESTS_FRESH=1: every command is a fresh interpreter")


def _in_both(tmp_path, *args: str, env: dict | None = None) -> dict[str, tuple[subprocess.CompletedProcess, object]]:
    """`ksac ARGS` run in tmp_path/fresh by a fresh interpreter and in tmp_path/warm by a child of the warm
    server (each folder its working folder, so relative paths resolve in it): mode -> (result, the process)."""
    done = {}
    for mode in ("fresh", "warm"):
        folder = tmp_path / mode
        folder.mkdir()
        write_tiny_recipe(folder / "tiny.yaml", folder / "synth", iters=4, save_every=2)
        proc = ksac_process.popen(*args, env=env, cwd=folder, fresh=mode == "fresh")
        out, err = proc.communicate(timeout=300)
        done[mode] = (subprocess.CompletedProcess(proc.args, proc.returncode, out, err), proc)
    return done


def _without_speeds(text: str) -> list[str]:
    return [re.sub(r"[\d.]+ images/s|in \d+ s", "", line) for line in text.splitlines()]


@warm_only
def test_a_warm_child_trains_and_is_killed_as_a_fresh_interpreter(tmp_path):
    done = _in_both(tmp_path, "train", "--recipe", "tiny.yaml", "--run-dir", "run",
                    env={**os.environ, "KSAC_FAULT": "step@3=kill"})  # killed after step 3, saved at 2
    (fresh, _), (warm, proc) = done["fresh"], done["warm"]
    assert isinstance(proc, ksac_process.WarmProcess) and proc.pid != os.getpid()
    assert fresh.returncode == warm.returncode == -9, (fresh.stderr[-2000:], warm.stderr[-2000:])
    assert _without_speeds(warm.stdout) == _without_speeds(fresh.stdout) and "iter 2/4" in warm.stdout
    runs = {mode: tmp_path / mode / "run" for mode in done}  # relative to each command's own folder
    logs = {mode: [json.loads(line)["iteration"] for line in (run / "metrics.jsonl").read_text().splitlines()]
            for mode, run in runs.items()}
    assert logs["warm"] == logs["fresh"] == [1, 2]
    states = {mode: torch.load(run / "checkpoints/last.pt", weights_only=True) for mode, run in runs.items()}
    assert states["warm"]["iteration"] == states["fresh"]["iteration"] == 2
    for key, value in states["fresh"]["model"].items():
        assert torch.equal(value, states["warm"]["model"][key]), key


@pytest.mark.parametrize("args", [("train", "--help"), ("train", "--iters", "abc"), ("eval", "--checkpoint", "no.pt")])
def test_help_and_refusals_are_the_same_to_the_byte(tmp_path, args):
    done = _in_both(tmp_path, *args)
    (fresh, _), (warm, _) = done["fresh"], done["warm"]
    assert (warm.returncode, warm.stdout, warm.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert warm.returncode in (0, 2) and (warm.stdout + warm.stderr).strip()


def test_an_uncaught_exception_gives_the_same_traceback_and_exit_code(tmp_path):
    done = _in_both(tmp_path, "--help", env={**os.environ, "KSAC_FAULT": "bogus"})
    (fresh, _), (warm, _) = done["fresh"], done["warm"]
    assert fresh.returncode == warm.returncode == 1
    assert "Traceback" in warm.stderr
    assert warm.stderr.splitlines()[-1] == fresh.stderr.splitlines()[-1] == (
        "ValueError: KSAC_FAULT: cannot read 'bogus'; expected <point>@<n>=<action>")


@warm_only
def test_an_environment_read_at_import_time_gets_a_fresh_interpreter():
    same = ksac_process.popen("--help", env={**os.environ, "KSAC_FAULT": ""})
    other = ksac_process.popen("--help", env={**os.environ, "OMP_NUM_THREADS": "2"})
    for proc in (same, other):
        assert proc.communicate(timeout=300)[0].startswith("Usage") and proc.returncode == 0
    assert isinstance(same, ksac_process.WarmProcess)
    assert isinstance(other, subprocess.Popen)  # the server imported torch with OMP_NUM_THREADS=1
