"""The training loop as plain functions: the optimizer and poly schedule, one step (`train_step`), and
`fit`, a loop over steps with its bookkeeping (skipped batches, a diverged loss, logs, evaluations,
checkpoints, signals) in small helpers."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ksac_cli import io, signals
from ksac_cli.config import TrainConfig
from ksac_cli.conventions import IGNORE_INDEX
from ksac_cli.engine.checkpoint import rng_state, save_checkpoint
from ksac_cli.engine.distributed import unwrap
from ksac_cli.engine.evaluate import autocast
from ksac_cli.engine.schedule import poly_factor
from ksac_cli.errors import Interrupted, KsacError, KsacRuntimeError
from ksac_cli.seeds import derive

MAX_EMPTY_BATCHES = 50


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum (DeepLab's) or AdamW (decoupled decay); weight decay on convolution weights only
    (not on BN or biases)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim == 4]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim != 4]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)


def freeze_backbone(model: nn.Module) -> None:
    """Fine-tuning with a fixed backbone: its weights get no gradient (autograd records nothing for it, so
    the backward pass stops at the head and decoder) and `train_mode` keeps its BatchNorm statistics."""
    for p in unwrap(model).backbone.parameters():
        p.requires_grad_(False)


def train_mode(model: nn.Module, frozen_backbone: bool) -> None:
    """model.train(), except a frozen backbone stays in eval mode (its BatchNorm uses the stored statistics)."""
    model.train()
    if frozen_backbone:
        unwrap(model).backbone.eval()


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: poly_factor(it, cfg.iters, cfg.poly_power, cfg.warmup_iters))


def train_step(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, optimizer: torch.optim.Optimizer,
               scaler: torch.amp.GradScaler | None, amp: str, loss_stride: int = 1) -> torch.Tensor:
    """One SGD step on a batch; returns the loss (a 0-d tensor, not synchronised). `loss_stride` N > 1: the
    loss compares logits resized to the labels taken every N pixels, from the centre of each N x N block."""
    if loss_stride > 1:
        masks = masks[:, loss_stride // 2::loss_stride, loss_stride // 2::loss_stride]
    with autocast(images.device, amp):
        logits = model(images, size=masks.shape[-2:])  # (B, K, H / loss_stride, W / loss_stride)
    loss = F.cross_entropy(logits.float(), masks, ignore_index=IGNORE_INDEX)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        optimizer.step()
    return loss.detach()


@dataclass
class Progress:
    iteration: int  # completed iterations
    samples_seen: int
    best_miou: float = -1.0
    best_iteration: int = 0


@dataclass
class Training:
    """What `fit` trains and where it writes: the model (DDP-wrapped under torchrun) and its optimisation
    state, the settings, the run directory (only rank 0 writes), and how to average a value across ranks."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler | None
    cfg: TrainConfig
    device: torch.device
    run_dir: Path
    config_dict: dict  # the resolved RunConfig, saved in every checkpoint
    is_main: bool = True
    reduce: Callable[[torch.Tensor], torch.Tensor] | None = None
    rank: int = 0  # this process's rank under torchrun: its own stream of dropout masks

    def save(self, name: str, p: Progress) -> None:
        """checkpoints/<name>: weights, optimizer, schedule, scaler, progress, config and RNG states."""
        if self.is_main:
            save_checkpoint(self.run_dir / "checkpoints" / name, {
                "model": unwrap(self.model).state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict() if self.scaler else None,
                "iteration": p.iteration, "samples_seen": p.samples_seen, "config": self.config_dict,
                "rng": rng_state(), "best": {"miou": p.best_miou, "iteration": p.best_iteration}})


def fit(t: Training, batches: Iterator, progress: Progress, evaluate_fn: Callable[[int], dict],
        on_event: Callable[[str, dict], None] | None = None) -> Progress:
    """Train from `progress.iteration` to `t.cfg.iters`: a step per batch, a metrics.jsonl line every
    log_every iterations, an evaluation (eval.jsonl, best.pt) every eval_every and at the end, last.pt every
    save_every and at the end. `batches` yields this process's `Batch`es; `evaluate_fn(iteration)` returns
    an evaluation's metrics. An evaluation due at the restored iteration that a signal stopped is made first.
    SIGINT/SIGTERM (ksac_cli/signals.py): the step in progress ends, or the evaluation stops at its next
    batch; last.pt is saved at that iteration, then `Interrupted`."""
    emit = on_event or (lambda kind, data: None)
    cfg, window = t.cfg, LogWindow()
    train_mode(t.model, cfg.freeze_backbone)
    with signals.deferred():
        if evaluation_due(cfg, progress.iteration) and evaluated_up_to(t.run_dir) < progress.iteration:
            evaluate_and_keep_best(t, progress, evaluate_fn, emit)
        for images, masks in trainable(batches, progress, cfg.batch_size) if progress.iteration < cfg.iters else ():
            lr = t.optimizer.param_groups[0]["lr"]
            seed_step(cfg.seed, progress.iteration + 1, t.rank)
            loss = train_step(t.model, images.to(t.device, non_blocking=True), masks.to(t.device, non_blocking=True),
                              t.optimizer, t.scaler, cfg.amp, cfg.loss_stride)
            value = finite_loss(t, loss, lr, progress.iteration + 1)
            t.scheduler.step()
            progress.iteration += 1
            progress.samples_seen += cfg.batch_size
            window.add(value, cfg.batch_size)
            it = progress.iteration
            if it % cfg.log_every == 0 or it == cfg.iters:
                record = window.record(it, lr)
                if t.is_main:
                    io.append_jsonl(t.run_dir / "metrics.jsonl", record)
                emit("log", record)
            emit("step", {"iteration": it, "loss": value, "lr": lr})
            if evaluation_due(cfg, it):
                evaluate_and_keep_best(t, progress, evaluate_fn, emit)
                window.start = time.perf_counter()  # evaluation time is not training throughput
            if it % cfg.save_every == 0 or it == cfg.iters or signals.received() is not None:
                t.save("last.pt", progress)
                emit("checkpoint", {"iteration": it})
            if signals.received() is not None:
                raise interruption(t.run_dir, it)
            if it == cfg.iters:
                break
    return progress


