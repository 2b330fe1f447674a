"""Initial weights keyed by (seed, module name), not by the order of construction (issue 32).

Each module that owns parameters is (re)initialised by its own `reset_parameters`, with torch's generator
seeded by `seeds.derive(seed, "init", <qualified name>)` (docs/training.md, "Like with like")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from ksac_cli.seeds import derive


@contextmanager
def seeded(seed: int, name: str) -> Iterator[None]:
    """torch's CPU generator seeded for `name` inside the block; the caller's stream is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive(seed, "init", name))
        yield


def build_seeded(seed: int, name: str, make: Callable[[], nn.Module]) -> nn.Module:
    """`make()` with its random draws keyed by (seed, name): for a module built as a whole (a timm backbone,
    whose own initialisation scheme runs in its constructor)."""
    with seeded(seed, name):
        return make()


def init_by_name(module: nn.Module, seed: int, prefix: str, strict: bool = True) -> None:
    """Re-initialise every submodule of `module` that owns parameters, each from (seed, `prefix`.name).
    A submodule with parameters but no `reset_parameters` is an error (it could not be keyed), unless not
    `strict` (a user's head: such a module keeps the draws of its construction under `build_seeded`)."""
    for name, sub in module.named_modules(prefix=prefix):
        if next(sub.parameters(recurse=False), None) is None or not (strict or hasattr(sub, "reset_parameters")):
            continue
        if not hasattr(sub, "reset_parameters"):
            raise TypeError(f"{name} ({type(sub).__name__}) owns parameters but has no reset_parameters(); "
                            f"give it one so that its initialisation can be keyed by its name")
        with seeded(seed, name):
            sub.reset_parameters()
