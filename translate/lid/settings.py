"""Settings of the language-ID filter: the decision rule's constants, per-language thresholds,
written varieties and confusable groups, as data (the rule: :mod:`polymix.translate.lid.decide`).

The defaults live in ``settings.yaml`` beside this module; ``polymix lid-calibrate``
(:func:`polymix.translate.lid.calibrate.calibrate`) measures them on the UDHR dev file and the
short real texts of data/lid-dev and rewrites that file. Load them with :func:`default_settings`, or change a few:

    >>> s = LidSettings.load(min_letters=20)
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import yaml

from polymix import languages as L
from polymix.errors import ConfigError
from polymix.translate.lid import referee
from polymix.translate.lid.scoring import DETECTORS, coverage

SETTINGS_FILE = Path(__file__).with_name("settings.yaml")
ROUND_TRIP_ACTIONS = ("english", "reject", "keep")


@dataclasses.dataclass
class LidSettings:
    """How the filter decides (see translate/lid/filter.py); every field is a setting of ``lid-check``."""

    detectors: tuple[str, ...] = DETECTORS
    """detectors that vote (langid, py3langid, cld2, fasttext); a language none of them knows is checked by script only"""
    varieties: list[list[str]] = dataclasses.field(default_factory=list)
    """written varieties of one language (zho_Hans/zho_Hant/yue): a detector naming one names them all"""
    groups: list[list[str]] = dataclasses.field(default_factory=list)
    """confusable languages (bul/mkd, ind/zsm): a detector's probability of a group member counts group_credit times"""
    group_credit: float = 0.5
    """how much a confusable language's probability counts for the target (where group_credits has no entry)"""
    group_credits: dict[str, float] = dataclasses.field(default_factory=dict)
    """per target: group_credit chosen by lid-calibrate, the lowest that still keeps the target's own text:
    the lower, the more of the confusable neighbour's text is told apart (the report's 'near' rate)"""
    vote_min_prob: dict[str, float] = dataclasses.field(default_factory=dict)
    """per detector: probabilities below this are noise and count as 0 (none by default)"""
    detector_weights: dict[str, float] = dataclasses.field(default_factory=dict)
    """weight of each detector's vote in the mean (1.0 when not named)"""
    cld2_full_score: float = 400.0
    """CLD2's share of the text counts in full from this match score up, less below (a guess scores ~150-250)"""
    blind_veto_prob: float = 0.9
    """a registry language named this surely silences the detectors that cannot output it (Yiddish for Hebrew) ..."""
    blind_veto_detectors: int = 2
    """... on a text shorter than ``blind_veto_length`` (:attr:`LidScore.length`) only when this many detectors
    name it (top label): CLD2 alone calling a Swahili question Nyanja or an Arabic one Sindhi silences no one"""
    blind_veto_length: float = 40.0
    foreign_letters: int = 2
    """a text with this many letters its claimed language never writes is not in it (Ukrainian "і", Sindhi "ڏ"
    in a text claimed as Russian, Urdu; :mod:`polymix.translate.lid.letters`); 0: off. A detector's label
    is struck on one such letter"""
    min_evidence: dict[str, float] = dataclasses.field(default_factory=dict)
    """per target language: the mean vote a text needs to be kept (calibrated by lid-calibrate)"""
    min_evidence_default: float = 0.5
    weak_evidence: float = 0.1
    """a text below its min_evidence is still kept with this much evidence when no rival is confident ..."""
    rival_evidence: float = 0.5
    """... i.e. no other language (outside the target's groups) reaches this mean vote: detectors that
    scatter over unrelated labels on a short text are no evidence against the target"""
    kana_evidence: float = 0.5
    """a Japanese text of kana_min_han+ Han characters and no kana is kept only with this much evidence"""
    """min_evidence of languages the calibration did not see"""
    referee: bool = True
    """ask lingua about a kept text when a detector names a close neighbour of the target (the families of
    translate/lid/referee.py: bg/mk/sr/ru/uk/be, kk/ru, cs/sk/pl, nb/da/sv, hi/mr, az/tr, zu/xh, af/nl, pt/es/ca, sl/hr)"""
    referee_veto: float = 0.2
    """... and reject it as wrong_language when lingua gives the target less than this share of the pair (measured
    on the calib part: 0.1 and 0.2 cost the same 2 own texts, 0.2 rejects 499 neighbour texts, not 340; 0.3 costs 6)"""
    english_evidence: float = 0.5
    """a rejected text is 'untranslated' when the mean vote for English reaches this, else 'wrong_language'"""
    min_letters: int = 12
    """texts shorter than this (letters; a Han character counts 3, Hangul 2.5, kana 2) need only short_min_evidence ..."""
    short_min_letters: int = 4
    """... and texts shorter than this are too short to identify (their script is checked, their language is not)"""
    short_min_evidence: float = 0.25
    """the evidence a short text needs: rejected only when the detectors agree it is something else"""
    mixed_script_share: float = 0.25
    """texts with less of the target's script are rejected; between this and min_script_share they need ..."""
    mixed_script_evidence: float = 0.8
    """... this much evidence (a Greek caption with a Latin brand name)"""
    kana_min_han: int = 4
    """a Japanese text with this many Han characters and no kana may be Chinese: it needs kana_evidence"""
    min_script_share: float = 0.5
    """share of the letters that must be in the target's script (else wrong_language or untranslated)"""
    untranslated_similarity: float = 0.9
    """an output this similar to its English source (0..1) is untranslated"""
    untranslated_min_letters: int = 12
    """shorter outputs equal to the English source are kept (loanwords, names; mBLIP kept English answers on purpose)"""
    repeat_min: int = 3
    """this many consecutive copies of one n-gram is a repetition loop ..."""
    repeat_min_words: int = 3
    """... when the copies cover at least this many words ..."""
    repeat_min_chars: int = 8
    """... or, in scripts written without spaces, this many characters"""
    min_compression: float = 0.2
    """outputs of at least compression_min_bytes that zlib compresses below this ratio are repetitive"""
    compression_min_bytes: int = 256
    """see min_compression"""
    length_ratio_min: float = 0.45
    """output/source length, divided by the language's usual ratio, must lie in [min, max] ..."""
    length_ratio_max: float = 2.3
    """see length_ratio_min"""
    length_min_source_chars: int = 20
    """... for sources of at least this many characters (shorter ones vary too much)"""
    length_ratio_expected: dict[str, float] = dataclasses.field(default_factory=dict)
    """usual characters per English character, per NLLB code (measured on UDHR; 1.0 when unknown)"""
    round_trip_max_words: int = 3
    """answers of at most this many English words are checked by back-translation (when a translator is given)"""
    round_trip_action: str = "english"
    """when the back-translation does not match: english (use the English answer, as mBLIP), reject, or keep"""
    calibration: dict[str, Any] = dataclasses.field(default_factory=dict)
    """what the calibration measured (written by lid-calibrate; not used to decide)"""

    def __post_init__(self) -> None:
        self.detectors = tuple(self.detectors)
        problems = []
        bad = [d for d in self.detectors if d not in DETECTORS]
        if bad or not self.detectors:
            problems.append(f"detectors {bad or '[]'}: choose from {', '.join(DETECTORS)}")
        bad = [d for d in (*self.vote_min_prob, *self.detector_weights) if d not in DETECTORS]
        if bad:
            problems.append(f"vote_min_prob / detector_weights name unknown detectors {bad}")
        if not all(
            0 <= x <= 1
            for x in (
                self.group_credit,
                self.english_evidence,
                self.mixed_script_evidence,
                self.min_evidence_default,
                self.weak_evidence,
                self.rival_evidence,
                self.kana_evidence,
                self.referee_veto,
                *self.min_evidence.values(),
                *self.group_credits.values(),
            )
        ):
            problems.append(
                "group_credit, english_evidence, mixed_script_evidence, weak_evidence, rival_evidence, "
                "kana_evidence, referee_veto and min_evidence must lie in [0, 1]"
            )
        if self.referee and not referee.available():
            problems.append(referee.INSTALL)
        if self.round_trip_action not in ROUND_TRIP_ACTIONS:
            problems.append(f"round_trip_action {self.round_trip_action!r}: choose from {', '.join(ROUND_TRIP_ACTIONS)}")
        if not 0 < self.length_ratio_min < 1 < self.length_ratio_max:
            problems.append("need 0 < length_ratio_min < 1 < length_ratio_max")
        if not 0 <= self.min_script_share <= 1 or not 0 < self.untranslated_similarity <= 1:
            problems.append("min_script_share must lie in [0, 1] and untranslated_similarity in (0, 1]")
        if self.repeat_min < 2:
            problems.append("repeat_min must be >= 2")
        if self.foreign_letters < 0 or self.blind_veto_detectors < 1 or self.blind_veto_length < 0:
            problems.append("foreign_letters must be >= 0 (0: off), blind_veto_detectors >= 1 and blind_veto_length >= 0")
        if any(len(g) < 2 for g in self.groups + self.varieties):
            problems.append("every confusable group needs at least two members")
        if problems:
            raise ConfigError("bad language-ID settings: " + "; ".join(problems))

    @staticmethod
    def _members(groups: list[list[str]]) -> dict[str, frozenset[str]]:
        out: dict[str, set[str]] = {}
        for group in groups:
            for member in group:
                out.setdefault(member, {member}).update(group)
        return {k: frozenset(v) for k, v in out.items()}

    @functools.cached_property
    def _same(self) -> dict[str, frozenset[str]]:
        return self._members(self.varieties)

    @functools.cached_property
    def _accepted(self) -> dict[str, frozenset[str]]:
        near = self._members(self.groups)
        return {k: self.same(k) | near.get(k, frozenset()) for k in set(near) | set(self._same)}

    def same(self, lang: str) -> frozenset[str]:
        """Labels that are ``lang``: itself and its written varieties."""
        return self._same.get(lang, frozenset({lang}))

    def accepted(self, lang: str) -> frozenset[str]:
        """Labels that count (in full or in part) as ``lang``: its varieties and confusable groups.

        Groups are not merged transitively: with groups [srp, mkd] and [bul, mkd], Bulgarian
        accepts Macedonian but not Serbian.
        """
        return self._accepted.get(lang, frozenset({lang}))

    def voters(self, lang: str) -> tuple[str, ...]:
        """The enabled detectors that can output ``lang`` or a member of its groups."""
        cache = self.__dict__.setdefault("_voters", {})
        if lang not in cache:
            accepted = self.accepted(lang)
            cache[lang] = tuple(d for d in self.detectors if accepted & coverage(d))
        return cache[lang]

    def credit(self, lang: str) -> float:
        """How much a confusable language's probability counts for ``lang``."""
        return self.group_credits.get(lang, self.group_credit)

    def expected_ratio(self, lang: str) -> float:
        return self.length_ratio_expected.get(lang, 1.0)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["detectors"] = list(self.detectors)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LidSettings":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown language-ID settings {unknown}; valid: {', '.join(sorted(names))}")
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> "LidSettings":
        """Settings from a YAML file (default: the calibrated ``settings.yaml``), with overrides."""
        path = Path(path) if path else SETTINGS_FILE
        if not path.exists():
            raise ConfigError(f"language-ID settings file {path} not found (run `polymix lid-calibrate` to write it)")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls.from_dict({**data, **overrides})

    def save(self, path: str | Path, header: str = "") -> Path:
        path = Path(path)
        body = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=120, default_flow_style=None)
        path.write_text(header + body, encoding="utf-8")
        return path


@functools.cache
def default_settings() -> LidSettings:
    """The calibrated defaults (``settings.yaml``)."""
    return LidSettings.load()


def normalize_languages(codes: list[str]) -> dict[str, str]:
    """Each distinct code -> its NLLB code; every unknown code is reported at once."""
    out, bad = {}, []
    for code in dict.fromkeys(codes):
        try:
            out[code] = L.normalize(str(code))
        except L.UnknownLanguageError:
            bad.append(code)
    if bad:
        raise ConfigError(f"unknown language code(s) {bad[:20]} ({len(bad)} in all); `polymix langs` lists the valid NLLB codes")
    return out
