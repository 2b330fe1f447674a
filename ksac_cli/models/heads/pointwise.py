"""The neutral head of `ksac pretrain`: a 1x1 projection, neither ASPP nor KSAC. No atrous branch, shared
kernel or image pooling: pretraining must favour neither compared head (issue 22)."""

from __future__ import annotations

import torch
from torch import nn

from ksac_cli.models.layers import ConvBNReLU


class Pointwise(nn.Module):
    """1x1 conv -> BN -> ReLU -> dropout: (B, in_channels, H, W) -> (B, out_channels, H, W). The heads' shared
    signature: `rates` and `separable` are accepted and ignored."""

    def __init__(self, in_channels: int, rates: tuple[int, ...] = (), out_channels: int = 256,
                 separable: bool = False, dropout: float = 0.1,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.rates = ()
        self.project = ConvBNReLU(in_channels, out_channels, 1, norm_layer=norm_layer)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_out, H, W)
        return self.dropout(self.project(x))
