"""Every third-party module the code imports is declared in pyproject.toml: the package's own imports in
`dependencies`, the tests' and benchmarks' also in an extra. A machine may have packages installed by
hand; a fresh one has only what pyproject.toml declares (issue 13: scipy was missing)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

import pytest

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, for packages not installed here (so packages_distributions cannot say)
KNOWN = {"PIL": "pillow", "yaml": "pyyaml"}


def _name(requirement: str) -> str:
    """'torch>=2.2,<=2.14.1' -> 'torch'; names compared in PEP 503 normal form."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~\[;]", requirement.strip(), maxsplit=1)[0]).lower()


def declared() -> tuple[set[str], set[str]]:
    """(names in dependencies, names in every extra)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    base = {_name(r) for r in project.get("dependencies", [])}
    extras = {_name(r) for reqs in project.get("optional-dependencies", {}).values() for r in reqs}
    return base, extras


def top_level_imports(folder: Path) -> dict[str, str]:
    """{top-level module: 'file:line' of its first import} over every .py file (absolute imports only)."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                found.setdefault(module.split(".")[0], f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def undeclared(folder: Path, allowed: set[str], local: set[str]) -> list[str]:
    dists = packages_distributions()
    problems = []
    for module, where in top_level_imports(folder).items():
        if module in sys.stdlib_module_names or module in local or module == "__future__":
            continue
        names = {_name(d) for d in dists.get(module, [])} or {_name(KNOWN.get(module, module))}
        if not names & allowed:
            problems.append(f"{where}: {module} (distribution {', '.join(sorted(names))})")
    return problems


@pytest.mark.skipif(tomllib is None, reason="tomllib needs Python 3.11")
def test_every_import_is_declared():
    base, extras = declared()
    # modules of this repository: the package and the tests' helper modules (imported by their file name)
    local = {"ksac_cli"} | {p.stem for p in (ROOT / "tests").rglob("*.py")} | {p.stem for p in (ROOT / "benchmarks").glob("*.py")}
    problems = undeclared(ROOT / "ksac_cli", base, local)
    for folder in ("tests", "benchmarks"):
        problems += undeclared(ROOT / folder, base | extras, local)
    assert not problems, "imported but not declared in pyproject.toml:\n" + "\n".join(problems)


def test_the_check_finds_an_undeclared_import(tmp_path, monkeypatch):
    """Negative control: a module importing scipy fails the check when scipy is not declared."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("import os\nfrom scipy import ndimage\nimport numpy as np\n")
    problems = undeclared(tmp_path / "pkg", {"numpy"}, set())
    assert len(problems) == 1 and problems[0].startswith("pkg/m.py:2: scipy"), problems
    assert undeclared(tmp_path / "pkg", {"numpy", "scipy"}, set()) == []
