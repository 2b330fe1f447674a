"""`SeededSamples`: a sample's draws are those of its own seed, as after torch.manual_seed(seed), and
loading it leaves the process's stream (dropout's, when the loader has no workers) where it was."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import Dataset

from ksac_cli.engine.sampler import SeededSamples


class Draws(Dataset):
    """Items made of draws from torch's global generator, of each kind a transform may use."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return torch.rand(3), torch.randint(0, 1000, (2,)), torch.randn(3)


class Fails(Draws):
    def __getitem__(self, index: int):
        super().__getitem__(index)
        raise RuntimeError("unreadable")


def same(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("seed", [0, 1, 2**40 + 7, 2**63 - 1])
def test_a_sample_draws_what_torch_manual_seed_of_its_seed_draws(seed):
    torch.manual_seed(seed)
    expected = Draws()[0]
    torch.manual_seed(99)
    torch.rand(5)  # whatever the process drew before
    assert same(SeededSamples(Draws())[(0, seed)], expected)
    assert not same(SeededSamples(Draws())[(1, seed + 1)], expected)


def test_loading_leaves_the_process_stream_where_it_was():
    def stream(load) -> tuple[torch.Tensor, ...]:
        torch.manual_seed(5)
        torch.randn(1)  # a normal draw leaves its pair's second value cached: part of the state too
        load()
        return torch.rand(4), torch.randn(3), torch.randint(0, 1000, (3,))

    def failed_load():
        with pytest.raises(RuntimeError, match="unreadable"):
            SeededSamples(Fails())[(0, 12)]

    uninterrupted = stream(lambda: None)
    assert same(stream(lambda: (SeededSamples(Draws())[(0, 11)], SeededSamples(Draws())[(1, 12)])), uninterrupted)
    assert same(stream(failed_load), uninterrupted)  # a sample that fails to load too
