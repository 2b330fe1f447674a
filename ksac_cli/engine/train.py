"""The training loop as plain functions: SGD + poly, one step, and `fit` with periodic evaluation,
atomic checkpoints, exact resume and clean interruption (SIGINT -> checkpoint, exit 130)."""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ksac_cli import faults, io
from ksac_cli.config import TrainConfig
from ksac_cli.engine.checkpoint import rng_state, save_checkpoint
from ksac_cli.engine.evaluate import autocast
from ksac_cli.engine.schedule import poly_factor
from ksac_cli.errors import KsacError, KsacRuntimeError

IGNORE_INDEX = 255
MAX_EMPTY_BATCHES = 50


class Interrupted(KsacError):
    """SIGINT/SIGTERM: a checkpoint was saved; exit 130 (SIGINT) or 143 (SIGTERM)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum (DeepLab's) or AdamW (decoupled decay); weight decay on convolution weights only
    (not on BN or biases)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim == 4]
    rest = [p for p in model.parameters() if p.requires_grad and p.ndim != 4]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda it: poly_factor(it, cfg.iters, cfg.poly_power, cfg.warmup_iters))


def train_step(model: nn.Module, images: torch.Tensor, masks: torch.Tensor, optimizer: torch.optim.Optimizer,
               scaler: torch.amp.GradScaler | None, amp: str) -> torch.Tensor:
    """One SGD step on a batch; returns the loss (a 0-d tensor, not synchronised)."""
    with autocast(images.device, amp):
        logits = model(images)  # (B, K, H, W)
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


class _Signals:
    """Turns SIGINT/SIGTERM into a flag checked between steps (so a checkpoint can be written)."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Signals":
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread
                pass
        return self

    def _handle(self, signum, frame) -> None:
        self.received = signum

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, scaler, batches: Iterator,
        cfg: TrainConfig, device: torch.device, run_dir: Path, progress: Progress, config_dict: dict,
        evaluate_fn: Callable[[int], dict], on_event: Callable[[str, dict], None] | None = None,
        is_main: bool = True, reduce_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
        batch_images: int | None = None) -> Progress:
    """Train from `progress.iteration` to `cfg.iters`.

    `batches` yields `Batch`es (images, masks, ids, bad, sizes) for this process; `evaluate_fn(iteration)`
    returns the metrics dict of an evaluation; `reduce_fn` averages a tensor across processes (distributed
    runs).
    Files (rank 0 only): metrics.jsonl, eval.jsonl, checkpoints/last.pt and best.pt.
    """
    emit = on_event or (lambda kind, data: None)
    ckpt_dir = run_dir / "checkpoints"
    global_batch = batch_images or cfg.batch_size

    def state(p: Progress) -> dict[str, Any]:
        return {"model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler else None,
                "iteration": p.iteration, "samples_seen": p.samples_seen, "config": config_dict,
                "rng": rng_state(), "best": {"miou": p.best_miou, "iteration": p.best_iteration}}

    def save(p: Progress) -> None:
        if is_main:
            save_checkpoint(ckpt_dir / "last.pt", state(p))
        emit("checkpoint", {"iteration": p.iteration})

    model.train()
    window_start, window_images, window_loss, window_steps = time.perf_counter(), 0, 0.0, 0
    empty = 0  # consecutive batches left with fewer than 2 samples by --skip-bad
    with _Signals() as signals:
        while progress.iteration < cfg.iters:
            images, masks, _, bad, _ = next(batches)
            if images is None or (bad and images.shape[0] < 2):
                # no sample left after --skip-bad, or one (BatchNorm cannot train on a single image): skip
                # the batch; the data order still moved on, so a resumed run draws the same batches
                progress.samples_seen += global_batch
                empty += 1
                if empty >= MAX_EMPTY_BATCHES:
                    raise KsacError(f"{empty} batches in a row held fewer than 2 readable samples (the others "
                                    f"skipped by --skip-bad, e.g. {bad[0].path}: {bad[0].problem}); run ksac data "
                                    f"check on the dataset")
                continue
            empty = 0
            images, masks = images.to(device, non_blocking=True), masks.to(device, non_blocking=True)
            lr = optimizer.param_groups[0]["lr"]
            loss = train_step(model, images, masks, optimizer, scaler, cfg.amp)
            if faults.hit("step") == "nan":  # tests: a diverging run
                loss = torch.full_like(loss, float("nan"))
            if reduce_fn is not None:
                loss = reduce_fn(loss)
            value = float(loss)
            if not math.isfinite(value):
                last = ckpt_dir / "last.pt"
                kept = f"the last good checkpoint {last} is kept" if last.exists() else "no checkpoint was written"
                raise KsacRuntimeError(f"the loss became {value} at iteration {progress.iteration + 1}: training "
                                       f"diverged; lower --lr (now {lr:g}) or turn --amp off; {kept}")
            scheduler.step()
            progress.iteration += 1
            progress.samples_seen += global_batch
            window_images += global_batch
            window_loss += value
            window_steps += 1
            it = progress.iteration
            if it % cfg.log_every == 0 or it == cfg.iters:
                seconds = time.perf_counter() - window_start
                record = {"iteration": it, "loss": window_loss / window_steps, "lr": lr,
                          "images_per_s": window_images / seconds if seconds > 0 else None, "seconds": seconds}
                if is_main:
                    io.append_jsonl(run_dir / "metrics.jsonl", record)
                emit("log", record)
                window_start, window_images, window_loss, window_steps = time.perf_counter(), 0, 0.0, 0
            emit("step", {"iteration": it, "loss": value, "lr": lr})
            if (cfg.eval_every and it % cfg.eval_every == 0) or it == cfg.iters:
                metrics = evaluate_fn(it)
                record = {"iteration": it, **metrics}
                if is_main:
                    io.append_jsonl(run_dir / "eval.jsonl", record)
                improved = metrics["miou"] > progress.best_miou
                if improved:
                    progress.best_miou, progress.best_iteration = metrics["miou"], it
                if improved and is_main:
                    save_checkpoint(ckpt_dir / "best.pt", state(progress))
                emit("eval", record)
                model.train()
                window_start = time.perf_counter()  # evaluation time is not training throughput
            if it % cfg.save_every == 0 or it == cfg.iters:
                save(progress)
            if signals.received is not None and it < cfg.iters:
                save(progress)
                name = "SIGINT" if signals.received == signal.SIGINT else "SIGTERM"
                raise Interrupted(f"{name} received: saved {ckpt_dir / 'last.pt'} at iteration {it}; run the "
                                  f"same command again to resume", 130 if signals.received == signal.SIGINT else 143)
    return progress


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if hasattr(model, "module") else model
