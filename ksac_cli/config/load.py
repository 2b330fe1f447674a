"""Recipes and flags -> a validated config: read YAML, merge the flags over it, and name where a bad value
came from (the flag, or the recipe file). One resolve function per command that takes a recipe; the rule
(flags over the recipe over the schema's defaults) is docs/training.md's."""

from __future__ import annotations

import dataclasses
import difflib
from collections import OrderedDict
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import yaml

from ksac_cli import heads, weights
from ksac_cli.config.coerce import from_dict, to_dict
from ksac_cli.config.schema import AblationGrid, ProfileConfig, ProfileGrid, RunConfig
from ksac_cli.config.values import format_rates
from ksac_cli.errors import KsacError

RANDOM_WEIGHTS = "none"  # --backbone-weights none: start the backbone from random weights
# The built-in recipes, package data (pyproject.toml): in a clone ksac_cli/recipes links to the top-level
# recipes/ that users read and copy; an installed wheel holds them as files.
RECIPES = Path(__file__).resolve().parents[1] / "recipes"


class RecipeLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's (core schema) booleans, floats and integers, so `amp: off` is
    the string 'off', 1e-4 a number and 0100 one hundred (docs/training.md); the rest is PyYAML's."""


_BOOL, _FLOAT, _INT = "tag:yaml.org,2002:bool", "tag:yaml.org,2002:float", "tag:yaml.org,2002:int"
RecipeLoader.yaml_implicit_resolvers = {  # a copy without YAML 1.1's bool, float and int rules
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL, _FLOAT, _INT)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
RecipeLoader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
RecipeLoader.add_implicit_resolver(_FLOAT, re.compile(r"""^(?:
    [-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?  # 1.5, 1., .5, 1.0e-4
    |[-+]?[0-9]+[eE][-+]?[0-9]+                          # 1e-4, 1E3 (a plain 10 stays an integer)
    |[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X), list("-+0123456789."))
RecipeLoader.add_implicit_resolver(_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"))


def _yaml_1_2_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    return int(text, 0) if text[:2] in ("0o", "0x") else int(text, 10)  # 0100 is one hundred


RecipeLoader.add_constructor(_INT, _yaml_1_2_int)


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a recipe (YAML 1.2 booleans and floats: `RecipeLoader`); errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise KsacError(f"recipe {path} does not exist")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=RecipeLoader)
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


def recipe_names() -> list[str]:
    """The recipes shipped in recipes/, by name."""
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def recipe_path(recipe: str | Path | None, default: str = "quick") -> Path:
    """A recipe file, or the name of one shipped in recipes/ ('quick' or 'quick.yaml' -> recipes/quick.yaml;
    a file of that name in the current folder comes first). A missing one is an error listing the recipes
    and the closest name."""
    if recipe is None:
        return RECIPES / f"{default}.yaml"
    path = Path(recipe)
    if path.is_file():
        return path
    stem = path.name.removesuffix(".yaml").removesuffix(".yml")
    if path.parent == Path(".") and (RECIPES / f"{stem}.yaml").is_file():
        return RECIPES / f"{stem}.yaml"
    names = recipe_names()
    close = difflib.get_close_matches(stem, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    what = f"no recipe named {recipe!r}" if path.parent == Path(".") and not path.suffix else f"recipe {path} does not exist"
    raise KsacError(f"--recipe: {what}{hint}; give a YAML file or one of the recipes in {RECIPES}: {', '.join(names)}")


def resolve_run_config(recipe: str | Path | None, overrides: dict[str, Any] | None = None,
                       default: str = "quick") -> RunConfig:
    """`ksac train` (and pretrain): a recipe file or name (default `default`) + flags -> a validated RunConfig."""
    return load_run_config(recipe_path(recipe, default), overrides)


def resolve_ablation(recipe: str | Path | None, overrides: dict[str, Any]) -> tuple[RunConfig, AblationGrid]:
    """`ksac ablate`: the base run (recipe + run flags) and the grid (its "grid" flags, each repeatable)."""
    run_flags = {k: v for k, v in overrides.items() if k != "grid"}
    base = resolve_run_config(recipe, run_flags)
    grid = _grid(AblationGrid, overrides.get("grid", {}), recipe_path(recipe))
    try:
        refuse_unfit_weights(base.model.backbone_weights, list(grid.backbone), run_flags)
    except KsacError as e:
        raise KsacError(blame(str(e), recipe, run_flags)) from None
    return base, grid


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
    path = recipe_path(recipe) if recipe else None
    base = load_yaml(path) if path else {}
    if grid_flags:
        base["grids"] = [_grid_values(grid_flags)]
    try:
        return from_dict(ProfileConfig, merged(base, flags), where="")
    except KsacError as e:
        raise KsacError(blame(str(e), path, flags)) from None


def _grid_values(flags: dict[str, Any]) -> dict[str, Any]:
    values = dict(flags)
    if "decoder" in values:
        values["decoder"] = [values["decoder"]]
    return values


def _grid(cls: type, flags: dict[str, Any], recipe: Path | None = None):
    """The grid of the flags over the `grid` section of `recipe` (ksac ablate's: budget, margin, ...), errors
    naming the flag ('--head: unknown head ...') or the recipe."""
    values = _grid_values(flags)
    section = load_yaml(recipe).get("grid") if recipe is not None else None
    try:
        return from_dict(cls, merged(section if isinstance(section, dict) else {}, values), "grid")
    except KsacError as e:
        raise KsacError(blame(str(e), recipe, {"grid": values})) from None


def load_run_config(recipe: str | Path | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Recipe (or the defaults) + command-line overrides (nested like the recipe; None: not given) -> a
    validated RunConfig; errors name the key and the flag or recipe its value came from (`blame`)."""
    base = load_yaml(recipe) if recipe else {}
    base.pop("grid", None)  # ksac ablate's own section (resolve_ablation)
    if recipe and "name" not in base:
        base["name"] = Path(recipe).stem
    values = merged(base, overrides or {})
    model = values.get("model")
    if isinstance(model, dict) and str(model.get("backbone_weights")).lower() == RANDOM_WEIGHTS:
        values["model"] = {**model, "backbone_weights": None}  # --backbone-weights none: random initialisation
    try:
        cfg = from_dict(RunConfig, values, where="")
        refuse_unfit_weights(cfg.model.backbone_weights, [cfg.model.backbone], overrides or {})
    except KsacError as e:
        raise KsacError(blame(str(e), recipe, overrides or {})) from None
    return fit_starting_weights(cfg)


def fit_starting_weights(cfg: RunConfig) -> RunConfig:
    """`builtin:` weights made for another backbone than the model's replaced by those shipped for the model's
    backbone; where none are shipped, timm's ImageNet weights with `pretrained`, else random weights, then
    trained (a frozen random backbone would never learn). A flag asking for such weights was refused before
    (`refuse_unfit_weights`)."""
    made_for = weights.made_for(cfg.model.backbone_weights)
    if made_for is None or made_for == cfg.model.backbone:
        return cfg
    shipped = None if cfg.model.pretrained else weights.shipped_for(cfg.model.backbone)
    train = cfg.train if cfg.model.pretrained or shipped else dataclasses.replace(cfg.train, freeze_backbone=False)
    return dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone_weights=shipped), train=train)


def starting_line(cfg: RunConfig) -> str:
    """The one line `ksac train` and `ksac ablate` print: which weights the backbone starts from, and why."""
    m = cfg.model
    return weights.starting_weights(m.backbone, m.pretrained, m.backbone_weights, cfg.train.freeze_backbone,
                                    cfg.train.iters)


def refuse_unfit_weights(value: str | None, backbones: list[str], overrides: dict[str, Any]) -> None:
    """`--backbone-weights builtin:<name>` given on the command line for a backbone it was not made for is
    an error (the same weights from a recipe are dropped instead: `fit_starting_weights`)."""
    if overrides.get("model", {}).get("backbone_weights") is None:
        return
    made_for = weights.made_for(value)
    wrong = [b for b in backbones if made_for is not None and b != made_for]
    if wrong:
        raise KsacError(f"model.backbone_weights: {value} was made for the backbone {made_for}, not "
                        f"{', '.join(wrong)}; give a file made for it (ksac pretrain --backbone {wrong[0]}), "
                        f"--pretrained, or none for random weights")


def resolve_eval_config(saved: dict[str, Any], overrides: dict[str, Any], where: str) -> RunConfig:
    """`ksac eval`: a checkpoint's saved config + the eval flags -> the RunConfig evaluated. The weights are
    the checkpoint's (no pretrained or backbone_weights), the dataset and its root default to the run's (a
    new --dataset without --data-root does not inherit the old root), every val image is evaluated unless
    --eval-images says otherwise (not the training run's bound), and --output-stride sets the model's.
    Errors name the flag when the bad value was given on the command line, else `where`."""
    saved = merged(saved, {"model": {"pretrained": False, "backbone_weights": None}})
    saved["eval"] = {k: v for k, v in saved.get("eval", {}).items() if k != "max_images"}
    dataset_changed = overrides.get("data", {}).get("dataset") not in (None, saved.get("data", {}).get("dataset"))
    if dataset_changed and overrides["data"].get("data_root") is None:
        saved["data"] = {**saved.get("data", {}), "data_root": None}
    try:
        cfg: RunConfig = from_dict(RunConfig, merged(saved, overrides), where=where)
    except KsacError as e:  # '<where>.model.ksac_impl: ...' -> '--ksac-impl: ...' when it was a flag
        key_and_rest = str(e).removeprefix(f"{where}.")
        named = blame(key_and_rest, None, overrides)
        if named == key_and_rest:
            raise
        raise KsacError(named) from None
    if cfg.eval.output_stride is not None:
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, output_stride=cfg.eval.output_stride))
    return cfg


