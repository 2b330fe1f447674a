"""Model zoo: backbones (timm) -> {"low", "out"}, heads (ASPP, KSAC), decoders, `build_model`."""

from ksac_cli.models.backbones import BACKBONES, Backbone
from ksac_cli.models.deeplab import DeepLab, build_model, feature_map_size, warn_large_rates
from ksac_cli.models.heads import HEADS

__all__ = ["BACKBONES", "HEADS", "Backbone", "DeepLab", "build_model", "feature_map_size",
           "warn_large_rates"]
