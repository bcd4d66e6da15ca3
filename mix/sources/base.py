"""English sources: the base class, the registry, and the checks every source shares.

A source reads one English dataset (files in their official format, or a Hugging Face dataset)
and yields :class:`SourceItem` records: an image reference plus the *slots* that templates are
filled with (``caption``; ``question`` and ``answer``; ``choices``; ``rationale``). The base
class turns items into :class:`~polymix.schema.Example` rows, one per task the item can
feed, and turns bad items into counted rejections instead of crashes.

Add a source by subclassing :class:`Source`, declaring an ``Options`` dataclass (each field's
``metadata["help"]`` is what ``polymix sources`` prints for it) and decorating the class with :func:`register`.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar, Iterator

from polymix.errors import ConfigError  # noqa: F401  (the sources' configuration errors are the shared ones)
from polymix.schema import ENGLISH, TASK_SLOTS, Example, encode_slots
from polymix.stats import rejected_key

# Texts an item must have, non-empty, for the tasks that use them. An item that has none of a
# task's core slots does not feed that task (a caption item and ``vqa``); one that has some but
# an empty or missing other (a question without an answer) is rejected as ``empty_text``.
CORE_SLOTS = ("caption", "question", "answer")

IMAGE_CHECKS = ("off", "exists", "header")


class SourceFormatError(ValueError):
    """A source file is missing or not in the expected format; the message names both."""


@dataclasses.dataclass
class SourceItem:
    """One English item of a source, before templating."""

    source_id: str
    split: str
    image: str
    """Image path relative to the source's image root, or an http(s) URL."""
    slots: dict[str, Any]
    answers: list[str] = dataclasses.field(default_factory=list)
    """Every reference answer (VQA annotators' answers; for captions the caption itself)."""


@dataclasses.dataclass
class Rejection:
    """An item that cannot become an example, with the reason counted in the stats."""

    item: SourceItem
    task: str
    reason: str

    def to_example(self, source: str) -> Example:
        return Example(
            source=source,
            source_id=self.item.source_id,
            split=self.item.split,
            image=self.item.image,
            task=self.task,
            slots_en=encode_slots(self.item.slots),
            answers_en=[str(a) for a in self.item.answers],
        )


