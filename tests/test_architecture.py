"""Imports point one way (STYLE.md): cli -> workflows -> {config, models, data, engine, measure, report}.
Models know nothing of data or files; report knows nothing of torch; only cli imports typer or rich."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ksac_cli"

# (package part, imports it must never make)
FORBIDDEN = [
    ("models", ("ksac_cli.data", "ksac_cli.engine", "ksac_cli.workflows", "ksac_cli.cli", "ksac_cli.report",
                "ksac_cli.io")),
    ("report", ("torch", "torchvision", "timm", "fvcore", "ksac_cli.models", "ksac_cli.engine")),
    ("config.py", ("torch", "ksac_cli.models", "ksac_cli.workflows", "ksac_cli.cli")),
    ("workflows", ("ksac_cli.cli",)),
]


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def files(part: str) -> list[Path]:
    target = PACKAGE / part
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


@pytest.mark.parametrize("part,forbidden", FORBIDDEN)
def test_import_direction(part, forbidden):
    assert files(part), part
    for path in files(part):
        bad = [m for m in imports_of(path) if any(m == f or m.startswith(f + ".") for f in forbidden)]
        assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_only_cli_imports_typer_and_rich():
    for path in PACKAGE.rglob("*.py"):
        if "cli" in path.relative_to(PACKAGE).parts[:1]:
            continue
        bad = [m for m in imports_of(path) if m.split(".")[0] in ("typer", "rich")]
        assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"
