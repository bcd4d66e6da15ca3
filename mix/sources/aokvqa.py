"""A-OKVQA, from the official ``aokvqa_v1p0_{train,val,test}.json`` files.

Each file is a JSON list of questions::

    [{"split": "train", "image_id": 299207, "question_id": "22MexNkBPpdZGX6sxbxVBH",
      "question": "What is the man by the bags awaiting?",
      "choices": ["skateboarder", "train", "delivery", "cab"], "correct_choice_idx": 3,
      "direct_answers": ["ride", "ride", "bus", ...], "difficult_direct_answer": false,
      "rationales": ["A train would not be on the street ...", ...]}, ...]

One item per question, in file order; ``source_id`` is the question id. Slots: ``question``;
``answer``, the most frequent direct answer (ties go to the correct choice, see
:func:`~polymix.mix.sources.vqav2.most_frequent_answer`; with no direct answers, the correct
choice); ``choices``; ``correct_choice`` (the choice string); ``rationale`` (the first one).
The test split has no answers or rationales, so those slots are absent there and the base class
rejects its ``vqa`` items as ``empty_text`` and skips ``vqa_rationale``. ``answers`` are the ten
direct answers. ``image`` is ``{split}2017/{image_id:012d}.jpg`` (the COCO 2017 layout the
A-OKVQA tools expect, ``image_root`` holding ``train2017/``, ``val2017/``, ``test2017/``), or
just ``{image_id:012d}.jpg`` with ``coco_layout=false``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Iterator

from polymix.mix.sources.base import Source, SourceFormatError, SourceItem, load_json, register, require_keys
from polymix.mix.sources.vqav2 import most_frequent_answer

AOKVQA_FORMAT = (
    'A-OKVQA JSON list (aokvqa_v1p0_<split>.json: [{"split", "image_id", "question_id", "question", '
    '"choices", "correct_choice_idx", "direct_answers", "rationales"}])'
)


@register
class AOKVQA(Source):
    name = "aokvqa"
    description = "A-OKVQA: questions with direct answers, multiple choices and rationales (official JSON)"
    formats = AOKVQA_FORMAT
    tasks = ("vqa", "vqa_mc", "vqa_rationale")
    default_tasks = ("vqa", "vqa_mc", "vqa_rationale")

    @dataclasses.dataclass
    class Options:
        path: str = dataclasses.field(metadata={"help": "A-OKVQA file, e.g. aokvqa_v1p0_train.json"})
        coco_layout: bool = dataclasses.field(
            default=True,
            metadata={"help": "image = <split>2017/<image_id:012d>.jpg (COCO 2017 folders); false: <image_id:012d>.jpg"},
        )

    def items(self) -> Iterator[SourceItem]:
        path = Path(self.options.path)
        data = load_json(path, AOKVQA_FORMAT)
        if not isinstance(data, list):
            raise SourceFormatError(f"{path}: expected {AOKVQA_FORMAT}, found a JSON {type(data).__name__}")
        for i, record in enumerate(data):
            where = f"{path}: [{i}]"
            require_keys(record, ("split", "image_id", "question_id", "question"), where, AOKVQA_FORMAT)
            yield SourceItem(
                source_id=str(record["question_id"]),
                split=str(record["split"]),
                image=self._image(record),
                slots=self._slots(record, where),
                answers=[str(a) for a in record.get("direct_answers") or []],
            )

    def _image(self, record: dict[str, Any]) -> str:
        name = f"{int(record['image_id']):012d}.jpg"
        return f"{record['split']}2017/{name}" if self.options.coco_layout else name

    def _slots(self, record: dict[str, Any], where: str) -> dict[str, Any]:
        slots: dict[str, Any] = {"question": str(record["question"] or "").strip()}
        choices = [str(c) for c in record.get("choices") or []]
        correct = None
        idx = record.get("correct_choice_idx")
        if idx is not None:
            if not isinstance(idx, int) or not 0 <= idx < len(choices):
                raise SourceFormatError(
                    f"{where}: correct_choice_idx {idx!r} is not an index of choices {choices}; expected {AOKVQA_FORMAT}"
                )
            correct = choices[idx]
        answer = most_frequent_answer(record.get("direct_answers") or [], prefer=correct) or (correct or "")
        if answer:
            slots["answer"] = answer
        if choices:
            slots["choices"] = choices
        if correct is not None:
            slots["correct_choice"] = correct
        rationales = record.get("rationales") or []
        if rationales and str(rationales[0]).strip():
            slots["rationale"] = str(rationales[0]).strip()
        return slots
