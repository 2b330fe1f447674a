"""One row of `ksac profile`: parameters, MACs and latency of one model. The dataclass IS the CSV schema."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from ksac_cli.config import ModelConfig, format_rates
from ksac_cli.env import device_name
from ksac_cli.measure.latency import measure_latency
from ksac_cli.measure.macs import count_macs
from ksac_cli.measure.params import model_parameters
from ksac_cli.models import build_model


@dataclass(frozen=True)
class ProfileRow:
    backbone: str
    head: str
    merge: str
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
    latency_ms_median: float | None
    latency_ms_p90: float | None
    images_per_s: float | None
    device: str
    dtype: str


COLUMNS = [f.name for f in dataclasses.fields(ProfileRow)]


def profile_model(cfg: ModelConfig, size: int, batch_size: int, device: torch.device, latency: bool,
                  runs: int, warmup: int) -> ProfileRow:
    """Build `cfg`, count its parameters and MACs (batch 1), and time it (batch `batch_size`)."""
    model = build_model(cfg).to(device).eval()
    params = model_parameters(model)
    macs = count_macs(model, torch.randn(1, 3, size, size, device=device))
    timing = None
    if latency:
        timing = measure_latency(model, torch.randn(batch_size, 3, size, size, device=device), runs, warmup)
    return ProfileRow(
        backbone=cfg.backbone, head=cfg.head, merge=cfg.merge if cfg.head == "ksac" else "concat",
        rates=format_rates(cfg.rates), output_stride=cfg.output_stride, decoder=cfg.decoder,
        input_size=size, num_classes=cfg.num_classes,
        params_total=params["total"], params_backbone=params["backbone"], params_head=params["head"],
        params_decoder=params["decoder"],
        gmacs_total=round(macs["total"] / 1e9, 4), gmacs_head=round(macs["head"] / 1e9, 4),
        latency_ms_median=None if timing is None else round(timing.ms_median, 3),
        latency_ms_p90=None if timing is None else round(timing.ms_p90, 3),
        images_per_s=None if timing is None else round(timing.images_per_s, 3),
        device=device_name(device), dtype="float32",
    )
