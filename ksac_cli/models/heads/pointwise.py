"""The neutral head of `ksac pretrain`: a 1x1 projection, neither ASPP nor KSAC.

Backbone pretraining must not favour either compared head (issue 22): this head has no atrous branch, no
shared kernel and no image pooling, so the backbone learns features that neither head was trained with.
"""

from __future__ import annotations

import torch
from torch import nn

from ksac_cli.models.layers import ConvBNReLU


class Pointwise(nn.Module):
    """1x1 conv -> BN -> ReLU -> dropout. Input (B, in_channels, H, W) -> output (B, out_channels, H, W).

    Takes the heads' shared signature (`rates`, `separable` are accepted and ignored: it has no atrous
    branch) so that it is swapped in by name like ASPP and KSAC."""

    def __init__(self, in_channels: int, rates: tuple[int, ...] = (), out_channels: int = 256,
                 separable: bool = False, dropout: float = 0.1,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d) -> None:
        super().__init__()
        self.rates = ()
        self.project = ConvBNReLU(in_channels, out_channels, 1, norm_layer=norm_layer)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_out, H, W)
        return self.dropout(self.project(x))
