"""Multiply-accumulates from fvcore.

fvcore's FlopCountAnalysis counts ONE fused multiply-add as ONE flop, so its "flops" are MACs; we name
them MACs everywhere. Element-wise ops (BN in eval mode, ReLU, upsampling, additions) are not counted.
KSAC's tap reuse runs its 1x1 convolution inside one autograd Function, which a trace sees as one opaque
op: `taps_macs` counts it (the 9 tap products; the shifted sums are additions).
"""

from __future__ import annotations

import logging

import torch
from fvcore.nn import FlopCountAnalysis
from fvcore.nn.jit_handles import get_shape
from torch import nn

TAPS_OP = "prim::PythonOp.SharedKernelTaps"


def taps_macs(inputs, outputs) -> int:
    """x (B, C_in, H, W), weight (C_out, C_in, 3, 3): the 1x1 conv with 9 * C_out outputs."""
    batch, c_in, height, width = get_shape(inputs[0])
    c_out = get_shape(inputs[1])[0]
    return batch * height * width * 9 * c_out * c_in


def count_macs(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """MACs of one forward pass on `x`: {"total": ..., "<child name>": ...} for the model's direct children."""
    logging.getLogger("fvcore").setLevel(logging.ERROR)  # it warns about every op it does not count
    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, x).set_op_handle(TAPS_OP, taps_macs)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        by_module = analysis.by_module()
        out = {"total": int(analysis.total())}
        for name, _ in model.named_children():
            out[name] = int(by_module.get(name, 0))
        return out
    finally:
        model.train(was_training)
