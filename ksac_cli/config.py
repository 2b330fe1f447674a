"""Every default, once: frozen dataclasses, YAML recipes, flag overrides, validation and dumping.

Data flows recipe -> config -> model + data -> engine. Modules never read the config themselves: each
component has one translation point (for example `models.deeplab.build_model`).
Values are validated here (types, ranges, choices, names of backbones and heads), so a bad flag is
refused before torch is imported; `ksac_cli.models` builds one module per name listed here (a test
checks the two agree).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ksac_cli.errors import KsacError, unknown_name

BACKBONE_NAMES = ("mobilenetv2", "mobilenetv2_140", "mobilenetv2_075", "mobilenetv2_050", "mobilenetv2_035",
                  "resnet50", "resnet101", "xception65")  # modules: ksac_cli.models.backbones.BACKBONES
HEAD_NAMES = ("aspp", "ksac")  # modules: ksac_cli.models.heads.HEADS
OUTPUT_STRIDES = (8, 16, 32)
MERGES = ("concat", "sum")
KSAC_IMPLS = ("conv", "taps")  # how the shared kernel is applied; same parameters, same checkpoints


def parse_rates(text: str | list | tuple, option: str = "--rates") -> tuple[int, ...]:
    """'6,12,18' -> (6, 12, 18); every rate a positive integer."""
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    rates = []
    for item in items:
        item = str(item).strip()
        try:
            rate = int(item)
        except ValueError:
            raise KsacError(
                f"{option}: {item!r} in {text!r} is not an integer; expected a comma list of positive integers like 6,12,18"
            ) from None
        if rate <= 0:
            raise KsacError(f"{option}: rate {rate} in {text!r} must be a positive integer (e.g. 6,12,18)")
        rates.append(rate)
    if not rates:
        raise KsacError(f"{option}: no rates given; expected a comma list like 6,12,18")
    return tuple(rates)


def parse_floats(text: str, option: str) -> tuple[float, ...]:
    """'0.5,1.0,1.5' -> (0.5, 1.0, 1.5); every item a finite number."""
    try:
        values = tuple(float(item) for item in text.split(","))
    except ValueError:
        raise KsacError(f"{option}: {text!r} is not a comma list of numbers (e.g. 0.5,0.75,1.0)") from None
    return tuple(finite(v, option) for v in values)


def finite(value: float, key: str) -> float:
    """`value`, or an error naming `key` when it is nan or infinite (no setting here accepts either)."""
    if not math.isfinite(value):
        raise KsacError(f"{key}: {value} is not allowed; expected a finite number")
    return value


def format_rates(rates: tuple[int, ...]) -> str:
    return ",".join(str(r) for r in rates)


@dataclass(frozen=True)
class ModelConfig:
    """DeepLabV3(+) with an ASPP or KSAC head; defaults follow DeepLab (paper.md)."""

    backbone: str = "mobilenetv2"
    head: str = "ksac"
    rates: tuple[int, ...] = (6, 12, 18)
    merge: str = "concat"  # KSAC only: concat (paper Fig. 4) or sum (paper Alg. 1)
    ksac_impl: str = "taps"  # KSAC only: conv (one dilated conv per rate) or taps (9 tap products, shifted)
    output_stride: int = 16
    decoder: bool = True  # DeepLabV3+ decoder; False gives DeepLabV3
    channels: int = 256  # head channels
    decoder_channels: int = 256
    low_level_channels: int = 48  # 1x1 projection of the stride-4 features
    separable: bool = False  # depthwise-separable atrous convolutions (both heads)
    dropout: float = 0.1  # after the head's 1x1 projection
    num_classes: int = 21
    pretrained: bool = False  # ImageNet weights through timm (needs a download)
    backbone_weights: str | None = None  # a local state_dict file for the backbone

    def validate(self, where: str = "model") -> None:
        check_name(f"{where}.backbone", "backbone", self.backbone, BACKBONE_NAMES)
        check_name(f"{where}.head", "head", self.head, HEAD_NAMES)
        parse_rates(list(self.rates), option=f"{where}.rates")
        check_choice(f"{where}.output_stride", self.output_stride, OUTPUT_STRIDES)
        check_choice(f"{where}.merge", self.merge, MERGES)
        check_choice(f"{where}.ksac_impl", self.ksac_impl, KSAC_IMPLS)
        for name in ("channels", "decoder_channels", "low_level_channels", "num_classes"):
            if getattr(self, name) < 1:
                raise KsacError(f"{where}.{name}: {getattr(self, name)} must be a positive integer")
        if not 0.0 <= self.dropout < 1.0:
            raise KsacError(f"{where}.dropout: {self.dropout} must be in [0, 1)")
        if self.backbone_weights is not None and not Path(self.backbone_weights).is_file():
            raise KsacError(f"{where}.backbone_weights: file {self.backbone_weights} does not exist")


def check_choice(key: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise KsacError(f"{key}: {value!r} is not allowed; expected one of: {', '.join(map(str, allowed))}")


def check_name(key: str, kind: str, value: str, names: tuple[str, ...]) -> None:
    """A backbone or head name: 'model.head: unknown head 'psp'; expected one of: aspp, ksac'."""
    if value not in names:
        raise KsacError(f"{key}: {unknown_name(kind, value, names)}")


# ---- generic dataclass <-> dict, with type checks that name the key ---------------------------------


def from_dict(cls: type, data: dict[str, Any] | None, where: str) -> Any:
    """Build dataclass `cls` from a (possibly partial) dict; unknown keys and wrong types are errors."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise KsacError(f"{where or 'config'}: unknown key(s) {', '.join(unknown)}; allowed keys: {', '.join(names)}")
    values = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where else name
        values[name] = _coerce(hints[name], value, key)
    obj = cls(**values)
    if hasattr(obj, "validate"):
        obj.validate(where)
    return obj


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise KsacError(f"{key}: expected a mapping of keys, got {value!r}")
        return from_dict(tp, value, key)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, key)
    if origin is tuple:
        if isinstance(value, str) and typing.get_args(tp)[0] is int:
            return parse_rates(value, option=key)
        if isinstance(value, str) and typing.get_args(tp)[0] is float:
            return parse_floats(value, option=key)
        if not isinstance(value, (list, tuple)):
            raise KsacError(f"{key}: expected a list, got {value!r}")
        item = typing.get_args(tp)[0]
        return tuple(_coerce(item, v, key) for v in value)
    if tp is bool:
        if not isinstance(value, bool):
            raise KsacError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise KsacError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise KsacError(f"{key}: expected a number, got {value!r}")
        return finite(float(value), key)
    if tp is str:
        if not isinstance(value, str):
            raise KsacError(f"{key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp} for {key}")


