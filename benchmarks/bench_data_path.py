"""The training data path of the quick recipe, piece by piece, on one thread (issue 33).

    python benchmarks/bench_data_path.py --repeats 15
    # another commit's code, for a before/after:
    mkdir /tmp/before && git archive HEAD ksac_cli recipes | tar -x -C /tmp/before
    PYTHONPATH=/tmp/before python benchmarks/bench_data_path.py

ms per training image, each the minimum and the median over `--repeats` blocks of `--block` images (a
block of batches for `collate` and `loader`), torch on one thread (as the data path runs under
`data.transforms.one_thread`), the built-in training set read once before timing (page cache and decoded
store warm). Parts, each timed alone:
  read     `SegmentationDataset.read`: the decoded store's read (both files read and hashed, pixels loaded)
  seed     the loader's order and seeding alone: a DataLoader (no workers) of `SeededSamples` over items
           that cost nothing, in `ResumableSampler`'s order (seeding each sample's draws under the
           DataLoader's call stack, as in training: torch.manual_seed's cost grew with that stack's depth)
  augment  `data.transforms.Augment` on (uint8 image, mask) tensors already read
  collate  `data.collate` of a batch of loader items (uint8), per image
  loader   the whole path: `engine.loaders.train_loader` with no workers, next batch, per image
The machine may be shared: compare minima, and runs made one after the other.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import time
from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, Dataset

from ksac_cli.config import resolve_run_config
from ksac_cli.data import Uint8Items, build_dataset, collate
from ksac_cli.data.transforms import as_tensors
from ksac_cli.engine import loaders
from ksac_cli.engine.sampler import ResumableSampler, SeededSamples


class Free(Dataset):
    """An item that costs nothing: what is left of `SeededSamples[item]` is its own work."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        return index


def per_image(fn: Callable[[int], object], images_per_call: int, block: int, repeats: int) -> tuple[float, float]:
    """(minimum, median) ms per image of fn(0), fn(1), ... over `repeats` blocks of `block` images."""
    calls = max(1, block // images_per_call)
    times, i = [], 0
    for _ in range(repeats + 1):  # the first block warms up
        start = time.perf_counter()
        for _ in range(calls):
            fn(i)
            i += 1
        times.append(1000 * (time.perf_counter() - start) / (calls * images_per_call))
    return min(times[1:]), statistics.median(times[1:])


def cpu_name() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--block", type=int, default=200, help="images per timed block")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = resolve_run_config("quick")
    dataset = build_dataset(cfg.data, "train", train=True)
    n, batch = len(dataset), cfg.train.batch_size
    pixels = [as_tensors(*dataset.read(i)) for i in range(n)]  # every file read once: the caches warm
    augment = dataset.transform.geometry
    seeded = iter(DataLoader(SeededSamples(Free()), batch_size=batch, collate_fn=list,
                             sampler=ResumableSampler(1, batch, seed=cfg.train.seed)))
    items = [Uint8Items(dataset)[i] for i in range(batch)]
    stream = iter(loaders.train_loader(dataset, batch, 0, cfg.train.seed, 0))
    parts = {
        "read": (lambda i: dataset.read(i % n), 1),
        "seed": (lambda i: next(seeded), batch),
        "augment": (lambda i: augment(*pixels[i % n]), 1),
        "collate": (lambda i: collate(items), batch),
        "loader": (lambda i: next(stream), batch),
    }
    print(f"{cpu_name()}, torch {torch.__version__}, 1 thread; {n} images of {tuple(pixels[0][0].shape)}, "
          f"crop {augment.crop}, scale {augment.low}..{augment.high}, batch {batch}")
    print(f"{'part':8s} {'min ms/image':>13s} {'median':>8s}")
    for name, (fn, images) in parts.items():
        low, mid = per_image(fn, images, args.block, args.repeats)
        print(f"{name:8s} {low:13.4f} {mid:8.4f}")


if __name__ == "__main__":
    main()
