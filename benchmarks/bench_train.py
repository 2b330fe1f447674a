"""The toolkit's own overhead: `ksac train` and `ksac eval` against bare PyTorch loops on the same model.

    python benchmarks/bench_train.py                # the quick recipe (the default of `ksac train`)
    python benchmarks/bench_train.py --recipe quick --iters 60 --rounds 2 --device cuda

train: the toolkit's training loop (the built-in dataset read from disk, augmentation, worker processes,
logging, checkpoints: everything but evaluation), its steady-state images/s measured from the clock at
each finished step, after `--warmup` steps; against a bare loop (forward, cross-entropy, backward, SGD
step of the recipe's optimizer) that trains the same model on one batch of the same shape already in memory.
eval: `ksac eval` on the val split (reading, metrics, files) against bare forward passes of the same
model on batches of the same shape already in memory. The object-size maps are read from the dataset's
`.size_maps/` (the training run's final evaluation made them), as at every evaluation but the first.
`--only eval` times evaluation alone, of a checkpoint trained for 2 untimed steps (the weights change
what is predicted, not how long it takes); `--only train` training alone.
Toolkit and bare runs alternate, `--rounds` of each, and the medians are compared. (They are not
interleaved step by step: the toolkit's loader workers would then prepare its batches while the bare step
runs, hiding their cost.)
Writes results/bench_train.csv: what, toolkit_images_per_s, bare_images_per_s, ratio, device, recipe.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ksac_cli import io
from ksac_cli.config import resolve_run_config
from ksac_cli.engine.evaluate import autocast
from ksac_cli.env import device_name, resolve_amp, resolve_device
from ksac_cli.measure.latency import time_calls
from ksac_cli.models import build_model
from ksac_cli.workflows.evaluate import evaluate_checkpoint
from ksac_cli.engine.run import datasets_for
from ksac_cli.workflows.train import train

COLUMNS = ["what", "toolkit_images_per_s", "bare_images_per_s", "ratio", "device", "recipe"]


class StepClock:
    """Records the clock at each toolkit event of one kind (a finished step, an evaluated batch)."""

    def __init__(self, event: str) -> None:
        self.event = event
        self.stamps: list[tuple[int, float]] = []  # (items done so far, clock)
        self.items = 0

    def __call__(self, kind: str, data: dict) -> None:
        if kind == self.event:
            self.items += data["images"]
            self.stamps.append((self.items, time.perf_counter()))

    def rate(self, warmup: int) -> float:
        """Items/s after the first `warmup` events."""
        (first_n, first_t), (last_n, last_t) = self.stamps[warmup], self.stamps[-1]
        return (last_n - first_n) / (last_t - first_t)


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


def toolkit_train(cfg, run_dir: Path, warmup: int) -> float:
    clock = StepClock("step")
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, run_dir=str(run_dir)))
    batch = cfg.train.batch_size
    train(cfg, resume=False, force=True, on_event=lambda kind, data: clock(kind, {"images": batch, **data}))
    return clock.rate(warmup)


def toolkit_eval(checkpoint: Path, device: torch.device, out: Path, warmup: int) -> tuple[float, int]:
    clock = StepClock("eval_batch")
    evaluate_checkpoint(checkpoint, {"train": {"device": str(device)}}, out, None, clock)
    return clock.rate(warmup), len(clock.stamps)


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
    args = parser.parse_args(argv)

    cfg = resolve_run_config(args.recipe, {"train": {"iters": args.iters, "device": args.device},
                                           "data": {"workers": args.workers}})
    device = resolve_device(args.device)
    num_classes = len(datasets_for(cfg)[0].classes)
    model_cfg = dataclasses.replace(cfg.model, num_classes=num_classes, pretrained=False, backbone_weights=None)
    parts = ("train", "eval") if args.only is None else (args.only,)
    results = {what: ([], []) for what in parts}
    train_step = bare_train_step(model_cfg, cfg, device)
    forward = bare_forward(model_cfg, device, cfg.eval.batch_size, cfg.data.synthetic.size,
                           resolve_amp(cfg.train.amp, device))
    eval_warmup = max(1, args.warmup // cfg.eval.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        if "train" not in parts:  # a checkpoint to evaluate: two untimed steps
            short = dataclasses.replace(cfg.train, iters=2, save_every=2, log_every=1, warmup_iters=0)
            toolkit_train(dataclasses.replace(cfg, train=short), run_dir, 0)
        for round_ in range(args.rounds):
            if "train" in parts:
                results["train"][0].append(toolkit_train(cfg, run_dir, args.warmup))
                results["train"][1].append(bare_rate(train_step, device, cfg.train.batch_size,
                                                     args.iters - args.warmup, args.warmup))
            if "eval" in parts:
                toolkit, batches = toolkit_eval(run_dir / "checkpoints" / "last.pt", device, Path(tmp) / "eval.json",
                                                eval_warmup)
                results["eval"][0].append(toolkit)
                results["eval"][1].append(bare_rate(forward, device, cfg.eval.batch_size, batches - eval_warmup,
                                                    eval_warmup))
            line = "; ".join(f"{what} {results[what][0][-1]:.2f} vs bare {results[what][1][-1]:.2f} images/s "
                             f"({results[what][0][-1] / results[what][1][-1]:.3f})" for what in parts)
            print(f"round {round_ + 1}: {line}", flush=True)
    name = device_name(device)
    rows = []
    for what, (toolkit, bare) in results.items():
        t, b = statistics.median(toolkit), statistics.median(bare)
        rows.append({"what": what, "toolkit_images_per_s": round(t, 3), "bare_images_per_s": round(b, 3),
                     "ratio": round(t / b, 4), "device": name, "recipe": cfg.name})
        print(f"{what}: ksac {t:.2f} images/s, bare {b:.2f} images/s, ratio {t / b:.3f} (medians of "
              f"{len(toolkit)} rounds)")
    io.write_csv(args.out, rows, COLUMNS)
    print(f"wrote {args.out} ({name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
