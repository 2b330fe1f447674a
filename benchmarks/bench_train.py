"""The toolkit's own overhead: `ksac train` and `ksac eval` against bare PyTorch loops on the same model,
the overhead per image split into its parts, and the data pipeline alone.

    python benchmarks/bench_train.py --rounds 4      # the quick recipe (the default of `ksac train`)
    python benchmarks/bench_train.py --recipe quick --iters 60 --rounds 2 --device cuda

train: the toolkit's training loop (the built-in dataset read from disk, augmentation, logging, checkpoints,
TensorBoard: everything but evaluation), its steady-state images/s measured from the clock at each finished
step, after `--warmup` steps; against a bare loop (forward, cross-entropy, backward, the recipe's optimizer)
that trains the same model on one batch of the same shape already on the device.
eval: `ksac eval` on the val split (reading, metrics, files) against bare forward passes of the same model on
batches of the same shape already on the device. The object-size maps are read from the dataset's
`.size_maps/` (the training run's final evaluation made them), as at every evaluation but the first.
`--only eval` times evaluation alone, of a checkpoint trained for 2 untimed steps (the weights change what is
predicted, not how long it takes); `--only train` training alone.
Paired (`--paired auto`: when the loader has no workers, as on a 2-core CPU): a bare step (forward pass)
runs right after each of the toolkit's, timed apart and left out of the toolkit's time, so both see the same
load on a shared machine; each round compares the sums over the window. Unpaired (loader workers, as on a
GPU machine; `--paired no`): toolkit and bare runs alternate whole, since workers would prepare the toolkit's
batches while a paired bare step runs. `--rounds` rounds; the medians are kept.

The overhead per image, 1/toolkit - 1/bare in ms, is split by timers put around the toolkit's own seams
during the timed run (nothing else changes): `data_ms` the loop waited for its next batch (reading,
decoding, augmentation or transform, collation: in the main process when there are no workers),
`compute_extra_ms` the toolkit's step (or forward pass) minus the bare one, `rest_ms` all else per image
(training: device copies, the loss check, schedule, log lines, TensorBoard, events; eval: device copies,
argmax, the confusion and per-image matrices, callbacks). `h2d_ms` is a batch's copy to the device timed
alone (0 on the CPU; part of rest_ms). The pipeline alone (`pipeline_images_per_s`: the toolkit's loader
with its worker count, no model) is split once more with workers=0: `decode_ms` (reading and decoding the
files, `SegmentationDataset.read`), `collate_ms`, `transform_ms` the rest of it (augmentation or the eval
transform, seeding, size maps). `pipeline_x_bare_train`: the pipeline's images/s over the bare training
loop's. Writes results/bench_train.csv (columns: COLUMNS; results/README.md); `--append --change TEXT` adds
rows instead, so that one file keeps what each change bought.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from ksac_cli import io
from ksac_cli.config import resolve_run_config
from ksac_cli.engine import evaluate as evaluate_module
from ksac_cli.engine import loaders
from ksac_cli.engine import train as train_module
from ksac_cli.engine.evaluate import autocast
from ksac_cli.engine.run import datasets_for
from ksac_cli.machine import device_name, resolve_amp, resolve_device
from ksac_cli.measure.latency import time_calls
from ksac_cli.models import build_model
from ksac_cli.workflows.evaluate import evaluate_checkpoint
from ksac_cli.workflows.train import train

TIMED = ["toolkit_images_per_s", "bare_images_per_s", "ratio", "overhead_ms", "data_ms", "compute_extra_ms",
         "rest_ms", "h2d_ms", "pipeline_images_per_s", "decode_ms", "transform_ms", "collate_ms",
         "pipeline_x_bare_train"]
COLUMNS = ["what", "change", *TIMED, "rounds", "paired", "device", "amp", "recipe"]


class Timer:
    """Durations (s) of the calls of one seam, in order."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    def wrap(self, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds.append(time.perf_counter() - start)
        return timed

    def iterate(self, items: Iterator) -> Iterator:
        """Passes `items` on, timing each wait for the next one."""
        items = iter(items)
        while True:
            start = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            self.seconds.append(time.perf_counter() - start)
            yield item


