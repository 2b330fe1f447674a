"""DeepLab = backbone -> head (ksac_cli/heads.py) -> decoder -> bilinear upsample; `build_model` reads the config."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ksac_cli import heads
from ksac_cli.config import ModelConfig
from ksac_cli.errors import KsacWarning
from ksac_cli.models.backbones import Backbone
from ksac_cli.models.decoder import DeepLabV3Decoder, DeepLabV3PlusDecoder
from ksac_cli.models.heads import build_head
from ksac_cli.models.init import build_seeded, init_by_name


class DeepLab(nn.Module):
    """x (B, 3, H, W) -> logits (B, num_classes, H, W). Parts: `backbone`, `head`, `decoder`.
    `backbone_features`, when set (engine/shared_features.py), gives the features instead of the backbone."""

    def __init__(self, backbone: Backbone, head: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.decoder = decoder
        self.backbone_features: Callable[[torch.Tensor], dict[str, torch.Tensor]] | None = None

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Logits resized to `size` (default: the input's)."""
        features = self.backbone(x) if self.backbone_features is None else self.backbone_features(x)
        logits = self.decoder(features, self.head(features["out"]))
        return F.interpolate(logits, size=size or x.shape[-2:], mode="bilinear", align_corners=False)


def build_model(cfg: ModelConfig, seed: int = 0) -> DeepLab:
    """The one place that translates a ModelConfig into modules, initial weights keyed by (`seed`, module name)
    (`models/init.py`; nothing drawn from torch's global stream): `train.seed`, or 0 for a model whose
    weights are loaded or that is only measured."""
    cfg.validate()  # names, rates and ranges, for a ModelConfig built in code rather than loaded
    with torch.random.fork_rng(devices=[]):  # the constructors' own draws are replaced below
        backbone = build_seeded(seed, "backbone", lambda: Backbone(
            cfg.backbone, cfg.output_stride, cfg.pretrained, cfg.backbone_weights))
        spec = heads.spec(cfg.head)
        head = build_seeded(seed, "head", lambda: build_head(spec, backbone.channels["out"], cfg.rates, cfg.channels,
                                                             {k: getattr(cfg, k) for k in spec.extras}))
        if cfg.decoder:
            decoder = DeepLabV3PlusDecoder(backbone.channels["low"], cfg.channels, cfg.num_classes,
                                           cfg.low_level_channels, cfg.decoder_channels, cfg.decoder_separable)
        else:
            decoder = DeepLabV3Decoder(cfg.channels, cfg.num_classes)
    init_by_name(head, seed, "head", strict=not spec.user)  # ASPP's names: ASPP's weights
    init_by_name(decoder, seed, "decoder")
    # channels-last weights: every convolution then runs in NHWC (oneDNN's fast layout on the CPU, tensor
    # cores' on a GPU). Measured on the quick model, 2-core AMD EPYC with avx512_bf16, batch 8 at 256 px:
    # a training step 255 -> 226 ms (bf16) and 307 -> 253 ms (float32), an evaluation batch 136 -> 99 ms and
    # 148 -> 111 ms. Every model is built here, so training, `ksac eval` and the analyses compute alike.
    return DeepLab(backbone, head, decoder).to(memory_format=torch.channels_last)


def check_heads(cfgs) -> None:
    """Build each model whose head is a user's `module:Class` once, so that a head that breaks the contract
    (models/heads/contract.py) is refused before any model of a grid trains or is timed."""
    for cfg in dict.fromkeys(cfgs):
        if heads.spec(cfg.head).user:
            build_model(cfg)


def feature_map_size(input_size: int, output_stride: int) -> int:
    """Side of the head's input for a square input (every supported backbone pads 'same')."""
    return math.ceil(input_size / output_stride)


def warn_large_rates(rates: tuple[int, ...], input_size: int, output_stride: int) -> list[str]:
    """Warn about rates >= the feature-map side: such a branch sees only its centre tap (a 1x1 conv)."""
    side = feature_map_size(input_size, output_stride)
    messages = []
    for rate in rates:
        if rate >= side:
            message = (
                f"atrous rate {rate} >= the {side}x{side} feature map (input {input_size} at output stride "
                f"{output_stride}): that branch sees only its centre tap; use a larger input size, a smaller "
                f"output stride, or smaller rates"
            )
            warnings.warn(message, KsacWarning, stacklevel=2)
            messages.append(message)
    return messages
