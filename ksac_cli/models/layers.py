"""Small building blocks shared by the heads and the decoder. Convolutions have no bias (a BN follows)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Sequential):
    """conv(k x k, dilation d, 'same' padding) -> norm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
            norm_layer(out_channels),
            nn.ReLU(inplace=True),
        )


class SeparableConvBNReLU(nn.Sequential):
    """DeepLab's separable conv: depthwise 3x3 (dilated) -> norm -> ReLU -> pointwise 1x1 -> norm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d) -> None:
        padding = dilation * (kernel_size - 1) // 2
        super().__init__(
            nn.Conv2d(in_channels, in_channels, kernel_size, padding=padding, dilation=dilation,
                      groups=in_channels, bias=False),
            norm_layer(in_channels),
            nn.ReLU(inplace=True),
            ConvBNReLU(in_channels, out_channels, 1, norm_layer=norm_layer),
        )


def conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1,
                 separable: bool = False, norm_layer: type[nn.Module] = nn.BatchNorm2d) -> nn.Module:
    if separable and kernel_size > 1:
        return SeparableConvBNReLU(in_channels, out_channels, kernel_size, dilation, norm_layer)
    return ConvBNReLU(in_channels, out_channels, kernel_size, dilation, norm_layer)


class ImagePooling(nn.Sequential):
    """ASPP's image-level branch: global average pool -> 1x1 conv -> norm -> ReLU -> upsample."""

    def __init__(self, in_channels: int, out_channels: int, norm_layer: type[nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), ConvBNReLU(in_channels, out_channels, 1, norm_layer=norm_layer))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        y = super().forward(x)  # (B, C, 1, 1)
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


class Projection(nn.Sequential):
    """The 1x1 projection after the concatenation of branches, + norm + ReLU + dropout."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__(ConvBNReLU(in_channels, out_channels, 1, norm_layer=norm_layer), nn.Dropout(dropout))
