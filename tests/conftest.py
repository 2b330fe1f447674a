"""Shared fixtures: a cache folder for the tiny built-in dataset, a tiny recipe, and a pair of tiny runs trained
once per session (see tiny_run.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tiny_run import shared_pair, write_tiny_recipe

# One compute thread per process: pytest runs two workers (pyproject: -n 2), every `ksac` process a test
# starts inherits this, and the commands run in the workers themselves (cli_runner.ksac) keep to one thread
# too. Tiny models gain nothing from a second thread, and on 2 cores two workers x two threads would fight
# over them.
os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synth")


@pytest.fixture(scope="session")
def shared_tmp(tmp_path_factory) -> Path:
    """A folder every xdist worker of this test session sees: the parent of the workers' own temp folders
    (pytest-<n>/, made anew for each session), or the session's temp folder without xdist."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def pair(shared_tmp) -> dict[str, tuple[Path, Path]]:
    """The ASPP and KSAC tiny runs trained once per session for the files that only read them
    (tiny_run.shared_pair): head -> (recipe, run directory). Do not change them; copy_run first."""
    return shared_pair(shared_tmp / "pair")


@pytest.fixture
def tiny_recipe(tmp_path, synth_root):
    def make(head: str = "ksac", iters: int = 4, save_every: int = 2, crop: int = 64) -> Path:
        return write_tiny_recipe(tmp_path / f"tiny_{head}_{iters}_{save_every}_{crop}.yaml", synth_root,
                                 head=head, iters=iters, save_every=save_every, crop=crop)
    return make