class Source(ABC):
    """Base class of English sources. Subclasses set ``name``, ``tasks`` and ``Options``."""

    name: ClassVar[str]
    description: ClassVar[str]
    formats: ClassVar[str] = ""
    """Human description of the accepted file formats (shown in errors and ``polymix sources``)."""
    tasks: ClassVar[tuple[str, ...]]
    default_tasks: ClassVar[tuple[str, ...]]
    writes_images: ClassVar[bool] = False
    """True for sources that write their images under the image root (shapes, hf): it need not exist yet."""

    @dataclasses.dataclass
    class Options:
        pass

    def __init__(self, image_root: str | Path | None = None, image_check: str = "header", **options: Any):
        if image_check not in IMAGE_CHECKS:
            raise ConfigError(f"image_check={image_check!r}: valid values are {', '.join(IMAGE_CHECKS)}")
        self.image_root = Path(image_root) if image_root is not None else None
        self.image_check = image_check
        self.options = build_options(self.Options, options, self.name)
        self.stats: Counter[str] = Counter()

    @abstractmethod
    def items(self) -> Iterator[SourceItem]:
        """Yield the English items in a deterministic order."""

    def prepare_images(self) -> None:
        """Hook for sources that make or fetch their images before ``items`` (``shapes``)."""

    # -- shared logic -----------------------------------------------------------------------
    def check_tasks(self, tasks: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
        chosen = tuple(tasks) if tasks else self.default_tasks
        bad = [t for t in chosen if t not in self.tasks]
        if bad:
            raise ConfigError(f"source {self.name!r} cannot feed task(s) {bad}; it feeds: {', '.join(self.tasks)}")
        return chosen

    def examples(self, tasks: tuple[str, ...] | list[str] | None = None) -> Iterator[Example | Rejection]:
        """English examples (one per item and task), or rejections with a reason."""
        chosen = self.check_tasks(tasks)
        for item in self.items():
            self.stats["items"] += 1
            image_problem = self.image_problem(item.image)
            fed = False
            for task in chosen:
                needed = TASK_SLOTS[task]
                core = [s for s in needed if s in CORE_SLOTS]
                if all(s not in item.slots for s in core):
                    continue  # e.g. a caption item and the vqa task: not this item's task
                fed = True
                if any(_empty(item.slots.get(s)) for s in core):
                    yield self._reject(item, task, "empty_text")
                    continue
                if any(_empty(item.slots.get(s)) for s in needed if s not in CORE_SLOTS):
                    continue  # optional extras (choices, rationale) absent: the item skips this task
                if image_problem:
                    yield self._reject(item, task, image_problem)
                    continue
                self.stats[f"examples_{task}"] += 1
                yield Example(
                    source=self.name,
                    source_id=item.source_id,
                    split=item.split,
                    image=item.image,
                    task=task,
                    lang=ENGLISH,
                    slots_en=encode_slots(item.slots),
                    answers_en=[str(a) for a in item.answers],
                )
            if not fed:
                self.stats["items_for_other_tasks"] += 1
        if self.stats["items"] and self.stats["items_for_other_tasks"] == self.stats["items"]:
            raise ConfigError(
                f"source {self.name!r}: none of its {self.stats['items']} items has the texts for task(s) "
                f"{', '.join(chosen)}"
                f" (slots {sorted({s for t in chosen for s in TASK_SLOTS[t]})}); check the field/column options"
            )

    def _reject(self, item: SourceItem, task: str, reason: str) -> Rejection:
        self.stats[rejected_key(reason)] += 1
        return Rejection(item, task, reason)

    def image_problem(self, image: str) -> str | None:
        """``None`` when the image is usable, else the rejection reason."""
        if not image:
            return "missing_image"
        if image.startswith(("http://", "https://")) or self.image_check == "off" or self.image_root is None:
            return None
        path = self.image_root / image
        if not path.is_file():
            return "missing_image"
        if self.image_check == "header":
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(path) as im:
                    im.verify()
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
                return "bad_image"
        return None


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return len(value) == 0
    return False


def build_options(cls: type, given: dict[str, Any], source: str) -> Any:
    """Build a source's Options dataclass, reporting every unknown or missing option at once."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    problems = [f"unknown option {k!r}" for k in given if k not in fields]
    required = [n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    problems += [f"missing option {n!r}" for n in required if given.get(n) in (None, "")]
    if problems:
        valid = ", ".join(f"{n}{'' if n not in required else ' (required)'}" for n in fields) or "none"
        raise ConfigError(f"source {source!r}: {'; '.join(problems)}. Options: {valid}")
    values = {}
    for name, value in given.items():
        default = fields[name].default
        if isinstance(default, bool) and isinstance(value, str):
            value = value.lower() in ("1", "true", "yes", "on")
        elif isinstance(default, (int, float)) and not isinstance(default, bool) and isinstance(value, str):
            kind = type(default)
            try:
                value = kind(value)
            except ValueError:
                problems.append(
                    f"option {name}={value!r} is not a{'n integer' if kind is int else ' number'} (e.g. -o {name}={default})"
                )
        values[name] = value
    if problems:
        raise ConfigError(f"source {source!r}: {'; '.join(problems)}")
    return cls(**values)


def load_json(path: str | Path, expected: str) -> Any:
    """Read a JSON file; a missing or malformed file names the file and the expected format."""
    path = Path(path)
    if not path.is_file():
        raise SourceFormatError(f"{path}: file not found (expected {expected})")
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SourceFormatError(f"{path}: not valid JSON ({err}); expected {expected}") from None


def require_keys(obj: Any, keys: tuple[str, ...], where: str, expected: str) -> None:
    if not isinstance(obj, dict) or any(k not in obj for k in keys):
        have = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise SourceFormatError(f"{where}: expected keys {list(keys)} ({expected}), found {have}")


# -- registry -------------------------------------------------------------------------------
_REGISTRY: dict[str, type[Source]] = {}


def register(cls: type[Source]) -> type[Source]:
    if cls.name in _REGISTRY:
        raise ValueError(f"source {cls.name!r} registered twice")
    unknown = [t for t in cls.tasks if t not in TASK_SLOTS]
    if unknown:
        raise ValueError(f"source {cls.name!r} declares unknown tasks {unknown}")
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[Source]]:
    import polymix.mix.sources  # noqa: F401  (registers the built-in sources)

    return dict(sorted(_REGISTRY.items()))


def get_source(name: str) -> type[Source]:
    sources = registry()
    if name not in sources:
        raise ConfigError(f"unknown source {name!r}. Valid sources: {', '.join(sources)}")
    return sources[name]


def option_help(cls: type[Source]) -> list[tuple[str, str, str]]:
    """(name, default, help) for each option of a source: help comes from field metadata."""
    out = []
    for f in dataclasses.fields(cls.Options):
        default = "(required)" if f.default is dataclasses.MISSING else repr(f.default)
        out.append((f.name, default, f.metadata.get("help", "")))
    return out
