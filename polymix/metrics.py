"""Scores of generated outputs: chrF and CIDEr-D for captions, exact match for short answers.

Pure Python, no downloads, written to match the usual definitions closely:

- ``chrf``: sacrebleu's chrF (character n-grams up to 6 with whitespace removed, beta 2),
  corpus statistics, the best-scoring reference chosen per sentence; 0-100. Language-agnostic,
  so it is the caption score to compare across languages.
- ``cider``: CIDEr-D as in pycocoevalcap (word 1-4-grams, tf-idf from the references of the
  evaluated set, clipped, Gaussian length penalty sigma 6, x10); words are lower-cased and
  split on whitespace after removing punctuation, which suits space-delimited languages.
- ``exact_match``: the normalised prediction equals one of the references (VQA accuracy as in
  mBLIP's xGQA/MaXM numbers); 0-100.
"""

from __future__ import annotations

import math
import unicodedata
from collections import Counter

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


def _char_ngrams(text: str, n: int) -> Counter:
    text = "".join(text.split())
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def _chrf_stats(hyp: list[Counter], ref: str) -> list[tuple[int, int, int]]:
    """Per n: (matches, hypothesis n-grams, reference n-grams); ``hyp``: the hypothesis' n-grams per n."""
    out = []
    for n, h in enumerate(hyp, start=1):
        r = _char_ngrams(ref, n)
        out.append((sum((h & r).values()), sum(h.values()), sum(r.values())))
    return out


def _chrf_from(stats, beta: float) -> float:
    precs, recs = [], []
    for match, hyp, ref in stats:
        if hyp > 0 and ref > 0:
            precs.append(match / hyp)
            recs.append(match / ref)
    if not precs:
        return 0.0
    p, r = sum(precs) / len(precs), sum(recs) / len(recs)
    return 0.0 if p + r == 0 else 100.0 * (1 + beta**2) * p * r / (beta**2 * p + r)


def chrf(predictions: list[str], references: list[list[str]], order: int = 6, beta: float = 2.0) -> float:
    totals = [[0, 0, 0] for _ in range(order)]
    for pred, refs in zip(predictions, references):
        hyp = [_char_ngrams(pred, n) for n in range(1, order + 1)]  # once, whatever the number of references
        candidates = [_chrf_stats(hyp, ref) for ref in refs or [""]]
        best = max(candidates, key=lambda s: _chrf_from(s, beta))
        for total, stat in zip(totals, best):
            for k in range(3):
                total[k] += stat[k]
    return _chrf_from(totals, beta)


def _words(text: str) -> list[str]:
    return _strip_punct(text.lower()).split()


def _ngram_counts(words: list[str], n_max: int) -> Counter:
    return Counter(tuple(words[i : i + n]) for n in range(1, n_max + 1) for i in range(len(words) - n + 1))


def cider(predictions: list[str], references: list[list[str]], n_max: int = 4, sigma: float = 6.0) -> float:
    """Corpus CIDEr-D: pycocoevalcap's value (mean over items) x 100, the scale papers report."""
    if not predictions:
        return 0.0
    refs_counts = [[_ngram_counts(_words(r), n_max) for r in refs] for refs in references]
    df: Counter = Counter()
    for counts in refs_counts:
        df.update(set().union(*[set(c) for c in counts]) if counts else set())
    log_n = math.log(float(len(predictions)))

    def vector(counts: Counter):
        vec = [dict() for _ in range(n_max)]
        norms = [0.0] * n_max
        for gram, tf in counts.items():
            n = len(gram) - 1
            vec[n][gram] = tf * (log_n - math.log(max(1.0, df[gram])))
            norms[n] += vec[n][gram] ** 2
        return vec, [math.sqrt(x) for x in norms]

    scores = []
    for pred, counts in zip(predictions, refs_counts):
        hyp_words = _words(pred)
        vh, nh = vector(_ngram_counts(hyp_words, n_max))
        per_ref = []
        for rc in counts:
            vr, nr = vector(rc)
            delta = len(hyp_words) - sum(c for g, c in rc.items() if len(g) == 1)
            sims = []
            for n in range(n_max):
                val = sum(min(v, vr[n].get(g, 0.0)) * vr[n].get(g, 0.0) for g, v in vh[n].items())
                sims.append(val / (nh[n] * nr[n]) * math.exp(-(delta**2) / (2 * sigma**2)) if nh[n] and nr[n] else 0.0)
            per_ref.append(sum(sims) / n_max)
        scores.append(10.0 * sum(per_ref) / len(per_ref) if per_ref else 0.0)
    return 100.0 * sum(scores) / len(scores)