def evaluation_due(cfg: TrainConfig, iteration: int) -> bool:
    """Whether the run evaluates at `iteration`: every eval_every iterations and at the end."""
    return iteration > 0 and ((cfg.eval_every and iteration % cfg.eval_every == 0) or iteration == cfg.iters)


def evaluations(cfg: TrainConfig) -> int:
    """How many times a run evaluates: the iterations where `evaluation_due` holds, counted."""
    every = cfg.eval_every
    return 1 if not every else cfg.iters // every + (cfg.iters % every != 0)


def evaluated_up_to(run_dir: Path) -> int:
    """The iteration of the last evaluation in eval.jsonl (0: none)."""
    return max((r.get("iteration", 0) for r in io.read_jsonl(run_dir / "eval.jsonl")), default=0)


def seed_step(seed: int, iteration: int, rank: int) -> None:
    """Seed torch's global stream (CPU and CUDA) for one training step from (seed, iteration, rank): the
    step's random numbers (dropout masks) are the same for every model trained with this seed, whatever was
    drawn before (common random numbers for ASPP and KSAC), differ between the ranks of a torchrun
    job, and a resumed run draws what an uninterrupted one did at that step."""
    torch.manual_seed(derive(seed, "step", iteration, rank))


def trainable(batches: Iterator, progress: Progress, global_batch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(images, masks) of the batches BatchNorm can train on. A batch that --skip-bad left with fewer than 2
    samples is skipped, but the data order still moved on (`progress.samples_seen`), so a resumed run draws
    the same batches; MAX_EMPTY_BATCHES such batches in a row stop the run."""
    empty = 0
    for images, masks, _, bad, _ in batches:
        if images is not None and not (bad and images.shape[0] < 2):
            empty = 0
            yield images, masks
            continue
        progress.samples_seen += global_batch
        empty += 1
        if empty >= MAX_EMPTY_BATCHES:
            raise KsacError(f"{empty} batches in a row held fewer than 2 readable samples (the others skipped by "
                            f"--skip-bad, e.g. {bad[0].path}: {bad[0].problem}); run ksac data check on the dataset")


def finite_loss(t: Training, loss: torch.Tensor, lr: float, iteration: int) -> float:
    """The step's loss (averaged across ranks) as a float; a diverged run stops with what was kept."""
    value = float(t.reduce(loss) if t.reduce is not None else loss)
    if not math.isfinite(value):
        last = t.run_dir / "checkpoints" / "last.pt"
        kept = f"the last good checkpoint {last} is kept" if last.exists() else "no checkpoint was written"
        raise KsacRuntimeError(f"the loss became {value} at iteration {iteration}: training diverged; lower --lr "
                               f"(now {lr:g}) or turn --amp off; {kept}")
    return value


def evaluate_and_keep_best(t: Training, progress: Progress, evaluate_fn: Callable[[int], dict], emit) -> None:
    """Evaluate at the current iteration; eval.jsonl gets a line, best.pt the model when its mIoU is the best.
    A signal stops the evaluation at its next batch (engine/evaluate.py): last.pt is saved at this iteration,
    whose evaluation the resumed run makes first (`fit`), then `Interrupted`."""
    it = progress.iteration
    try:
        record = {"iteration": it, **evaluate_fn(it)}
    except Interrupted:
        t.save("last.pt", progress)
        emit("checkpoint", {"iteration": it})
        raise interruption(t.run_dir, it) from None
    if t.is_main:
        io.append_jsonl(t.run_dir / "eval.jsonl", record)
    if record["miou"] > progress.best_miou:
        progress.best_miou, progress.best_iteration = record["miou"], it
        t.save("best.pt", progress)
    emit("eval", record)
    train_mode(t.model, t.cfg.freeze_backbone)


def interruption(run_dir: Path, iteration: int) -> Interrupted:
    return signals.stopped(f"saved {run_dir / 'checkpoints' / 'last.pt'} at iteration {iteration}")


class LogWindow:
    """Mean loss and images/s over the iterations since the last metrics.jsonl line."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        self.start, self.images, self.loss, self.steps = time.perf_counter(), 0, 0.0, 0

    def add(self, loss: float, images: int) -> None:
        self.images += images
        self.loss += loss
        self.steps += 1

    def record(self, iteration: int, lr: float) -> dict:
        """The metrics.jsonl line of the window; the window starts again."""
        seconds = time.perf_counter() - self.start
        record = {"iteration": iteration, "loss": self.loss / self.steps, "lr": lr,
                  "images_per_s": self.images / seconds if seconds > 0 else None, "seconds": seconds}
        self.restart()
        return record


