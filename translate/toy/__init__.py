"""polymix's toy translation model: a tiny NLLB-format model that knows only the ``shapes`` domain.

It is trained by polymix itself (``python -m polymix.translate.toy.train``) on a synthetic
parallel corpus of the ``shapes`` source's captions, questions, answers and the instruction
template pieces, in English and seven other languages, and committed as a CTranslate2 folder
(``model/``, with an NLLB tokenizer carrying all 202 language codes). It lets the demo translate
for real with no network, and lets tests check exact translations. It knows nothing else:
:func:`check_toy_request` refuses other sources and languages instead of producing noise.

    from polymix.translate.toy import TOY_MODEL_DIR, check_toy_request, toy_model
    check_toy_request(["shapes"], ["deu_Latn", "fra_Latn"])
    translator = NllbTranslator(toy_model())
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from polymix.translate.model import ModelUnavailableError, ResolvedModel, fingerprint, is_ct2_folder
from polymix.translate.toy.languages import LEXICONS

TOY_NAME = "toy"
"""What ``--model`` / ``MODEL=`` say to select the toy model."""
TOY_MODEL_DIR = Path(__file__).resolve().parent / "model"
TOY_LANGUAGES: tuple[str, ...] = tuple(LEXICONS)
"""Target languages (NLLB codes); the source language is English (eng_Latn)."""
TOY_SOURCES: tuple[str, ...] = ("shapes",)
SOURCE_LANGUAGE = "eng_Latn"


class ToyModelError(ValueError):
    """A request the toy model cannot serve; the message says what it can do and what to pass instead."""


def check_toy_request(sources: Iterable[str], langs: Iterable[str]) -> None:
    """Raise :class:`ToyModelError` listing every source and language the toy model does not know."""
    bad_sources = sorted(set(sources) - set(TOY_SOURCES))
    bad_langs = sorted(set(langs) - set(TOY_LANGUAGES) - {SOURCE_LANGUAGE})
    if not bad_sources and not bad_langs:
        return
    problems = []
    if bad_sources:
        problems.append(f"source(s) {', '.join(bad_sources)}")
    if bad_langs:
        problems.append(f"language(s) {', '.join(bad_langs)}")
    raise ToyModelError(
        f"the toy model cannot translate {' and '.join(problems)}: it only knows the {', '.join(TOY_SOURCES)} domain "
        f"in {', '.join(TOY_LANGUAGES)} (from {SOURCE_LANGUAGE}); anything else would come out as noise. "
        "Pass --model <hub id or local NLLB folder> for real translation, or restrict the run to "
        f"--source {TOY_SOURCES[0]} --langs {','.join(TOY_LANGUAGES)}."
    )


def toy_model(quantization: str = "int8") -> ResolvedModel:
    """The committed toy model as a :class:`~polymix.translate.model.ResolvedModel` named ``toy``
    (so rows and caches record ``mt_model = toy@<fingerprint>:int8``)."""
    if not is_ct2_folder(TOY_MODEL_DIR):
        raise ModelUnavailableError(
            f"{TOY_MODEL_DIR}: the toy model is missing; rebuild it with "
            "`python -m polymix.translate.toy.train --out translate/toy/model --seed 0`"
        )
    return ResolvedModel(TOY_MODEL_DIR, TOY_NAME, fingerprint(TOY_MODEL_DIR), quantization)
