"""`count_macs` counts multiply-adds of convolutions and matrix products only, checked against an independent
counter: torch's FlopCounterMode.

FlopCounterMode runs at the dispatcher, below autograd, and counts only matrix products and convolutions
(2 flops per multiply-add, so its numbers are halved here); it never counts BatchNorm, upsampling or
pooling. fvcore instead traces the model and, by default, also counts eval-mode BatchNorm, bilinear
upsampling and adaptive pooling: before those handles were switched off, every count here was too large.

KSAC with tap reuse: fvcore's trace sees the autograd Function `SharedKernelTaps` as one opaque op, which
`taps_macs` counts from the shapes (the 1x1 convolution of the 9 tap products). FlopCounterMode, below
autograd, sees the `conv2d` that Function actually runs inside its forward, so the two counts are still
independent: one from a formula on the op's input shapes, one from the convolution executed. The shifted
sums are in-place additions, which neither counts. On top, the taps head must perform exactly R - 1 fewer
dense 3x3 convolutions than the conv implementation of the same kernel (R rates): that is the saving the
implementation documents (`models/heads/taps.py`), checked against the conv model's count.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from ksac_cli.config import ModelConfig
from ksac_cli.measure.macs import count_macs
from ksac_cli.models import build_model

SIZE, OUTPUT_STRIDE, RATES = 64, 16, (1, 2)
MODELS = [("aspp", "conv"), ("ksac", "conv"), ("ksac", "taps")]


def small_model(head: str, impl: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(backbone="mobilenetv2_035", head=head, ksac_impl=impl, channels=16,
                                   decoder_channels=16, low_level_channels=8, output_stride=OUTPUT_STRIDE,
                                   rates=RATES)).eval()


def reference_macs(model: torch.nn.Module, x: torch.Tensor) -> dict[str, int]:
    """FlopCounterMode's count in count_macs's layout: {"total": ..., "<child name>": ...}, in MACs."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    by_module = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    prefix = type(model).__name__
    out = {"total": counter.get_total_flops()}
    for name, _ in model.named_children():
        out[name] = by_module.get(f"{prefix}.{name}", 0)
    assert all(flops % 2 == 0 for flops in out.values())  # 2 flops per multiply-add
    return {name: flops // 2 for name, flops in out.items()}


@pytest.mark.parametrize("head,impl", MODELS)
def test_macs_equal_an_independent_count_of_multiply_adds(head, impl):
    model = small_model(head, impl)
    x = torch.randn(1, 3, SIZE, SIZE)
    macs = count_macs(model, x)
    assert set(macs) == {"total", "backbone", "head", "decoder"}
    assert macs == reference_macs(model, x)
    # everything counted happens inside a child: the final upsampling to the input size is not a MAC
    assert macs["total"] == macs["backbone"] + macs["head"] + macs["decoder"]


def test_taps_perform_one_dense_convolution_instead_of_one_per_rate():
    conv, taps = small_model("ksac", "conv"), small_model("ksac", "taps")
    taps.load_state_dict(conv.state_dict())  # the same weights: the two differ only in how they run
    x = torch.randn(1, 3, SIZE, SIZE)
    conv_macs, taps_macs = count_macs(conv, x), count_macs(taps, x)
    c_out, c_in = conv.head.weight.shape[:2]
    side = SIZE // OUTPUT_STRIDE
    dense_3x3 = 9 * c_out * c_in * side * side  # one 3x3 convolution of the shared kernel on the head's input
    assert conv_macs["head"] - taps_macs["head"] == (len(RATES) - 1) * dense_3x3
    assert conv_macs["total"] - taps_macs["total"] == (len(RATES) - 1) * dense_3x3
    assert (conv_macs["backbone"], conv_macs["decoder"]) == (taps_macs["backbone"], taps_macs["decoder"])


def test_normalisation_upsampling_and_pooling_are_not_macs():
    """The ops fvcore counts by default that are not multiply-adds count 0; the one convolution counts."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.GroupNorm(2, 4),
                                torch.nn.Upsample(scale_factor=2, mode="bilinear"), torch.nn.Upsample(scale_factor=2),
                                torch.nn.AdaptiveAvgPool2d(3)).eval()
    assert count_macs(model, torch.randn(1, 3, 10, 10)) == {
        "total": 8 * 8 * 4 * 3 * 9, "0": 8 * 8 * 4 * 3 * 9, "1": 0, "2": 0, "3": 0, "4": 0, "5": 0}
