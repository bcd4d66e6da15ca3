"""Settings dataclasses as the one source of their command-line options and flow parameters.

A stage writes its settings once, as a dataclass whose fields carry their help::

    @dataclasses.dataclass
    class DecodeSettings:
        beam_size: int = setting(1, "beam width (1 = greedy)")

and everything that exposes them is generated from that: :func:`cli_options` turns the leaf
fields (nested settings flattened) into typer options with that help, :func:`nest` turns the
parsed options back into the nested keyword arguments of the dataclass, and Prefect, which
validates a flow parameter annotated with the dataclass through pydantic, shows the same help in
its UI (pydantic reads ``metadata["description"]``). The drift test walks :func:`leaves`.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Annotated, Any, Callable

MISSING = dataclasses.MISSING


def setting(
    default: Any = MISSING,
    help: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    option: str | None = None,
    short: str | None = None,
    cli_default: str | None = None,
) -> Any:
    """A dataclass field with its help text. ``option`` renames its command-line flag (``--in``),
    ``short`` adds a one-letter one (``-o``); ``cli_default`` is what the command line shows and
    takes where the dataclass has no scalar default (``device_index``: ``auto`` for the empty tuple,
    the dataclass parses the text) or none at all (a required field the command line defaults)."""
    metadata = {"help": help, "description": help, "option": option, "short": short, "cli_default": cli_default}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Leaf:
    """One scalar setting of a (possibly nested) settings dataclass."""

    path: tuple[str, ...]
    """field names from the top dataclass down (``("decode", "beam_size")``)"""
    name: str
    """the flat, unique Python name of its command-line option (``decode_seed`` where ``seed`` is taken)"""
    field: dataclasses.Field
    type: Any

    @property
    def help(self) -> str:
        return self.field.metadata.get("help", "")

    @property
    def flag(self) -> str:
        return self.field.metadata.get("option") or "--" + self.name.replace("_", "-")

    @property
    def required(self) -> bool:
        return self.field.default is MISSING and self.field.default_factory is MISSING

    @property
    def cli_default(self) -> Any:
        """The command line's default: ``cli_default`` where given, else the field's own."""
        given = self.field.metadata.get("cli_default")
        return self.default if given is None else given

    @property
    def cli_required(self) -> bool:
        return self.required and self.field.metadata.get("cli_default") is None

    @property
    def default(self) -> Any:
        if self.field.default_factory is not MISSING:
            return self.field.default_factory()
        return None if self.field.default is MISSING else self.field.default


def leaves(cls: type) -> list[Leaf]:
    """Every scalar setting of ``cls``, nested dataclasses flattened in field order. A nested field
    whose name is taken by an earlier one gets its section as prefix (``decode.seed`` -> ``decode_seed``)."""
    found: list[Leaf] = []

    def walk(tp: type, path: tuple[str, ...]) -> None:
        hints = typing.get_type_hints(tp)
        for f in dataclasses.fields(tp):
            if not f.init:
                continue
            if dataclasses.is_dataclass(hints[f.name]):
                walk(hints[f.name], (*path, f.name))
                continue
            taken = {leaf.name for leaf in found}
            name = f.name if f.name not in taken else "_".join((*path, f.name))
            found.append(Leaf((*path, f.name), name, f, hints[f.name]))

    walk(cls, ())
    return sorted(found, key=lambda leaf: not leaf.required)  # required options first, then field order


def help_of(cls: type, name: str) -> str:
    """The help text of the setting ``name`` of ``cls`` (for a command that repeats one option)."""
    return next(leaf.help for leaf in leaves(cls) if leaf.name == name)


def _cli_type(tp: Any) -> Any:
    """The type typer parses the option as: scalars as they are, sequences as comma-list text,
    mappings as a repeatable ``KEY=VALUE`` option (the dataclass parses both texts)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return typing.Optional[_cli_type(args[0])]
    if typing.get_origin(tp) in (tuple, list):
        return str
    if typing.get_origin(tp) is dict:
        return list[str]
    return tp


def key_values(pairs: Any, flag: str) -> dict[str, str]:
    """``{"path": "a.json"}`` from ``["path=a.json"]`` (a repeatable ``KEY=VALUE`` option); a mapping
    is returned as it is. A pair without ``=`` is a ValueError naming ``flag``."""
    if isinstance(pairs, dict):
        return pairs
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"{flag} {pair!r}: expected KEY=VALUE (for example {flag} path=captions.json)")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


def comma_list(text: Any) -> tuple[str, ...]:
    """``("a", "b")`` from ``"a, b"`` (a comma-list option); a sequence is returned as a tuple."""
    if isinstance(text, str):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    return tuple(text)


def cli_options(cls: type) -> list[inspect.Parameter]:
    """typer parameters for every leaf of ``cls``: the field's help, flag and default."""
    import typer

    params = []
    for leaf in leaves(cls):
        tp = _cli_type(leaf.type)
        decls = [f"{leaf.flag}/--no-{leaf.flag[2:]}"] if tp is bool else [leaf.flag]
        if leaf.field.metadata.get("short"):
            decls.append(leaf.field.metadata["short"])
        default = leaf.cli_default
        if isinstance(default, (tuple, dict)):  # an empty sequence or mapping: the option is simply not given
            default = [] if isinstance(default, dict) else None
        shown = not leaf.cli_required and default not in (None, [])
        metavar = "KEY=VALUE" if typing.get_origin(tp) is list else None
        info = typer.Option(*decls, help=leaf.help, show_default=shown, metavar=metavar)
        params.append(
            inspect.Parameter(
                leaf.name,
                inspect.Parameter.KEYWORD_ONLY,
                annotation=Annotated[tp, info],
                default=inspect.Parameter.empty if leaf.cli_required else default,
            )
        )
    return params


def extra_option(name: str, tp: Any, default: Any, *decls: str, help: str) -> inspect.Parameter:
    """A command-only option (not a setting: ``--quiet``, ``--overwrite``) to pass to :func:`with_cli_options`."""
    import typer

    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[tp, typer.Option(*decls, help=help)]
    )


def with_cli_options(cls: type, *extra: inspect.Parameter) -> Callable[[Callable], Callable]:
    """Give a command the options of ``cls`` (plus ``extra``, such as ``--quiet``): typer reads the
    signature set here; the command receives them as keyword arguments and calls :func:`nest`."""

    def decorate(fn: Callable) -> Callable:
        params = [*cli_options(cls), *extra]
        fn.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        fn.__annotations__ = {p.name: p.annotation for p in params}
        return fn

    return decorate


def nest(cls: type, flat: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``cls`` from flat option values (the leaves' names), nested sections as dicts."""
    out: dict[str, Any] = {}
    for leaf in leaves(cls):
        if leaf.name in flat:
            node = out
            for part in leaf.path[:-1]:
                node = node.setdefault(part, {})
            node[leaf.path[-1]] = flat[leaf.name]
    return out


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """``data["a"]["b"] = value`` for ``key`` ``a.b``, making the sections on the way."""
    *parents, last = key.split(".")
    for part in parents:
        node = data.setdefault(part, {})
        if not isinstance(node, dict):
            node = data[part] = {}
        data = node
    data[last] = value
