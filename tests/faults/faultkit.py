"""Helpers of the fault-injection suite (a module name unique across tests/).

A command with a fault to inject runs as a real process (KSAC_FAULT, installed by
tests/fault_injection.py), as does one with a limit set before the process starts
(preexec_fn); the others (bad arguments, files damaged on disk, the rerun after a fault) run in this process
(tests/cli_runner.py). KSAC_FAULTS_FULL=1 runs the long version of the
randomised cases (README, "Reliability"). The sampled cases rotate: they are drawn with a seed that
changes every day (or KSAC_FAULT_SEED), shown in each test id, so a failure can be replayed."""

from __future__ import annotations

import datetime
import json
import os
import random
import subprocess
from pathlib import Path

import pytest
import torch
from cli_runner import ksac, ksac_subprocess

FULL = os.environ.get("KSAC_FAULTS_FULL") == "1"
SEED = int(os.environ.get("KSAC_FAULT_SEED") or datetime.date.today().toordinal())


def rotating(cases: list, k: int, fixed: list = (), salt: str = "") -> list:
    """`fixed`, plus `k` more of `cases` drawn with SEED (all of them with KSAC_FAULTS_FULL=1), as pytest
    params whose id ends with the seed: `KSAC_FAULT_SEED=<seed> pytest ...` draws the same ones again.
    `salt` lets two tests sampling the same list draw different cases."""
    rest = [c for c in cases if c not in fixed]
    drawn = rest if FULL else random.Random(f"{SEED}{salt}").sample(rest, min(k, len(rest)))
    label = lambda c: "-".join(map(str, c)) if isinstance(c, tuple) else str(c)  # noqa: E731
    return [*fixed, *[pytest.param(c, id=f"{label(c)}@seed{SEED}") for c in drawn]]


def run(*args: str, fault: str | None = None, timeout: int = 300, preexec_fn=None,
        **kwargs) -> subprocess.CompletedProcess:
    """`ksac ARGS`: a real process when `fault` (KSAC_FAULT) or `preexec_fn` is given, else in this process."""
    if fault or preexec_fn is not None:
        return ksac_subprocess(*args, env={**os.environ, "KSAC_FAULT": fault or ""}, timeout=timeout,
                               preexec_fn=preexec_fn, **kwargs)
    return ksac(*args, env={k: v for k, v in os.environ.items() if k != "KSAC_FAULT"}, **kwargs)


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if line.startswith("error:")]


def assert_clean_failure(proc: subprocess.CompletedProcess, code: int, *fragments: str) -> str:
    """Exit `code`, ONE error line holding every fragment, no traceback; returns the line."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, (proc.returncode, out[-3000:])
    assert "Traceback" not in out, out[-3000:]
    lines = error_lines(proc)
    assert len(lines) == 1, out[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def assert_no_half_written_file(run_dir: Path) -> None:
    """Every checkpoint loads, every JSON/YAML parses, every JSON line of a log is complete, no temp file."""
    for path in run_dir.rglob("*"):
        if not path.is_file() or path.name.endswith(".lock"):
            continue
        assert not path.name.endswith(".tmp"), f"temporary file left behind: {path}"
        if path.suffix == ".pt":
            state = torch.load(path, weights_only=True)
            assert "model" in state and "iteration" in state, path
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            for line in path.read_text().splitlines():
                json.loads(line)


def final_state(run_dir: Path) -> dict:
    state = torch.load(run_dir / "checkpoints/last.pt", weights_only=True)
    return {"iteration": state["iteration"], "model": state["model"], "optimizer": state["optimizer"]["state"]}


def assert_same_state(a: dict, b: dict) -> None:
    assert a["iteration"] == b["iteration"]
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    for index, slot in a["optimizer"].items():
        for name, value in slot.items():
            assert torch.equal(value, b["optimizer"][index][name]), (index, name)


def iterations(path: Path) -> list[int]:
    return [json.loads(line)["iteration"] for line in path.read_text().splitlines()]


def ci_or_full(cases: list, ci: list) -> list:
    """All `cases` with KSAC_FAULTS_FULL=1, else the CI subset `ci` (each kind of fault at least once)."""
    return list(cases) if FULL else [c for c in cases if c in ci]
