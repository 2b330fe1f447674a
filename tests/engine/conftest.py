"""A tiny training setup shared by the engine tests: a recipe file and a small built-in dataset."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiny_run import TINY_RECIPE


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("synth")


@pytest.fixture
def tiny_recipe(tmp_path, synth_root):
    def make(head: str = "ksac", iters: int = 4, save_every: int = 2, crop: int = 64) -> Path:
        path = tmp_path / f"tiny_{head}_{iters}_{save_every}_{crop}.yaml"
        path.write_text(TINY_RECIPE.format(head=head, root=synth_root, iters=iters, save_every=save_every,
                                           crop=crop))
        return path
    return make
