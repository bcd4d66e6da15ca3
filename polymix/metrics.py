"""Scores of generated outputs: chrF and CIDEr-D for captions, exact match for short answers.

Used by the trainer's evaluation on the mix (:mod:`polymix.training.evaluate`) and by the toy
translation model's report; no downloads, no Java.

- ``chrf``: sacrebleu's ``CHRF`` (character n-grams up to 6 with whitespace removed, beta 2,
  corpus statistics, the best-scoring reference chosen per sentence); 0-100. Language-agnostic,
  so it is the caption score to compare across languages.
- ``cider``: CIDEr-D computed as pycocoevalcap's ``CiderScorer`` computes it (word 1-4-grams,
  tf-idf from the references of the evaluated set, clipped, Gaussian length penalty sigma 6,
  x10), operation for operation, so the value is the same to the last digit (the tests call
  pycocoevalcap directly). Kept here rather than imported: pycocoevalcap is a 100 MB wheel
  (the CoreNLP, METEOR and SPICE jars) that lives in the ``[eval]`` extra, and the trainer's
  default evaluation must run on the base install. Words are lower-cased and split on
  whitespace after removing punctuation, instead of its PTB tokenizer (a Java program), which
  suits space-delimited languages. ``polymix eval`` (XM3600, the number papers report) uses
  pycocoevalcap with the PTB tokenizer itself: :mod:`polymix.training.benchmarks.scores`.
- ``exact_match``: the normalised prediction equals one of the references (VQA accuracy as in
  mBLIP's xGQA/MaXM numbers); 0-100.
"""

from __future__ import annotations

import unicodedata
from collections import Counter

import numpy as np

_ARTICLES = {"a", "an", "the"}


def _strip_punct(text: str) -> str:
    return "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)


def normalize_answer(text: str) -> str:
    """Lower-case, punctuation to spaces, English articles dropped, whitespace collapsed."""
    words = _strip_punct(text.lower()).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def exact_match(predictions: list[str], references: list[list[str]]) -> float:
    if not predictions:
        return 0.0
    hits = sum(normalize_answer(p) in {normalize_answer(r) for r in refs} for p, refs in zip(predictions, references))
    return 100.0 * hits / len(predictions)


def chrf(predictions: list[str], references: list[list[str]], order: int = 6, beta: float = 2.0) -> float:
    """Corpus chrF (0-100): ``sacrebleu.CHRF(char_order=order, word_order=0, beta=beta)``; each
    prediction may have its own number of references (none counts as one empty reference)."""
    from sacrebleu.metrics import CHRF

    if not predictions:
        return 0.0
    refs = [list(r) or [""] for r in references]
    width = max(len(r) for r in refs)
    # sacrebleu takes reference *streams* (the k-th reference of every sentence); None pads
    # the sentences that have fewer, which it drops before scoring.
    streams = [[r[k] if k < len(r) else None for r in refs] for k in range(width)]
    return float(CHRF(char_order=order, word_order=0, beta=beta).corpus_score(list(predictions), streams).score)


def _words(text: str) -> list[str]:
    return _strip_punct(text.lower()).split()


def _ngram_counts(words: list[str], n_max: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for n in range(1, n_max + 1) for i in range(len(words) - n + 1))


def cider(predictions: list[str], references: list[list[str]], n_max: int = 4, sigma: float = 6.0) -> float:
    """Corpus CIDEr-D: pycocoevalcap's ``Cider().compute_score`` (mean over items) x 100, the
    scale papers report. Items without references score 0 (pycocoevalcap refuses them)."""
    if not predictions:
        return 0.0
    refs_counts = [[_ngram_counts(_words(r), n_max) for r in refs] for refs in references]
    df: Counter = Counter(g for counts in refs_counts for g in set().union(*counts))
    log_n = np.log(float(len(predictions)))
    penalty = 2 * sigma**2

    def vector(counts: Counter) -> tuple[list[dict], list[float], int]:
        vec: list[dict] = [{} for _ in range(n_max)]
        norm = [0.0] * n_max
        length = 0
        for gram, tf in counts.items():
            n = len(gram) - 1
            vec[n][gram] = float(tf) * (log_n - np.log(max(1.0, df[gram])))
            norm[n] += pow(vec[n][gram], 2)
            length += tf if n == 1 else 0  # pycocoevalcap's length is the number of bigrams
        return vec, [np.sqrt(x) for x in norm], length

    scores = []
    for pred, counts in zip(predictions, refs_counts):
        vh, nh, lh = vector(_ngram_counts(_words(pred), n_max))
        total = np.zeros(n_max)
        for rc in counts:
            vr, nr, lr = vector(rc)
            val = np.zeros(n_max)
            for n in range(n_max):
                for gram, v in vh[n].items():
                    val[n] += min(v, vr[n].get(gram, 0.0)) * vr[n].get(gram, 0.0)
                if nh[n] != 0 and nr[n] != 0:
                    val[n] /= nh[n] * nr[n]
                val[n] *= np.e ** (-(float(lh - lr) ** 2) / penalty)
            total += val
        scores.append(np.mean(total) / len(counts) * 10.0 if counts else 0.0)
    return 100.0 * float(np.mean(np.array(scores)))
