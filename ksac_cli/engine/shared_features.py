"""A frozen backbone's features, computed once and shared by the models of one process that would compute
them again (`ksac ablate`: the cells of one seed). An entry is keyed by the backbone (name, output stride, a
digest of every weight and buffer), the input batch (shape, dtype, a digest of its bytes) and the autocast
mode, and served only while the backbone is frozen and in eval mode, so a model is bit for bit the model
computing alone. Entries go least-recently-used first, up to `max_bytes`. CPU only; docs/training.md
("Shared backbone features") gives the reasons and measurements."""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict

import torch
from torch import nn

MAX_BYTES = 1 << 30


def is_frozen(backbone: nn.Module) -> bool:
    """No weight of `backbone` learns and its BatchNorm uses stored statistics: its output is a function of
    its input alone."""
    return not backbone.training and not any(p.requires_grad for p in backbone.parameters())


def backbone_digest(backbone: nn.Module) -> str:
    """What the backbone computes: its name, output stride and every weight and buffer, by value."""
    h = hashlib.sha256(f"{getattr(backbone, 'name', type(backbone).__name__)}/{getattr(backbone, 'reductions', '')}"
                       .encode())
    for name, tensor in backbone.state_dict().items():
        h.update(name.encode())
        h.update(str(tensor.dtype).encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def input_key(x: torch.Tensor) -> tuple:
    """The input batch by value: shape, dtype, a digest of its bytes, and the autocast mode it runs under."""
    data = x.detach().contiguous().view(-1).view(torch.uint8).numpy()
    autocast = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
    return tuple(x.shape), str(x.dtype), str(autocast), hashlib.sha256(memoryview(data)).hexdigest()


def nbytes(features: dict[str, torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in features.values())


class SharedFeatures:
    """Backbone features by (backbone, input), shared by every model attached with `attach`."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = self.evicted = 0  # entries served, computed and dropped
        self._entries: OrderedDict[tuple, dict[str, torch.Tensor]] = OrderedDict()

    def attach(self, model: nn.Module) -> bool:
        """Give `model` (a `DeepLab` on the CPU whose backbone is frozen) these shared features; False, and the
        model left as it was, when its backbone learns or it is not on the CPU. Call it after the backbone
        was frozen and its weights loaded: the backbone's digest is taken now."""
        backbone = model.backbone
        if any(p.requires_grad for p in backbone.parameters()) or any(
                p.device.type != "cpu" for p in backbone.parameters()):
            return False
        model.backbone_features = functools.partial(self.features, backbone, backbone_digest(backbone))
        return True

    def features(self, backbone: nn.Module, digest: str, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if not is_frozen(backbone) or x.requires_grad:
            return backbone(x)
        key = (digest, *input_key(x))
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            self.hits += 1
            return dict(found)
        self.misses += 1
        with torch.no_grad():
            computed = backbone(x)
        self._keep(key, computed)
        return dict(computed)

    def _keep(self, key: tuple, features: dict[str, torch.Tensor]) -> None:
        size = nbytes(features)
        if size > self.max_bytes:
            return
        self._entries[key] = features
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, old = self._entries.popitem(last=False)
            self.bytes -= nbytes(old)
            self.evicted += 1

