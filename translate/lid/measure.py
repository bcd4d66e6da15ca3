"""What the language-ID filter keeps and rejects on labelled real text, and the per-language thresholds.

    rates = measure(texts, langs, scores, settings)       # {target: {keep, n, english, other, same_script, near}}
    thresholds = choose_thresholds(parts, settings)       # {target: min_evidence}

For each target language T of the texts (languages the registry knows; others, such as Croatian,
serve only as wrong-language texts):

* ``keep``         share of T's own texts kept;
* ``english``      share of the English texts rejected when presented as T;
* ``other``        share of the texts of every other language X (outside T's varieties and
  groups) rejected when presented as T; all, or ``pairs_per_target`` sampled;
* ``same_script``  the same over the X written in T's script (Russian for Bulgarian, Chinese for
  Japanese): the hard half of ``other``;
* ``near``         share of the texts of T's confusable languages (``groups``: Danish for Norwegian)
  rejected when presented as T: they count in part, so this says how far the pair is still told apart.

Used by ``polymix lid-calibrate`` (:mod:`polymix.translate.lid.calibrate`) and its tests.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections import defaultdict
from typing import Sequence

from polymix import languages as L
from polymix.schema import ENGLISH
from polymix.translate.lid.scoring import LidScore, coverage, script_words
from polymix.translate.lid.decide import language_reason
from polymix.translate.lid.filter import field_reason, text_reason
from polymix.translate.lid.settings import LidSettings
from polymix.translate.text import no_space

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
"""candidate min_evidence values, tried per language: from LONE_VOTE up where three or more detectors know it"""
LONE_VOTE = 0.3
"""above one detector's vote among four (0.25): one detector alone never keeps a text in a language all four know"""


@functools.cache
def is_target(lang: str) -> bool:
    try:
        L.get(lang)
    except Exception:  # a detector label the registry does not hold (hr, yue): a wrong-language text only
        return False
    return True


def _main_script(score: LidScore) -> str | None:
    return max(score.scripts, key=score.scripts.get) if score.scripts else None


