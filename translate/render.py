"""Translate an example through its template: template text once per language, slots per example.

An English example stores its template id and slot values (``slots_en``). Rather than sending
each rendered instruction ("What color is the cat? Short answer:") to the model, polymix
translates the template's literal pieces ("Short answer:") once per language (they hit the
cache from then on) and the slot values (the question, the answer) per example, then renders
the template with the translations. Rows whose template is unknown (made by other tools) are
translated as whole texts.
"""

from __future__ import annotations

import string
from typing import Any, Callable

from polymix.schema import Example
from polymix.templates import Template, TemplateError, by_id


def _parts(text: str) -> list[tuple[str, str | None]]:
    return [(literal, field) for literal, field, _, _ in string.Formatter().parse(text)]


def _core(literal: str) -> tuple[str, str, str]:
    """(leading space, text, trailing space) of a literal piece."""
    stripped = literal.strip()
    if not stripped:
        return literal, "", ""
    start = literal.index(stripped)
    return literal[:start], stripped, literal[start + len(stripped) :]


def _template(example: Example) -> Template | None:
    try:
        return by_id(example.template_id) if example.template_id else None
    except TemplateError:
        return None


def _slot_strings(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v).strip() for v in value]
    return [str(value).strip()]


def strings_needed(example: Example) -> list[str]:
    """Every English string the translated example is made of."""
    tpl = _template(example)
    if tpl is None:
        return [example.instruction_en, example.target_en]
    out: list[str] = []
    for text in (tpl.instruction, tpl.target):
        for literal, field in _parts(text):
            core = _core(literal)[1]
            if core:
                out.append(core)
            if field:
                out.extend(_slot_strings(example.slots[field]))
    return out


def render_translated(example: Example, lookup: Callable[[str], str]) -> tuple[str, str]:
    """(instruction, target) in the target language, given ``lookup(english) -> translation``."""
    tpl = _template(example)
    if tpl is None:
        return lookup(example.instruction_en), lookup(example.target_en)
    slots = example.slots

    def fill(text: str) -> str:
        pieces: list[str] = []
        for literal, field in _parts(text):
            lead, core, trail = _core(literal)
            pieces.append(lead + (lookup(core) if core else "") + trail)
            if field:
                translated = [lookup(s) for s in _slot_strings(slots[field])]
                pieces.append(", ".join(translated) if isinstance(slots[field], (list, tuple)) else translated[0])
        return "".join(pieces).strip()

    return fill(tpl.instruction), fill(tpl.target)