class _Stub:
    """Stands in for every torch or numpy object of a checkpoint read for its config alone."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state) -> None:
        pass


class _ConfigReader(pickle.Unpickler):
    """Unpickles a torch.save file without torch: tensors and storages become `_Stub`s, and nothing outside
    torch, numpy and OrderedDict can be called."""

    def find_class(self, module: str, name: str):
        if module == "collections" and name == "OrderedDict":
            return OrderedDict
        if module.split(".")[0] in ("torch", "numpy"):
            return _Stub
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a checkpoint")

    def persistent_load(self, pid):
        return None  # a tensor's storage: not read


def checkpoint_config(path: str | Path) -> dict[str, Any]:
    """The resolved config a checkpoint holds (its "config" entry), read without importing torch (for
    `ksac eval --print-config`); errors name the file as `engine.checkpoint.load_checkpoint` does."""
    path = Path(path)
    if not path.is_file():
        raise KsacError(f"checkpoint {path} does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            name = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
            with archive.open(name) as f:
                state = _ConfigReader(f).load()
    except Exception as e:  # not a zip, no data.pkl, pickle garbage: all mean "unreadable"
        raise KsacError(f"checkpoint {path} is truncated or corrupted ({type(e).__name__}: {e})") from None
    if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
        raise KsacError(f"checkpoint {path} holds no config; it was not written by ksac train")
    return state["config"]


def run_name(cfg: RunConfig, seed: int, stream: int = 0) -> str:
    """What a run is, as its folder's name: mobilenetv2_035_ksac-concat_r6-12-18_os8_seed0 (backbone, head and
    merge, rates, output stride; a seed stream after the first adds _stream<s> before the seed). An ablation's
    cells and `ksac train`'s default run directory are named by it."""
    m = cfg.model
    return (f"{m.backbone}_{heads.spec(m.head).slug(m.merge)}_r{format_rates(m.rates, '-')}_os{m.output_stride}"
            + (f"_stream{stream}" if stream else "") + f"_seed{seed}")


