"""Effective receptive field (Luo et al., "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks", 2016): how much each input position moves the centre output.

For a function f: (B, C, H, W) -> (B, C', h, w), the map is |d f(x)[:, :, h//2, w//2].sum() / d x|,
averaged over images and input channels: (H, W). The images of a batch are independent (BatchNorm in
eval mode), so one backward pass gives every image's gradient."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch


def effective_receptive_field(fn: Callable[[torch.Tensor], torch.Tensor], inputs: torch.Tensor) -> np.ndarray:
    """(H, W) float64 ERF map of `fn` over `inputs` (B, C, H, W)."""
    x = inputs.detach().clone().requires_grad_(True)
    out = fn(x)  # (B, C', h, w)
    out[:, :, out.shape[-2] // 2, out.shape[-1] // 2].sum().backward()
    return x.grad.detach().abs().mean(dim=(0, 1)).double().cpu().numpy()


def mass_radii(erf: np.ndarray, fractions: Sequence[float] = (0.5, 0.9)) -> list[float]:
    """For each fraction p: the radius (in the map's cells) of the smallest disc around the map's centre
    of mass holding p of its total mass. A map of zeros has no radius (NaN)."""
    total = float(erf.sum())
    if total <= 0:
        return [float("nan")] * len(fractions)
    ys, xs = np.indices(erf.shape)
    cy, cx = float((ys * erf).sum() / total), float((xs * erf).sum() / total)
    distance = np.hypot(ys - cy, xs - cx).ravel()
    order = np.argsort(distance, kind="stable")
    cumulative = np.cumsum(erf.ravel()[order]) / total
    return [float(distance[order][min(np.searchsorted(cumulative, p), len(order) - 1)]) for p in fractions]