@contextmanager
def patched(module, name: str, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


class StepClock:
    """Records the clock at each toolkit event of one kind (a finished step, an evaluated batch). With `bare`
    (paired), runs one bare call right after each event, timed with the device synchronised, and leaves its
    time out of the toolkit's: toolkit and bare then alternate step by step, under the same load."""

    def __init__(self, event: str, images: int | None = None, bare: Callable | None = None,
                 device: torch.device | None = None) -> None:
        self.event, self.images, self.bare, self.device = event, images, bare, device
        self.counts: list[int] = []  # images of each event
        self.intervals: list[float] = []  # seconds from the previous event (its bare call left out) to this one
        self.bare_seconds: list[float] = []  # the bare call after each event
        self.last: float | None = None

    def __call__(self, kind: str, data: dict) -> None:
        if kind != self.event:
            return
        now = time.perf_counter()
        if self.last is not None:
            self.intervals.append(now - self.last)
        self.counts.append(self.images or data["images"])
        if self.bare is not None:
            self.bare()
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            self.bare_seconds.append(time.perf_counter() - now)
        self.last = time.perf_counter()

    def window(self, warmup: int) -> tuple[int, float]:
        """(images, seconds) of events warmup+1 .. last."""
        return sum(self.counts[warmup + 1:]), sum(self.intervals[warmup:])

    def bare_rate(self, warmup: int, batch: int) -> float:
        """The paired bare calls' images/s (those after events warmup+1 .. last)."""
        calls = self.bare_seconds[warmup + 1:]
        return batch * len(calls) / sum(calls)


def split(clock: StepClock, warmup: int, data: Timer, compute: Timer, bare_ms: float) -> dict:
    """The toolkit's rate and its ms per image: waiting for data, compute beyond the bare loop's, the rest."""
    images, seconds = clock.window(warmup)
    window = slice(warmup + 1, len(clock.counts))  # the calls of the events in the window
    per_image = lambda timer: 1000 * sum(timer.seconds[window]) / images  # noqa: E731
    total_ms, data_ms, compute_ms = 1000 * seconds / images, per_image(data), per_image(compute)
    return {"toolkit_images_per_s": images / seconds, "data_ms": data_ms, "compute_extra_ms": compute_ms - bare_ms,
            "rest_ms": total_ms - data_ms - compute_ms}


def bare_rate(call, device: torch.device, items_per_call: int, runs: int, warmup: int) -> float:
    times = time_calls(call, device, runs=runs, warmup=warmup)
    return items_per_call * len(times) / (sum(times) / 1000.0)


def bare_train_step(model_cfg, cfg, device: torch.device):
    """A plain step: forward, cross-entropy, backward, the recipe's optimizer (SGD or AdamW) on one batch of
    the training shape already in memory; no data loading, no logging, no checkpoints. With the recipe's
    `freeze_backbone` (the quick recipe) the backbone is frozen the plain way too: no gradients, eval mode."""
    torch.manual_seed(0)
    model = build_model(model_cfg).to(device).train()
    if cfg.train.freeze_backbone:
        model.backbone.requires_grad_(False)
        model.backbone.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.train.optimizer == "adamw":
        optimizer = torch.optim.AdamW(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    else:
        optimizer = torch.optim.SGD(params, lr=cfg.train.lr, momentum=cfg.train.momentum,
                                    weight_decay=cfg.train.weight_decay)
    batch, crop = cfg.train.batch_size, cfg.data.crop_size
    images = torch.randn(batch, 3, crop, crop, device=device)
    masks = torch.randint(0, model_cfg.num_classes, (batch, crop, crop), device=device)
    amp = resolve_amp(cfg.train.amp, device)  # the recipe's --amp as `ksac train` resolves it

    def step():
        with autocast(device, amp):
            loss = F.cross_entropy(model(images).float(), masks, ignore_index=255)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # the toolkit reads the loss every step; so does this loop

    return step


def bare_forward(model_cfg, device: torch.device, batch: int, size: int, amp: str = "off"):
    """A plain inference call on one batch of the val shape already in memory (logits only)."""
    model = build_model(model_cfg).to(device).eval()
    images = torch.randn(batch, 3, size, size, device=device)

    def forward():
        with torch.inference_mode():
            with autocast(device, amp):
                model(images)

    return forward


def toolkit_train(cfg, run_dir: Path, warmup: int, bare: Callable, bare_ms: float | None) -> dict:
    """`ksac train` (in this process), timed at its seams: the wait for each batch, each step. `bare_ms`
    None: paired, a bare step after each of the toolkit's (StepClock)."""
    device = resolve_device(cfg.train.device)
    clock = StepClock("step", cfg.train.batch_size, bare if bare_ms is None else None, device)
    data, compute = Timer(), Timer()
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, run_dir=str(run_dir)))
    trainable = train_module.trainable
    with patched(train_module, "trainable", lambda *a: data.iterate(trainable(*a))), \
            patched(train_module, "train_step", compute.wrap(train_module.train_step)):
        train(cfg, resume=False, force=True, on_event=clock)
    return finish(clock, warmup, data, compute, cfg.train.batch_size, bare_ms)


