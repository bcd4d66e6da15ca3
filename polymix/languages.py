"""The language registry: mBLIP's 95 target languages plus English.

Data lives in ``languages.tsv`` beside this module (copied from mBLIP's translation scripts,
with ISO codes, script and langid codes added). Use :func:`get` for one language,
:func:`resolve` to turn what a user typed (``all``, NLLB codes, ISO 639-1 codes, a comma list)
into NLLB codes, and :func:`mc4_distribution` for mBLIP's sampling distribution.

    >>> resolve("de,fr")
    ['deu_Latn', 'fra_Latn']
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from pathlib import Path
from typing import Iterable

ENGLISH = "eng_Latn"


@dataclasses.dataclass(frozen=True)
class Language:
    nllb: str
    """NLLB-200 code (``deu_Latn``): what polymix stores in ``lang`` and passes to the translator."""
    name: str
    iso639_1: str
    """ISO 639-1 code, or "" where the language has none (Cebuano)."""
    iso639_3: str
    script: str
    """ISO 15924 script code (``Latn``, ``Cyrl``, ...)."""
    script_name: str
    mc4_code: str
    """The code mBLIP's scripts and mC4 use (``iw`` for Hebrew, ``fil`` for Filipino)."""
    mc4_share: float
    """Share of mC4 in percent: mBLIP's sampling distribution (English keeps ~43.8%)."""
    langid: str
    """langid.py label for this language, or "" where langid does not know it."""
    nllb_mblip: str
    """The NLLB code mBLIP translated into (differs for Chinese: ``zho_Hant``)."""


class UnknownLanguageError(ValueError):
    """A language code that is not in the registry; the message lists the valid codes."""


@functools.cache
def _table() -> dict[str, Language]:
    path = Path(__file__).with_name("languages.tsv")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
    table: dict[str, Language] = {}
    for row in csv.DictReader(lines, delimiter="\t"):
        lang = Language(
            nllb=row["nllb"],
            name=row["name"],
            iso639_1=row["iso639_1"],
            iso639_3=row["iso639_3"],
            script=row["script"],
            script_name=row["script_name"],
            mc4_code=row["mc4_code"],
            mc4_share=float(row["mc4_share_percent"]),
            langid=row["langid"],
            nllb_mblip=row["nllb_mblip"],
        )
        table[lang.nllb] = lang
    return table


def languages(include_english: bool = True) -> list[Language]:
    """All registry languages in mC4-share order (English first)."""
    return [lang for lang in _table().values() if include_english or lang.nllb != ENGLISH]


def targets() -> list[str]:
    """The 95 target languages (NLLB codes): what ``LANGS=all`` means."""
    return [lang.nllb for lang in languages(include_english=False)]


@functools.cache
def _lookup() -> dict[str, str]:
    """Every accepted spelling -> canonical NLLB code."""
    out: dict[str, str] = {}
    for lang in _table().values():
        for key in (lang.nllb, lang.iso639_1, lang.mc4_code, lang.nllb_mblip):
            if key:
                out.setdefault(key.lower(), lang.nllb)
    # zho_Hant is a real NLLB target, kept as itself so users can reproduce mBLIP exactly.
    out["zho_hant"] = "zho_Hant"
    return out


def suggest(code: str, n: int = 4) -> list[str]:
    """The valid codes nearest to an unknown one: its name (``german``), its ISO 639-3 stem
    (``rus``), then the closest names and spellings."""
    import difflib

    key = code.strip().lower()
    by_name = {lang.name.lower(): lang.nllb for lang in _table().values()}
    found = [c for name, c in by_name.items() if name == key or (len(key) >= 4 and name.startswith(key))]
    found += [c for c in _lookup().values() if len(key) >= 3 and c.lower().startswith(key[:3])]
    found += [by_name[k] for k in difflib.get_close_matches(key, list(by_name), n=n, cutoff=0.6)]
    found += [_lookup()[k] for k in difflib.get_close_matches(key, list(_lookup()), n=n, cutoff=0.5)]
    return list(dict.fromkeys(found))[:n]


def _unknown(bad: list[str]) -> str:
    hints = []
    for item in bad:
        near = suggest(item)
        hints.append(f"{item!r}" + (f" (did you mean {', '.join(f'{c} ({get(c).name})' for c in near)}?)" if near else ""))
    return (
        f"unknown language(s) {'; '.join(hints)}. Codes are NLLB (deu_Latn), ISO 639-1 (de) or mC4 codes, "
        "or 'all'; `polymix langs` lists the 96"
    )


def get(code: str) -> Language:
    """The language for an NLLB, ISO 639-1 or mC4 code; ``zho_Hant`` maps to Chinese."""
    nllb = normalize(code)
    if nllb == "zho_Hant":
        return dataclasses.replace(_table()["zho_Hans"], nllb="zho_Hant", script="Hant", script_name="Han (Traditional)")
    return _table()[nllb]


def normalize(code: str) -> str:
    """Canonical NLLB code for one code; unknown codes raise with the list of valid ones."""
    found = _lookup().get(code.strip().lower())
    if found is None:
        raise UnknownLanguageError(_unknown([code]))
    return found


def resolve(spec: str | Iterable[str], include_english: bool = False) -> list[str]:
    """Turn ``all``, a comma list, or codes into a de-duplicated list of NLLB codes.

    Every unknown code is reported at once. English is dropped from ``all`` unless
    ``include_english`` (it is the source language, kept untranslated).
    """
    items = [s for s in (spec.split(",") if isinstance(spec, str) else spec)]
    items = [s.strip() for s in items if s and s.strip()]
    if not items:
        raise UnknownLanguageError(
            "no languages given: pass 'all' or a comma list of NLLB (deu_Latn) / ISO 639-1 (de) codes; "
            "`polymix langs` lists the 96"
        )
    out: list[str] = []
    bad: list[str] = []
    for item in items:
        if item.lower() == "all":
            codes = [ENGLISH, *targets()] if include_english else targets()
        else:
            try:
                codes = [normalize(item)]
            except UnknownLanguageError:
                bad.append(item)
                continue
        out.extend(c for c in codes if c not in out)
    if bad:
        raise UnknownLanguageError(_unknown(bad))
    return out


def mc4_distribution(langs: Iterable[str] | None = None, include_english: bool = True) -> dict[str, float]:
    """mBLIP's sampling distribution (mC4 shares), normalised to sum to 1 over ``langs``."""
    codes = list(langs) if langs is not None else [lang.nllb for lang in languages(include_english)]
    shares = {code: get(code).mc4_share for code in codes}
    total = sum(shares.values())
    return {code: share / total for code, share in shares.items()}
