"""The training step as a benchmark: the project's own step (`engine.train.train_step`: forward, cross-entropy,
backward, optimizer update) on random images and masks, warmed up, the device synchronised, repeated; for
`ksac profile --train-step` and for `ksac ablate`'s seed plan and `--dry-run` estimate (`cell_times`)."""

from __future__ import annotations

import dataclasses
import statistics

import torch
from torch import nn

from ksac_cli.config import ModelConfig, TrainConfig
from ksac_cli.engine.run import amp_scaler
from ksac_cli.engine.train import build_optimizer, freeze_backbone, train_mode, train_step
from ksac_cli.errors import KsacError
from ksac_cli.machine import resolve_amp
from ksac_cli.measure.latency import Latency, measure_latency, percentile, time_calls
from ksac_cli.models import build_model
from ksac_cli.models.layers import ImagePooling


def random_batch(batch_size: int, size: int, num_classes: int, device: torch.device,
                 channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (B, 3, S, S) from a standard normal and masks (B, S, S) of class indices in [0, num_classes)."""
    images = torch.randn(batch_size, 3, size, size, device=device)
    if channels_last:
        images = images.to(memory_format=torch.channels_last)
    masks = torch.randint(0, num_classes, (batch_size, size, size), device=device)
    return images, masks


def measure_train_step(model: nn.Module, images: torch.Tensor, masks: torch.Tensor,
                       optimizer: torch.optim.Optimizer, amp: str = "off", runs: int = 10, warmup: int = 3,
                       frozen_backbone: bool = False, loss_stride: int = 1) -> Latency:
    """Wall time of `train_step` as `ksac train` runs it (autocast when `amp` is bf16/fp16; fp16 with a
    gradient scaler): `warmup` untimed steps (the first also makes the optimizer's state and, compiled, the
    compilation), then `runs` timed ones; images/s = batch / median time. The model is left in train mode,
    updated warmup + runs times. At batch 1 the image-pooling branch (`ImagePooling`) keeps its BatchNorm in
    eval mode (docs/profiling.md)."""
    train_mode(model, frozen_backbone)
    if images.shape[0] == 1:
        for module in model.modules():
            if isinstance(module, ImagePooling):
                module.eval()
    scaler = amp_scaler(amp, images.device)
    try:
        times = time_calls(lambda: train_step(model, images, masks, optimizer, scaler, amp, loss_stride), images.device,
                           runs, warmup)
    except ValueError as e:  # BatchNorm on a 1x1 map of one image, deeper in the model
        if "Expected more than 1 value per channel" not in str(e):
            raise
        side = images.shape[-1]
        raise KsacError(f"training step at batch {images.shape[0]}, {side}x{side}: a BatchNorm of the model sees "
                        f"one value per channel ({e}); use a larger --size or --batch-size 2 or more") from None
    median = statistics.median(times)
    return Latency(median, percentile(times, 90), images.shape[0] / (median / 1000.0), runs)


@dataclasses.dataclass(frozen=True)
class CellTimes:
    """Seconds of the parts of a training run that repeat (`ksac ablate`'s plan multiplies them out)."""

    step: float  # one training step: forward, loss, backward, update
    backbone_step: float  # of which the frozen backbone's forward pass (0: the backbone learns)
    eval_batch: float  # a forward pass on an evaluation batch
    backbone_eval: float  # of which the frozen backbone's (0: the backbone learns)


def cell_times(model_cfg: ModelConfig, train_cfg: TrainConfig, crop: int, eval_side: int, eval_batch: int,
               device: torch.device, runs: int = 1, warmup: int = 1) -> CellTimes:
    """A freshly built `model_cfg` timed as `train_cfg` trains it: a training step at its batch size of random
    `crop` x `crop` images (optimizer, amp, frozen backbone), a forward pass on `eval_batch` images of
    `eval_side` x `eval_side`, and, when the backbone is frozen, its own forward pass on each. The weights
    are random (they do not change the time). `warmup` untimed calls of each, then the median of `runs`."""
    model = build_model(without_weights(model_cfg)).to(device)
    if train_cfg.freeze_backbone:
        freeze_backbone(model)
    optimizer = build_optimizer(model, train_cfg)
    amp = resolve_amp(train_cfg.amp, device)
    images, masks = random_batch(train_cfg.batch_size, crop, model_cfg.num_classes, device)
    step = measure_train_step(model, images, masks, optimizer, amp, runs, warmup, train_cfg.freeze_backbone,
                              train_cfg.loss_stride)
    val_images = torch.randn(eval_batch, 3, eval_side, eval_side, device=device)

    def forward_seconds(module: nn.Module, x: torch.Tensor) -> float:  # in eval mode, as the evaluation runs it
        return measure_latency(module, x, runs, warmup, amp).ms_median / 1000.0

    frozen = train_cfg.freeze_backbone
    return CellTimes(step.ms_median / 1000.0, forward_seconds(model.backbone, images) if frozen else 0.0,
                     forward_seconds(model, val_images), forward_seconds(model.backbone, val_images) if frozen else 0.0)


def step_setting(model_cfg: ModelConfig, train_cfg: TrainConfig, crop: int) -> tuple:
    """What `cell_times` reads besides the evaluation's shape, so two settings with the same key take the same
    time (the seeds of an ablation cell share one): the model (weights not loaded), the crop, and the batch
    size, optimizer, amp, frozen backbone, loss stride and device of training."""
    return (without_weights(model_cfg), crop, train_cfg.batch_size, train_cfg.optimizer, train_cfg.amp,
            train_cfg.freeze_backbone, train_cfg.loss_stride, train_cfg.device)


def without_weights(model_cfg: ModelConfig) -> ModelConfig:
    """The same model with random weights: what parameters, MACs and step times are measured on."""
    return dataclasses.replace(model_cfg, pretrained=False, backbone_weights=None)
