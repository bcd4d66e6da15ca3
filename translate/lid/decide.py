"""Is a scored text in its target language? The language half of the filter, as one decision rule.

    reason, checked = language_reason(score_text(text), "rus_Cyrl", default_settings())
    seen(score, settings)        # what the detectors agree the text is: "bul_Cyrl"

Each detector that can output the target (or a member of its groups) gives a vote in [0, 1]: how
much it prefers the target (with its written varieties, ``varieties``: zh Hans/Hant/yue) to its
best rival, p / (p + p_rival), so a second-ranked probability of 0.40 behind 0.59 is a weak vote,
not a win. A confusable language (``groups``: bg/mk, id/ms, nb/da/sv, cs/sk, ...) counts its
``group_credits`` share (per target, calibrated: the lowest credit that still keeps the target's
own text) for the target and the rest for the rival: at credit 0.1 a text every detector reads as
Macedonian is a 0.1 vote for Bulgarian, at 0.5 half a vote. CLD2's share of the text is scaled by its
match score (``cld2_full_score``): on a few words CLD2 names *some* language with 97% share, and
its score is what tells a guess ("Nyanja" for Spanish, 149) from a match (Yiddish, 1042). The
evidence is the weighted mean of the votes; the text is kept when it reaches the target's
calibrated ``min_evidence`` (one detector naming a rare language is one low vote, not a veto), or
when it has ``weak_evidence`` and no :func:`rival` is confident (``rival_evidence``): on a short
text the detectors often scatter over unrelated labels (Cebuano: Finnish, Fula, Slovak, Lojban),
which says nothing against the target; a rival needs more than half of at least two detectors' votes. A text
under ``min_letters`` (1-3 short words) needs no weak evidence: it is rejected only when a rival is
confident (on short Cebuano or Haitian every detector's vote for the target is ~0).

A detector abstains when it has no opinion (CLD2 on some short texts) and when another detector
names, with at least ``blind_veto_prob``, a registry language outside the target's groups that this
one cannot output: langid calls Yiddish Hebrew because it does not know Yiddish.

Before the vote, script rules: most of the text in the target's script (``min_script_share``,
weighted like :attr:`LidScore.length`; a text between ``mixed_script_share`` and that passes only on
``mixed_script_evidence``, e.g. Greek with a Latin brand name); Japanese of ``kana_min_han``+ Han
characters and no kana may be Chinese and passes only on ``kana_evidence``; Chinese must have no
kana, Korean is Hangul. Texts shorter than ``short_min_letters`` (:attr:`LidScore.length`: Han
characters count 3) are too short to identify; up to ``min_letters`` they need only
``short_min_evidence``. A rejected text is ``untranslated`` only when the detectors read it as
English (evidence for English >= ``english_evidence``), else ``wrong_language``.

Last, the referee (``referee``, :mod:`polymix.translate.lid.referee`): a text the rule keeps while a
detector names a close neighbour of the target (Russian for Bulgarian, Danish for Norwegian) is
``wrong_language`` when lingua gives the target less than ``referee_veto`` of the pair; :func:`seen`
with the claimed language then names that neighbour. lingua rescues no text the rule rejects.
"""

from __future__ import annotations

import functools

from polymix import languages as L
from polymix.schema import ENGLISH
from polymix.translate.lid import referee as R
from polymix.translate.lid.letters import foreign
from polymix.translate.lid.scoring import KANA, LidScore, coverage, script_words
from polymix.translate.lid.settings import LidSettings


@functools.cache
def _registry() -> frozenset[str]:
    """NLLB codes of the registry: only these can silence a blind detector (not py3langid's Bikol)."""
    return frozenset(lang.nllb for lang in L.languages()) | {"zho_Hant"}


