"""A toy head, added as a new built-in head is: this one module (its class and `@register_head`) plus its
test (tests/test_head_registry.py). Importing the module registers head "toy", a candidate compared against ASPP."""

from __future__ import annotations

from torch import nn

from ksac_cli.heads import register_head


@register_head("toy", "Toy")
class Toy(nn.Module):
    """ASPP's 1x1 branch (the same module names, so it starts from ASPP's weights) plus ONE 3x3 convolution
    at the largest rate, summed. Input (B, in_channels, H, W) -> output (B, out_channels, H, W)."""

    def __init__(self, in_channels: int, atrous_rates, out_channels: int = 256) -> None:
        super().__init__()
        rate = max(atrous_rates)
        self.pointwise = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                       nn.BatchNorm2d(out_channels), nn.ReLU())
        self.widest = nn.Conv2d(in_channels, out_channels, 3, padding=rate, dilation=rate)

    def forward(self, x):  # (B, C_in, H, W) -> (B, C_out, H, W)
        return self.pointwise(x) + self.widest(x)
