"""VQAv2, from the official question and annotation files.

Questions (``v2_OpenEnded_mscoco_train2014_questions.json``)::

    {"data_subtype": "train2014",
     "questions": [{"image_id": 458752, "question": "What is this ...?", "question_id": 458752000}]}

Annotations (``v2_mscoco_train2014_annotations.json``; absent for the test splits)::

    {"annotations": [{"question_id": 458752000, "image_id": 458752, "multiple_choice_answer": "net",
                      "answers": [{"answer": "net", "answer_confidence": "yes", "answer_id": 1}, ...]}]}

One item per question, in the questions file's order: ``source_id`` is the question id, the
``answer`` slot is the most frequent of the ten annotator answers (:func:`most_frequent_answer`,
ties broken by ``multiple_choice_answer``) and ``answers`` keeps all ten in annotator order.
Without an annotations file the items have no answer, so the base class rejects them
(``empty_text``). ``image`` is ``{subtype}/COCO_{subtype}_{image_id:012d}.jpg``, with the
subtype taken from ``data_subtype`` (``test-dev2015`` images live in ``test2015/``), so
``image_root`` is the folder holding ``train2014/``, ``val2014/`` and ``test2015/``.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator

from polymix.mix.sources.base import Source, SourceFormatError, SourceItem, load_json, register, require_keys

QUESTIONS = (
    "VQAv2 questions JSON (v2_OpenEnded_mscoco_<subtype>_questions.json: "
    '{"data_subtype", "questions": [{"image_id", "question", "question_id"}]})'
)
ANNOTATIONS = (
    "VQAv2 annotations JSON (v2_mscoco_<subtype>_annotations.json: "
    '{"annotations": [{"question_id", "multiple_choice_answer", "answers": [{"answer"}]}]})'
)
_SPLIT = re.compile(r"^(train|val|test)", re.IGNORECASE)


def _normalize(answer: Any) -> str:
    return " ".join(str(answer).split())


def most_frequent_answer(answers: Iterable[Any], prefer: Any = None) -> str:
    """The most frequent answer, counted after whitespace normalisation and lowercasing.

    A tie goes to ``prefer`` when it is among the tied answers, else to the tied answer that
    occurs first. The result is whitespace-normalised but keeps its case (that of its first
    occurrence, or of ``prefer``). No non-empty answer gives ``""``.
    """
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}  # lowercase key -> first spelling, in order of first occurrence
    for answer in answers:
        text = _normalize(answer)
        if not text:
            continue
        key = text.lower()
        counts[key] += 1
        first.setdefault(key, text)
    if not counts:
        return ""
    best = max(counts.values())
    tied = [key for key in first if counts[key] == best]
    if prefer is not None:
        preferred = _normalize(prefer)
        if preferred and preferred.lower() in tied:
            return preferred
    return first[tied[0]]


def split_of_subtype(subtype: str) -> str:
    """``train2014`` -> ``train``, ``val2014`` -> ``val``, ``test-dev2015`` -> ``test``."""
    match = _SPLIT.match(subtype)
    return match.group(1).lower() if match else subtype


@register
class VQAv2(Source):
    name = "vqav2"
    description = "VQAv2 open-ended questions with their ten annotator answers (official JSON files)"
    formats = f"{QUESTIONS}, plus optionally {ANNOTATIONS}"
    tasks = ("vqa", "vqg")
    default_tasks = ("vqa",)

    @dataclasses.dataclass
    class Options:
        questions: str = dataclasses.field(metadata={"help": "questions file, e.g. v2_OpenEnded_mscoco_train2014_questions.json"})
        annotations: str = dataclasses.field(
            default="",
            metadata={"help": "annotations file, e.g. v2_mscoco_train2014_annotations.json (none for test splits)"},
        )
        split: str = dataclasses.field(
            default="",
            metadata={"help": "split label (default: from data_subtype, e.g. train2014 -> train)"},
        )

    def items(self) -> Iterator[SourceItem]:
        qpath = Path(self.options.questions)
        qdata = load_json(qpath, QUESTIONS)
        require_keys(qdata, ("data_subtype", "questions"), str(qpath), QUESTIONS)
        subtype = str(qdata["data_subtype"])
        image_subtype = "test2015" if subtype.startswith("test-dev") else subtype
        split = self.options.split or split_of_subtype(subtype)
        by_question = self._annotations(subtype) if self.options.annotations else None

        for i, q in enumerate(qdata["questions"]):
            require_keys(q, ("image_id", "question", "question_id"), f"{qpath}: questions[{i}]", QUESTIONS)
            slots: dict[str, Any] = {"question": str(q["question"] or "").strip()}
            answers: list[str] = []
            if by_question is not None:
                ann = by_question.get(q["question_id"])
                if ann is None:
                    raise SourceFormatError(
                        f"{self.options.annotations}: no annotation for question_id {q['question_id']} of {qpath} "
                        f"(are the two files of the same split?); expected {ANNOTATIONS}"
                    )
                answers = [_normalize(a.get("answer", "") if isinstance(a, dict) else a) for a in ann["answers"]]
                slots["answer"] = most_frequent_answer(answers, prefer=ann.get("multiple_choice_answer"))
            yield SourceItem(
                source_id=str(q["question_id"]),
                split=split,
                image=f"{image_subtype}/COCO_{image_subtype}_{int(q['image_id']):012d}.jpg",
                slots=slots,
                answers=answers,
            )

    def _annotations(self, subtype: str) -> dict[Any, dict[str, Any]]:
        """question_id -> annotation (the dict points at the loaded objects; nothing is copied)."""
        apath = Path(self.options.annotations)
        adata = load_json(apath, ANNOTATIONS)
        require_keys(adata, ("annotations",), str(apath), ANNOTATIONS)
        other = adata.get("data_subtype")
        if other is not None and str(other) != subtype:
            raise SourceFormatError(
                f"{apath}: data_subtype {other!r} does not match {subtype!r} of {self.options.questions}; "
                f"expected the {ANNOTATIONS} of the same split"
            )
        by_question: dict[Any, dict[str, Any]] = {}
        for i, ann in enumerate(adata["annotations"]):
            require_keys(ann, ("question_id", "answers"), f"{apath}: annotations[{i}]", ANNOTATIONS)
            by_question[ann["question_id"]] = ann
        return by_question
