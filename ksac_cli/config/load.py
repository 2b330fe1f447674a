"""Recipes and flags -> a validated config: read YAML, merge the flags over it, and name where a bad value
came from (the flag, or the recipe file). One resolve function per command that takes a recipe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ksac_cli.config.coerce import from_dict
from ksac_cli.config.schema import AblationGrid, ProfileConfig, ProfileGrid, RunConfig
from ksac_cli.config.values import parse_rates
from ksac_cli.errors import KsacError

RANDOM_WEIGHTS = "none"  # --backbone-weights none: start the backbone from random weights
RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a recipe; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise KsacError(f"recipe {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise KsacError(f"recipe {path} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise KsacError(f"recipe {path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; `None` in overrides means 'not given on the command line'."""
    out = dict(base)
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict):
            base_value = out.get(key)
            out[key] = merged(base_value if isinstance(base_value, dict) else {}, value)
        else:
            out[key] = value
    return out


def recipe_path(recipe: str | Path | None) -> Path:
    """A recipe file, or the name of one shipped in recipes/ ('quick' -> recipes/quick.yaml); default quick."""
    if recipe is None:
        return RECIPES / "quick.yaml"
    path = Path(recipe)
    if not path.exists() and not path.suffix and (RECIPES / f"{recipe}.yaml").exists():
        return RECIPES / f"{recipe}.yaml"
    return path


def resolve_run_config(recipe: str | Path | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """`ksac train`: a recipe file or name (default quick) + flags -> a validated RunConfig."""
    return load_run_config(recipe_path(recipe), overrides)


def resolve_ablation(recipe: str | Path | None, overrides: dict[str, Any]) -> tuple[RunConfig, AblationGrid]:
    """`ksac ablate`: the base run (recipe + run flags) and the grid (its "grid" flags, each repeatable)."""
    base = resolve_run_config(recipe, {k: v for k, v in overrides.items() if k != "grid"})
    return base, _grid(AblationGrid, overrides.get("grid", {}))


def resolve_profile(recipe: str | Path | None, overrides: dict[str, Any]) -> ProfileConfig:
    """`ksac profile`: the recipe's grids and settings (or the defaults), the grid flags replacing its grids
    with one grid, the "profile" flags its settings. A timing variant flag adds its variant to the baseline."""
    grid_flags = overrides.get("grid", {})
    if grid_flags:
        _grid(ProfileGrid, grid_flags)  # names each bad value's flag
    flags = dict(overrides.get("profile", {}))
    for name in ("channels_last", "compile"):
        if name in flags:  # --x adds the variant to the baseline; --no-x keeps the baseline only
            flags[name] = [False, True] if flags[name] else [False]
    if flags.get("amp"):
        flags["amp"] = ["off", *[a for a in flags["amp"] if a != "off"]]
    base = load_yaml(recipe) if recipe else {}
    if grid_flags:
        base["grids"] = [_grid_values(grid_flags)]
    try:
        return from_dict(ProfileConfig, merged(base, flags), where="")
    except KsacError as e:
        raise KsacError(blame(str(e), recipe, flags)) from None


def _grid_values(flags: dict[str, Any]) -> dict[str, Any]:
    values = dict(flags)
    if "rates" in values:
        values["rates"] = [list(parse_rates(r)) for r in values["rates"]]
    if "decoder" in values:
        values["decoder"] = [values["decoder"]]
    return values


def _grid(cls: type, flags: dict[str, Any]):
    """The grid of the flags alone, errors naming the flag ('--head: unknown head ...')."""
    values = _grid_values(flags)
    try:
        return from_dict(cls, values, "grid")
    except KsacError as e:
        raise KsacError(blame(str(e), None, {"grid": values})) from None


def load_run_config(recipe: str | Path | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Recipe (or the defaults) + command-line overrides -> a validated RunConfig.

    Errors name the key and where its value came from: the flag when it was given on the command line,
    else the recipe file. `overrides` is nested like the recipe; None values are 'not given'."""
    base = load_yaml(recipe) if recipe else {}
    if recipe and "name" not in base:
        base["name"] = Path(recipe).stem
    values = merged(base, overrides or {})
    model = values.get("model")
    if isinstance(model, dict) and str(model.get("backbone_weights")).lower() == RANDOM_WEIGHTS:
        values["model"] = {**model, "backbone_weights": None}  # --backbone-weights none: random initialisation
    try:
        return from_dict(RunConfig, values, where="")
    except KsacError as e:
        raise KsacError(blame(str(e), recipe, overrides or {})) from None


def blame(message: str, recipe: str | Path | None, overrides: dict[str, Any]) -> str:
    """'train.lr: -1 must be > 0' -> '--lr: ...' when train.lr was a flag, '<recipe>: train.lr: ...' otherwise."""
    key, _, rest = message.partition(": ")
    value: Any = overrides
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if rest and value is not None:
        return f"--{key.rsplit('.', 1)[-1].replace('_', '-')}: {rest} (given on the command line; {key})"
    return f"{recipe}: {message}" if recipe else message
