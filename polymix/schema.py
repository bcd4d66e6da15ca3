"""The row schema of a polymix example: the one place that defines columns.

Every stage (sources, templates, translation, language ID, shards, trainer) reads and writes
rows of this schema. An :class:`Example` is the Python record; :data:`SCHEMA` is its Arrow
schema; :func:`to_table` / :func:`from_table` convert between the two. Rejected rows carry the
same columns plus ``reason`` (:data:`REJECTED_SCHEMA`).

Columns
-------
id            stable id: hash of (source, source_id, task, lang), see :func:`make_id`
source        registry name of the English source (``coco``, ``vqav2``, ``shapes``, ...)
source_id     id of the item inside its source (caption id, question id, ...)
split         the source's split (``train``, ``val``, ``test``, ``restval``, ...)
image         image path relative to the source's declared image root, or an http(s) URL
task          instruction task (``caption``, ``vqa``, ...; see ``templates/``)
lang          NLLB-200 code of ``instruction``/``target`` (``eng_Latn`` before translation)
instruction   the instruction shown to the model, in ``lang``
target        the expected answer, in ``lang``
instruction_en, target_en   the English originals
template_id   versioned id of the instruction template (``caption.03.v1``)
slots_en      JSON object of the English values the template was filled with
              (``{"caption": ...}``, ``{"question": ..., "answer": ...}``, choices, rationales)
answers_en    every English reference answer (VQA: all annotator answers; captions: the caption)
mt_model      translation model that produced the row (null for English rows)
lid_label     language-ID label of the translated text (null until scored)
lid_score     language-ID probability of ``lid_label`` (null until scored)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Iterable

import pyarrow as pa

ENGLISH = "eng_Latn"

SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("image", pa.string(), nullable=False),
        pa.field("task", pa.string(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("instruction", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),
        pa.field("instruction_en", pa.string(), nullable=False),
        pa.field("target_en", pa.string(), nullable=False),
        pa.field("template_id", pa.string(), nullable=False),
        pa.field("slots_en", pa.string(), nullable=False),
        pa.field("answers_en", pa.list_(pa.string()), nullable=False),
        pa.field("mt_model", pa.string(), nullable=True),
        pa.field("lid_label", pa.string(), nullable=True),
        pa.field("lid_score", pa.float32(), nullable=True),
    ]
)

COLUMNS: tuple[str, ...] = tuple(SCHEMA.names)

# Rejected rows keep every column (so a rejected row can be inspected or re-admitted) plus why.
REJECTED_SCHEMA = SCHEMA.append(pa.field("reason", pa.string(), nullable=False))


def make_id(source: str, source_id: str, task: str, lang: str) -> str:
    """Stable id of an example: the same inputs give the same id on every machine and run."""
    key = "\x1f".join((source, str(source_id), task, lang)).encode("utf-8")
    return hashlib.blake2b(key, digest_size=12).hexdigest()


@dataclasses.dataclass(slots=True)
class Example:
    """One instruction example; field order and meaning follow :data:`SCHEMA`."""

    source: str
    source_id: str
    split: str
    image: str
    task: str
    lang: str = ENGLISH
    instruction: str = ""
    target: str = ""
    instruction_en: str = ""
    target_en: str = ""
    template_id: str = ""
    slots_en: str = "{}"
    answers_en: list[str] = dataclasses.field(default_factory=list)
    mt_model: str | None = None
    lid_label: str | None = None
    lid_score: float | None = None
    id: str = ""

    def __post_init__(self) -> None:
        self.source_id = str(self.source_id)
        if not self.id:
            self.id = make_id(self.source, self.source_id, self.task, self.lang)

    @property
    def slots(self) -> dict[str, Any]:
        """The template slot values (decoded ``slots_en``)."""
        return json.loads(self.slots_en)

    def with_lang(self, lang: str, **changes: Any) -> "Example":
        """A copy in another language; the id is recomputed for the new language."""
        return dataclasses.replace(self, lang=lang, id=make_id(self.source, self.source_id, self.task, lang), **changes)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COLUMNS}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "Example":
        return cls(**{name: row[name] for name in COLUMNS if name in row})


def encode_slots(slots: dict[str, Any]) -> str:
    """Canonical JSON for ``slots_en`` (sorted keys, UTF-8 kept readable)."""
    return json.dumps(slots, ensure_ascii=False, sort_keys=True)


def to_table(examples: Iterable[Example], reasons: Iterable[str] | None = None) -> pa.Table:
    """Arrow table of examples (with a ``reason`` column when ``reasons`` is given)."""
    rows = [e.to_dict() for e in examples]
    columns = {name: [r[name] for r in rows] for name in COLUMNS}
    if reasons is None:
        return pa.Table.from_pydict(columns, schema=SCHEMA)
    columns["reason"] = list(reasons)
    return pa.Table.from_pydict(columns, schema=REJECTED_SCHEMA)


def from_table(table: pa.Table) -> list[Example]:
    """Examples from an Arrow table that has (at least) the schema's columns."""
    missing = [name for name in COLUMNS if name not in table.column_names]
    if missing:
        raise ValueError(f"table is not a polymix mix: missing columns {missing}")
    return [Example.from_dict(row) for row in table.select(list(COLUMNS)).to_pylist()]


def conform(table: pa.Table, schema: pa.Schema = SCHEMA) -> pa.Table:
    """Reorder and cast ``table`` to ``schema``; an unknown or missing column is an error."""
    extra = [n for n in table.column_names if n not in schema.names]
    missing = [n for n in schema.names if n not in table.column_names]
    if extra or missing:
        raise ValueError(f"table does not match the polymix schema: missing {missing}, unexpected {extra}")
    return table.select(schema.names).cast(schema)


# What each task needs from an item. Templates for a task may use exactly these slots.
TASK_SLOTS: dict[str, tuple[str, ...]] = {
    "caption": ("caption",),
    "short_caption": ("caption",),
    "vqa": ("question", "answer"),
    "vqg": ("question", "answer"),
    "vqa_mc": ("question", "choices", "correct_choice"),
    "vqa_rationale": ("question", "answer", "rationale"),
}
