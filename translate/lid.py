"""Language-ID scoring: three offline detectors, labels mapped to NLLB codes, and the script of a text.

Score first, decide later: this module only measures. :func:`score_text` turns a text into a
:class:`LidScore` (each detector's best labels with probabilities, and how many letters the text
has in each script); :mod:`polymix.translate.lid_filter` decides what to keep.

    >>> s = score_text("Ein Mann fährt mit dem Fahrrad durch den Park.")
    >>> s.label, round(s.score, 2)                  # langid's: stored as lid_label / lid_score
    ('deu_Latn', 1.0)

Detectors (offline, installed with polymix; measured in /work/shared/notes/LID.md):

* ``langid`` 1.1.6, the project card's detector. Its top label and normalised probability are the
  ``lid_label``/``lid_score`` columns. It cannot output 16 of the 94 mBLIP languages.
* ``py3langid`` 0.4: langid's method with a newer model, 88 of the 94, probabilities scaled by
  text length (useful below rank 1).
* ``cld2`` (pycld2): all 94 and Sindhi; fast.

Labels become NLLB codes where the registry knows them (``de`` -> ``deu_Latn``); others stay as
the detector wrote them (``hr``, ``yue``). Many texts are scored in a process pool with
:class:`LidPool`; each worker loads the models once.
"""

from __future__ import annotations

import dataclasses
import functools
import multiprocessing as mp
import os
import unicodedata
from typing import Iterable, Sequence

import numpy as np

from polymix.mix import languages as L

DETECTORS = ("langid", "py3langid", "cld2")
TOP_K = 5
# Spellings the registry does not hold: CLD2 writes iw/jw/zh-Hant, py3langid no, langid nb.
_ALIASES = {"no": "nob_Latn", "nb": "nob_Latn", "iw": "heb_Hebr", "he": "heb_Hebr", "jw": "jav_Latn",
            "zh": "zho_Hans", "zh-Hant": "zho_Hant", "fil": "tgl_Latn", "ceb": "ceb_Latn"}
# Unicode name prefixes (first word of unicodedata.name) that count as each registry script.
_SCRIPT_WORDS = {"Hans": {"CJK"}, "Hant": {"CJK"}, "Jpan": {"CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA"},
                 "Hang": {"HANGUL", "CJK"}}
_NEUTRAL = {"COMBINING", "MODIFIER", "FULLWIDTH", "HALFWIDTH", "SUPERSCRIPT", "SUBSCRIPT", "CIRCLED", "PARENTHESIZED"}


@functools.cache
def _label_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for lang in L.languages():
        for key in (lang.iso639_1, lang.mc4_code, lang.langid):
            if key:
                table.setdefault(key, lang.nllb)
    table.update(_ALIASES)
    return table


def to_nllb(label: str) -> str:
    """A detector label as an NLLB code where the registry has the language, else unchanged."""
    return _label_table().get(label, label)


def script_words(lang: str) -> frozenset[str]:
    """Unicode script name prefixes that a text in ``lang`` (NLLB code) is written in."""
    script = lang.rsplit("_", 1)[-1]
    if script in _SCRIPT_WORDS:
        return frozenset(_SCRIPT_WORDS[script])
    return frozenset({L.get(lang).script_name.upper()})


@functools.lru_cache(maxsize=65536)
def _char_script(ch: str) -> str | None:
    if unicodedata.category(ch)[0] not in "LM":
        return None
    word = unicodedata.name(ch, "").split(" ", 1)[0]
    return None if not word or word in _NEUTRAL else word


def scripts_of(text: str) -> dict[str, int]:
    """Letters (and vowel signs) per Unicode script name prefix: ``{"LATIN": 12, "CJK": 3}``."""
    counts: dict[str, int] = {}
    for ch in text:
        word = _char_script(ch)
        if word:
            counts[word] = counts.get(word, 0) + 1
    return counts


@dataclasses.dataclass(slots=True)
class LidScore:
    """What the detectors say about one text. Probabilities are per label, best first."""

    letters: int
    scripts: dict[str, int]
    langid: tuple[tuple[str, float], ...]
    py3langid: tuple[tuple[str, float], ...]
    cld2: tuple[tuple[str, float], ...]
    """CLD2's top languages with their share of the text (percent / 100); empty when it knows none."""

    @property
    def label(self) -> str | None:
        """langid's top label (``lid_label``)."""
        return self.langid[0][0] if self.langid else None

    @property
    def score(self) -> float | None:
        """langid's normalised probability of :attr:`label` (``lid_score``)."""
        return self.langid[0][1] if self.langid else None

    def top(self, detector: str) -> str | None:
        ranked = getattr(self, detector)
        return ranked[0][0] if ranked else None

    def prob(self, detector: str, labels: frozenset[str] | set[str]) -> float:
        return sum(p for label, p in getattr(self, detector) if label in labels)

    def script_share(self, words: frozenset[str]) -> float:
        """Share of the letters written in one of ``words`` (1.0 for a text without letters)."""
        return sum(n for w, n in self.scripts.items() if w in words) / self.letters if self.letters else 1.0

    def detail(self) -> str:
        """One line for humans: each detector's best label and probability."""
        return " ".join(f"{d}={r[0][0]}:{r[0][1]:.2f}" if (r := getattr(self, d)) else f"{d}=-" for d in DETECTORS)


