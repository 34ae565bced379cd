"""The typed-option machinery: :func:`option` fields and a validating loader from YAML,
mappings and ``key.sub=value`` overrides (:func:`from_dict`, :func:`load_config`). The
schemas themselves are :mod:`moldiff.config` (runs, experiments) and :mod:`moldiff.options`
(sampling, design, docking).

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
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from moldiff.errors import InputError
from moldiff.paths import read_text

#: sampler names (:data:`moldiff.diffusion.sampler.SAMPLERS`), here for argument parsers that must not import torch
SamplerName = Literal["ddpm", "ddim", "dpm2m"]
SAMPLER_NAMES: tuple[str, ...] = typing.get_args(SamplerName)

T = TypeVar("T")


def option(default: Any = dataclasses.MISSING, *, min: float | None = None, max: float | None = None,
           gt: float | None = None, help: str = ""):
    """A dataclass field with bounds checked at load time: ``min``/``max`` inclusive, ``gt``
    exclusive (``gt=0``: positive). ``help`` is the command-line help of options objects
    (:mod:`moldiff.options`) and documents config keys."""
    kwargs = {"default_factory": default} if callable(default) else {"default": default}
    return field(metadata={"min": min, "max": max, "gt": gt, "help": help}, **kwargs)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, where: str) -> Any:
    """Check/convert ``value`` against the annotation ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        if len(members) > 1 and all(dataclasses.is_dataclass(a) for a in members):
            return _convert_tagged(value, members, key, where)
        errors = []
        # the member of the value's own type first: ``1`` for ``float | int`` stays an int
        members = sorted((a for a in args if a is not type(None)), key=lambda a: a is not type(value))
        for arg in members:
            try:
                return _convert(value, arg, key, where)
            except InputError as exc:
                errors.append(str(exc))
        raise InputError(errors[0] if len(errors) == 1 else f"{where}: {key}: {value!r} matches none of {tp}")
    if origin is Literal:
        if isinstance(value, bool) and value not in args:
            # YAML 1.1 reads off/on/no/yes as booleans: give back the word the choices list
            words = [a for a in (("on", "yes", "true") if value else ("off", "no", "false")) if a in args]
            value = words[0] if words else value
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
        if isinstance(value, str):  # YAML 1.1 reads "4e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"{where}: {key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise InputError(f"{where}: {key}: expected a finite number, got {value!r}")
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


def tag_of(cls: Any) -> str:
    """The ``name`` a section class of a tagged union answers to (its ``name`` field's default)."""
    return {f.name: f for f in dataclasses.fields(cls)}["name"].default


def _convert_tagged(value: Any, members: list, key: str, where: str) -> Any:
    """A config section that is one of several dataclasses told apart by their ``name`` field
    (a discriminated union; the first member is the default). Keys of another member are
    unknown keys here, not silently ignored."""
    if not isinstance(value, Mapping):
        raise InputError(f"{where}: {key}: expected a mapping, got {value!r}")
    tags = {tag_of(m): m for m in members}
    name = value.get("name", tag_of(members[0]))
    if name not in tags:
        raise InputError(f"{where}: {key}.name: {name!r} is not one of {', '.join(map(repr, tags))}")
    return from_dict(tags[name], value, where=where, prefix=f"{key}.")


def section_from_dict(union: Any, data: Any, *, where: str = "<config>", key: str = "section") -> Any:
    """A tagged-union section (e.g. :data:`moldiff.config.ModelConfig`) from a mapping."""
    return _convert(data or {}, union, key, where)


def from_dict(cls: type[T], data: Any, *, where: str = "<config>", prefix: str = "",
              names: typing.Callable[[str], str] | None = None) -> T:
    """Build dataclass ``cls`` from a mapping, validating every key and value.

    Args:
        cls: a dataclass type.
        data: a mapping (e.g. parsed YAML); ``None`` means "all defaults".
        where: the source (file name) for error messages.
        prefix: dotted key prefix for nested sections (error messages).
        names: how a field is named in error messages (e.g. its command-line flag).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InputError(f"{where}: {prefix.rstrip('.') or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        show = names or (lambda k: prefix + str(k))
        raise InputError(f"{where}: unknown key(s) {', '.join(show(k) for k in unknown)}; "
                         f"valid keys: {', '.join(show(k) for k in fields)}")
    kwargs = {}
    for name, f in fields.items():
        key = names(name) if names else prefix + name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise InputError(f"{where}: missing required key {key}")
            continue
        value = _convert(data[name], hints[name], key, where)
        lo, hi, gt = f.metadata.get("min"), f.metadata.get("max"), f.metadata.get("gt")
        if value is not None and gt is not None and not isinstance(value, str) and not value > gt:
            raise InputError(f"{where}: {key} must be {'positive' if gt == 0 else f'above {gt}'}, got {value!r}")
        if value is not None and lo is not None and not isinstance(value, str) and value < lo:
            raise InputError(f"{where}: {key}: {value!r} is below the minimum {lo}")
        if value is not None and hi is not None and not isinstance(value, str) and value > hi:
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
        raise InputError(f"{path}: no such config file" if not path.exists() else f"{path}: not a file")
    text = read_text(path, "config")
    if "\x00" in text:
        raise InputError(f"{path}: not a text file (it holds NUL bytes)")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"{path}: invalid YAML{at}: {getattr(exc, 'problem', exc)}") from exc
    except RecursionError:
        raise InputError(f"{path}: invalid YAML (nested too deeply)") from None
    if data is None:
        raise InputError(f"{path}: empty config (no keys); start from one of the files in configs/")
    if not isinstance(data, Mapping):
        raise InputError(f"{path}: top level must be a mapping of keys to values")
    return from_dict(cls, merge(dict(data), parse_overrides(overrides)), where=str(path))
