"""Dataclass <-> dict with type checks that name the key (`from_dict`), and the forms a config is written
in: a plain dict, YAML, and the short hash that goes into every result row."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from typing import Any

import yaml

from ksac_cli.config.values import finite, parse_floats, parse_rates
from ksac_cli.errors import KsacError


def from_dict(cls: type, data: dict[str, Any] | None, where: str) -> Any:
    """Build dataclass `cls` from a (possibly partial) dict; unknown keys and wrong types are errors."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise KsacError(f"{where + ': ' if where else ''}unknown key(s) {', '.join(unknown)}; allowed keys: "
                        f"{', '.join(names)}")
    obj = cls(**{name: _coerce(hints[name], value, f"{where}.{name}" if where else name)
                 for name, value in data.items()})
    if hasattr(obj, "validate"):
        obj.validate(where)
    return obj


# a scalar type -> the Python types a value of it may have (a bool only for bool), and its name in errors
_SCALARS = {bool: (bool, "true or false"), int: (int, "an integer"), float: ((int, float), "a number"),
            str: (str, "a string")}


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
        item = typing.get_args(tp)[0]
        if isinstance(value, str) and item in (int, float):  # a flag's comma list
            return parse_rates(value, option=key) if item is int else parse_floats(value, option=key)
        if not isinstance(value, (list, tuple)):
            raise KsacError(f"{key}: expected a list, got {value!r}")
        return tuple(_coerce(item, v, key) for v in value)
    if tp in _SCALARS:
        accepted, expected = _SCALARS[tp]
        if not isinstance(value, accepted) or (tp is not bool and isinstance(value, bool)):
            raise KsacError(f"{key}: expected {expected}, got {value!r}")
        return finite(float(value), key) if tp is float else value
    raise TypeError(f"unsupported config type {tp} for {key}")


def to_dict(obj: Any) -> dict[str, Any]:
    """A plain dict (tuples as lists) for YAML/JSON."""
    return json.loads(json.dumps(dataclasses.asdict(obj)))


def dump_yaml(obj: Any) -> str:
    return yaml.safe_dump(to_dict(obj), sort_keys=False)


def dump_yaml_noted(values: dict[str, Any], notes: dict[str, str], prefix: str = "") -> str:
    """YAML of `values` (a plain nested dict, e.g. `to_dict(cfg)`) with a trailing `# note` on the line of
    every key whose dotted name is in `notes` ({"train.lr": "flag --lr"}); it reads back as `values`."""
    lines = []
    for key, value in values.items():
        note = f"  # {notes[prefix + key]}" if prefix + key in notes else ""
        if isinstance(value, dict) and value:
            lines.append(f"{key}:{note}")
            lines += ["  " + line for line in dump_yaml_noted(value, notes, f"{prefix}{key}.").splitlines()]
        else:  # a value, or a list in flow style: one line, unless a list of mappings (profile grids)
            flow = None if isinstance(value, list) and value else False
            first, *rest = yaml.safe_dump({key: value}, default_flow_style=flow, sort_keys=False,
                                          width=1 << 16).splitlines()
            lines += [first + note, *rest]
    return "\n".join(lines) + "\n"


def short_hash(obj: Any) -> str:
    """8 hex digits identifying a resolved config (a dataclass, or its dict); goes into every result row."""
    text = json.dumps(obj if isinstance(obj, dict) else to_dict(obj), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