class _Models:
    """The three detectors, loaded once per process."""

    def __init__(self) -> None:
        import langid.langid as langid_mod
        import py3langid.langid as py3_mod
        import pycld2

        self.langid = langid_mod.LanguageIdentifier.from_modelstring(langid_mod.model, norm_probs=True)
        self.py3 = py3_mod.LanguageIdentifier.from_model_file(py3_mod.MODEL_FILE, norm_probs=True)
        self.cld2 = pycld2
        self.langid_labels = [to_nllb(c) for c in self.langid.nb_classes]
        self.py3_labels = [to_nllb(c) for c in self.py3.nb_classes]
        self.coverage = {
            "langid": frozenset(self.langid_labels),
            "py3langid": frozenset(to_nllb(c) for c in self.py3.labels),
            "cld2": frozenset(to_nllb(code) for name, code in pycld2.LANGUAGES if name in set(pycld2.DETECTED_LANGUAGES)) | {"zho_Hant"},
        }

    def langid_rank(self, text: str) -> tuple[tuple[str, float], ...]:
        ident = self.langid
        fv = ident.instance2fv(text)
        used = fv.nonzero()[0]
        # langid's own nb_classprobs multiplies the dense feature vector (10 ms a text); its
        # non-zero rows give the same numbers 20x faster; a softmax is langid's norm_probs without its n^2 matrix
        logp = fv[used].astype("float64") @ ident.nb_ptc[used] + ident.nb_pc
        probs = np.exp(logp - logp.max())
        probs /= probs.sum()
        best = np.argpartition(-probs, TOP_K)[:TOP_K]
        return tuple(sorted(((self.langid_labels[i], float(probs[i])) for i in best), key=lambda x: -x[1]))

    def py3_rank(self, text: str) -> tuple[tuple[str, float], ...]:
        if not hasattr(self.py3, "_decide"):  # older py3langid: the public (slower) ranking
            return tuple((to_nllb(label), float(p)) for label, p in self.py3.rank(text)[:TOP_K])
        probs = self.py3._decide(text)  # one score per class, aliases folded (what rank() sorts)
        best = np.argpartition(-probs, TOP_K)[:TOP_K]
        return tuple(sorted(((self.py3_labels[i], float(probs[i])) for i in best), key=lambda x: -x[1]))

    def cld2_rank(self, text: str) -> tuple[tuple[str, float], ...]:
        try:
            _, _, found = self.cld2.detect(text, bestEffort=True)
        except self.cld2.error:  # CLD2 refuses some invalid UTF-8 (lone surrogates): no opinion
            return ()
        return tuple((to_nllb(code), pct / 100) for _, code, pct, _ in found if code != "un" and pct > 0)


@functools.cache
def models() -> _Models:
    return _Models()


def coverage(detector: str) -> frozenset[str]:
    """The labels (NLLB codes where known) that ``detector`` can output."""
    return models().coverage[detector]


def score_text(text: str) -> LidScore:
    m = models()
    scripts = scripts_of(text)
    if not scripts:  # no letters: nothing for a detector to go on
        return LidScore(0, {}, (), (), ())
    return LidScore(sum(scripts.values()), scripts, m.langid_rank(text), m.py3_rank(text), m.cld2_rank(text))


def score_batch(texts: Sequence[str]) -> list[LidScore]:
    return [score_text(t) for t in texts]


class LidPool:
    """Scores texts in ``processes`` worker processes (in this process when ``processes`` <= 1).

    Use it as a context manager around a whole run, so workers load the models once:

        with LidPool(4) as pool:
            scores = pool.score(texts)
    """

    def __init__(self, processes: int | None = None, batch_size: int = 512):
        self.processes = max(1, min(processes if processes is not None else 4, os.cpu_count() or 1))
        self.batch_size = batch_size
        self._pool = None

    def __enter__(self) -> "LidPool":
        if self.processes > 1:
            # spawn, not fork: the parent may hold threads (polars, CTranslate2) that fork would copy mid-lock
            self._pool = mp.get_context("spawn").Pool(self.processes, initializer=models)
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None

    def score(self, texts: Iterable[str]) -> list[LidScore]:
        """One score per text, in order; each distinct text is scored once."""
        texts = list(texts)
        distinct = list(dict.fromkeys(texts))
        if self._pool is None or len(distinct) < 2 * self.batch_size:
            done = score_batch(distinct)
        else:
            batches = [distinct[i:i + self.batch_size] for i in range(0, len(distinct), self.batch_size)]
            done = [s for part in self._pool.imap(score_batch, batches) for s in part]
        by_text = dict(zip(distinct, done))
        return [by_text[t] for t in texts]
