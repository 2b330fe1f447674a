"""Per-rate contribution: the head's output with ONE atrous branch silenced at test time, after its
BatchNorm and ReLU, so the projection sees zeros in that branch's place (the trained weights unchanged)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn

from ksac_cli.models.heads import ASPP, KSAC


def atrous_branches(head: nn.Module) -> list[nn.Module] | None:
    """The module whose output is rate i's branch output (before ReLU for KSAC, whose ReLU of 0 is 0):
    ASPP's conv+BN+ReLU per rate, KSAC's BatchNorm per rate (its kernel is shared); None for another head
    (a user's own class), whose branches are not known."""
    if isinstance(head, ASPP):
        return list(head.atrous)
    if isinstance(head, KSAC):
        return list(head.bns)
    return None


@contextmanager
def silenced(branches: list[nn.Module]) -> Iterator[None]:
    """Within the block, each of `branches` (of `atrous_branches`) outputs zeros."""
    hooks = [b.register_forward_hook(lambda module, args, output: output.new_zeros(output.shape)) for b in branches]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
