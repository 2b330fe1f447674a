"""The package as a user installs it (a wheel, not this clone): its built-in recipes come with it, so
`--recipe NAME`, the typo hint and `--help` work from any folder. A process's behaviour (the installed `ksac`
script and its import path), so real subprocesses; torch is never imported by these commands."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(p.stem for p in (ROOT / "recipes").glob("*.yaml"))


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, Path]:
    """(the wheel, a folder it is installed into with `pip install --target`: only the package, no deps)."""
    dist, target = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("site")
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", *isolation, "-w", str(dist),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("ksac_cli-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, capture_output=True, timeout=300)
    return wheel, target


def ksac(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target)}  # the installed copy comes before this clone
    return subprocess.run([str(target / "bin" / "ksac"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_wheel_holds_every_recipe_and_the_shipped_weights(installed):
    names = zipfile.ZipFile(installed[0]).namelist()
    assert sorted(Path(n).stem for n in names if n.startswith("ksac_cli/recipes/")) == RECIPES
    assert "ksac_cli/weights/quick_backbone.pt" in names and "ksac_cli/weights/quick_backbone.json" in names


def test_a_recipe_name_works_from_the_installed_package(installed, tmp_path):
    target = installed[1]
    where = subprocess.run([sys.executable, "-c", "import ksac_cli; print(ksac_cli.__file__)"], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True)
    assert Path(where.stdout.strip()).is_relative_to(target)
    for args in (["train", "--print-config"], ["train", "--recipe", "quick", "--print-config"],
                 ["pretrain", "--print-config"]):
        result = ksac(target, tmp_path, *args)
        assert result.returncode == 0, result.stderr
        assert "backbone: mobilenetv2_035" in result.stdout
    assert "builtin:quick_backbone" in ksac(target, tmp_path, "train", "--print-config").stdout


def test_a_typo_and_help_list_the_installed_recipes(installed, tmp_path):
    target = installed[1]
    typo = ksac(target, tmp_path, "train", "--recipe", "quik")
    assert typo.returncode == 2 and "did you mean quick?" in typo.stderr
    assert str(target) in typo.stderr and all(name in typo.stderr for name in RECIPES)
    help_text = " ".join(ksac(target, tmp_path, "train", "--help").stdout.split())
    assert all(name in help_text for name in RECIPES)
