"""Parameter counts (trainable and frozen alike; BN running statistics are buffers, not parameters)."""

from __future__ import annotations

from torch import nn


def count_parameters(module: nn.Module | None) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def model_parameters(model: nn.Module) -> dict[str, int]:
    """{"total", "backbone", "head", "decoder"} for a DeepLab model (decoder includes the classifier)."""
    return {
        "total": count_parameters(model),
        "backbone": count_parameters(model.backbone),
        "head": count_parameters(model.head),
        "decoder": count_parameters(model.decoder),
    }
