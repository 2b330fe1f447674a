"""Per-rate contribution: the head's output with ONE atrous branch silenced at test time, after its
BatchNorm and ReLU, so the projection sees zeros in that branch's place (the trained weights unchanged).
Which rates does a trained model rely on?"""

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
def silenced(head: nn.Module, indices: list[int]) -> Iterator[None]:
    """Within the block, the branches at `indices` (positions in `head.rates`) output zeros."""
    branches = atrous_branches(head)
    if branches is None:
        raise TypeError(f"no atrous branches in {type(head).__name__}; expected an ASPP or KSAC head")
    hooks = [branches[i].register_forward_hook(lambda module, args, output: output.new_zeros(output.shape))
             for i in indices]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()
