"""The data order: a resumable, rank-aware, infinite stream of (sample index, augmentation seed).

The global stream is a sequence of positions 0, 1, 2, ...; position p belongs to epoch p // n and picks
sample perm_e[p % n], where perm_e is a permutation drawn from a generator seeded by (seed, e). Global
batch i is positions [i*B, (i+1)*B); rank r of W takes its contiguous share of B/W. Each draw also carries
its own augmentation seed derived from (seed, p), so the augmentation of a sample does not depend on
which worker process loads it, and a resumed run sees exactly the samples and crops it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, Sampler

_MIX = 1_000_003  # a prime: spreads (seed, position) pairs over distinct generator seeds


class ResumableSampler(Sampler):
    def __init__(self, num_samples: int, global_batch: int, seed: int = 0, start: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        if num_samples < 1:
            raise ValueError("empty dataset")
        if global_batch % world_size:
            raise ValueError("the global batch must split evenly across ranks")
        self.n = num_samples
        self.global_batch = global_batch
        self.local_batch = global_batch // world_size
        self.seed = seed
        self.start = start  # global positions already consumed (a multiple of global_batch)
        self.rank = rank
        self._perm: tuple[int, torch.Tensor] | None = None

    def _index(self, position: int) -> int:
        epoch = position // self.n
        if self._perm is None or self._perm[0] != epoch:
            g = torch.Generator().manual_seed(self.seed * _MIX + epoch)
            self._perm = (epoch, torch.randperm(self.n, generator=g))
        return int(self._perm[1][position % self.n])

    def __iter__(self) -> Iterator[tuple[int, int]]:
        batch = self.start // self.global_batch
        while True:
            first = batch * self.global_batch + self.rank * self.local_batch
            for position in range(first, first + self.local_batch):
                yield self._index(position), (self.seed * _MIX + position) % (2**63)
            batch += 1


class SeededSamples(Dataset):
    """Wraps a dataset so that item (index, seed) is loaded with torch's CPU generator seeded by `seed`, as
    `torch.manual_seed(seed)` seeds it; the process's own stream is left as it was."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: tuple[int, int]):
        index, seed = item
        # The transforms draw from torch's global CPU generator: seed it for this sample only, and put the
        # process's own state back after (dropout, with workers=0), as fork_rng(devices=[]) does. Not
        # torch.manual_seed: it also seeds CUDA, XPU and MTIA, each queued with a formatted traceback of
        # the caller's stack until that device starts; 0.2 ms a sample under a DataLoader on this
        # project's CPU (benchmarks/bench_data_path.py), against 0.01 ms here.
        state = torch.get_rng_state()
        torch.default_generator.manual_seed(seed)
        try:
            return self.dataset[index]
        finally:
            torch.set_rng_state(state)
