"""The head name table: ASPP, KSAC and the neutral pointwise head share one constructor signature and output
shape."""

from ksac_cli.models.heads.aspp import ASPP
from ksac_cli.models.heads.ksac import KSAC
from ksac_cli.models.heads.pointwise import Pointwise

HEADS = {"aspp": ASPP, "ksac": KSAC, "pointwise": Pointwise}  # pointwise: the neutral head of ksac pretrain

__all__ = ["ASPP", "HEADS", "KSAC", "Pointwise"]