def probs(score: LidScore, detector: str, s: LidSettings) -> tuple[tuple[str, float], ...]:
    """A detector's (label, probability) best first; CLD2's shares scaled by its match score."""
    ranked = getattr(score, detector)
    if detector == "cld2" and score.cld2_score:
        ranked = tuple((label, p * min(1.0, sc / s.cld2_full_score)) for (label, p), sc in zip(ranked, score.cld2_score))
    if s.foreign_letters and score.text:  # a language that cannot write one of the text's letters is no candidate
        ranked = tuple((x, p) for x, p in ranked if not foreign(score.text, x))
    floor = s.vote_min_prob.get(detector)
    return ranked if floor is None else tuple((x, p) for x, p in ranked if p >= floor)


def _vote(ranked: tuple[tuple[str, float], ...], own: frozenset[str], accepted: frozenset[str], credit: float) -> float:
    """p(target) / (p(target) + p(best rival)): 1 when the detector prefers the target to everything else,
    0.5 when it cannot tell them apart, 0 when it names another language. A confusable language's
    probability counts ``credit`` for the target and the rest for the rival: half a vote at 0.5."""
    target = rival = near = 0.0
    for label, p in ranked:
        if label in own:
            target += p
        elif label in accepted:
            near += p
        else:
            rival = max(rival, p)
    target += credit * near
    rival = max(rival, (1 - credit) * near)
    return target / (target + rival) if target > 0 else 0.0


def evidence(score: LidScore, lang: str, s: LidSettings) -> float | None:
    """Weighted mean vote of the detectors for ``lang`` (0..1); None when no detector can say."""
    total, weight, blind = _tally(score, lang, s)
    return total / weight if weight else (0.0 if blind else None)


def _tally(score: LidScore, lang: str, s: LidSettings) -> tuple[float, float, bool]:
    """(weighted sum of votes, sum of weights, some voter was silenced as blind)."""
    own, accepted = s.same(lang), s.accepted(lang)
    ranked = {d: probs(score, d, s) for d in s.detectors}
    named = [
        (d, r[0][0])
        for d, r in ranked.items()
        if r and r[0][1] >= s.blind_veto_prob and r[0][0] not in accepted and r[0][0] in _registry()
    ]
    if named and score.length < s.blind_veto_length:  # on a short text a label stands only when enough detectors name it
        tops = [r[0][0] for r in ranked.values() if r]
        named = [(d, x) for d, x in named if tops.count(x) >= s.blind_veto_detectors]
    total = weight = 0.0
    blind = False
    for d in s.voters(lang):
        if not ranked[d]:
            continue  # no opinion
        sees = coverage(d)
        if any(x not in sees for o, x in named if o != d):
            blind = True  # to what another detector confidently sees
            continue
        w = s.detector_weights.get(d, 1.0)
        total += w * _vote(ranked[d], own, accepted, s.credit(lang))
        weight += w
    return total, weight, blind


def _cjk(score: LidScore, lang: str, s: LidSettings) -> str | None:
    """'other' when Han/kana/Hangul say the text is another CJK language than ``lang`` (kana in
    Chinese); 'han_only' for Japanese of ``kana_min_han``+ Han characters and no kana (Chinese, or a
    Japanese noun phrase: the detectors decide, at ``kana_evidence``); else None."""
    kana = sum(n for w, n in score.scripts.items() if w in KANA)
    han = score.scripts.get("CJK", 0)
    if lang == "jpn_Jpan":
        return "han_only" if han >= s.kana_min_han and kana == 0 else None
    if lang.startswith("zho_") or lang == "yue":
        return "other" if kana > 0 and kana >= 0.1 * han else None
    return None


def rival(score: LidScore, lang: str, s: LidSettings) -> float:
    """How strongly the detectors agree on one other language (a confusable one too): its largest mean
    vote, counted as if at least two detectors could output it, so that a label only one detector
    knows (CLD2's Nyanja or Seychellois Creole on a Spanish or Haitian caption) reaches 0.5 at most."""
    opinions = [d for d in s.detectors if getattr(score, d)]
    labels = {getattr(score, d)[0][0] for d in opinions} - s.same(lang)
    floor = min(2.0, sum(s.detector_weights.get(d, 1.0) for d in opinions))  # one detector alone: itself
    best = 0.0
    for x in labels:
        total, weight, _ = _tally(score, x, s)
        best = max(best, total / max(weight, floor))
    return best


