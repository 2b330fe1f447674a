"""Backbones through timm's `features_only` API, exposing the contract {"low": stride 4, "out": last}.
timm turns the last strides into dilation for `output_stride` (8, 16 or 32), as DeepLab does."""

from __future__ import annotations

import functools
from pathlib import Path

import timm
import torch
from torch import nn

from ksac_cli.errors import KsacError, unknown_name
from ksac_cli.weights import BACKBONE_PREFIX
from ksac_cli.weights import resolve as resolve_weights

# toolkit name -> timm model name. The MobileNetV2 widths below 1.0 are for CPU-sized experiments.
BACKBONES = {
    "mobilenetv2": "mobilenetv2_100",
    "mobilenetv2_140": "mobilenetv2_140",
    "mobilenetv2_075": "mobilenetv2_075",
    "mobilenetv2_050": "mobilenetv2_050",
    "mobilenetv2_035": "mobilenetv2_035",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "xception65": "xception65",  # DeepLab's aligned Xception-65 (timm's port of the TF model)
}

_LOW, _OUT = 1, 4  # timm feature indices: reduction 4 and the last stage


class Backbone(nn.Module):
    """x (B, 3, H, W) -> {"low": (B, channels["low"], H/4, W/4), "out": (B, channels["out"], H/os, W/os)}."""

    def __init__(self, name: str, output_stride: int = 16, pretrained: bool = False,
                 weights: str | None = None) -> None:
        super().__init__()
        if name not in BACKBONES:
            raise unknown_name("backbone", name, BACKBONES)
        self.name = name
        timm_name = BACKBONES[name]
        kwargs = dict(features_only=True, output_stride=output_stride, out_indices=(_LOW, _OUT))
        if pretrained:
            self.body = _create_pretrained(name, timm_name, kwargs)
        else:
            self.body = timm.create_model(timm_name, pretrained=False, **kwargs)
        info = self.body.feature_info
        reductions = info.reduction()
        if reductions[0] != 4:
            raise RuntimeError(f"{timm_name}: expected stride-4 low-level features, got {reductions}")
        self.channels = {"low": info.channels()[0], "out": info.channels()[1]}
        self.reductions = {"low": reductions[0], "out": reductions[1]}
        if weights is not None:
            load_backbone_weights(self.body, weights)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        low, out = self.body(x)
        return {"low": low, "out": out}


def _create_pretrained(name: str, timm_name: str, kwargs: dict) -> nn.Module:
    try:
        return timm.create_model(timm_name, pretrained=True, **kwargs)
    except Exception as e:  # network / hub errors come in many types; all mean "the download failed"
        cfg = timm.models.get_pretrained_cfg(timm_name)
        source = (getattr(cfg, "hf_hub_id", None) or getattr(cfg, "url", None) or timm_name) if cfg else timm_name
        reason = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise KsacError(
            f"could not load ImageNet weights for backbone {name!r}: the download of {source} "
            f"(timm model {timm_name}) failed ({reason}); use --no-pretrained to start from random "
            f"weights, or --backbone-weights PATH to load a local copy"
        ) from None


def load_backbone_weights(body: nn.Module, path: str | Path) -> None:
    """Load a local state dict (timm classifier checkpoint or a bare backbone one) into `body`: every backbone
    parameter must be present and of the right shape; the classifier's keys are ignored. Errors are KsacErrors."""
    path = resolve_weights(str(path))
    if not path.is_file():
        raise KsacError(f"model.backbone_weights: file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise KsacError(f"model.backbone_weights: {path} is not a readable torch state dict ({e})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise KsacError(f"model.backbone_weights: {path} holds a {type(state).__name__}, expected a state dict")
    prefixes = ("module.", BACKBONE_PREFIX, "body.")  # BACKBONE_PREFIX: a whole DeepLab checkpoint
    cleaned = {functools.reduce(str.removeprefix, prefixes, key): value for key, value in state.items()}
    own = body.state_dict()
    missing = [k for k in own if k not in cleaned]
    wrong = [k for k in own if k in cleaned and tuple(cleaned[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        problem = f"missing keys {missing[:5]}" if missing else f"keys of another shape {wrong[:5]}"
        raise KsacError(
            f"model.backbone_weights: {path} does not fit this backbone ({problem}"
            f"{' ...' if len(missing or wrong) > 5 else ''}); is it a checkpoint of another architecture?"
        )
    body.load_state_dict({k: cleaned[k] for k in own}, strict=True)
