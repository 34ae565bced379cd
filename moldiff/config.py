"""Typed configuration: dataclass schemas and a validating YAML loader.

YAML keys == dataclass field names == constructor keyword arguments. Unknown keys,
wrong types and values outside a field's ``choices``/``min``/``max`` raise
:class:`moldiff.errors.InputError` naming the key and the file. Command-line
overrides use dotted keys: ``data.batch_size=32``.

Declare limits with :func:`option`::

    @dataclass
    class DataConfig:
        batch_size: int = option(64, min=1)
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from moldiff.errors import InputError

T = TypeVar("T")


def option(default: Any = dataclasses.MISSING, *, min: float | None = None, max: float | None = None, help: str = ""):
    """A dataclass field with bounds (inclusive) checked at load time."""
    kwargs = {"default_factory": default} if callable(default) else {"default": default}
    return field(metadata={"min": min, "max": max, "help": help}, **kwargs)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check/convert ``value`` against the annotation ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key, where)
            except InputError as exc:
                errors.append(str(exc))
        raise InputError(errors[0] if len(errors) == 1 else f"{where}: {key}: {value!r} matches none of {tp}")
    if origin is Literal:
        if value not in args:
            raise InputError(f"{where}: {key}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"{where}: {key}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_convert(v, inner, f"{key}[{i}]", where) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise InputError(f"{where}: {key}: expected a mapping, got {value!r}")
        return dict(value)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where=where, prefix=f"{key}.")
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(f"{where}: {key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{where}: {key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: {key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise InputError(f"{where}: {key}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, (str, Path)):
            raise InputError(f"{where}: {key}: expected a path, got {value!r}")
        return Path(value)
    raise TypeError(f"config field {key}: unsupported annotation {_type_name(tp)}")


def from_dict(cls: type[T], data: Any, *, where: str = "<config>", prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, validating every key and value.

    Args:
        cls: a dataclass type.
        data: a mapping (e.g. parsed YAML); ``None`` means "all defaults".
        where: the source (file name) for error messages.
        prefix: dotted key prefix for nested sections (error messages).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: {prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {', '.join(prefix + str(k) for k in unknown)}; "
            f"valid keys: {', '.join(prefix + k for k in fields)}"
        )
    kwargs = {}
    for name, f in fields.items():
        key = prefix + name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InputError(f"{where}: missing required key {key}")
            continue
        value = _convert(data[name], hints[name], key, where)
        lo, hi = f.metadata.get("min"), f.metadata.get("max")
        if value is not None and lo is not None and value < lo:
            raise InputError(f"{where}: {key}: {value!r} is below the minimum {lo}")
        if value is not None and hi is not None and value > hi:
            raise InputError(f"{where}: {key}: {value!r} is above the maximum {hi}")
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {prefix.rstrip('.') or 'config'}: {exc}") from exc


def to_dict(cfg: Any) -> dict:
    """A plain (YAML-serialisable) dict of a config dataclass."""

    def clean(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, tuple):
            return [clean(x) for x in v]
        if isinstance(v, list):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v

    return clean(dataclasses.asdict(cfg))


def parse_overrides(overrides: Sequence[str]) -> dict:
    """``["a.b=1", "c=x"]`` -> ``{"a": {"b": 1}, "c": "x"}`` (values parsed as YAML scalars)."""
    out: dict = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise InputError(f"override {item!r}: expected key.sub=value")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise InputError(f"override {item!r}: cannot parse value ({exc})") from exc
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise InputError(f"override {item!r}: {part} is both a value and a section")
        node[parts[-1]] = value
    return out


def merge(base: dict, update: Mapping) -> dict:
    """Recursive dict merge (``update`` wins); returns a new dict."""
    out = dict(base)
    for k, v in update.items():
        out[k] = merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def load_config(path: str | Path, cls: type[T], overrides: Sequence[str] = ()) -> T:
    """Read a YAML file into ``cls``, applying ``key.sub=value`` overrides first."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such config file")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{path}: invalid YAML{at}: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, Mapping):
        raise InputError(f"{path}: top level must be a mapping of keys to values")
    return from_dict(cls, merge(dict(data), parse_overrides(overrides)), where=str(path))


# --- schemas --------------------------------------------------------------------------
@dataclass
class QM9DataConfig:
    """QM9 data section (keys == :class:`moldiff.data.datamodule.QM9DataModule` arguments)."""

    batch_size: int = option(64, min=1)
    num_workers: int = option(0, min=0)
    cache: str | None = None
    limit_train: int | None = option(None, min=1)
    limit_val: int | None = option(None, min=1)
    limit_test: int | None = option(None, min=1)
    seed: int = 0


@dataclass
class EvaluateConfig:
    """Settings of ``moldiff evaluate`` (also usable from YAML)."""

    bonds: Literal["table", "rdkit", "file"] = "table"
    reference: str | None = None
    druglike: bool = False
    strict: bool = False
