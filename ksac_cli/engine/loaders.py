"""DataLoaders for training (resumable order, seeded augmentation) and evaluation (sharded by rank),
and the one place that turns bad samples met by a worker into a clear error or a count."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ksac_cli.data import collate
from ksac_cli.engine.sampler import ResumableSampler, SeededSamples
from ksac_cli.errors import KsacError


def ignore_interrupts(worker_id: int) -> None:
    """Worker init: Ctrl-C and `kill -TERM` reach the whole process group; only the main process handles
    them (it saves a checkpoint, then shuts the workers down)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def train_loader(dataset: Dataset, global_batch: int, workers: int, seed: int, samples_seen: int,
                 rank: int = 0, world_size: int = 1, pin_memory: bool = False) -> DataLoader:
    sampler = ResumableSampler(len(dataset), global_batch, seed=seed, start=samples_seen, rank=rank,
                               world_size=world_size)
    return DataLoader(
        SeededSamples(dataset), batch_size=global_batch // world_size, sampler=sampler, num_workers=workers,
        collate_fn=collate, pin_memory=pin_memory, persistent_workers=workers > 0, worker_init_fn=ignore_interrupts,
        # its own generator: creating the loader must not draw from the global RNG (exact resume)
        generator=torch.Generator().manual_seed(seed),
    )


def eval_loader(dataset: Dataset, batch_size: int, workers: int, rank: int = 0, world_size: int = 1) -> DataLoader:
    """Rank r evaluates samples r, r+W, r+2W, ...: every sample exactly once across ranks (no padding)."""
    shard = dataset if world_size == 1 else Subset(dataset, list(range(rank, len(dataset), world_size)))
    return DataLoader(shard, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate,
                      worker_init_fn=ignore_interrupts)


def checked(batches: Iterator, skip_bad: bool, skipped: list) -> Iterator:
    """Pass batches through; a bad sample stops the run with its file and problem, or with `skip_bad`
    is appended to `skipped` (the count is reported at the end)."""
    for images, masks, ids, bad in batches:
        if bad:
            if not skip_bad:
                first = bad[0]
                raise KsacError(f"bad sample {first.path}: {first.problem}; fix or remove it, or pass --skip-bad "
                                f"to skip such samples")
            skipped.extend(bad)
        yield images, masks, ids, bad
