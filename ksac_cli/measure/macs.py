"""Multiply-accumulates (MACs) from fvcore: the multiply-adds of convolutions and matrix products, nothing else.
fvcore counts one fused multiply-add as one flop; `count_macs` installs only `MAC_HANDLES` (fvcore's formulas,
the bias not counted) and `taps_macs` for KSAC's tap reuse, which a trace sees as one opaque op (the 9 tap
products; the shifted sums are additions). docs/profiling.md says what is left out and why."""

from __future__ import annotations

import logging

import torch
from fvcore.nn import FlopCountAnalysis
from fvcore.nn.jit_handles import (addmm_flop_jit, bmm_flop_jit, conv_flop_jit, einsum_flop_jit, get_shape,
                                   linear_flop_jit, matmul_flop_jit)
from torch import nn

from ksac_cli.engine.evaluate import eval_mode

TAPS_OP = "prim::PythonOp.SharedKernelTaps"


def taps_macs(inputs, outputs) -> int:
    """x (B, C_in, H, W), weight (C_out, C_in, 3, 3): the 1x1 conv with 9 * C_out outputs."""
    batch, c_in, height, width = get_shape(inputs[0])
    c_out = get_shape(inputs[1])[0]
    return batch * height * width * 9 * c_out * c_in


MAC_HANDLES = {  # traced op -> its multiply-adds
    "aten::_convolution": conv_flop_jit,
    "aten::linear": linear_flop_jit,
    "aten::addmm": addmm_flop_jit,
    "aten::mm": matmul_flop_jit,
    "aten::matmul": matmul_flop_jit,
    "aten::bmm": bmm_flop_jit,
    "aten::einsum": einsum_flop_jit,
    TAPS_OP: taps_macs,
}


def count_macs(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    """MACs of one forward pass on `x`: {"total": ..., "<child name>": ...} for the model's direct children."""
    logging.getLogger("fvcore").setLevel(logging.ERROR)  # it warns about every op it does not count
    # the trace (run by by_module) needs no autograd graph: the same counts, ~0.05 s less per model here
    with eval_mode(model), torch.no_grad():
        analysis = FlopCountAnalysis(model, x).clear_op_handles().set_op_handle(**MAC_HANDLES)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        by_module = analysis.by_module()
        total = int(analysis.total())
    return {"total": total, **{name: int(by_module.get(name, 0)) for name, _ in model.named_children()}}
