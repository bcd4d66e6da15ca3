"""What every part of the ``polymix`` command line shares: one typer style, one way to end.

    app = typer_app("train", "Train the model ...")     # typer, rich help, no tracebacks for user errors
    sys.exit(run(app, argv, "polymix train"))           # 0, or 2 with one line for a configuration error

``polymix train`` and ``polymix eval`` are typer apps of their own (so that ``python -m
polymix.training`` and ``accelerate launch -m polymix.training`` run them without the rest of the
CLI); the ``polymix`` command hands them their arguments, so all help looks alike.
"""

from __future__ import annotations

import sys

import typer


def informative_types_only() -> None:
    """typer prints a type beside every option; beside a flag (`<bool>`) or a text option (`<str>`)
    it says nothing the help does not, so show it only where it informs (numbers, paths, choices)."""
    from typer.core import TyperOption

    shown = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "_polymix", False):
        return

    def display_type_rich(self, ctx):
        label = shown(self, ctx)
        return None if getattr(self, "is_flag", False) or label in ("<bool>", "<str>") else label

    display_type_rich._polymix = True
    TyperOption.display_type_rich = display_type_rich


def typer_app(name: str, help: str, **kwargs) -> typer.Typer:
    informative_types_only()
    return typer.Typer(name=name, help=help, add_completion=False, pretty_exceptions_enable=False, **kwargs)


def user_errors() -> tuple[type[BaseException], ...]:
    """The errors a user causes (bad settings, missing inputs): one line and exit code 2, never a traceback."""
    from polymix.languages import UnknownLanguageError
    from polymix.locks import MixError
    from polymix.errors import ConfigError

    return ConfigError, FileNotFoundError, UnknownLanguageError, MixError


# An output folder that is read-only, a file, ...: said with the path and what to do.
UNWRITABLE = (PermissionError, NotADirectoryError, IsADirectoryError, FileExistsError)


def run(app: typer.Typer, argv: list[str] | None, prog: str) -> int:
    """Run a typer app on ``argv`` (default: the process's) and return its exit code."""
    from polymix import quiet

    quiet.install()
    try:
        app(args=list(sys.argv[1:] if argv is None else argv), prog_name=prog)
    except SystemExit as done:
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except user_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except UNWRITABLE as err:
        print(f"error: {err.filename}: {err.strerror}; choose a folder you can write", file=sys.stderr)
        return 2
    return 0
