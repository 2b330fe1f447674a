"""A head from its spec (ksac_cli/heads.py): its class imported, built with the contract's arguments and,
for a head from outside this package, checked against the contract on a dummy input before anything trains."""

from __future__ import annotations

import importlib

import torch
from torch import nn

from ksac_cli.errors import KsacError
from ksac_cli.heads import HeadSpec

CHECK_SIDE = 9  # the dummy input's side: any size; odd, so a head that assumes an even one is caught


def head_class(spec: HeadSpec) -> type[nn.Module]:
    """The class `spec.build` names ('module:attr', imported here and only here), or the class itself."""
    if not isinstance(spec.build, str):
        return spec.build
    module, _, attr = spec.build.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except Exception as e:  # no such module, an error inside it, no such attribute
        raise KsacError(f"head {spec.name}: cannot import {spec.build} ({type(e).__name__}: {e}); expected an "
                        f"importable module:Class") from None


def build_head(spec: HeadSpec, in_channels: int, rates: tuple[int, ...], out_channels: int,
               extras: dict | None = None) -> nn.Module:
    """`Class(in_channels, rates, out_channels, **extras)`; a head from outside the package is also run once
    on a (2, in_channels, 9, 9) input, which must give (2, out_channels, 9, 9): any failure is a KsacError."""
    cls = head_class(spec)
    builtin = isinstance(spec.build, str) and spec.build.startswith("ksac_cli.")
    if builtin:
        return cls(in_channels, tuple(rates), out_channels, **(extras or {}))
    x = torch.zeros(2, in_channels, CHECK_SIDE, CHECK_SIDE)  # (B, C_in, H, W)
    want = (2, out_channels, CHECK_SIDE, CHECK_SIDE)
    expected = (f"expected {spec.name}(in_channels, atrous_rates, out_channels) giving a map of out_channels at "
                f"the input's size: {tuple(x.shape)} -> {want}")
    try:
        head = cls(in_channels, list(rates), out_channels)
        with torch.no_grad():
            y = head.eval()(x)
    except Exception as e:
        raise KsacError(f"head {spec.name}: {expected}; {type(e).__name__}: {e}") from None
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != want:
        got = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise KsacError(f"head {spec.name}: {expected}; it gave {got}")
    return head.train()
