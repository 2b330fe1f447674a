"""`ksac train`: a validated RunConfig -> a run directory. The lifecycle (directory, --force, resume,
seeding, building, the loop, evaluations, summary) is `engine.run.train_run`; this adapter is what the CLI,
`ksac pretrain` and `ksac ablate` call. `time_estimate`: what the start line says the run will take."""

from __future__ import annotations

import dataclasses
import math

from ksac_cli.config import RunConfig
from ksac_cli.engine.run import EventFn, train_run as train

__all__ = ["EventFn", "time_estimate", "train"]


def time_estimate(cfg: RunConfig) -> dict:
    """{"train", "eval": seconds, "images": evaluated images} of `cfg`'s run on this machine: one training
    step and one evaluation batch of its model timed after an untimed one of each (measure/step.cell_times,
    random weights, a second or two for small models), times its iterations, and times its evaluations'
    batches (each scale's cost by its area, twice with flip). The dataset is not read (data.val_facts)."""
    from ksac_cli.data import val_facts
    from ksac_cli.machine import resolve_device
    from ksac_cli.measure.step import cell_times
    from ksac_cli.engine.train import evaluations

    classes, images, side = val_facts(cfg.data)
    images = min(images, cfg.eval.max_images or images)
    model = dataclasses.replace(cfg.model, num_classes=classes)
    times = cell_times(model, cfg.train, cfg.data.crop_size, side, cfg.eval.batch_size,
                       resolve_device(cfg.train.device), runs=1, warmup=1)
    passes = sum(s * s for s in cfg.eval.scales) * (2 if cfg.eval.flip else 1)
    batches = evaluations(cfg.train) * math.ceil(images / cfg.eval.batch_size)
    return {"train": cfg.train.iters * times.step, "eval": batches * times.eval_batch * passes, "images": images}
