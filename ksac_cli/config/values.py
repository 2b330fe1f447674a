"""Single values of a config: the allowed names and choices, parsers of comma lists, and the checks that
name the key and what was expected. No torch here: a bad flag is refused before torch is imported, and
`ksac_cli.models` builds one module per name listed here (tests/test_architecture.py checks they agree)."""

from __future__ import annotations

import math
import re

from ksac_cli import heads
from ksac_cli.errors import KsacError, unknown_name

BACKBONE_NAMES = ("mobilenetv2", "mobilenetv2_140", "mobilenetv2_075", "mobilenetv2_050", "mobilenetv2_035",
                  "resnet50", "resnet101", "xception65")  # modules: ksac_cli.models.backbones.BACKBONES
OUTPUT_STRIDES = (8, 16, 32)
MERGES = ("concat", "sum")
KSAC_IMPLS = ("conv", "taps")  # how the shared kernel is applied; same parameters, same checkpoints


def parse_rates(text: str | list | tuple, option: str = "--rates") -> tuple[int, ...]:
    """'6,12,18' (a flag, a row) or [6, 12, 18] (a recipe) -> (6, 12, 18); every rate a positive integer, none
    twice. The one parser of a rate set; `format_rates` writes one."""
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    text = list(text) if isinstance(text, tuple) else text  # shown as the recipe wrote it
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
    twice = sorted({r for r in rates if rates.count(r) > 1})
    if twice:
        raise KsacError(f"{option}: rate {twice[0]} is given twice in {text!r}; expected distinct positive "
                        f"integers (e.g. 6,12,18)")
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


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?")


def parse_duration(text: str, key: str) -> float | None:
    """'15m', '900s', '900', '1h30m', '2.5h' -> seconds; 'none' -> None (no limit)."""
    if text.strip().lower() == "none":
        return None
    match = _DURATION.fullmatch(text.strip().lower())
    if not text.strip() or match is None or not any(match.groups()):
        raise KsacError(f"{key}: {text!r} is not a duration; expected e.g. 15m, 900s, 1h30m, or none")
    hours, minutes, seconds = (float(g or 0) for g in match.groups())
    total = 3600 * hours + 60 * minutes + seconds
    if total <= 0:
        raise KsacError(f"{key}: {text!r} must be longer than 0 (or none)")
    return total


def format_rates(rates: tuple[int, ...], sep: str = ",") -> str:
    """(6, 12, 18) -> '6,12,18' (rows, tables, titles) or, with sep '-', '6-12-18' (run and file names): the one
    way a rate set is written; `parse_rates` reads it back."""
    return sep.join(str(r) for r in rates)


def check_choice(key: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise KsacError(f"{key}: {value!r} is not allowed; expected one of: {', '.join(map(str, allowed))}")


def check_name(key: str, kind: str, value: str, names: tuple[str, ...]) -> None:
    """A backbone or head name: 'model.head: unknown head 'psp'; expected one of: aspp, ksac'."""
    if value not in names:
        raise KsacError(f"{key}: {unknown_name(kind, value, names)}")


DATASET_NAMES = ("synthetic", "voc", "ade20k", "cityscapes", "folder")  # readers live in ksac_cli.data
AMP_MODES = ("off", "bf16", "fp16", "auto")  # auto: bf16 where the device computes it natively, else off
TIMED_AMP_MODES = ("off", "bf16", "fp16")  # ksac profile times each one it is given
OPTIMIZERS = ("sgd", "adamw")


def check_device(key: str, name: str) -> None:
    """The spelling of a device (whether it is present is checked when the run starts: `env.resolve_device`)."""
    kind, _, index = name.partition(":")
    if name not in ("auto", "cpu", "cuda") and not (kind == "cuda" and index.isdigit()):
        raise KsacError(f"{key}: {name!r} is not a device; expected auto, cpu, cuda or cuda:N")


def check_model_axes(where: str, backbone=(), head=(), output_stride=(), merge=(), ksac_impl=(), rates=()) -> None:
    """Every value of a grid's model axes (ksac ablate, ksac profile) is a known name, an allowed choice, or
    (rates) a list of distinct positive integers: checked when the recipe is read, before anything runs."""
    for value in rates:
        parse_rates(value, option=f"{where}.rates")
    for value in backbone:
        check_name(f"{where}.backbone", "backbone", value, BACKBONE_NAMES)
    for value in head:
        heads.spec(value, f"{where}.head")
    for name, values, allowed in (("output_stride", output_stride, OUTPUT_STRIDES), ("merge", merge, MERGES),
                                  ("ksac_impl", ksac_impl, KSAC_IMPLS)):
        for value in values:
            check_choice(f"{where}.{name}", value, allowed)
