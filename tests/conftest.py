"""Shared fixtures: a cache folder for the tiny built-in dataset and a tiny recipe (see tiny_run.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tiny_run import write_tiny_recipe

# One compute thread per process: pytest runs two workers (pyproject: -n 2), and every `ksac` subprocess a
# test starts inherits this. Tiny models gain nothing from a second thread, and on 2 cores two workers x two
# threads would fight over them.
os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synth")


@pytest.fixture
def tiny_recipe(tmp_path, synth_root):
    def make(head: str = "ksac", iters: int = 4, save_every: int = 2, crop: int = 64) -> Path:
        return write_tiny_recipe(tmp_path / f"tiny_{head}_{iters}_{save_every}_{crop}.yaml", synth_root,
                                 head=head, iters=iters, save_every=save_every, crop=crop)
    return make
