"""Instruction templates: data in ``<task>.yaml`` beside this module, and the code that renders them.

A template has an id, a version, an ``instruction`` and a ``target`` with ``{slot}`` fields
filled from an example's ``slots_en``. Its versioned id (``caption.03.v1``) is what rows store,
so changing a template's text means bumping its version. Each example gets one template of its
task, chosen by a hash of (seed, source, source_id, task): the same example gets the same
template on every run, whatever order the examples arrive in.

    >>> from polymix.templates import render
    >>> ex = render(example, seed=0)      # sets instruction, target, *_en and template_id
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import string
from pathlib import Path
from typing import Any

import yaml

from polymix.schema import Example

HERE = Path(__file__).parent


class TemplateError(ValueError):
    """A template file is malformed, or a template/task is unknown (the message lists valid ones)."""


@dataclasses.dataclass(frozen=True)
class Template:
    id: str
    version: int
    task: str
    instruction: str
    target: str

    @property
    def versioned_id(self) -> str:
        return f"{self.id}.v{self.version}"

    @property
    def fields(self) -> set[str]:
        return {f for text in (self.instruction, self.target) for _, f, _, _ in string.Formatter().parse(text) if f}

    def render(self, slots: dict[str, Any]) -> tuple[str, str]:
        """(instruction, target) with the slots filled in; lists are joined with ", "."""
        values = {k: ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v).strip() for k, v in slots.items()}
        missing = self.fields - values.keys()
        if missing:
            raise TemplateError(f"template {self.versioned_id} needs slots {sorted(missing)}, the example has {sorted(values)}")
        return self.instruction.format_map(values).strip(), self.target.format_map(values).strip()


def _load_file(path: Path) -> list[Template]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise TemplateError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(data, dict) or "task" not in data or not isinstance(data.get("templates"), list):
        raise TemplateError(
            f"{path}: expected a mapping with 'task' and a list 'templates' of {{id, version, instruction, target}}"
        )
    from polymix.schema import TASK_SLOTS

    task = data["task"]
    if task not in TASK_SLOTS:
        raise TemplateError(f"{path}: unknown task {task!r}; tasks: {', '.join(TASK_SLOTS)}")
    out = []
    for k, entry in enumerate(data["templates"]):
        missing = [key for key in ("id", "version", "instruction", "target") if key not in entry]
        if missing:
            raise TemplateError(f"{path}: template #{k + 1} lacks {missing}")
        tpl = Template(str(entry["id"]), int(entry["version"]), task, str(entry["instruction"]), str(entry["target"]))
        unknown = tpl.fields - set(TASK_SLOTS[task])
        if unknown:
            raise TemplateError(
                f"{path}: template {tpl.id} uses slots {sorted(unknown)}; task {task} has {list(TASK_SLOTS[task])}"
            )
        out.append(tpl)
    return out


@functools.cache
def registry(folder: str | None = None) -> dict[str, tuple[Template, ...]]:
    """Templates by task, from ``folder`` (default: the YAML files shipped with polymix)."""
    by_task: dict[str, list[Template]] = {}
    seen: set[str] = set()
    for path in sorted(Path(folder or HERE).glob("*.yaml")):
        for tpl in _load_file(path):
            if tpl.id in seen:
                raise TemplateError(f"{path}: template id {tpl.id} is used twice")
            seen.add(tpl.id)
            by_task.setdefault(tpl.task, []).append(tpl)
    return {task: tuple(tpls) for task, tpls in sorted(by_task.items())}


def templates_for(task: str, folder: str | None = None) -> tuple[Template, ...]:
    reg = registry(folder)
    if task not in reg:
        raise TemplateError(f"no templates for task {task!r}; tasks with templates: {', '.join(reg)}")
    return reg[task]


def by_id(versioned_id: str, folder: str | None = None) -> Template:
    for tpls in registry(folder).values():
        for tpl in tpls:
            if tpl.versioned_id == versioned_id:
                return tpl
    raise TemplateError(f"unknown template {versioned_id!r}")


def choose(example: Example, seed: int = 0, folder: str | None = None) -> Template:
    """The template of an example: a seeded hash of its identity, independent of row order."""
    tpls = templates_for(example.task, folder)
    key = f"{seed}\x1f{example.source}\x1f{example.source_id}\x1f{example.task}".encode("utf-8")
    return tpls[int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") % len(tpls)]


def render(example: Example, seed: int = 0, folder: str | None = None) -> Example:
    """Fill instruction/target (and their English copies) from the example's slots."""
    tpl = choose(example, seed, folder)
    instruction, target = tpl.render(example.slots)
    return dataclasses.replace(
        example,
        instruction=instruction,
        target=target,
        instruction_en=instruction,
        target_en=target,
        template_id=tpl.versioned_id,
    )
