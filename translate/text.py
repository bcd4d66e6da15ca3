"""Text helpers for translation: what passes through untranslated, and sentence splitting.

NLLB was trained on sentences of at most 512 tokens; mBLIP cut longer inputs silently. polymix
splits a text that is too long into sentences (and a sentence that is still too long into runs
of words), translates the pieces and joins them, so nothing is lost.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Callable

# Scripts written without spaces between sentences.
NO_SPACE_SCRIPTS = {"Hans", "Hant", "Jpan", "Thai", "Mymr", "Khmr", "Laoo"}

_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+")
_NUMBER = re.compile(r"^[\s\d.,:;/%+\-–×x()]*\d[\s\d.,:;/%+\-–×x()]*$")


def passthrough(text: str) -> bool:
    """True for strings that must not be translated: empty, whitespace, numbers, pure punctuation/symbols."""
    stripped = text.strip()
    if not stripped:
        return True
    if _NUMBER.match(stripped):
        return True
    return all(unicodedata.category(ch)[0] in "PSZ" for ch in stripped)


def no_space(lang: str) -> bool:
    """Whether ``lang`` (an NLLB code) is written without spaces between words."""
    return lang.rsplit("_", 1)[-1] in NO_SPACE_SCRIPTS


def joiner(tgt_lang: str) -> str:
    """What goes between translated pieces of one text in ``tgt_lang``."""
    return "" if no_space(tgt_lang) else " "


def split_long(text: str, n_tokens: Callable[[str], int], limit: int) -> list[str]:
    """Split ``text`` into pieces of at most ``limit`` tokens: by sentence, then by words."""
    if n_tokens(text) <= limit:
        return [text]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        if n_tokens(sentence) <= limit:
            pieces.append(sentence)
            continue
        words = sentence.split()
        current: list[str] = []
        for word in words:
            if current and n_tokens(" ".join(current + [word])) > limit:
                pieces.append(" ".join(current))
                current = []
            current.append(word)
        if current:
            pieces.append(" ".join(current))
    # merge neighbouring short sentences back while they fit: fewer, more natural pieces
    merged: list[str] = []
    for piece in pieces:
        if merged and n_tokens(merged[-1] + " " + piece) <= limit:
            merged[-1] = merged[-1] + " " + piece
        else:
            merged.append(piece)
    return merged
