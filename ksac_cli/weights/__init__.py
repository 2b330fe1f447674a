"""Weights shipped in the package, each beside its provenance JSON (the command that made it, the resolved
config, the file's sha256). A recipe names one as `builtin:<name>` (for example
`model.backbone_weights: builtin:quick_backbone`); `resolve` turns that into the file. No torch here: a
recipe is validated before torch is imported."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ksac_cli.errors import KsacError

FOLDER = Path(__file__).resolve().parent
PREFIX = "builtin:"
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
