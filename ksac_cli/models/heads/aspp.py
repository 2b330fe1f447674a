"""ASPP, the baseline (DeepLabV3, Chen et al. 2017): one 3x3 atrous kernel *per rate*."""

from __future__ import annotations

import torch
from torch import nn

from ksac_cli.models.layers import ConvBNReLU, ImagePooling, Projection, conv_bn_relu


class ASPP(nn.Module):
    """Branches: 1x1 conv, one 3x3 atrous conv (+BN+ReLU) per rate, image pooling; concat; 1x1 projection.
    (B, in_channels, H, W) -> (B, out_channels, H, W); parameters grow linearly with the rates (paper.md)."""

    def __init__(self, in_channels: int, rates: tuple[int, ...] = (6, 12, 18), out_channels: int = 256,
                 merge: str = "concat", separable: bool = False, dropout: float = 0.1,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        if merge != "concat":
            raise ValueError("ASPP always concatenates its branches; merge='sum' is a KSAC option")
        self.rates = tuple(rates)
        self.pointwise = ConvBNReLU(in_channels, out_channels, 1, norm_layer=norm_layer)
        self.atrous = nn.ModuleList(
            conv_bn_relu(in_channels, out_channels, 3, dilation=r, separable=separable, norm_layer=norm_layer)
            for r in self.rates
        )
        self.pooling = ImagePooling(in_channels, out_channels, norm_layer=norm_layer)
        self.project = Projection((2 + len(self.rates)) * out_channels, out_channels, dropout, norm_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_out, H, W)
        branches = [self.pointwise(x)] + [branch(x) for branch in self.atrous] + [self.pooling(x)]
        return self.project(torch.cat(branches, dim=1))
