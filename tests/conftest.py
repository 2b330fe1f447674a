"""Shared fixtures: a cache folder for the tiny built-in dataset and a tiny recipe (see tiny_run.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_run import write_tiny_recipe


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synth")


@pytest.fixture
def tiny_recipe(tmp_path, synth_root):
    def make(head: str = "ksac", iters: int = 4, save_every: int = 2, crop: int = 64) -> Path:
        return write_tiny_recipe(tmp_path / f"tiny_{head}_{iters}_{save_every}_{crop}.yaml", synth_root,
                                 head=head, iters=iters, save_every=save_every, crop=crop)
    return make
