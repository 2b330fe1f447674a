"""DataLoaders for training (resumable order, seeded augmentation) and evaluation (sharded by rank),
and the one place that turns bad samples met by a worker into a clear error or a count."""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from ksac_cli import signals
from ksac_cli.data import Uint8Items, WithObjectSizes, collate, collate_by_size
from ksac_cli.data.objects import SizeMapCache, cache_folder
from ksac_cli.engine.sampler import ResumableSampler, SeededSamples
from ksac_cli.errors import KsacError


def worker_count(requested: int | None, device: torch.device, world_size: int = 1) -> int:
    """`requested`, or (None) as many worker processes as there are cores the compute leaves free, at most 8:
    on CUDA every core but one; on the CPU those the model's own `torch.get_num_threads()` threads leave (a
    worker on a busy core delays every parallel op: docs/performance.md)."""
    if requested is not None:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cores //= world_size
    free = cores - 1 if device.type == "cuda" else cores - torch.get_num_threads()
    return max(0, min(8, free))


def train_loader(dataset: Dataset, global_batch: int, workers: int, seed: int, samples_seen: int,
                 rank: int = 0, world_size: int = 1, pin_memory: bool = False) -> DataLoader:
    sampler = ResumableSampler(len(dataset), global_batch, seed=seed, start=samples_seen, rank=rank,
                               world_size=world_size)
    return DataLoader(
        SeededSamples(Uint8Items(dataset)), batch_size=global_batch // world_size, sampler=sampler, num_workers=workers,
        collate_fn=collate, pin_memory=pin_memory, persistent_workers=workers > 0, worker_init_fn=signals.ignore,
        # its own generator: creating the loader must not draw from the global RNG (exact resume)
        generator=torch.Generator().manual_seed(seed),
    )


class SizeGroupedBatches:
    """Iterates a DataLoader whose collate makes a list of `Batch`es (one per image size), one Batch at a
    time: evaluation never stacks images of different sizes, and the confusion matrix (a sum over pixels)
    is the same as with one image per batch."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader

    def __iter__(self) -> Iterator:
        for group in self.loader:
            yield from group


def eval_loader(dataset: Dataset, batch_size: int, workers: int, rank: int = 0, world_size: int = 1,
                cache_sizes: bool = True, pin_memory: bool = False) -> SizeGroupedBatches:
    """Rank r evaluates samples r, r+W, r+2W, ...: every sample exactly once across ranks (no padding).
    Batches carry each image's object-size map (for the per-size IoU), made in the workers, and with
    `cache_sizes` kept beside the dataset's masks for the next evaluation (`data.objects.SizeMapCache`);
    a loader batch whose images differ in size is split into one Batch per size."""
    dataset = WithObjectSizes(Uint8Items(dataset), SizeMapCache(cache_folder(dataset) if cache_sizes else None))
    shard = dataset if world_size == 1 else Subset(dataset, list(range(rank, len(dataset), world_size)))
    return SizeGroupedBatches(DataLoader(shard, batch_size=batch_size, shuffle=False, num_workers=workers,
                                         collate_fn=collate_by_size, pin_memory=pin_memory,
                                         worker_init_fn=signals.ignore))


def checked(batches: Iterator, skip_bad: bool, skipped: list) -> Iterator:
    """Pass batches through; a bad sample stops the run with its file and problem, or with `skip_bad`
    is appended to `skipped` (the count is reported at the end)."""
    for batch in batches:
        if batch.bad and not skip_bad:
            first = batch.bad[0]
            raise KsacError(f"bad sample {first.path}: {first.problem}; fix or remove it, or pass --skip-bad "
                            f"to skip such samples")
        skipped.extend(batch.bad)
        yield batch
