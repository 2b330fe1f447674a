"""The head name table: ASPP and KSAC share one constructor signature and output shape."""

from ksac_cli.models.heads.aspp import ASPP
from ksac_cli.models.heads.ksac import KSAC

HEADS = {"aspp": ASPP, "ksac": KSAC}

__all__ = ["ASPP", "HEADS", "KSAC"]
