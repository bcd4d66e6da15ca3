"""Dict <-> typed dataclass conversion for the training settings, with every problem reported.

``build(RunConfig, yaml_dict, "", problems)`` walks the dataclass fields, checks each value
against its annotation (``int``, ``float``, ``str``, ``bool``, ``X | None``, ``list[X]``,
``dict[str, X]``, nested dataclasses), fills defaults, and appends a readable message per
problem (unknown keys list the valid ones) instead of stopping at the first.
``settings_help(RunConfig)`` renders the field help texts for ``--help``.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from typing import Any

from polymix.settings import comma_list


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(tp: Any, value: Any, where: str, problems: list[str]) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(inner[0], value, where, problems)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a section (mapping), got {value!r}")
            return tp()
        return build(tp, value, where, problems)
    if origin is list:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and args[0] is str:
            value = list(comma_list(str(value)))  # "a,b" from the command line
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list, got {value!r}")
            return []
        return [_convert(args[0], v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a mapping, got {value!r}")
            return {}
        return {str(k): _convert(args[1], v, f"{where}.{k}", problems) for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, bool):  # YAML 1.1 reads a bare `no` (train.precision=no) as false
            return "yes" if value else "no"
        if isinstance(value, (str, int, float)):
            return str(value)
    elif tp is Any:
        return value
    problems.append(f"{where}: expected {_type_name(tp)}, got {value!r}")
    return value


def build(cls: type, data: dict[str, Any] | None, where: str, problems: list[str]) -> Any:
    """An instance of dataclass ``cls`` from ``data``; problems are appended, not raised."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = [k for k in data if k not in fields]
    for key in unknown:
        problems.append(f"{where + '.' if where else ''}{key}: unknown setting (valid: {', '.join(fields)})")
    kwargs = {}
    for name in fields:
        if name in data:
            kwargs[name] = _convert(hints[name], data[name], f"{where + '.' if where else ''}{name}", problems)
    return cls(**kwargs)


def settings_help(cls: type, prefix: str = "") -> list[str]:
    """``key (type, default): help`` lines for every leaf setting of ``cls``."""
    lines: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        key = f"{prefix}{f.name}"
        inner = typing.get_args(tp)[0] if typing.get_origin(tp) is list else None
        if dataclasses.is_dataclass(tp) or (inner is not None and dataclasses.is_dataclass(inner)):
            sub = tp if dataclasses.is_dataclass(tp) else inner
            lines.append(f"{key}{'.N' if inner else ''}: {f.metadata.get('help', '')}")
            lines.extend(settings_help(sub, f"{key}.{'N.' if inner else ''}"))
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        lines.append(f"  {key} ({_type_name(tp)}, default {default!r}): {f.metadata.get('help', '')}")
    return lines


_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


def parse_size(text: str | int) -> int:
    """Bytes of a size such as ``24GiB``, ``24 GB``, ``1.5TiB`` (GB: 10**9, GiB: 2**30)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*", str(text).lower())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a memory size; write it like 24GiB or 16GB")
    return int(float(match.group(1)) * _UNITS[match.group(2) or ""])
