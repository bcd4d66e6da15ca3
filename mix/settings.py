"""The settings of the ``prepare`` stage, written once: ``polymix prepare``'s options are generated
from these fields (polymix/settings.py), so the help written here is the help the command prints.
Kept apart from mix/prepare.py so that parsing the command line does not import pyarrow."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from polymix.errors import ConfigError
from polymix.settings import comma_list, key_values, setting


@dataclasses.dataclass
class PrepareSettings:
    """Settings of one ``prepare`` run. ``polymix prepare``'s options are generated from these fields
    (polymix/settings.py): the help written here is the help the command prints."""

    source: str = setting(help="English source by registry name (`polymix sources` lists them)", cli_default="shapes")
    out: Path = setting(help="output mix folder (created)", cli_default="out/demo")
    options: dict[str, Any] = setting(
        factory=dict, help="source option KEY=VALUE, repeatable (see `polymix sources`)", option="--option", short="-o"
    )
    image_root: Path | None = setting(
        None, "folder the image paths are relative to (shapes: where images are drawn; default OUT/images/shapes)"
    )
    tasks: tuple[str, ...] = setting(factory=tuple, help="comma list of tasks (default: the source's defaults)")
    chunk_size: int = setting(10_000, "examples per chunk: the unit of atomic writes and of resuming")
    limit: int | None = setting(None, "stop after this many examples (for trying things out)")
    seed: int = setting(0, "seed of the per-example template choice")
    image_check: str = setting("header", "off | exists | header: how hard to check each local image")

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.image_root is not None:
            self.image_root = Path(self.image_root)
        try:
            self.options = dict(key_values(self.options, "--option"))
        except ValueError as err:
            raise ConfigError(str(err)) from None
        self.tasks = comma_list(self.tasks or ())
        problems = []
        if self.chunk_size < 1:
            problems.append(f"chunk_size must be >= 1 (got {self.chunk_size})")
        if self.limit is not None and self.limit < 1:
            problems.append(f"limit must be >= 1 (got {self.limit})")
        if problems:
            raise ConfigError("; ".join(problems))

    def fingerprint(self, tasks: tuple[str, ...]) -> dict[str, Any]:
        """What decides the chunks' contents: a re-run must match it to resume. ``tasks`` are the
        resolved ones (the source's defaults when none were given: asking for them by name is the
        same run); the image root is recorded as the manifest records it (relative to the mix
        when inside it), so a moved or copied mix resumes."""
        from polymix.shards import root_record  # pyarrow: not needed to parse the command line

        return {
            "source": self.source,
            "options": {k: str(v) for k, v in sorted(self.options.items())},
            "image_root": root_record(self.out, self.image_root),
            "tasks": list(tasks),
            "chunk_size": self.chunk_size,
            "limit": self.limit,
            "seed": self.seed,
            "image_check": self.image_check,
        }
