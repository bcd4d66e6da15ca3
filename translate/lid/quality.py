"""Cheap quality signals of a machine translation, next to language ID (score first, decide later).

Each function measures one known failure of NLLB output; :mod:`polymix.translate.lid.filter`
holds the thresholds.

* untranslated: :func:`similarity` of the output to its English source (1.0 = the same text);
* empty: :func:`has_content` (letters or digits left after stripping);
* repetition: :func:`repeat_run` (the most consecutive copies of any n-gram, "I'm sorry, I'm
  sorry, I'm sorry" -> 3) and :func:`compression_ratio` (zlib bytes / raw bytes; loops compress well);
* length: :func:`length_ratio` (output characters / source characters);
* round trip: :func:`round_trip_matches` (a short answer translated back to English is one of
  the English reference answers).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
import zlib
from typing import Iterable

from polymix.translate.text import no_space

_SPACE = re.compile(r"\s+")
_ARTICLE = re.compile(r"^(a|an|the)\s+")


def _blank(ch: str) -> str:
    # punctuation, symbols, separators and controls become spaces; letters, marks (Indic vowel
    # signs) and digits stay
    return " " if unicodedata.category(ch)[0] in "PSZC" else ch


def normalize(text: str) -> str:
    """Casefolded, NFKC, punctuation replaced by single spaces: what "the same text" compares."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", "".join(map(_blank, folded))).strip()


def has_content(text: str) -> bool:
    """True when the text has a letter or a digit (an output of only spaces or dots is empty)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def similarity(output: str, source: str) -> float:
    """How close the output is to the English source, 0..1 (1.0: the same after :func:`normalize`)."""
    a, b = normalize(output), normalize(source)
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < 0.5 or matcher.quick_ratio() < 0.5:
        return matcher.quick_ratio() / 2  # far apart; the exact ratio is not needed
    return matcher.ratio()


_JOINERS = "-'’‐"


def _word_char(ch: str) -> str:
    # letters, marks (Indic vowel signs), digits and in-word joiners stay; the rest splits words
    return ch if ch in _JOINERS or unicodedata.category(ch)[0] in "LMN" else " "


def units(text: str, lang: str) -> list[str]:
    """Words with letters, or characters for scripts written without spaces (Chinese, Japanese, Thai, ...).

    A hyphenated word is one word: Cebuano "ang-ang", Indonesian "anak-anak" are reduplications,
    not a loop; numbers are not words ("U3.1.1.1" is no "1 1 1" loop, "2000年" no "0 0 0").
    """
    if no_space(lang):
        return [ch for ch in normalize(text) if not ch.isspace() and not ch.isdigit()]
    folded = "".join(map(_word_char, unicodedata.normalize("NFKC", text).casefold()))
    words = (w.strip(_JOINERS) for w in folded.split())
    return [w for w in words if w and any(unicodedata.category(ch)[0] == "L" for ch in w)]


def repeat_run(tokens: list[str], max_n: int = 8, min_units: int = 1) -> int:
    """The most consecutive copies of one n-gram (n <= ``max_n``) covering >= ``min_units`` units.

    ``"sorry sorry sorry"`` -> 3; ``"a man on a horse a man on a horse"`` -> 2; no repeat -> 1.
    """
    best = 1
    size = len(tokens)
    for n in range(1, max_n + 1):
        i = 0
        while i + 2 * n <= size:
            k = 1
            while tokens[i + k * n : i + (k + 1) * n] == tokens[i : i + n]:
                k += 1
            if k > 1 and k * n >= min_units:
                best = max(best, k)
                i += (k - 1) * n  # jump past the run; its later starts give shorter runs
            else:
                i += 1
    return best


def compression_ratio(text: str) -> float:
    """zlib-compressed bytes / UTF-8 bytes (about 0.4-0.7 for prose; a loop goes far lower)."""
    raw = text.encode("utf-8")
    return len(zlib.compress(raw, 9)) / len(raw) if raw else 1.0


def length_ratio(output: str, source: str) -> float:
    """Characters of the output (without spaces) per character of the source."""
    src = sum(not ch.isspace() for ch in source)
    return sum(not ch.isspace() for ch in output) / src if src else 1.0


def _answer_key(text: str) -> str:
    return _ARTICLE.sub("", normalize(text))


def round_trip_matches(back_translation: str, answers_en: Iterable[str]) -> bool:
    """True when the back-translated answer equals one English reference answer (articles ignored)."""
    key = _answer_key(back_translation)
    return bool(key) and any(key == _answer_key(a) for a in answers_en)