def to_dict(obj: Any) -> dict[str, Any]:
    """A plain dict (tuples as lists) for YAML/JSON."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False)


def short_hash(obj: Any) -> str:
    """8 hex digits identifying a resolved config; goes into every result row."""
    text = json.dumps(to_dict(obj), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


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



# ---- data ------------------------------------------------------------------------------------------

DATASET_NAMES = ("synthetic", "voc", "ade20k", "cityscapes", "folder")  # readers live in ksac_cli.data


@dataclass(frozen=True)
class SyntheticConfig:
    """The built-in dataset (`ksac data synth --help` explains its design)."""

    train: int = 600  # images
    val: int = 100
    size: int = 256  # square image side, pixels
    seed: int = 0

    def validate(self, where: str = "synthetic") -> None:
        for name in ("train", "val"):
            if getattr(self, name) < 1:
                raise KsacError(f"{where}.{name}: {getattr(self, name)} must be a positive integer")
        if self.size < 32:
            raise KsacError(f"{where}.size: {self.size} must be at least 32 pixels")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "synthetic"
    data_root: str | None = None  # synthetic: default cache folder under $KSAC_HOME or ~/.cache/ksac
    split: str = "train"  # training split
    val_split: str = "val"  # evaluation split
    crop_size: int = 256  # training crop side, pixels
    scale_min: float = 0.5  # random scale range of the training augmentation
    scale_max: float = 2.0
    workers: int | None = None  # DataLoader worker processes; None: auto (`engine.loaders.worker_count`)
    skip_bad: bool = False  # skip unreadable/invalid samples (counted) instead of stopping
    synthetic: SyntheticConfig = SyntheticConfig()

    def validate(self, where: str = "data") -> None:
        check_choice(f"{where}.dataset", self.dataset, DATASET_NAMES)
        if self.dataset != "synthetic" and not self.data_root:
            raise KsacError(f"{where}.data_root: dataset {self.dataset!r} needs --data-root (the folder of your copy)")
        if self.crop_size < 16:
            raise KsacError(f"{where}.crop_size: {self.crop_size} must be at least 16 pixels")
        if not 0 < self.scale_min <= self.scale_max:
            raise KsacError(f"{where}.scale_min/scale_max: need 0 < scale_min <= scale_max, got "
                            f"{self.scale_min}, {self.scale_max}")
        if self.workers is not None and self.workers < 0:
            raise KsacError(f"{where}.workers: {self.workers} must be >= 0")


# ---- ksac profile ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileGrid:
    """A cross product of model variants; `merge` only varies KSAC (ASPP always concatenates)."""

    backbone: tuple[str, ...] = ("mobilenetv2",)
    head: tuple[str, ...] = ("aspp", "ksac")
    rates: tuple[tuple[int, ...], ...] = ((6, 12, 18), (6, 12, 18, 24))
    merge: tuple[str, ...] = ("concat",)
    ksac_impl: tuple[str, ...] = ("conv", "taps")  # KSAC only: both, so the MACs each performs are listed
    output_stride: tuple[int, ...] = (16,)
    decoder: tuple[bool, ...] = (True,)

    def validate(self, where: str = "grid") -> None:
        for name in ("backbone", "head", "rates", "merge", "ksac_impl", "output_stride", "decoder"):
            if not getattr(self, name):
                raise KsacError(f"{where}.{name}: empty; give at least one value")
        for backbone in self.backbone:
            check_name(f"{where}.backbone", "backbone", backbone, BACKBONE_NAMES)
        for head in self.head:
            check_name(f"{where}.head", "head", head, HEAD_NAMES)
        for stride in self.output_stride:
            check_choice(f"{where}.output_stride", stride, OUTPUT_STRIDES)
        for merge in self.merge:
            check_choice(f"{where}.merge", merge, MERGES)
        for impl in self.ksac_impl:
            check_choice(f"{where}.ksac_impl", impl, KSAC_IMPLS)

    def models(self, base: ModelConfig) -> list[ModelConfig]:
        """Expand into model configs, in a stable order, without duplicate ASPP merges or impls."""
        out: list[ModelConfig] = []
        for backbone in self.backbone:
            for decoder in self.decoder:
                for stride in self.output_stride:
                    for rates in self.rates:
                        for head in self.head:
                            ksac = head == "ksac"
                            for merge, impl in itertools.product(self.merge if ksac else ("concat",),
                                                                 self.ksac_impl if ksac else (base.ksac_impl,)):
                                cfg = dataclasses.replace(base, backbone=backbone, head=head, rates=rates,
                                                          merge=merge, ksac_impl=impl, output_stride=stride,
                                                          decoder=decoder)
                                if cfg not in out:
                                    out.append(cfg)
        return out


@dataclass(frozen=True)
class ProfileConfig:
    """`ksac profile`: parameters, MACs and latency for every model of one or more grids."""

    grids: tuple[ProfileGrid, ...] = (ProfileGrid(),)
    size: int = 513  # square input side, pixels
    num_classes: int = 21
    batch_size: int = 1
    runs: int = 10  # timed forward passes per model
    warmup: int = 3
    latency: bool = True
    device: str = "auto"  # auto: cuda when present, else cpu
    out: str = "results/profile.csv"
    # execution variants, timed for every model (their cross product): memory format, autocast, torch.compile
    channels_last: tuple[bool, ...] = (False,)
    amp: tuple[str, ...] = ("off",)  # off (float32) | bf16 | fp16 (CUDA)
    compile: tuple[bool, ...] = (False,)
    peak: bool = False  # also time a large matmul per dtype: the machine's achievable GFLOP/s

    def validate(self, where: str = "profile") -> None:
        for name in ("size", "num_classes", "batch_size", "runs"):
            if getattr(self, name) < 1:
                raise KsacError(f"{where}.{name}: {getattr(self, name)} must be a positive integer")
        if self.warmup < 0:
            raise KsacError(f"{where}.warmup: {self.warmup} must be >= 0")
        if not self.grids:
            raise KsacError(f"{where}.grids: empty; give at least one grid")
        for name in ("channels_last", "amp", "compile"):
            if not getattr(self, name):
                raise KsacError(f"{where}.{name}: empty; give at least one value")
        for amp in self.amp:
            check_choice(f"{where}.amp", amp, AMP_MODES)

    def variants(self) -> list[tuple[bool, str, bool]]:
        """(channels_last, amp, compile) of every timed variant."""
        return list(itertools.product(self.channels_last, self.amp, self.compile))

    def models(self) -> list[ModelConfig]:
        base = ModelConfig(num_classes=self.num_classes)
        out: list[ModelConfig] = []
        for grid in self.grids:
            out += [cfg for cfg in grid.models(base) if cfg not in out]
        return out


# ---- ksac train / ksac eval -------------------------------------------------------------------------

AMP_MODES = ("off", "bf16", "fp16")
OPTIMIZERS = ("sgd", "adamw")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation and run bookkeeping (DeepLabV3+ protocol defaults: SGD 0.9, poly 0.9)."""

    iters: int = 300
    batch_size: int = 8  # the global batch
    optimizer: str = "sgd"  # sgd (DeepLab's: momentum, poly schedule) | adamw (same schedule; faster from scratch)
    lr: float = 0.01
    momentum: float = 0.9  # SGD only
    weight_decay: float = 1e-4  # conv weights only
    poly_power: float = 0.9
    warmup_iters: int = 0  # linear warm-up from 0 to lr
    amp: str = "off"  # off | bf16 (CPU or CUDA autocast) | fp16 (CUDA, gradient scaling)
    seed: int = 0
    deterministic: bool = False  # torch deterministic algorithms; exact resume on CPU
    device: str = "auto"
    eval_every: int = 0  # iterations between evaluations; 0: only at the end
    save_every: int = 50  # iterations between checkpoints (and always at the end)
    log_every: int = 10  # iterations between metrics.jsonl lines
    run_dir: str | None = None  # default runs/<name>
    sync_bn: bool = True  # SyncBatchNorm across processes when distributed (world size > 1)

    def validate(self, where: str = "train") -> None:
        for name in ("iters", "batch_size", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise KsacError(f"{where}.{name}: {getattr(self, name)} must be a positive integer")
        for name in ("warmup_iters", "eval_every"):
            if getattr(self, name) < 0:
                raise KsacError(f"{where}.{name}: {getattr(self, name)} must be >= 0")
        if self.lr <= 0:
            raise KsacError(f"{where}.lr: {self.lr} must be > 0")
        if not 0 <= self.momentum < 1:
            raise KsacError(f"{where}.momentum: {self.momentum} must be in [0, 1)")
        if self.weight_decay < 0:
            raise KsacError(f"{where}.weight_decay: {self.weight_decay} must be >= 0")
        if self.poly_power < 0:
            raise KsacError(f"{where}.poly_power: {self.poly_power} must be >= 0 (0: constant learning rate)")
        check_choice(f"{where}.amp", self.amp, AMP_MODES)
        check_choice(f"{where}.optimizer", self.optimizer, OPTIMIZERS)
        check_device(f"{where}.device", self.device)


def check_device(key: str, name: str) -> None:
    """The spelling of a device (whether it is present is checked when the run starts: `env.resolve_device`)."""
    kind, _, index = name.partition(":")
    if name not in ("auto", "cpu", "cuda") and not (kind == "cuda" and index.isdigit()):
        raise KsacError(f"{key}: {name!r} is not a device; expected auto, cpu, cuda or cuda:N")


@dataclass(frozen=True)
class EvalConfig:
    """Inference settings: single scale by default; DeepLab's multi-scale is 0.5..1.75 with flip."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = False
    batch_size: int = 1
    output_stride: int | None = None  # evaluate at another stride than training (e.g. 8)

    def validate(self, where: str = "eval") -> None:
        if not self.scales or any(s <= 0 for s in self.scales):
            raise KsacError(f"{where}.scales: {self.scales} must be a non-empty list of positive numbers")
        if self.batch_size < 1:
            raise KsacError(f"{where}.batch_size: {self.batch_size} must be a positive integer")
        if self.output_stride is not None:
            check_choice(f"{where}.output_stride", self.output_stride, OUTPUT_STRIDES)


@dataclass(frozen=True)
class RunConfig:
    """Everything `ksac train` needs; dumped as config.yaml in the run directory."""

    name: str = "run"
    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    def validate(self, where: str = "") -> None:
        if not self.name or "/" in self.name:
            raise KsacError(f"name: {self.name!r} must be a non-empty name without '/'")


RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def recipe_path(recipe: str | Path | None) -> Path:
    """A recipe file, or the name of one shipped in recipes/ ('quick' -> recipes/quick.yaml); default quick."""
    if recipe is None:
        return RECIPES / "quick.yaml"
    path = Path(recipe)
    if not path.exists() and not path.suffix and (RECIPES / f"{recipe}.yaml").exists():
        return RECIPES / f"{recipe}.yaml"
    return path


def resolve_run_config(recipe: str | Path | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """`ksac train` / `ksac ablate`: a recipe file or name (default quick) + flags -> a validated RunConfig."""
    return load_run_config(recipe_path(recipe), overrides)


def load_run_config(recipe: str | Path | None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Recipe (or the defaults) + command-line overrides -> a validated RunConfig.

    Errors name the key and where its value came from: the flag when it was given on the command line,
    else the recipe file. `overrides` is nested like the recipe; None values are 'not given'."""
    base = load_yaml(recipe) if recipe else {}
    if recipe and "name" not in base:
        base["name"] = Path(recipe).stem
    try:
        return from_dict(RunConfig, merged(base, overrides or {}), where="")
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


# ---- ksac ablate ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AblationGrid:
    """The cross product `ksac ablate` runs; an empty tuple means 'the recipe's value'."""

    head: tuple[str, ...] = ("aspp", "ksac")
    rates: tuple[tuple[int, ...], ...] = ((6, 12, 18), (6, 12, 18, 24))
    backbone: tuple[str, ...] = ()
    merge: tuple[str, ...] = ()
    output_stride: tuple[int, ...] = ()
    seeds: int = 3  # seeds recipe seed, seed + 1, ...: 3 by default, so every difference comes with an interval

    def validate(self, where: str = "grid") -> None:
        if self.seeds < 1:
            raise KsacError(f"{where}.seeds: {self.seeds} must be a positive integer")
        for backbone in self.backbone:
            check_name(f"{where}.backbone", "backbone", backbone, BACKBONE_NAMES)
        for head in self.head:
            check_name(f"{where}.head", "head", head, HEAD_NAMES)
        for stride in self.output_stride:
            check_choice(f"{where}.output_stride", stride, OUTPUT_STRIDES)
        for merge in self.merge:
            check_choice(f"{where}.merge", merge, MERGES)
