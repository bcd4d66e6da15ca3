"""Which language each example goes to.

* ``mc4``: mBLIP's distribution: English keeps its mC4 share (43.8%) untranslated, the rest is
  spread over ``LANGS`` in proportion to their mC4 shares;
* ``uniform``: the same share for every language of ``LANGS`` (English: ``english_share``);
* ``replicate``: every example into every language of ``LANGS``.

mBLIP cut its data into contiguous slices per language, so small languages got a rounding error
of rows, often none. polymix computes exact counts (largest remainder) with a floor of one row
per language whenever there are at least as many examples as languages, then deals languages out
over the examples in an order given by a seeded hash of each example's id: the same ids and seed
give the same assignment on every machine, whatever the order of the input.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

from polymix import languages as L

DISTRIBUTIONS = ("mc4", "uniform", "replicate")


def weights(langs: Sequence[str], distribution: str, english_share: float | None = None) -> dict[str, float]:
    """Target probabilities (summing to 1), English included when its share is > 0."""
    if distribution not in ("mc4", "uniform"):
        raise ValueError(f"distribution {distribution!r}: valid values are {', '.join(DISTRIBUTIONS)}")
    targets = [lang for lang in langs if lang != L.ENGLISH]
    if english_share is None:
        english_share = L.get(L.ENGLISH).mc4_share / 100 if distribution == "mc4" else 0.0
    if not 0.0 <= english_share <= 1.0:
        raise ValueError(f"english_share must be within [0, 1], got {english_share}")
    if not targets:
        return {L.ENGLISH: 1.0}
    raw = np.array([L.get(t).mc4_share if distribution == "mc4" else 1.0 for t in targets], dtype=np.float64)
    share = raw / raw.sum() * (1.0 - english_share)
    out = {L.ENGLISH: english_share} if english_share > 0 else {}
    out.update(dict(zip(targets, share.tolist())))
    return out


def counts(n: int, probs: dict[str, float]) -> dict[str, int]:
    """Exact row counts summing to n; every language gets >= 1 row when n >= len(probs)."""
    langs = list(probs)
    p = np.array([probs[lang] for lang in langs], dtype=np.float64)
    quota = p * n
    base = np.floor(quota).astype(np.int64)
    if n >= len(langs):
        base = np.maximum(base, 1)
    # Too many after the floor: take rows back from the languages furthest above their quota.
    while base.sum() > n:
        over = np.where(base > 1, base - quota, -np.inf)
        base[int(np.argmax(over))] -= 1
    # Too few: largest remainders first (ties: registry order).
    left = n - int(base.sum())
    if left > 0:
        remainder = quota - base
        for k in np.argsort(-remainder, kind="stable")[:left]:
            base[k] += 1
    return dict(zip(langs, base.tolist()))


def _order(ids: Sequence[str], seed: int) -> np.ndarray:
    keys = [int.from_bytes(hashlib.blake2b(f"{seed}\x1f{i}".encode(), digest_size=8).digest(), "big") for i in ids]
    return np.argsort(np.array(keys, dtype=np.uint64), kind="stable")


def assign(
    ids: Sequence[str], langs: Sequence[str], distribution: str = "mc4", english_share: float | None = None, seed: int = 0
) -> list[str]:
    """One language per id (not for ``replicate``; see :func:`expand`)."""
    probs = weights(langs, distribution, english_share)
    per_lang = counts(len(ids), probs)
    # Deal languages round-robin-by-quota rather than in blocks, so any prefix of the hash
    # order is itself close to the distribution.
    sequence = np.repeat(np.arange(len(per_lang)), list(per_lang.values()))
    position = np.concatenate([(np.arange(c) + 0.5) / c for c in per_lang.values() if c]) if ids else np.array([])
    dealt = sequence[np.argsort(position, kind="stable")]
    names = list(per_lang)
    out = [""] * len(ids)
    for slot, index in enumerate(_order(ids, seed)):
        out[int(index)] = names[int(dealt[slot])]
    return out


def expand(
    ids: Sequence[str], langs: Sequence[str], distribution: str = "mc4", english_share: float | None = None, seed: int = 0
) -> list[list[str]]:
    """The languages of each id: one for ``mc4``/``uniform``, all of ``langs`` for ``replicate``."""
    if distribution == "replicate":
        return [list(langs) for _ in ids]
    return [[lang] for lang in assign(ids, langs, distribution, english_share, seed)]
