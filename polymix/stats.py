"""Run statistics: the counters every stage stores with its chunks, built and read in one place.

A chunk record's ``stats`` (and the manifest's, their sum) is a flat JSON object of numbers, so
that :func:`merge` can add chunks key by key and mixes built by earlier versions keep loading.
Besides plain counters (``in``, ``out``, ``lid_kept``, ...) three kinds of key carry a label, and
this module is the only place that spells or parses them:

    rejected_<reason>      rows rejected for a reason          :func:`rejected_key`, :attr:`Stats.rejected`
    <counter>:<lang>       translation counters per language   :func:`lang_keys`,    :attr:`Stats.per_lang`
    acct/<source>/<lang>   rows planned per source and language :func:`planned_keys`, :attr:`Stats.planned`

    >>> s = Stats.parse(manifest["stats"])     # typed view; s.flat() writes the same keys back
    >>> s.rejected["wrong_language"], s.per_lang["deu_Latn"].hits, s.planned[("coco", "deu_Latn")]

:class:`Outcome` is the in-memory tally of kept and rejected rows (per language, per source)
that the language-ID check and the data card count from files.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, Iterable, Mapping

REJECTED = "rejected_"
PLANNED = "acct/"
LANG_COUNTERS = ("translated", "hits", "passthrough", "seconds")
"""the translation service's counters kept per language (distinct strings, cache hits, strings
passed through untranslated, share of model seconds)"""


def rejected_key(reason: str) -> str:
    return f"{REJECTED}{reason}"


def count_rejected(reasons: Iterable[str]) -> Counter[str]:
    """``rejected_<reason>`` counts of a run's rejection reasons (one per rejected row)."""
    return Counter(rejected_key(r) for r in reasons)


def planned_keys(pairs: Iterable[tuple[str, str]]) -> dict[str, int]:
    """``acct/<source>/<lang>`` counts from the (source, target language) of every row to produce."""
    return dict(Counter(f"{PLANNED}{source}/{lang}" for source, lang in pairs))


def lang_keys(per_lang: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """``<counter>:<lang>`` entries from per-language counters (every one of :data:`LANG_COUNTERS`;
    seconds rounded to 0.1 ms so records stay readable)."""
    return {f"{key}:{lang}": round(counter.get(key, 0), 4) for lang, counter in per_lang.items() for key in LANG_COUNTERS}


def merge(stats: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Several chunks' stats summed key by key (non-numbers skipped), keys sorted: the manifest's."""
    total: Counter[str] = Counter()
    for one in stats:
        for key, value in one.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                total[key] += value
    return dict(sorted(total.items()))


@dataclasses.dataclass
class LangCounts:
    """One target language's translation counters (see :data:`LANG_COUNTERS`)."""

    translated: int = 0
    hits: int = 0
    passthrough: int = 0
    seconds: float = 0.0


@dataclasses.dataclass
class Stats:
    """A flat stats object read into its parts; ``Stats.parse(flat).flat() == flat`` for what polymix writes."""

    counts: dict[str, float] = dataclasses.field(default_factory=dict)
    """plain counters (``in``, ``out``, ``english_in``, ``lid_in``, ``lid_kept``, ...)"""
    rejected: Counter[str] = dataclasses.field(default_factory=Counter)
    """reason -> rows rejected"""
    per_lang: dict[str, LangCounts] = dataclasses.field(default_factory=dict)
    """target language -> translation counters"""
    planned: Counter[tuple[str, str]] = dataclasses.field(default_factory=Counter)
    """(source, lang) -> rows the run had to produce (kept + rejected)"""

    @classmethod
    def parse(cls, flat: Mapping[str, Any]) -> Stats:
        out = cls()
        for key, value in flat.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            name, _, lang = key.partition(":")
            # acct/ first: a source name may hold a ':' (the old hand parsers took it for a language)
            if key.startswith(PLANNED) and "/" in key[len(PLANNED) :]:
                source, lang = key[len(PLANNED) :].rsplit("/", 1)
                out.planned[(source, lang)] += int(value)
            elif key.startswith(REJECTED):
                out.rejected[key[len(REJECTED) :]] += int(value)
            elif lang and name in LANG_COUNTERS:
                counts = out.per_lang.setdefault(lang, LangCounts())
                setattr(counts, name, value if name == "seconds" else int(value))
            else:
                out.counts[key] = value
        return out

    def flat(self) -> dict[str, float]:
        """The flat keys again, sorted as manifests store them."""
        flat = {
            **self.counts,
            **{rejected_key(r): n for r, n in self.rejected.items()},
            **lang_keys({lang: dataclasses.asdict(c) for lang, c in self.per_lang.items()}),
            **{f"{PLANNED}{s}/{lang}": n for (s, lang), n in self.planned.items()},
        }
        return dict(sorted(flat.items()))

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    def strings(self) -> Counter[str]:
        """Distinct strings served from the translation cache (``hits``) and sent to the model
        (``translated``), over all languages."""
        return Counter(
            hits=sum(c.hits for c in self.per_lang.values()), translated=sum(c.translated for c in self.per_lang.values())
        )


@dataclasses.dataclass
class Outcome:
    """Rows kept and rows rejected by reason (of one language, one source, or a whole run)."""

    kept: int = 0
    rejected: Counter[str] = dataclasses.field(default_factory=Counter)

    def add(self, reason: str | None, n: int = 1) -> None:
        """Count ``n`` rows kept (``reason`` None) or rejected for ``reason``."""
        if reason is None:
            self.kept += n
        else:
            self.rejected[reason] += n

    def __iadd__(self, other: Outcome) -> Outcome:
        self.kept += other.kept
        self.rejected.update(other.rejected)
        return self

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def total(self) -> int:
        return self.kept + self.rejected_total