def toolkit_eval(checkpoint: Path, device: torch.device, out: Path, warmup: int, bare: Callable, batch: int,
                 bare_ms: float | None) -> dict:
    """`ksac eval` (in this process), timed at its seams: the wait for each batch, each forward pass."""
    clock = StepClock("eval_batch", None, bare if bare_ms is None else None, device)
    data, compute = Timer(), Timer()
    checked = loaders.checked
    with patched(loaders, "checked", lambda *a: data.iterate(checked(*a))), \
            patched(evaluate_module, "predict", compute.wrap(evaluate_module.predict)):
        evaluate_checkpoint(checkpoint, {"train": {"device": str(device)}}, out, None, clock)
    return finish(clock, warmup, data, compute, batch, bare_ms)


def finish(clock: StepClock, warmup: int, data: Timer, compute: Timer, batch: int, bare_ms: float | None) -> dict:
    bare = clock.bare_rate(warmup, batch) if bare_ms is None else 1000 / bare_ms
    return {"bare_images_per_s": bare, **split(clock, warmup, data, compute, 1000 / bare)}


def pipeline(cfg, dataset, device: torch.device, train_set: bool, batches: int, warmup: int) -> dict:
    """The toolkit's loader alone, no model: images/s with the toolkit's worker count, then with workers=0
    the ms per image of decoding (`read`), collation and the rest (transform, seeding, size maps)."""
    def loader(workers: int):
        if train_set:
            return loaders.train_loader(dataset, cfg.train.batch_size, workers, cfg.train.seed, 0,
                                        pin_memory=device.type == "cuda")
        return loaders.eval_loader(dataset, cfg.eval.batch_size, workers).loader

    def run(workers: int, count: int) -> tuple[int, float]:
        images, start, it = 0, 0.0, iter(loader(workers))
        for i in range(warmup + count):
            if i == warmup:
                images, start = 0, time.perf_counter()
            batch = next(it, None)
            if batch is None:  # the val split ends: start it again
                it = iter(loader(workers))
                batch = next(it)
            images += sum(len(b.ids) for b in (batch if isinstance(batch, list) else [batch]))
        return images, time.perf_counter() - start

    images, seconds = run(loaders.worker_count(cfg.data.workers, device), batches)
    out = {"pipeline_images_per_s": images / seconds}
    read, collate = Timer(), Timer()
    with patched(type(dataset), "read", read.wrap(type(dataset).read)), \
            patched(loaders, "collate", collate.wrap(loaders.collate)), \
            patched(loaders, "collate_by_size", collate.wrap(loaders.collate_by_size)):
        images, seconds = run(0, batches)
    decode_ms = 1000 * sum(read.seconds[-images:]) / images
    collate_ms = 1000 * sum(collate.seconds[-batches:]) / images
    return {**out, "decode_ms": decode_ms, "collate_ms": collate_ms,
            "transform_ms": 1000 * seconds / images - decode_ms - collate_ms}


