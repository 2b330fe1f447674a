"""One row of `ksac profile`: parameters, MACs, latency and training-step time of one model. The dataclass IS
the CSV schema."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from ksac_cli import heads
from ksac_cli.config import ModelConfig, TrainConfig, format_rates
from ksac_cli.engine.evaluate import AUTOCAST_DTYPES
from ksac_cli.engine.train import build_optimizer
from ksac_cli.machine import device_name
from ksac_cli.measure.latency import Latency, measure_latency
from ksac_cli.measure.macs import count_macs
from ksac_cli.measure.params import model_parameters
from ksac_cli.measure.step import measure_train_step, random_batch
from ksac_cli.models import build_model


@dataclass(frozen=True)
class ProfileRow:
    backbone: str
    head: str
    merge: str
    ksac_impl: str  # KSAC: conv or taps; ASPP: "-"
    rates: str  # "6,12,18"
    output_stride: int
    decoder: bool
    input_size: int
    num_classes: int
    params_total: int
    params_backbone: int
    params_head: int
    params_decoder: int
    gmacs_total: float  # fvcore: one multiply-add = one flop; 1 GMAC = 1e9 multiply-adds
    gmacs_head: float
    memory_format: str  # contiguous | channels_last
    dtype: str  # float32, or the autocast dtype
    compiled: bool  # torch.compile
    latency_ms_median: float | None
    latency_ms_p90: float | None
    images_per_s: float | None
    gflops_per_s: float | None  # 2 * MACs * batch / median time: what the model achieves
    peak_gflops_per_s: float | None  # a large matmul of the same dtype on the same device (--peak)
    share_of_peak: float | None  # gflops_per_s / peak_gflops_per_s
    train_ms_median: float | None  # --train-step: ms of one training step (forward, loss, backward, SGD update)
    train_ms_p90: float | None  # ms; these three are empty without --train-step
    train_images_per_s: float | None  # batch / train_ms_median
    device: str


COLUMNS = [f.name for f in dataclasses.fields(ProfileRow)]
BASELINE = (False, "off", False)  # (channels_last, amp, compile): eager float32, contiguous


def profile_model(cfg: ModelConfig, size: int, batch_size: int, device: torch.device, latency: bool,
                  runs: int, warmup: int, variants: tuple[tuple[bool, str, bool], ...] = (BASELINE,),
                  peaks: dict[str, float] | None = None, train_step: bool = False) -> list[ProfileRow]:
    """Build `cfg`, count its parameters and MACs (batch 1), and time its forward pass (`latency`) and its
    training step (`train_step`) at batch `batch_size` in every variant (channels_last, amp, compile); one
    row per variant. `peaks`: matmul GFLOP/s per amp mode."""
    model = build_model(cfg).to(device).eval()
    params = model_parameters(model)
    macs = count_macs(model, torch.randn(1, 3, size, size, device=device))
    rows = []
    for channels_last, amp, compiled in variants:
        timing = step = None
        if latency or train_step:
            x, masks = random_batch(batch_size, size, cfg.num_classes, device, channels_last)
            runnable = model.to(memory_format=torch.channels_last) if channels_last else model
            if compiled:
                runnable = torch.compile(runnable)
            if latency:
                timing = measure_latency(runnable, x, runs, warmup, amp)
            if train_step:
                step = time_training_step(model, runnable, x, masks, runs, warmup, amp)
            model.to(memory_format=torch.contiguous_format)
        gflops = None if timing is None else 2 * macs["total"] * batch_size / (timing.ms_median / 1000.0) / 1e9
        peak = (peaks or {}).get(amp)
        rows.append(ProfileRow(
            backbone=cfg.backbone, head=cfg.head, merge=heads.spec(cfg.head).value("merge", cfg.merge),
            ksac_impl=heads.spec(cfg.head).value("ksac_impl", cfg.ksac_impl),
            rates=format_rates(cfg.rates), output_stride=cfg.output_stride, decoder=cfg.decoder,
            input_size=size, num_classes=cfg.num_classes,
            params_total=params["total"], params_backbone=params["backbone"], params_head=params["head"],
            params_decoder=params["decoder"],
            gmacs_total=round(macs["total"] / 1e9, 4), gmacs_head=round(macs["head"] / 1e9, 4),
            memory_format="channels_last" if channels_last else "contiguous",
            dtype=str(AUTOCAST_DTYPES[amp]).removeprefix("torch.") if amp != "off" else "float32",
            compiled=compiled,
            latency_ms_median=None if timing is None else round(timing.ms_median, 3),
            latency_ms_p90=None if timing is None else round(timing.ms_p90, 3),
            images_per_s=None if timing is None else round(timing.images_per_s, 3),
            gflops_per_s=None if gflops is None else round(gflops, 3),
            peak_gflops_per_s=None if peak is None else round(peak, 2),
            share_of_peak=None if gflops is None or peak is None else round(gflops / peak, 6),
            train_ms_median=None if step is None else round(step.ms_median, 3),
            train_ms_p90=None if step is None else round(step.ms_p90, 3),
            train_images_per_s=None if step is None else round(step.images_per_s, 3),
            device=device_name(device),
        ))
    return rows


def time_training_step(model: nn.Module, runnable: nn.Module, images: torch.Tensor, masks: torch.Tensor,
                       runs: int, warmup: int, amp: str) -> Latency:
    """`measure.step.measure_train_step` of `runnable` (the model, or it compiled) with every parameter
    trained by the schema's default optimizer (`TrainConfig`); then the weights and BatchNorm statistics are
    put back and the model is left in eval mode, so every variant measures the same model."""
    saved = copy.deepcopy(model.state_dict())
    optimizer = build_optimizer(model, TrainConfig())
    try:
        return measure_train_step(runnable, images, masks, optimizer, amp, runs, warmup)
    finally:
        model.load_state_dict(saved)
        model.eval()
