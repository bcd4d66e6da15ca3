"""Any image-caption or image-question-answer table, from a JSON Lines or CSV/TSV file.

The file format is chosen by suffix: ``.jsonl`` / ``.json-lines`` / ``.ndjson`` (one JSON object
per line; blank lines are skipped), ``.csv`` (comma separated, header row) or ``.tsv`` (tab
separated, header row). Field names are options; with the defaults a row looks like::

    {"id": "a1", "image": "imgs/dog.jpg", "caption": "A dog on a beach.", "split": "val"}
    {"image": "imgs/cat.jpg", "question": "What color is the cat?", "answer": "black"}

A row may carry a caption, a question and an answer, or both. Slots get whichever are present
(strings are stripped); the reference answers are ``[answer]`` when the row has an answer, else
``[caption]``. In JSON Lines a caption may also be a list (one item per caption, ``source_id``
``{id}-{k}``) and an answer may be a list of annotator answers (the slot gets the most common
one, ties going to the earliest; ``answers`` keeps all of them).

``source_id`` is the ``id_field`` value, or the 0-based row number (JSON Lines: the number of
the non-blank line, CSV: the data row after the header) when the row has none. ``split`` is the
``split_field`` value, else the ``split`` option. ``image`` is taken as is (relative to the
image root, or an http(s) URL); a row without one is rejected as ``missing_image``.

Without explicit tasks, the first row decides: ``caption`` when it has the caption field, else
``vqa`` when it has the question and answer fields.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from polymix.mix.sources.base import Source, SourceFormatError, SourceItem, register

JSONL_SUFFIXES = (".jsonl", ".json-lines", ".ndjson")
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}
ACCEPTED = ", ".join((*JSONL_SUFFIXES, *CSV_SUFFIXES))


def _text(value: Any) -> str:
    """A field value as stripped text ('' for missing/null)."""
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value).strip()


def pick_answer(answers: list[str]) -> str:
    """The most common answer (ties: the earliest); '' for none."""
    if not answers:
        return ""
    counts = Counter(answers)
    return max(answers, key=lambda a: (counts[a], -answers.index(a)))


@register
class GenericSource(Source):
    name = "generic"
    description = "Any image-caption / image-question-answer table in a JSON Lines or CSV/TSV file"
    formats = (
        f"JSON Lines ({', '.join(JSONL_SUFFIXES)}: one object per line) or CSV/TSV with a header row "
        "(.csv, .tsv); fields named by the *_field options"
    )
    tasks = ("caption", "short_caption", "vqa", "vqg")
    default_tasks = ("caption",)

    @dataclasses.dataclass
    class Options:
        path: str = dataclasses.field(
            metadata={"help": f"the JSON Lines or CSV/TSV file (format by suffix: {ACCEPTED})"},
        )
        image_field: str = dataclasses.field(
            default="image", metadata={"help": "field with the image path (relative to the image root) or URL"}
        )
        caption_field: str = dataclasses.field(default="caption", metadata={"help": "field with the caption"})
        question_field: str = dataclasses.field(default="question", metadata={"help": "field with the question"})
        answer_field: str = dataclasses.field(default="answer", metadata={"help": "field with the answer"})
        id_field: str = dataclasses.field(
            default="id", metadata={"help": "field with the item id (rows without it get their 0-based row number)"}
        )
        split_field: str = dataclasses.field(default="split", metadata={"help": "field with the split"})
        split: str = dataclasses.field(default="train", metadata={"help": "split of rows that have no split field"})

    # -- reading ----------------------------------------------------------------------------
    def _rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(0-based row number, row) in file order; format errors name the file and line."""
        path = Path(self.options.path)
        suffix = path.suffix.lower()
        if suffix not in JSONL_SUFFIXES and suffix not in CSV_SUFFIXES:
            raise SourceFormatError(f"{path}: unknown file type {suffix or '(no suffix)'!r}; accepted suffixes: {ACCEPTED}")
        if not path.is_file():
            raise SourceFormatError(f"{path}: file not found (expected {self.formats})")
        try:
            if suffix in JSONL_SUFFIXES:
                yield from self._jsonl(path)
            else:
                yield from self._csv(path, CSV_SUFFIXES[suffix])
        except UnicodeDecodeError as err:
            raise SourceFormatError(f"{path}: not UTF-8 text ({err}); expected {self.formats}") from None

    @staticmethod
    def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        row = 0
        with open(path, encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as err:
                    raise SourceFormatError(f"{path}:{lineno}: line {lineno} is not valid JSON ({err.msg})") from None
                if not isinstance(obj, dict):
                    raise SourceFormatError(f"{path}:{lineno}: line {lineno} is a JSON {type(obj).__name__}, expected an object")
                yield row, obj
                row += 1

    @staticmethod
    def _csv(path: Path, delimiter: str) -> Iterator[tuple[int, dict[str, Any]]]:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=delimiter)
            try:
                for row, obj in enumerate(reader):
                    obj.pop(None, None)  # surplus cells of a long row
                    yield row, obj
            except csv.Error as err:
                raise SourceFormatError(f"{path}:{reader.line_num}: not valid CSV ({err})") from None

    def _first_fields(self) -> list[str]:
        path = Path(self.options.path)
        if path.suffix.lower() in CSV_SUFFIXES and path.is_file():
            with open(path, encoding="utf-8-sig", newline="") as fh:
                return list(csv.DictReader(fh, delimiter=CSV_SUFFIXES[path.suffix.lower()]).fieldnames or [])
        for _, row in self._rows():
            return list(row)
        return []

    # -- tasks ------------------------------------------------------------------------------
    def check_tasks(self, tasks: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
        if tasks:
            return super().check_tasks(tasks)
        o = self.options
        fields = self._first_fields()
        if o.caption_field in fields:
            return ("caption",)
        if o.question_field in fields and o.answer_field in fields:
            return ("vqa",)
        raise SourceFormatError(
            f"{o.path}: cannot choose a task: looked for a caption field {o.caption_field!r} or question/answer "
            f"fields {o.question_field!r}/{o.answer_field!r} in the first row, found {fields or 'no rows'}; "
            "set caption_field/question_field/answer_field or pass tasks"
        )

    # -- items ------------------------------------------------------------------------------
    def items(self) -> Iterator[SourceItem]:
        o = self.options
        for number, row in self._rows():
            row_id = _text(row.get(o.id_field)) or str(number)
            split = _text(row.get(o.split_field)) or o.split
            image = _text(row.get(o.image_field))
            question = _text(row[o.question_field]) if o.question_field in row else None
            raw_answer = row.get(o.answer_field)
            if isinstance(raw_answer, list):
                answers = [a for a in (_text(x) for x in raw_answer) if a]
                answer: str | None = pick_answer(answers)
            else:
                answer = _text(raw_answer) if o.answer_field in row else None
                answers = [answer] if answer else []
            raw_caption = row.get(o.caption_field)
            if isinstance(raw_caption, list):
                captions = [(f"{row_id}-{k}", _text(c)) for k, c in enumerate(raw_caption)]
            else:
                captions = [(row_id, _text(raw_caption) if o.caption_field in row else None)]
            for source_id, caption in captions:
                slots = make_slots(caption, question, answer)
                yield SourceItem(source_id, split, image, slots, list(answers) or ([caption] if caption else []))


def make_slots(caption: str | None, question: str | None, answer: str | None) -> dict[str, Any]:
    """Slots of a row from its stripped texts (None: the field is absent, '': present but empty).

    Non-empty texts become slots; a question without an answer (or the reverse) keeps both so
    the base class rejects it as ``empty_text``; a row with no text at all keeps its empty
    fields for the same reason. An empty caption next to a question and answer is just absent.
    """
    slots: dict[str, Any] = {}
    if caption:
        slots["caption"] = caption
    if question or answer:
        slots["question"] = question or ""
        slots["answer"] = answer or ""
    if not slots:
        slots = {k: "" for k, v in (("caption", caption), ("question", question), ("answer", answer)) if v is not None}
    return slots