def run_dir_of(cfg: RunConfig) -> Path:
    """A run's directory: --run-dir, else runs/<recipe name>/<run_name> (two models or seeds never share one)."""
    return Path(cfg.train.run_dir or Path("runs") / cfg.name / run_name(cfg, cfg.train.seed))


def flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"train": {"lr": 0.1}} -> {"train.lr": 0.1} (lists are values, not sections)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def notes(resolved: dict[str, Any], defaults: dict[str, Any], flags: dict[str, str], base: str) -> dict[str, str]:
    """Where each value of a resolved config came from, for --print-config: 'flag --lr' for a key a flag set
    (`flags`: dotted key -> its option), `base` ('recipe', 'checkpoint') for any other value that differs from
    the schema default in `defaults`; values at their default get no note."""
    default = flat(defaults)
    out = {}
    for key, value in flat(resolved).items():
        if key in flags:
            out[key] = f"flag {flags[key]}"
        elif key not in default or default[key] != value:
            out[key] = base
    return out


def attribute(error: KsacError, recipe: str | Path | None, overrides: dict[str, Any]) -> KsacError:
    """An error raised while running a config that names one of its keys ('model.backbone_weights: ...'),
    blamed on its flag or recipe (`blame`); any other error as is."""
    key = str(error).partition(": ")[0]
    if key not in flat(to_dict(RunConfig())):
        return error
    return type(error)(blame(str(error), recipe_path(recipe), overrides))


def blame(message: str, recipe: str | Path | None, overrides: dict[str, Any]) -> str:
    """'train.lr: -1 must be > 0' -> '--lr: ...' when train.lr was a flag, '<recipe>: train.lr: ...' otherwise."""
    key, _, rest = message.partition(": ")
    value: Any = overrides
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if rest and value is not None and not isinstance(value, dict):  # a section's error is not a flag's
        return f"--{key.rsplit('.', 1)[-1].replace('_', '-')}: {rest} (given on the command line; {key})"
    return f"{recipe}: {message}" if recipe else message
