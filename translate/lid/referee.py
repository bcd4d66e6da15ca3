"""A referee between close languages: lingua, asked only whether a kept text is its claimed language or a neighbour's.

    share("Какого цвета телевизор?", "bul_Cyrl", "rus_Cyrl")     # 0.17: lingua's Bulgarian share against Russian
    veto(text, "bul_Cyrl", "rus_Cyrl", below=0.1)                 # True: reject as Russian

The four fast detectors (:mod:`polymix.translate.lid.models`) tell Russian from Chinese, but on a
caption they often cannot tell Bulgarian from Russian, Danish from Norwegian or Turkish from
Azerbaijani. lingua (``lingua-language-detector``, n-gram models up to 5 characters, built for short
text) does that much better, but it is slow (~2,000-3,000 texts/s) and large (~30 MB of models a
language), so :func:`polymix.translate.lid.decide.language_reason` asks it only about a text the
rule keeps while a detector names a close neighbour of the claimed language (``FAMILIES``).

One lingua detector per family of close languages, built on first use and cached per process: a
worker that never meets Hindi never loads its models. Its confidence values are read as the
claimed language's share against the neighbour, a / (a + b), so a family detector answers the same
pairwise question a pair detector would (measured: the same verdicts, less memory). High-accuracy
mode: low-accuracy mode rejected 69 of the calibration's own texts. lingua has no Galician,
Scottish Gaelic or Kyrgyz; their pairs are left to the rule.
"""

from __future__ import annotations

import functools
from typing import Any

from polymix.errors import ConfigError

INSTALL = (
    "the language-ID referee needs lingua-language-detector: `pip install lingua-language-detector==2.1.1`, "
    "or turn it off with `referee: false` in a language-ID settings YAML "
    "(lid-check --settings, build-mix --set lid_settings=FILE)"
)

# Detector labels (NLLB codes; ``hr``: Croatian is no registry language, the detectors write hr) -> lingua's names.
LINGUA = {
    "bul_Cyrl": "BULGARIAN",
    "mkd_Cyrl": "MACEDONIAN",
    "srp_Cyrl": "SERBIAN",
    "rus_Cyrl": "RUSSIAN",
    "ukr_Cyrl": "UKRAINIAN",
    "bel_Cyrl": "BELARUSIAN",
    "kaz_Cyrl": "KAZAKH",
    "ces_Latn": "CZECH",
    "slk_Latn": "SLOVAK",
    "pol_Latn": "POLISH",
    "nob_Latn": "BOKMAL",
    "dan_Latn": "DANISH",
    "swe_Latn": "SWEDISH",
    "hin_Deva": "HINDI",
    "mar_Deva": "MARATHI",
    "azj_Latn": "AZERBAIJANI",
    "tur_Latn": "TURKISH",
    "zul_Latn": "ZULU",
    "xho_Latn": "XHOSA",
    "afr_Latn": "AFRIKAANS",
    "nld_Latn": "DUTCH",
    "por_Latn": "PORTUGUESE",
    "spa_Latn": "SPANISH",
    "cat_Latn": "CATALAN",
    "slv_Latn": "SLOVENE",
    "hr": "CROATIAN",
}
# Languages the detectors confuse on captions (the short real texts of data/lid-dev). Russian is in two.
# Not Indonesian/Malay: lingua gives 5 of 28 Indonesian UDHR paragraphs to Malay with share < 0.01.
FAMILIES = (
    ("bul_Cyrl", "mkd_Cyrl", "srp_Cyrl", "rus_Cyrl", "ukr_Cyrl", "bel_Cyrl"),
    ("kaz_Cyrl", "rus_Cyrl"),
    ("ces_Latn", "slk_Latn", "pol_Latn"),
    ("nob_Latn", "dan_Latn", "swe_Latn"),
    ("hin_Deva", "mar_Deva"),
    ("azj_Latn", "tur_Latn"),
    ("zul_Latn", "xho_Latn"),
    ("afr_Latn", "nld_Latn"),
    ("por_Latn", "spa_Latn", "cat_Latn"),
    ("slv_Latn", "hr"),
)


@functools.cache
def neighbours(lang: str) -> frozenset[str]:
    """The languages the referee can tell ``lang`` from (empty for a language in no family)."""
    return frozenset(x for family in FAMILIES if lang in family for x in family) - {lang}


def family(claimed: str, neighbour: str) -> tuple[str, ...] | None:
    """The first family holding both languages (the Cyrillic one for Russian with Bulgarian)."""
    return next((f for f in FAMILIES if claimed in f and neighbour in f), None)


def available() -> bool:
    """Whether lingua can be imported (checked when settings turn the referee on; its models load later)."""
    try:
        import lingua  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def detector(members: tuple[str, ...]) -> Any:
    """One lingua detector for a family, built on first use in this process (its models load lazily too)."""
    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError:
        raise ConfigError(INSTALL) from None
    return LanguageDetectorBuilder.from_languages(*(getattr(Language, LINGUA[x]) for x in members)).build()


@functools.lru_cache(maxsize=1 << 16)
def _confidences(members: tuple[str, ...], text: str) -> dict[str, float]:
    # cached: the calibration asks about one text under many thresholds
    by_name = {v.language.name: v.value for v in detector(members).compute_language_confidence_values(text)}
    return {x: by_name.get(LINGUA[x], 0.0) for x in members}


def lingua_calls() -> int:
    """Distinct (family, text) questions lingua answered in this process (the benchmark's count)."""
    info = _confidences.cache_info()
    return info.misses


def share(text: str, claimed: str, neighbour: str) -> float | None:
    """lingua's confidence in ``claimed`` over ``claimed`` + ``neighbour`` (0..1); None when it cannot say
    (not a pair of one family, or the text has no n-gram of the family's models)."""
    members = family(claimed, neighbour)
    if members is None:
        return None
    conf = _confidences(members, text)
    a, b = conf[claimed], conf[neighbour]
    if a + b > 0:
        return a / (a + b)
    # all of it on a third member: lingua's rules saw letters only it writes (Belarusian "ў" for a text
    # claimed as Serbian, Macedonian named); a pair detector would call it the neighbour's (measured)
    return 0.0 if any(conf.values()) else None


def veto(text: str, claimed: str, neighbour: str, below: float) -> bool:
    """True when lingua gives ``claimed`` less than ``below`` of the pair: the text is the neighbour's."""
    p = share(text, claimed, neighbour)
    return p is not None and p < below
