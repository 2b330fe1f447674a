"""Decoders: DeepLabV3+ (low-level fusion at stride 4) and DeepLabV3 (classifier only)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ksac_cli.models.layers import ConvBNReLU, conv_bn_relu


class DeepLabV3PlusDecoder(nn.Module):
    """1x1 projection of the stride-4 features to 48 channels, concat with the upsampled head output,
    two 3x3 convs of `channels` (depthwise-separable with `separable`, as DeepLab's own implementation has
    them), then a 1x1 classifier (Chen et al. 2018, DeepLabV3+)."""

    def __init__(self, low_in_channels: int, head_channels: int, num_classes: int,
                 low_level_channels: int = 48, channels: int = 256, separable: bool = False,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.low = ConvBNReLU(low_in_channels, low_level_channels, 1, norm_layer=norm_layer)
        self.fuse = nn.Sequential(
            conv_bn_relu(head_channels + low_level_channels, channels, 3, separable=separable, norm_layer=norm_layer),
            conv_bn_relu(channels, channels, 3, separable=separable, norm_layer=norm_layer),
        )
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: dict[str, torch.Tensor], head_out: torch.Tensor) -> torch.Tensor:
        low = self.low(features["low"])  # (B, 48, H/4, W/4)
        up = F.interpolate(head_out, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.classifier(self.fuse(torch.cat([up, low], dim=1)))  # (B, K, H/4, W/4)


class DeepLabV3Decoder(nn.Module):
    """No decoder: a 1x1 classifier on the head output (DeepLabV3)."""

    def __init__(self, head_channels: int, num_classes: int) -> None:
        super().__init__()
        self.classifier = nn.Conv2d(head_channels, num_classes, 1)

    def forward(self, features: dict[str, torch.Tensor], head_out: torch.Tensor) -> torch.Tensor:
        return self.classifier(head_out)  # (B, K, H/os, W/os)
