"""Imports point one way (STYLE.md): cli -> workflows -> {config, models, data, engine, measure, analysis, report}.
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
    # only build_model translates config into modules; layers and heads take plain arguments
    *[(str(p.relative_to(PACKAGE)), ("ksac_cli.config",)) for p in sorted((PACKAGE / "models").rglob("*.py"))
      if p.name != "deeplab.py"],
    # the CLI parses, resolves the config and calls a workflow; it never reaches into the library below
    ("cli", ("torch", "ksac_cli.engine", "ksac_cli.models", "ksac_cli.data", "ksac_cli.measure",
             "ksac_cli.experiments", "ksac_cli.report")),
    ("report", ("torch", "torchvision", "timm", "fvcore", "ksac_cli.models", "ksac_cli.engine")),
    ("config", ("torch", "ksac_cli.models", "ksac_cli.data", "ksac_cli.engine", "ksac_cli.workflows", "ksac_cli.cli")),
    ("workflows", ("ksac_cli.cli",)),
    ("analysis", ("ksac_cli.cli", "ksac_cli.workflows", "ksac_cli.report", "ksac_cli.io")),
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


def test_the_cli_and_every_help_import_no_torch():
    """`ksac --help` and `ksac <command> --help` answer without loading torch (or timm, pandas, matplotlib):
    a CLI people type into starts in a fraction of a second."""
    import subprocess
    import sys

    heavy = ("torch", "timm", "torchvision", "fvcore", "pandas", "matplotlib", "scipy")
    script = (
        "import sys\n"
        "from ksac_cli.cli.main import main\n"
        "for argv in ([], ['--help'], *[[c, '--help'] for c in ('train', 'eval', 'ablate', 'profile', 'report')],\n"
        "             ['data', 'synth', '--help'], ['data', 'check', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), (argv, e.code)\n"
        f"print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.rstrip().endswith("LOADED []"), proc.stdout[-500:]
    assert "--lr" in proc.stdout and "--checkpoint" in proc.stdout  # the helps were really printed


def test_config_names_are_the_model_tables():
    """config validates backbone and head names without importing torch; the modules exist for each."""
    from torch import nn

    from ksac_cli.config import BACKBONE_NAMES
    from ksac_cli.heads import HEADS
    from ksac_cli.models import BACKBONES
    from ksac_cli.models.heads import head_class

    assert sorted(BACKBONE_NAMES) == sorted(BACKBONES)
    assert {"aspp", "ksac", "pointwise"} <= set(HEADS)
    assert all(issubclass(head_class(spec), nn.Module) for spec in HEADS.values())


def test_no_function_is_longer_than_60_lines():
    """Small named helpers, not 90-line functions (STYLE.md): a body (docstring excluded) of at most 60 lines."""
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                docstring = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and len(body) > 1
                lines = node.end_lineno - (body[1] if docstring else body[0]).lineno + 1
                if lines > 60:
                    long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long


def test_every_module_is_listed_in_architecture_md():
    """docs/architecture.md names every module of the package (its "Every module" table), so the page cannot
    fall behind the code unnoticed."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "architecture.md").read_text()
    package = root / "ksac_cli"
    modules = [p.relative_to(package).as_posix() for p in sorted(package.rglob("*.py"))
               if p.name not in ("__init__.py", "__main__.py")]
    missing = [m for m in modules if f"| `{m}` |" not in text]
    assert modules and not missing, f"not in docs/architecture.md: {missing}"
