"""A training run's lifecycle, in order (`train_run`): open the run directory (resume, or start over with
--force), check the batch, seed, build the data, model, optimizer and schedule, restore the checkpoint,
wrap for torchrun, train with periodic evaluation (`engine.train.fit`), summarise. `workflows.train` is a
thin adapter over it."""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ksac_cli import io, launch
from ksac_cli.config import RunConfig, dump_yaml, from_dict, to_dict
from ksac_cli.config.load import run_dir_of
from ksac_cli.engine import distributed, rundir
from ksac_cli.engine.checkpoint import load_checkpoint, load_model_state, set_rng_state
from ksac_cli.engine.evaluate import evaluate_split, metrics_record
from ksac_cli.engine import tensorboard
from ksac_cli.engine.evidence import SAMPLES, write_evidence
from ksac_cli.engine.loaders import checked, eval_loader, train_loader, worker_count
from ksac_cli.engine.shared_features import SharedFeatures
from ksac_cli.engine.train import (Progress, Training, build_optimizer, build_scheduler, fit,
                                   freeze_backbone)
from ksac_cli.errors import FP16_NEEDS_CUDA, KsacError
from ksac_cli.machine import resolve_amp
from ksac_cli.models import build_model, warn_large_rates

EventFn = Callable[[str, dict], None]


def train_run(cfg: RunConfig, resume: bool = True, force: bool = False, on_event: EventFn | None = None,
              shared: SharedFeatures | None = None) -> dict:
    """Train `cfg` in its run directory (resuming from checkpoints/last.pt when present; with `force`, the
    previous run there is deleted first and training starts from iteration 0, whatever `resume` says);
    returns the summary: best mIoU and iteration, final metrics, seconds, run directory, skipped bad samples.
    `on_event(kind, data)` sees restart, resume, step, log, eval_start, eval_batch, eval and checkpoint events. With
    `shared`, a frozen backbone's features come from there (engine/shared_features.py; results are unchanged)."""
    emit = on_event or (lambda kind, data: None)
    run_dir = run_dir_of(cfg)
    if force:
        resume = False  # every process of a torchrun launch agrees: nothing to resume
        start_over(run_dir, emit)
    dist = distributed.init(cfg.train.device)
    resuming = rundir.prepare(run_dir, resume, force) if dist.is_main else rundir.last_checkpoint(run_dir).exists() and resume
    dist.barrier()
    check_batch(cfg.train.batch_size, dist, cfg.train.sync_bn)
    cfg = as_run(cfg, dist.device)  # config.yaml and the checkpoint record the mode used, not "auto"
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    train_set, val_set = datasets_for(cfg)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, num_classes=train_set.num_classes))
    warn_large_rates(cfg.model.rates, cfg.data.crop_size, cfg.model.output_stride)
    t = build(cfg, dist, run_dir)
    progress = restore(t, run_dir, emit) if resuming else Progress(iteration=0, samples_seen=0)
    if shared is not None:
        shared.attach(t.model)  # after restore: the backbone's weights are final
    config_yaml = dump_yaml(cfg)
    if dist.is_main:
        io.write_text(run_dir / "config.yaml", config_yaml)
    tb = tensorboard.TensorBoardLog(run_dir, config_yaml, progress.iteration) if (
        dist.is_main and cfg.train.tensorboard and tensorboard.available()) else None
    t.model = dist.wrap(t.model, cfg.train.sync_bn)
    bad: list = []
    workers = worker_count(cfg.data.workers, dist.device, dist.world_size)
    loader = train_loader(train_set, cfg.train.batch_size, workers, cfg.train.seed, progress.samples_seen,
                          dist.rank, dist.world_size, pin_memory=dist.device.type == "cuda")
    val_loader = eval_loader(val_set, cfg.eval.batch_size, workers, dist.rank, dist.world_size,
                             pin_memory=dist.device.type == "cuda")

    def evaluate_fn(iteration: int) -> dict:
        emit("eval_start", {"iteration": iteration, "images": len(val_set)})
        dist.broadcast_buffers(t.model)  # one model: rank 0's BN statistics (see Dist.broadcast_buffers)
        result = evaluate_split(distributed.unwrap(t.model), val_loader, val_set, dist.device, cfg, bad, dist,
                                on_batch=lambda images, *_: emit("eval_batch", {"images": images.shape[0]}))
        write_evidence(run_dir, iteration, result, val_set, distributed.unwrap(t.model), cfg, dist)
        if tb is not None:
            tb.evaluation_images(iteration, result.confusion.mat, run_dir / SAMPLES)
        return metrics_record(result.metrics(), val_set.classes)

    def on_fit_event(kind: str, data: dict) -> None:
        if tb is not None:
            tb.event(kind, data)
        emit(kind, data)

    start, done_before = time.perf_counter(), progress.iteration
    progress = fit(t, checked(iter(loader), cfg.data.skip_bad, bad), progress, evaluate_fn, on_fit_event)
    summary = summarise(run_dir, cfg, progress, done_before, time.perf_counter() - start, len(bad))
    if tb is not None:
        tb.close(tensorboard.hparams_of(cfg), {"miou": (summary["final"] or {}).get("miou"), "best_miou": progress.best_miou})
    dist.close()
    return summary