def measure(
    texts: Sequence[str],
    langs: Sequence[str],
    scores: Sequence[LidScore],
    s: LidSettings,
    pairs_per_target: int | None = None,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Per target language: keep, and the reject rates english, other, same_script (see the module docstring)."""
    by_lang: dict[str, list[int]] = defaultdict(list)
    for i, lang in enumerate(langs):
        by_lang[lang].append(i)
    field_ok: dict[tuple[int, bool], bool] = {}

    def kept(i: int, target: str) -> bool:
        key = (i, no_space(target))
        if key not in field_ok:  # empty/repetition depend on the text and the target's script type only
            field_ok[key] = field_reason(texts[i], None, target, s) is None
        return field_ok[key] and language_reason(scores[i], target, s)[0] is None

    def rejected(idx: list[int], target: str) -> float:
        return 1 - sum(kept(i, target) for i in idx) / len(idx) if idx else float("nan")

    rng = random.Random(seed)
    out: dict[str, dict[str, float]] = {}
    for target in sorted(x for x in by_lang if is_target(x)):
        row = {"keep": 1 - rejected(by_lang[target], target), "n": len(by_lang[target])}
        if target != ENGLISH:
            accepted = s.accepted(target)
            others = [i for x, idx in by_lang.items() if x not in accepted and x != ENGLISH for i in idx]
            words = script_words(target)
            row["english"] = rejected(by_lang.get(ENGLISH, []), target)
            row["same_script"] = rejected([i for i in others if _main_script(scores[i]) in words], target)
            near = accepted - s.same(target)
            if near:  # the confusable languages, which count in part: how many of their texts still go
                row["near"] = rejected([i for x in near for i in by_lang.get(x, [])], target)
            if pairs_per_target and len(others) > pairs_per_target:
                others = rng.sample(others, pairs_per_target)
            row["other"] = rejected(others, target)
        out[target] = row
    return out


def missed(texts: Sequence[str], langs: Sequence[str], scores: Sequence[LidScore], s: LidSettings) -> list[tuple]:
    """(lang, text, reason, score) of every text of a target language the filter rejects as not its own:
    what to read, and classify, before changing a rule (``polymix lid-calibrate --misses``)."""
    out = []
    for text, lang, score in zip(texts, langs, scores):
        if is_target(lang) and (reason := text_reason(text, lang, score, s)[0]):
            out.append((lang, text, reason, score))
    return out


def wilson(kept: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a keep rate: with ~140 texts a language, 0.99 means at most one miss,
    and a language with none may still lie anywhere above ~0.97."""
    if n == 0:
        return float("nan"), float("nan")
    p, z2 = kept / n, z * z
    mid, half = (p + z2 / (2 * n)) / (1 + z2 / n), z * (p * (1 - p) / n + z2 / (4 * n * n)) ** 0.5 / (1 + z2 / n)
    return max(0.0, mid - half), min(1.0, mid + half)


def misses(row: dict[str, float]) -> tuple[int, int]:
    """(texts of its own language rejected, texts) of one language's rates."""
    n = int(row.get("n", 0))
    return round((1 - row["keep"]) * n), n


def overall(rates: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean over the target languages of each rate (NaN-free), and the lowest keep."""
    out = {}
    for key in ("keep", "english", "other", "same_script", "near"):
        values = [r[key] for r in rates.values() if key in r and r[key] == r[key]]
        out[key] = sum(values) / len(values) if values else float("nan")
    out["min_keep"] = min(r["keep"] for r in rates.values())
    return out


CREDITS = (0.1, 0.2, 0.3, 0.5)
"""candidate group credits, tried per language with confusable neighbours, lowest first"""


def choose_thresholds(
    parts: list[tuple[Sequence[str], Sequence[str], Sequence[LidScore], float]], s: LidSettings
) -> tuple[dict[str, float], dict[str, float]]:
    """Per language, one step below the highest min_evidence whose keep rate meets each part's target;
    for a language with confusable neighbours (``groups``) also the lowest group credit at which a
    threshold still meets them. Returns (min_evidence, group_credits).

    ``parts``: (texts, langs, scores, keep target) -- e.g. short real texts (0.99), UDHR
    paragraphs (0.98) and UDHR captions (0.90); texts shorter than ``min_letters`` are left out. A
    higher threshold rejects more wrong-language text, so the highest one that still keeps the
    language's own text is the best; where even the lowest misses a target (a detector-poor
    language), the lowest is taken.
    """
    own: dict[str, list[tuple[LidScore, int]]] = defaultdict(list)
    targets = [t for *_, t in parts]
    for p, (texts, langs, scores, _) in enumerate(parts):
        for text, lang, score in zip(texts, langs, scores):
            # texts under min_letters need only short_min_evidence: the threshold does not decide them
            if is_target(lang) and score.length >= s.min_letters and field_reason(text, None, lang, s) is None:
                own[lang].append((score, p))
    chosen, credits = {}, {}
    for lang, items in sorted(own.items()):
        knowing = [d for d in s.detectors if s.same(lang) & coverage(d)]  # that can output the language itself
        grid = [t for t in THRESHOLDS if t >= LONE_VOTE] if len(knowing) >= 3 else list(THRESHOLDS)
        tried = CREDITS if s.accepted(lang) - s.same(lang) else (s.credit(lang),)
        margins = {}
        for credit in tried:
            trial = dataclasses.replace(s, group_credits={lang: credit})
            passed = [theta for theta in grid if _margin(items, lang, targets, trial, theta) >= 0]
            if passed:
                break
            margins[credit] = _margin(items, lang, targets, trial, grid[0])
        else:  # no credit keeps enough: the lowest one that keeps as much as any
            credit = min(c for c, m in margins.items() if m == max(margins.values()))
        if len(tried) > 1:
            credits[lang] = credit
        # one step below the highest that passed: ~100 texts a language choose it, held-out text is harder
        chosen[lang] = grid[max(0, grid.index(max(passed or grid[:1])) - 1)]
    return chosen, credits


def _margin(items: list[tuple[LidScore, int]], lang: str, targets: list[float], s: LidSettings, theta: float) -> float:
    """The smallest (keep - keep target) over the parts, with min_evidence ``theta`` for ``lang``."""
    s = dataclasses.replace(s, min_evidence={lang: theta})
    kept: dict[int, list[bool]] = defaultdict(list)
    for score, p in items:
        kept[p].append(language_reason(score, lang, s)[0] is None)
    return min(sum(v) / len(v) - targets[p] for p, v in kept.items())
