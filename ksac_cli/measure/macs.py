"""Multiply-accumulates from fvcore.

fvcore's FlopCountAnalysis counts ONE fused multiply-add as ONE flop, so its "flops" are MACs; we name
them MACs everywhere. Element-wise ops (BN in eval mode, ReLU, upsampling, additions) are not counted.
"""

from __future__ import annotations

import logging

import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn


def count_macs(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """MACs of one forward pass on `x`: {"total": ..., "<child name>": ...} for the model's direct children."""
    logging.getLogger("fvcore").setLevel(logging.ERROR)  # it warns about every op it does not count
    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        by_module = analysis.by_module()
        out = {"total": int(analysis.total())}
        for name, _ in model.named_children():
            out[name] = int(by_module.get(name, 0))
        return out
    finally:
        model.train(was_training)
