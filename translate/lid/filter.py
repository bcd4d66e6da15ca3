"""Decide which translated rows to keep, with a reason for every rejected row.

    kept, rejected, stats = filter_rows(rows)            # rows: translated Examples
    kept, rejected, stats = filter_rows(rows, settings, back_translate=fn, pool=lid_pool)

``rejected`` holds (row, reason) pairs; ``stats`` counts ``lid_in``, ``lid_kept``,
``rejected_<reason>`` and what was let through unchecked. Every row gets ``lid_label`` /
``lid_score`` (langid on instruction + target). Checks, in order; the first failure is the reason:

``empty_translation``  an output without letters or digits where the English has some.
``untranslated``       an output (nearly) equal to its English source, or read as English.
``repetition``         one n-gram repeated ``repeat_min`` times in a row (not in the source), or a
                       long output that compresses far too well.
``wrong_language``     the language check below fails.
``length_ratio``       output/source length, over the language's usual ratio, outside the bounds.
``round_trip``         a short answer whose back-translation is no English answer (only with
                       ``round_trip_action=reject``; the default puts the English answer in, as mBLIP).

The language check (:func:`polymix.translate.lid.decide.language_reason`) weighs the
detectors' votes against the target's calibrated threshold, after script rules (Han vs kana vs
Hangul), then lingua's veto where a detector names a close neighbour of the target (the referee);
texts too short to identify are checked by script only. Languages that no enabled
detector knows are checked by script only and counted as ``lid_unchecked``: with the default
detectors there are none (CLD2 knows all 95).
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from typing import Callable, NamedTuple, Sequence

from polymix.schema import ENGLISH, Example
from polymix.stats import count_rejected
from polymix.translate.lid import quality as Q
from polymix.translate.lid.scoring import LidPool, LidScore
from polymix.translate.lid.decide import language_reason
from polymix.translate.lid.settings import LidSettings, default_settings
from polymix.translate.text import no_space

REASONS = ("empty_translation", "untranslated", "repetition", "wrong_language", "length_ratio", "round_trip")
BackTranslate = Callable[[list[str], str], list[str]]
"""back_translate(texts, src_lang) -> English texts (the translation service, from ``src_lang`` to English)"""


def _repetitive(output: str, source: str, lang: str, s: LidSettings) -> bool:
    min_units = s.repeat_min_chars if no_space(lang) else s.repeat_min_words
    if Q.repeat_run(Q.units(output, lang), min_units=min_units) >= s.repeat_min:
        return Q.repeat_run(Q.units(source, ENGLISH), min_units=s.repeat_min_words) < s.repeat_min
    if len(output.encode("utf-8")) >= s.compression_min_bytes and Q.compression_ratio(output) < s.min_compression:
        return Q.compression_ratio(source) >= s.min_compression
    return False


def field_reason(output: str, source: str | None, lang: str, s: LidSettings, stats: Counter | None = None) -> str | None:
    """empty / untranslated / repetition checks of one output against its English source."""
    if not Q.has_content(output):
        return "empty_translation" if source is None or Q.has_content(source) else None
    if source is not None and Q.has_content(source):
        if Q.similarity(output, source) >= s.untranslated_similarity:
            if sum(ch.isalpha() for ch in output) >= s.untranslated_min_letters:
                return "untranslated"
            if stats is not None:
                stats["short_identical"] += 1
    if _repetitive(output, source or "", lang, s):
        return "repetition"
    return None


def length_reason(output: str, source: str | None, lang: str, s: LidSettings) -> str | None:
    if source is None or sum(not ch.isspace() for ch in source) < s.length_min_source_chars:
        return None
    ratio = Q.length_ratio(output, source) / s.expected_ratio(lang)
    return "length_ratio" if not s.length_ratio_min <= ratio <= s.length_ratio_max else None


def text_reason(
    text: str, lang: str, score: LidScore, s: LidSettings, source: str | None = None, stats: Counter | None = None
) -> tuple[str | None, bool]:
    """(reason or None, language checked) for one text, e.g. a row of ``polymix lid-check``."""
    reason = field_reason(text, source, lang, s, stats)
    if reason:
        return reason, False
    reason, checked = language_reason(score, lang, s)
    return reason or length_reason(text, source, lang, s), checked


class FilterResult(NamedTuple):
    kept: list[Example]
    rejected: list[tuple[Example, str]]
    stats: Counter


def row_text(row: Example) -> str:
    """What language ID reads for a row: instruction and target together."""
    return f"{row.instruction}\n{row.target}".strip()


def _row_reason(row: Example, score: LidScore, s: LidSettings, stats: Counter) -> str | None:
    pairs = ((row.instruction, row.instruction_en), (row.target, row.target_en))
    for out, src in pairs:
        if reason := field_reason(out, src, row.lang, s, stats):
            return reason
    reason, checked = language_reason(score, row.lang, s)
    stats["lid_checked" if checked else "lid_unchecked"] += 1
    if reason:
        return reason
    for out, src in pairs:
        if reason := length_reason(out, src, row.lang, s):
            return reason
    return None


def _round_trip(rows: Sequence[Example], back_translate: BackTranslate, s: LidSettings, stats: Counter) -> dict[int, bool]:
    """Index in ``rows`` -> whether the back-translated short answer is one of the English answers."""
    wanted: dict[str, dict[str, None]] = defaultdict(dict)
    picked = []
    for i, row in enumerate(rows):
        words = row.target_en.split()
        if (
            0 < len(words) <= s.round_trip_max_words
            and any(ch.isalpha() for ch in row.target)
            and Q.normalize(row.target) != Q.normalize(row.target_en)
        ):
            wanted[row.lang][row.target] = None
            picked.append(i)
    back: dict[tuple[str, str], str] = {}
    for lang, texts in wanted.items():
        back.update(zip(((lang, t) for t in texts), back_translate(list(texts), lang)))
    stats["round_trip_checked"] += len(picked)
    return {
        i: Q.round_trip_matches(back[(rows[i].lang, rows[i].target)], rows[i].answers_en or [rows[i].target_en]) for i in picked
    }


def filter_rows(
    rows: Sequence[Example],
    settings: LidSettings | None = None,
    back_translate: BackTranslate | None = None,
    pool: LidPool | None = None,
) -> FilterResult:
    """Score and decide translated rows; English rows pass unchecked. See the module docstring."""
    s = settings or default_settings()
    stats: Counter = Counter(lid_in=len(rows))
    todo = [i for i, r in enumerate(rows) if r.lang != ENGLISH]
    scores = (pool or LidPool(1)).score(row_text(rows[i]) for i in todo)
    out: list[Example] = list(rows)
    reasons: dict[int, str] = {}
    for i, score in zip(todo, scores):
        out[i] = dataclasses.replace(rows[i], lid_label=score.label, lid_score=score.score)
        if reason := _row_reason(out[i], score, s, stats):
            reasons[i] = reason
    stats["english_passthrough"] += len(rows) - len(todo)
    if back_translate is not None:
        candidates = [i for i in todo if i not in reasons]
        matches = _round_trip([out[i] for i in candidates], back_translate, s, stats)
        for j, ok in matches.items():
            i = candidates[j]
            if ok:
                continue
            stats["round_trip_mismatch"] += 1
            if s.round_trip_action == "reject":
                reasons[i] = "round_trip"
            elif s.round_trip_action == "english":  # mBLIP: keep the example, with the English answer
                out[i] = dataclasses.replace(out[i], target=out[i].target_en)
                stats["round_trip_english"] += 1
    kept = [row for i, row in enumerate(out) if i not in reasons]
    rejected = [(out[i], reasons[i]) for i in sorted(reasons)]
    stats["lid_kept"] += len(kept)
    stats.update(count_rejected(r for _, r in rejected))
    return FilterResult(kept, rejected, stats)
