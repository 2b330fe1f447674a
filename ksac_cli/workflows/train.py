"""`ksac train`: recipe + flags -> a run directory; shared pieces of training and evaluation."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from ksac_cli import io
from ksac_cli.config import RunConfig, dump_yaml, from_dict, to_dict
from ksac_cli.errors import KsacError
from ksac_cli.models import build_model, warn_large_rates

EventFn = Callable[[str, dict], None]
# settings a resumed run may change: they do not change what is computed (ksac_impl: the same function)
RESUMABLE_CHANGES = ("data.workers", "data.skip_bad", "model.ksac_impl")


def train(cfg: RunConfig, resume: bool = True, force: bool = False, on_event: EventFn | None = None) -> dict:
    """Train `cfg` in its run directory (resuming from checkpoints/last.pt when present); returns the
    summary: best mIoU and iteration, final metrics, seconds, run directory, skipped bad samples."""
    from ksac_cli.engine import distributed, rundir
    from ksac_cli.engine.checkpoint import (
        load_checkpoint,
        load_model_state,
        set_rng_state,
    )
    from ksac_cli.engine.evidence import write_evidence
    from ksac_cli.engine.loaders import checked, eval_loader, train_loader, worker_count
    from ksac_cli.engine.train import Progress, build_optimizer, build_scheduler, fit

    emit = on_event or (lambda kind, data: None)
    dist = distributed.init(cfg.train.device)
    device = dist.device
    run_dir = Path(cfg.train.run_dir or Path("runs") / cfg.name)
    resuming = rundir.prepare(run_dir, resume, force) if dist.is_main else rundir.last_checkpoint(run_dir).exists() and resume
    dist.barrier()
    if cfg.train.batch_size % dist.world_size:
        raise KsacError(f"--batch-size {cfg.train.batch_size} does not split evenly across {dist.world_size} "
                        f"processes; pick a multiple of {dist.world_size}")
    synced = dist.world_size > 1 and cfg.train.sync_bn and device.type == "cuda"  # BN over the global batch
    if (cfg.train.batch_size if synced else cfg.train.batch_size // dist.world_size) < 2:
        raise KsacError(f"--batch-size {cfg.train.batch_size}: BatchNorm needs at least 2 images per batch"
                        + ("" if dist.world_size == 1 else f" in each of the {dist.world_size} processes")
                        + f"; use --batch-size {2 * dist.world_size} or more")
    seed_everything(cfg.train.seed, cfg.train.deterministic)

    train_set, val_set = datasets_for(cfg)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, num_classes=train_set.num_classes))
    warn_large_rates(cfg.model.rates, cfg.data.crop_size, cfg.model.output_stride)
    config_dict = to_dict(cfg)

    model = build_model(cfg.model).to(device)
    optimizer = build_optimizer(model, cfg.train)
    scheduler = build_scheduler(optimizer, cfg.train)
    scaler = amp_scaler(cfg.train.amp, device)
    progress = Progress(iteration=0, samples_seen=0)
    if resuming:
        path = rundir.last_checkpoint(run_dir)
        state = load_checkpoint(path, for_resume=True)
        # the saved config with this version's defaults for keys added since (an older checkpoint)
        saved = to_dict(from_dict(RunConfig, state["config"], where=f"{path} (config)"))
        changed = rundir.config_differences(saved, config_dict)
        changed = [c for c in changed if not c.startswith(RESUMABLE_CHANGES)]
        if changed:
            raise KsacError(f"{run_dir} holds a run of another configuration ({'; '.join(changed)}); use another "
                            f"--run-dir, or --no-resume --force to start over there")
        load_model_state(model, state["model"], path)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        progress = Progress(state["iteration"], state["samples_seen"], state["best"]["miou"], state["best"]["iteration"])
        if dist.is_main:  # drop log lines written after that checkpoint: they will be written again
            for name in ("metrics.jsonl", "eval.jsonl"):
                io.truncate_jsonl(run_dir / name, lambda r: r.get("iteration", 0) <= progress.iteration)
        emit("resume", {"iteration": progress.iteration, "path": str(path)})
    if dist.is_main:
        io.write_text(run_dir / "config.yaml", dump_yaml(cfg))
    model = dist.wrap(model, cfg.train)

    bad: list = []
    workers = worker_count(cfg.data.workers, device, dist.world_size)
    loader = train_loader(train_set, cfg.train.batch_size, workers, cfg.train.seed, progress.samples_seen,
                          dist.rank, dist.world_size, pin_memory=device.type == "cuda")
    batches = checked(iter(loader), cfg.data.skip_bad, bad)
    val_loader = eval_loader(val_set, cfg.eval.batch_size, workers, dist.rank, dist.world_size)

    def evaluate_fn(iteration: int) -> dict:
        emit("eval_start", {"iteration": iteration, "images": len(val_set)})
        dist.broadcast_buffers(model)
        result = evaluate_split(_unwrap(model), val_loader, val_set, device, cfg, bad, dist)
        write_evidence(run_dir, iteration, result, val_set, _unwrap(model), cfg, dist)  # eval_images.npz, samples/
        return metrics_record(result.metrics(), val_set.classes)

    start = time.perf_counter()
    done_before = progress.iteration
    if progress.iteration < cfg.train.iters:
        progress = fit(model, optimizer, scheduler, scaler, batches, cfg.train, device, run_dir, progress,
                       config_dict, evaluate_fn, on_event, is_main=dist.is_main,
                       reduce_fn=dist.mean if dist.world_size > 1 else None)
    seconds = time.perf_counter() - start
    evals = io.read_jsonl(run_dir / "eval.jsonl")
    summary = {"run_dir": str(run_dir), "iterations": progress.iteration, "trained_now": progress.iteration - done_before,
               "best_miou": progress.best_miou, "best_iteration": progress.best_iteration, "seconds": seconds,
               "train_seconds": sum(r.get("seconds") or 0.0 for r in io.read_jsonl(run_dir / "metrics.jsonl")),
               "num_classes": cfg.model.num_classes,
               "final": evals[-1] if evals else None, "skipped_bad_samples": len(bad)}
    dist.close()
    return summary


def seed_everything(seed: int, deterministic: bool) -> None:
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def amp_scaler(amp: str, device):
    """fp16 needs CUDA and a gradient scaler; bf16 and off need none."""
    import torch

    if amp == "fp16":
        if device.type != "cuda":
            raise KsacError("--amp fp16 needs a CUDA device; on the CPU use --amp bf16 or --amp off")
        return torch.amp.GradScaler("cuda")
    return None


def datasets_for(cfg: RunConfig):
    """(training set with augmentation, evaluation set without) of `cfg.data`."""
    from ksac_cli.data import build_dataset

    return build_dataset(cfg.data, cfg.data.split, train=True), build_dataset(cfg.data, cfg.data.val_split, train=False)


def evaluate_split(model, loader, dataset, device, cfg: RunConfig, bad: list, dist=None, on_batch=None):
    """Evaluate `model` on a (sharded) loader; confusion matrices are summed across ranks."""
    from ksac_cli.engine.evaluate import evaluate
    from ksac_cli.engine.loaders import checked

    batches = checked(iter(loader), cfg.data.skip_bad, bad)
    result = evaluate(model, batches, dataset.num_classes, device,
                      scales=cfg.eval.scales, flip=cfg.eval.flip, amp=cfg.train.amp, on_batch=on_batch)
    if dist is not None and dist.active:
        for cm in [result.confusion, *result.by_size.values()]:
            dist.sum_(cm.mat)
    return result


def metrics_record(metrics: dict, classes: list[str]) -> dict:
    """The eval.json / eval.jsonl record: per-class IoU keyed by class name; undefined values (NaN) as null."""
    def clean(value):
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        return None if isinstance(value, float) and value != value else value

    return clean({**metrics, "per_class_iou": dict(zip(classes, metrics["per_class_iou"]))})


def _unwrap(model):
    return model.module if hasattr(model, "module") else model