def h2d_ms(device: torch.device, batch: int, size: int) -> float:
    """ms per image to copy a batch of float images and int64 masks to `device` (pinned on CUDA)."""
    if device.type == "cpu":
        return 0.0
    images = torch.randn(batch, 3, size, size).pin_memory()
    masks = torch.zeros(batch, size, size, dtype=torch.int64).pin_memory()
    times = time_calls(lambda: (images.to(device, non_blocking=True), masks.to(device, non_blocking=True)),
                       device, runs=20, warmup=3)
    return statistics.median(times) / batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipe", default="quick", help="recipe name or file [default: quick]")
    parser.add_argument("--iters", type=int, default=60, help="training steps per timed run")
    parser.add_argument("--warmup", type=int, default=10, help="steps (or eval batches) not timed")
    parser.add_argument("--rounds", type=int, default=3, help="alternating toolkit/bare rounds; medians kept")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--workers", type=int, default=None, help="loader worker processes [default: the recipe's]")
    parser.add_argument("--only", choices=("train", "eval"), default=None, help="time one part [default: both]")
    parser.add_argument("--out", type=Path, default=Path("results/bench_train.csv"))
    parser.add_argument("--change", default="", help="what the code measured has (the `change` column)")
    parser.add_argument("--append", action="store_true", help="add the rows to --out instead of replacing it")
    parser.add_argument("--paired", choices=("auto", "yes", "no"), default="auto",
                        help="a bare step after each toolkit step [default auto: yes when the loader has no workers]")
    args = parser.parse_args(argv)

    cfg = resolve_run_config(args.recipe, {"train": {"iters": args.iters, "device": args.device},
                                           "data": {"workers": args.workers}})
    device = resolve_device(args.device)
    amp = resolve_amp(cfg.train.amp, device)
    train_set, val_set = datasets_for(cfg)
    model_cfg = dataclasses.replace(cfg.model, num_classes=train_set.num_classes, pretrained=False,
                                    backbone_weights=None)
    parts = ("train", "eval") if args.only is None else (args.only,)
    rounds: dict[str, list[dict]] = {what: [] for what in parts}
    train_step = bare_train_step(model_cfg, cfg, device)
    forward = bare_forward(model_cfg, device, cfg.eval.batch_size, cfg.data.synthetic.size, amp)
    eval_warmup = max(1, args.warmup // cfg.eval.batch_size)
    paired = args.paired == "yes" or (args.paired == "auto" and loaders.worker_count(cfg.data.workers, device) == 0)
    steps = args.iters - args.warmup
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        if "train" not in parts:  # a checkpoint to evaluate: two untimed steps
            short = dataclasses.replace(cfg.train, iters=2, save_every=2, log_every=1, warmup_iters=0,
                                        run_dir=str(run_dir))
            train(dataclasses.replace(cfg, train=short), resume=False, force=True)
            bare_train = bare_rate(train_step, device, cfg.train.batch_size, steps, args.warmup)
        for round_ in range(args.rounds):
            if "train" in parts:
                bare_ms = None if paired else 1000 / bare_rate(train_step, device, cfg.train.batch_size, steps,
                                                               args.warmup)
                row = toolkit_train(cfg, run_dir, args.warmup, train_step, bare_ms)
                bare_train = row["bare_images_per_s"]
                row |= pipeline(cfg, train_set, device, True, steps, args.warmup)
                row["h2d_ms"] = h2d_ms(device, cfg.train.batch_size, cfg.data.crop_size)
                rounds["train"].append(row)
            if "eval" in parts:
                batches = len(val_set) // cfg.eval.batch_size
                bare_ms = None if paired else 1000 / bare_rate(forward, device, cfg.eval.batch_size,
                                                               batches - eval_warmup, eval_warmup)
                row = toolkit_eval(run_dir / "checkpoints" / "last.pt", device, Path(tmp) / "eval.json",
                                   eval_warmup, forward, cfg.eval.batch_size, bare_ms)
                row |= pipeline(cfg, val_set, device, False, batches - eval_warmup, eval_warmup)
                row["h2d_ms"] = h2d_ms(device, cfg.eval.batch_size, cfg.data.synthetic.size)
                rounds["eval"].append(row)
            for what in parts:
                row = rounds[what][-1]
                row["ratio"] = row["toolkit_images_per_s"] / row["bare_images_per_s"]
                row["overhead_ms"] = 1000 / row["toolkit_images_per_s"] - 1000 / row["bare_images_per_s"]
                row["pipeline_x_bare_train"] = row["pipeline_images_per_s"] / bare_train
            print(f"round {round_ + 1}: " + "; ".join(
                f"{what} {r['toolkit_images_per_s']:.2f} vs bare {r['bare_images_per_s']:.2f} images/s "
                f"({r['ratio']:.3f}, {r['overhead_ms']:.2f} ms/image)" for what in parts
                for r in [rounds[what][-1]]), flush=True)
    name = device_name(device)
    rows = []
    for what, results in rounds.items():
        row = {"what": what, "change": args.change, "rounds": len(results), "paired": paired, "device": name,
               "amp": amp,
               "recipe": cfg.name}
        row |= {key: round(statistics.median(r[key] for r in results), 3) for key in TIMED}
        rows.append(row)
        print(f"{what}: ksac {row['toolkit_images_per_s']:.2f} images/s, bare {row['bare_images_per_s']:.2f}, "
              f"ratio {row['ratio']:.3f}; overhead {row['overhead_ms']:.2f} ms/image = data {row['data_ms']:.2f} "
              f"+ compute {row['compute_extra_ms']:.2f} + rest {row['rest_ms']:.2f} (h2d {row['h2d_ms']:.2f}); "
              f"pipeline alone {row['pipeline_images_per_s']:.0f} images/s ({row['pipeline_x_bare_train']:.1f}x the "
              f"bare training loop): decode {row['decode_ms']:.2f} + transform {row['transform_ms']:.2f} + collate "
              f"{row['collate_ms']:.2f} ms/image (medians of {len(results)} rounds)")
    if args.append and args.out.exists():
        old = [r for r in io.read_csv_rows(args.out) if set(r) == set(COLUMNS)]
        rows = old + rows
    io.write_csv(args.out, rows, COLUMNS)
    print(f"wrote {args.out} ({name}, amp {amp})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