def as_run(cfg: RunConfig, device: torch.device) -> RunConfig:
    """`cfg` as the engine runs it on `device` (--amp auto resolved: machine.resolve_amp): what config.yaml, the
    checkpoint and an ablation row record, and what a resume compares a checkpoint's config with."""
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, amp=resolve_amp(cfg.train.amp, device)))


def start_over(run_dir: Path, emit: EventFn) -> None:
    """--force: rank 0 deletes the previous run in `run_dir` (`rundir.remove_run`) before the processes of a
    launch meet, and says so when there was one."""
    if launch.is_main_process() and rundir.remove_run(run_dir):
        emit("restart", {"run_dir": str(run_dir)})


def check_batch(batch_size: int, dist: distributed.Dist, sync_bn: bool) -> None:
    """The global batch splits evenly across processes, and BatchNorm sees at least 2 images per batch."""
    launch.check_batch_split(batch_size, dist.world_size)
    synced = dist.world_size > 1 and sync_bn and dist.device.type == "cuda"  # BN over the global batch
    if (batch_size if synced else batch_size // dist.world_size) < 2:
        raise KsacError(f"--batch-size {batch_size}: BatchNorm needs at least 2 images per batch"
                        + ("" if dist.world_size == 1 else f" in each of the {dist.world_size} processes")
                        + f"; use --batch-size {2 * dist.world_size} or more")


def build(cfg: RunConfig, dist: distributed.Dist, run_dir: Path) -> Training:
    """The model and its optimisation state on the run's device, before any checkpoint is loaded."""
    model = build_model(cfg.model, seed=cfg.train.seed).to(dist.device)  # weights keyed by (seed, module name)
    if cfg.train.freeze_backbone:
        freeze_backbone(model)
    optimizer = build_optimizer(model, cfg.train)
    return Training(model, optimizer, build_scheduler(optimizer, cfg.train), amp_scaler(cfg.train.amp, dist.device),
                    cfg.train, dist.device, run_dir, to_dict(cfg), is_main=dist.is_main,
                    reduce=dist.mean if dist.world_size > 1 else None, rank=dist.rank)


def restore(t: Training, run_dir: Path, emit: EventFn) -> Progress:
    """Load last.pt into `t` (refusing a run of another configuration) and every RNG; drop the log lines
    written after it (they will be written again). Returns the progress it holds."""
    path = rundir.last_checkpoint(run_dir)
    state = load_checkpoint(path, for_resume=True)
    # the saved config with this version's defaults for keys added since (an older checkpoint)
    saved = to_dict(from_dict(RunConfig, state["config"], where=f"{path} (config)"))
    rundir.refuse_changes(run_dir, rundir.resume_conflicts(saved, t.config_dict))
    load_model_state(t.model, state["model"], path)
    t.optimizer.load_state_dict(state["optimizer"])
    t.scheduler.load_state_dict(state["scheduler"])
    # the next step's learning rate under THIS run's schedule: the saved one, unless --iters changed
    for group, base, factor in zip(t.optimizer.param_groups, t.scheduler.base_lrs, t.scheduler.lr_lambdas):
        group["lr"] = base * factor(t.scheduler.last_epoch)
    if t.scaler is not None and state.get("scaler"):
        t.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    progress = Progress(state["iteration"], state["samples_seen"], state["best"]["miou"], state["best"]["iteration"])
    if t.is_main:
        for name in ("metrics.jsonl", "eval.jsonl"):
            io.truncate_jsonl(run_dir / name, lambda r: r.get("iteration", 0) <= progress.iteration)
    emit("resume", {"iteration": progress.iteration, "path": str(path)})
    return progress


def summarise(run_dir: Path, cfg: RunConfig, progress: Progress, done_before: int, seconds: float, bad: int) -> dict:
    evals = io.read_jsonl(run_dir / "eval.jsonl")
    return {"run_dir": str(run_dir), "iterations": progress.iteration, "trained_now": progress.iteration - done_before,
            "best_miou": progress.best_miou, "best_iteration": progress.best_iteration, "seconds": seconds,
            "train_seconds": sum(r.get("seconds") or 0.0 for r in io.read_jsonl(run_dir / "metrics.jsonl")),
            "num_classes": cfg.model.num_classes, "amp": cfg.train.amp,  # resolved: off, bf16 or fp16
            "final": evals[-1] if evals else None, "skipped_bad_samples": bad}


def seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def amp_scaler(amp: str, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16 needs CUDA and a gradient scaler; bf16 and off need none."""
    if amp == "fp16":
        if device.type != "cuda":
            raise KsacError(FP16_NEEDS_CUDA)
        return torch.amp.GradScaler("cuda")
    return None


def datasets_for(cfg: RunConfig):
    """(training set with augmentation, evaluation set without) of `cfg.data`."""
    from ksac_cli.data import build_dataset

    return (build_dataset(cfg.data, cfg.data.split, train=True),
            build_dataset(cfg.data, cfg.data.val_split, train=False, images=cfg.eval.max_images))
