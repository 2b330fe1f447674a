"""KSAC, Kernel-Sharing Atrous Convolution (Huang et al., "See More Than Once", arXiv 1908.09443).

ONE 3x3 kernel W (shape [C_out, C_in, 3, 3]) is applied at every rate r as conv2d(x, W, padding=r,
dilation=r); each rate keeps its OWN BatchNorm, then ReLU. The 1x1 and image-pooling branches are kept
as in ASPP. The paper merges the atrous outputs two ways (paper.md): `concat` (its Figure 4: one slice
per rate, like ASPP) and `sum` (its Algorithm 1: one map, the sum over rates).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ksac_cli.models.heads.taps import shared_kernel_taps
from ksac_cli.models.layers import ConvBNReLU, ImagePooling, Projection


class KSAC(nn.Module):
    """ASPP's contract and output shape, so it is swapped with `ASPP` by name. `ksac_impl` (same parameters):
    `conv`, one dilated convolution per rate; `taps`, the tap products computed once (`taps.py`); the
    separable form always runs as convolutions. `separable=True`: DeepLab's separable conv, a shared
    depthwise 3x3 kernel then a shared pointwise 1x1 kernel, each followed by one BN + ReLU per rate."""

    def __init__(self, in_channels: int, rates: tuple[int, ...] = (6, 12, 18), out_channels: int = 256,
                 merge: str = "concat", separable: bool = False, dropout: float = 0.1,
                 norm_layer: type[nn.Module] = nn.BatchNorm2d, ksac_impl: str = "taps") -> None:
        super().__init__()
        if merge not in ("concat", "sum"):
            raise ValueError(f"merge must be 'concat' or 'sum', got {merge!r}")
        if ksac_impl not in ("conv", "taps"):
            raise ValueError(f"ksac_impl must be 'conv' or 'taps', got {ksac_impl!r}")
        self.impl = ksac_impl
        self.rates = tuple(rates)
        self.merge = merge
        self.separable = separable
        self.pointwise = ConvBNReLU(in_channels, out_channels, 1, norm_layer=norm_layer)
        if separable:
            self.depthwise_weight = nn.Parameter(torch.empty(in_channels, 1, 3, 3))  # shared by every rate
            self.depthwise_bns = nn.ModuleList(norm_layer(in_channels) for _ in self.rates)
            self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, 1))  # shared pointwise
        else:
            self.depthwise_weight = None
            self.depthwise_bns = None
            self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 3, 3))  # THE shared kernel
        self.bns = nn.ModuleList(norm_layer(out_channels) for _ in self.rates)  # one BN per rate
        self.pooling = ImagePooling(in_channels, out_channels, norm_layer=norm_layer)
        n_slices = 2 + (len(self.rates) if merge == "concat" else 1)
        self.project = Projection(n_slices * out_channels, out_channels, dropout, norm_layer)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # The same initialisation nn.Conv2d uses, so KSAC and ASPP start from the same distribution.
        for w in (self.weight, self.depthwise_weight):
            if w is not None:
                nn.init.kaiming_uniform_(w, a=math.sqrt(5))

    def atrous(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One (B, C_out, H, W) map per rate, all computed with the shared kernel."""
        if self.impl == "taps" and not self.separable:
            return [F.relu(bn(y)) for bn, y in zip(self.bns, shared_kernel_taps(x, self.weight, self.rates),
                                                   strict=True)]
        outputs = []
        for i, rate in enumerate(self.rates):
            if self.separable:
                y = F.conv2d(x, self.depthwise_weight, padding=rate, dilation=rate, groups=x.shape[1])
                y = F.relu(self.depthwise_bns[i](y))
                y = F.conv2d(y, self.weight)
            else:
                y = F.conv2d(x, self.weight, padding=rate, dilation=rate)
            outputs.append(F.relu(self.bns[i](y)))
        return outputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C_in, H, W) -> (B, C_out, H, W)
        atrous = self.atrous(x)
        if self.merge == "sum":
            atrous = [torch.stack(atrous).sum(dim=0)]
        return self.project(torch.cat([self.pointwise(x), *atrous, self.pooling(x)], dim=1))
