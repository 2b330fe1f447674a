"""Weights shipped in the package, each beside its provenance JSON (the command that made it, the resolved
config, the file's sha256, the backbone it was made for). A recipe names one as `builtin:<name>`; `resolve`
turns that into the file, and `starting_weights` says in one line which weights a backbone starts from and
why. No torch here: a recipe is validated before torch is imported."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ksac_cli.errors import KsacError

FOLDER = Path(__file__).resolve().parent
PREFIX = "builtin:"
IMAGENET = "timm:imagenet"  # how a result row names timm's ImageNet weights (--pretrained)
BACKBONE_PREFIX = "backbone.body."  # a DeepLab state dict's backbone entries; shipped files drop it


def builtin_names() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.pt"))


def resolve(value: str) -> Path:
    """'builtin:quick_backbone' -> the shipped file; any other value is a path, returned as given."""
    if not value.startswith(PREFIX):
        return Path(value)
    name = value[len(PREFIX):]
    path = FOLDER / f"{name}.pt"
    if not path.is_file():
        raise KsacError(f"model.backbone_weights: no built-in weights named {name!r}; the package ships: "
                        f"{', '.join(builtin_names()) or 'none'} (or give a file path)")
    return path


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def provenance_of(path: str | Path) -> dict | None:
    """The provenance JSON beside a weights file, when there is one."""
    info = Path(path).with_suffix(".json")
    return json.loads(info.read_text()) if info.is_file() else None


def start_name(pretrained: bool, weights: str | None) -> str:
    """How a result row names the backbone's starting weights: builtin:<name>, a file, IMAGENET, or ''
    (random weights)."""
    return weights or (IMAGENET if pretrained else "")


def made_for(value: str | None) -> str | None:
    """The backbone that `builtin:<name>` weights were made for (their provenance's "backbone"); None for a
    user's file, random weights, or shipped weights without provenance."""
    if not value or not value.startswith(PREFIX):
        return None
    info = provenance_of(resolve(value))
    return info.get("backbone") if info else None


def shipped_for(backbone: str) -> str | None:
    """`builtin:<name>` of the weights shipped for `backbone` (by their provenance), or None."""
    names = [PREFIX + name for name in builtin_names() if made_for(PREFIX + name) == backbone]
    return names[0] if names else None


def starting_weights(backbone: str, pretrained: bool, weights: str | None, frozen: bool, iters: int) -> str:
    """One line: which weights the backbone starts from, and why when it is random weights (no shipped
    weights fit this backbone)."""
    trained = "frozen: only the head and decoder train" if frozen else "trained with the head and decoder"
    if pretrained:
        return f"backbone {backbone}: starts from timm's ImageNet weights ({trained})"
    if weights and weights.startswith(PREFIX):
        info = provenance_of(resolve(weights)) or {}
        how = f", made by `{info['command']}`" if info.get("command") else ""
        return f"backbone {backbone}: starts from the shipped weights {weights}{how} ({trained})"
    if weights:
        return f"backbone {backbone}: starts from the weights in {weights} ({trained})"
    others = sorted({made_for(PREFIX + name) or name for name in builtin_names()} - {backbone})
    why = (f"no shipped weights for {backbone} (the package ships weights for {', '.join(others)} only)"
           if others else f"no shipped weights for {backbone}")
    return (f"backbone {backbone}: {why}: starting from random weights ({trained}); {iters} iterations from "
            f"random weights learn far less than from pretrained ones: give --iters, --pretrained, or a file "
            f"from `ksac pretrain --backbone {backbone}` as --backbone-weights")
