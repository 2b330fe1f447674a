"""Model zoo: backbones (timm) -> {"low", "out"}, heads (ASPP, KSAC), decoders, `build_model`."""

from ksac_cli.models.backbones import BACKBONES, Backbone
from ksac_cli.models.deeplab import DeepLab, build_model, check_heads, feature_map_size, warn_large_rates

__all__ = ["BACKBONES", "Backbone", "DeepLab", "build_model", "check_heads", "feature_map_size",
           "warn_large_rates"]
