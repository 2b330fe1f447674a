"""Heads: every one honours torchvision's ASPP contract, `Head(in_channels, atrous_rates, out_channels)` ->
(B, out_channels, H, W) at its input's size, and is described by its spec in ksac_cli/heads.py."""

from ksac_cli.models.heads.aspp import ASPP
from ksac_cli.models.heads.contract import build_head, head_class
from ksac_cli.models.heads.ksac import KSAC
from ksac_cli.models.heads.pointwise import Pointwise

__all__ = ["ASPP", "KSAC", "Pointwise", "build_head", "head_class"]
