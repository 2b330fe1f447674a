"""The training step as a benchmark (`ksac ablate --dry-run`'s time estimate): random images and masks of
the training crop, one untimed warm-up step, then the median of the timed ones."""

from __future__ import annotations

import statistics
import time

import torch

from ksac_cli.config import ModelConfig, TrainConfig
from ksac_cli.engine.train import build_optimizer, freeze_backbone, train_mode, train_step
from ksac_cli.env import resolve_amp
from ksac_cli.models import build_model


def seconds_per_step(model_cfg: ModelConfig, train_cfg: TrainConfig, crop: int, device: torch.device,
                     repeats: int = 3) -> float:
    """Median seconds of one optimizer step (forward, backward, update) of `train_cfg.batch_size` crops."""
    model = build_model(model_cfg).to(device)
    if train_cfg.freeze_backbone:
        freeze_backbone(model)
    train_mode(model, train_cfg.freeze_backbone)
    optimizer = build_optimizer(model, train_cfg)
    images = torch.randn(train_cfg.batch_size, 3, crop, crop, device=device)  # (B, 3, S, S)
    masks = torch.randint(0, model_cfg.num_classes, (train_cfg.batch_size, crop, crop), device=device)
    times = []
    for _ in range(1 + repeats):
        start = time.perf_counter()
        train_step(model, images, masks, optimizer, None, resolve_amp(train_cfg.amp, device))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])