def miss(score: LidScore, lang: str, s: LidSettings) -> str:
    """The reason for a text that is not in ``lang``: untranslated when it reads as English."""
    if ENGLISH in s.accepted(lang):
        return "wrong_language"
    english = evidence(score, ENGLISH, s) if score.length >= s.short_min_letters else None
    if english is None:  # too short to identify: English when it is (mostly) Latin letters
        english = score.script_share(script_words(ENGLISH))
    return "untranslated" if english >= s.english_evidence else "wrong_language"


def language_reason(score: LidScore, lang: str, s: LidSettings) -> tuple[str | None, bool]:
    """(reason or None, checked) for one scored text that should be in ``lang``: the rule, then the referee's veto."""
    reason, checked = _rule(score, lang, s)
    if reason is None and checked and vetoed_for(score, lang, s):
        return "wrong_language", True
    return reason, checked


def vetoed_for(score: LidScore, lang: str, s: LidSettings) -> str | None:
    """The close neighbour of ``lang`` that lingua says the text is (share of ``lang`` < ``referee_veto``), asked
    only about neighbours that are some detector's top label (each family is one lingua question, cached).
    Asking about every named neighbour rather than the detectors' favourite: +13 calib / +7 held-out
    neighbour texts rejected, no own text more (measured)."""
    near = R.neighbours(lang) if s.referee and score.text else frozenset()
    named = sorted({x for d in s.detectors if (x := score.top(d)) in near})
    return next((x for x in named if R.veto(score.text, lang, x, s.referee_veto)), None)


def _rule(score: LidScore, lang: str, s: LidSettings) -> tuple[str | None, bool]:
    """The detectors' verdict, before the referee."""
    if score.letters == 0:
        return None, False
    cjk = _cjk(score, lang, s)
    if cjk == "other" or (s.foreign_letters and foreign(score.text, lang) >= s.foreign_letters):
        return "wrong_language", True
    share = score.script_share(script_words(lang))
    if share < s.mixed_script_share:
        return miss(score, lang, s), True
    e = evidence(score, lang, s) if score.length >= s.short_min_letters else None
    if e is None:
        return (None, False) if share >= s.min_script_share else (miss(score, lang, s), True)
    wanted = s.min_evidence.get(lang, s.min_evidence_default)
    if score.length < s.min_letters:
        wanted = min(wanted, s.short_min_evidence)
    if e >= wanted and cjk is None and share >= s.min_script_share:
        return None, True
    if cjk == "han_only" or share < s.min_script_share:  # the script is in doubt: the detectors must say so
        wanted = max(wanted, s.kana_evidence if cjk else s.mixed_script_evidence)
        return (None, True) if e >= wanted else (miss(score, lang, s), True)
    # below min_evidence: kept on weak evidence while no rival language is confidently seen; under
    # min_letters without it too (measured: 9 calib and 5 held-out own texts kept, ~0.8% more of the
    # short other-language texts let through in Latin-script targets; lowest same-script reject unchanged)
    if (e >= s.weak_evidence or score.length < s.min_letters) and rival(score, lang, s) <= s.rival_evidence:
        return None, True
    return miss(score, lang, s), True


def seen(score: LidScore, s: LidSettings, lang: str | None = None) -> str | None:
    """The language the detectors vouch for most (a top label of one of them; sum of votes, so that
    CLD2 alone naming a language the others cannot output does not win), for reports; with ``lang``
    (the claimed language), first the close neighbour of it that lingua says the text is where lingua's
    veto rejected it (a text the rule already rejects is named by the detectors: German claimed as
    Afrikaans is German, though lingua, asked only Afrikaans or Dutch, says Dutch)."""
    if lang is not None and _rule(score, lang, s) == (None, True) and (near := vetoed_for(score, lang, s)):
        return near
    candidates = {r[0][0] for d in s.detectors if (r := getattr(score, d))}
    scored = [(_tally(score, x, s)[0], x) for x in sorted(candidates)]
    return max(scored)[1] if scored else None
