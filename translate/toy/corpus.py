"""The toy model's synthetic parallel corpus: every English string of the ``shapes`` domain, translated.

The English side comes from polymix itself: captions from ``shapes.caption`` over every scene
(1-3 objects x 6 colours x 3 shapes, 3 backgrounds: 18,522 captions), questions and answers from
``shapes.questions``, and the literal template pieces from ``render.strings_needed`` on examples
of every template of the tasks ``shapes`` feeds. The other side comes from the hand-written
lexicons in :mod:`polymix.translate.toy.languages`. A string without a translation is an error,
so a change in the source or the templates shows up here, not as noise in a mix.

Held-out split: a caption is held out when a hash of its English text falls in the first
``HELDOUT_PERCENT`` of 100 buckets; held-out captions are never trained on (not even by
sentencepiece). Questions, answers and template pieces form a closed set of 50 strings that the
model must know exactly, so they are all trained on.

    python -m polymix.translate.toy.corpus        # prints counts and a few pairs per language
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import random

from polymix.schema import Example, encode_slots
from polymix.mix.sources import shapes
from polymix.templates import registry
from polymix.translate.render import strings_needed
from polymix.translate.text import passthrough
from polymix.translate.toy.languages import LEXICONS

ENGLISH = "eng_Latn"
HELDOUT_PERCENT = 10
_SLOT = "\x00slot\x00"


def all_scenes() -> list[shapes.Scene]:
    """Every scene the ``shapes`` source can draw, in a fixed order."""
    objects = list(itertools.product(shapes.COLORS, shapes.SHAPES))
    return [
        shapes.Scene(background, combo)
        for count in (1, 2, 3)
        for background in shapes.BACKGROUNDS
        for combo in itertools.product(objects, repeat=count)
    ]


def is_heldout(english: str) -> bool:
    digest = hashlib.blake2b(english.encode("utf-8"), digest_size=8, person=b"polymix-toy").digest()
    return int.from_bytes(digest, "big") % 100 < HELDOUT_PERCENT


@functools.cache
def template_pieces() -> tuple[str, ...]:
    """The literal template pieces polymix sends to the model for the tasks ``shapes`` feeds."""
    out: dict[str, None] = {}
    slots = {"caption": _SLOT, "question": _SLOT, "answer": _SLOT}
    for task in shapes.ShapesSource.tasks:
        for tpl in registry()[task]:
            ex = Example("shapes", "0", "train", "x.png", task, template_id=tpl.versioned_id, slots_en=encode_slots(slots))
            out.update((s, None) for s in strings_needed(ex) if s != _SLOT and not passthrough(s))
    return tuple(out)


@functools.cache
def short_strings() -> tuple[str, ...]:
    """Every question and answer of the ``shapes`` source (in first-seen order)."""
    out: dict[str, None] = {}
    for scene in all_scenes():
        for question, answer in shapes.questions(scene):
            out[question] = out[answer] = None
    return tuple(out)


def translate(english: str, lang: str, scene: shapes.Scene | None = None) -> str:
    """The reference translation of one English string (pass ``scene`` for a caption)."""
    lex = LEXICONS[lang]
    if scene is not None:
        return lex.caption(scene.background, scene.objects)
    for table in (lex.questions, lex.answers, lex.pieces):
        if english in table:
            return table[english]
    raise KeyError(f"no {lex.name} translation of {english!r} in polymix.translate.toy.languages")


@functools.cache
def reference_table(lang: str) -> dict[str, str]:
    """English -> ``lang`` for every string of the domain (captions, questions, answers, pieces)."""
    table = {shapes.caption(scene): translate("", lang, scene) for scene in all_scenes()}
    table.update({text: translate(text, lang) for text in (*short_strings(), *template_pieces())})
    return table


@dataclasses.dataclass(frozen=True)
class CorpusSettings:
    """What the toy model is trained on."""

    three_object_captions: int = 2000
    """3-object captions sampled per language (of 15,675 not held out); 1- and 2-object ones are all used"""
    short_repeats: int = 16
    """times each question, answer and template piece is repeated per language"""
    heldout_three_object: int = 120
    """3-object held-out captions in the evaluation set (1- and 2-object ones are all used)"""


def training_pairs(langs: list[str], seed: int = 0, settings: CorpusSettings = CorpusSettings()) -> list[tuple[str, str, str]]:
    """(target language, English, translation) training pairs, a pure function of the arguments."""
    rng = random.Random(f"toy-corpus/{seed}")
    scenes = [s for s in all_scenes() if not is_heldout(shapes.caption(s))]
    small = [s for s in scenes if len(s.objects) < 3]
    large = [s for s in scenes if len(s.objects) == 3]
    pairs: list[tuple[str, str, str]] = []
    for lang in langs:
        picked = small + rng.sample(large, settings.three_object_captions)
        pairs += [(lang, shapes.caption(s), translate("", lang, s)) for s in picked]
        for text in (*short_strings(), *template_pieces()):
            pairs += [(lang, text, translate(text, lang))] * settings.short_repeats
    return pairs


def corpus_digest(pairs: list[tuple[str, str, str]]) -> str:
    """sha256 of the pairs, in order: the model card records it, a test compares."""
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update("\x1f".join(pair).encode("utf-8") + b"\x1e")
    return digest.hexdigest()


def heldout_pairs(langs: list[str], settings: CorpusSettings = CorpusSettings()) -> list[tuple[str, str, str]]:
    """(target language, English caption, reference) for the held-out captions: every 1- and
    2-object one and a fixed sample of 3-object ones; the same English for every language."""
    held = [s for s in all_scenes() if is_heldout(shapes.caption(s))]
    large = [s for s in held if len(s.objects) == 3]
    picked = [s for s in held if len(s.objects) < 3] + random.Random("toy-heldout").sample(large, settings.heldout_three_object)
    return [(lang, shapes.caption(s), translate("", lang, s)) for lang in langs for s in picked]


def main() -> None:
    langs = list(LEXICONS)
    train, held = training_pairs(langs), heldout_pairs(langs)
    n_captions = len(all_scenes())
    print(
        f"{n_captions} captions ({sum(is_heldout(shapes.caption(s)) for s in all_scenes())} held out), "
        f"{len(short_strings())} questions/answers, {len(template_pieces())} template pieces"
    )
    print(f"{len(train)} training pairs, {len(held)} held-out pairs, languages: {', '.join(langs)}")
    for lang in langs:
        table = reference_table(lang)
        for english in ("A red circle and a blue square on a white background.", "Is there a square?", "Short answer:"):
            print(f"  {lang}  {english!r} -> {table[english]!r}")


if __name__ == "__main__":
    main()
