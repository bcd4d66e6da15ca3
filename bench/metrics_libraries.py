"""polymix's caption scores against the libraries they follow: equal values, and the time each takes.

    .venv/bin/python bench/metrics_libraries.py                 # 300 random corpora of short captions
    .venv/bin/python bench/metrics_libraries.py --old 498a45c   # and how far an older metrics.py was

chrF is sacrebleu's (``polymix.metrics.chrf`` only arranges references of varying number into
sacrebleu's streams); CIDEr-D is polymix's port of pycocoevalcap's ``CiderScorer`` (pycocoevalcap
itself lives in the ``[eval]`` extra). Each corpus draws 1-30 captions of 1-9 words from a small
vocabulary with 1-4 references each, so that n-grams repeat as they do in shapes captions. Needs
pycocoevalcap (``pip install 'polymix[eval]'``); ``--old`` needs git.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pycocoevalcap.cider.cider import Cider
from sacrebleu.metrics import CHRF

from polymix import metrics

WORDS = "a red blue green circle square triangle on the white black gray background two three ein roter Kreis".split()


def corpora(n: int, seed: int = 0):
    rng = random.Random(seed)
    sentence = lambda: " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 9)))  # noqa: E731
    for _ in range(n):
        preds = [sentence() for _ in range(rng.randint(1, 30))]
        yield preds, [[sentence() for _ in range(rng.randint(1, 4))] for _ in preds]


def cider_direct(preds, refs) -> float:
    gts = {str(i): [" ".join(metrics._words(r)) for r in rs] for i, rs in enumerate(refs)}
    res = {str(i): [" ".join(metrics._words(p))] for i, p in enumerate(preds)}
    return 100 * float(Cider().compute_score(gts, res)[0])


def chrf_direct(preds, refs) -> float:
    streams = [[r[k] if k < len(r) else r[0] for r in refs] for k in range(max(map(len, refs)))]  # repeat the first
    return CHRF().corpus_score(preds, streams).score


def old_module(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:polymix/metrics.py"], capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_metrics.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("old_metrics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpora", type=int, default=300, help="random corpora to score (default 300)")
    parser.add_argument("--old", metavar="REV", help="also score with polymix/metrics.py as of git revision REV")
    args = parser.parse_args(argv)
    data = list(corpora(args.corpora))
    old = old_module(args.old) if args.old else None
    pairs = {"CIDEr-D": (metrics.cider, cider_direct, "pycocoevalcap"), "chrF": (metrics.chrf, chrf_direct, "sacrebleu")}
    for name, (ours, theirs, lib) in pairs.items():
        times, values = {}, {}
        for label, fn in (("polymix", ours), (lib, theirs)):
            started = time.perf_counter()
            values[label] = [fn(p, r) for p, r in data]
            times[label] = time.perf_counter() - started
        equal = sum(a == b for a, b in zip(values["polymix"], values[lib]))
        diff = max(abs(a - b) for a, b in zip(values["polymix"], values[lib]))
        line = (
            f"{name:8} polymix == {lib} in {equal}/{len(data)} corpora (max |diff| {diff:.3g}); "
            f"{times['polymix']:.2f} s polymix, {times[lib]:.2f} s {lib}"
        )
        if old is not None:
            before = [getattr(old, ours.__name__)(p, r) for p, r in data]
            line += f"; {args.old}: max |diff| {max(abs(a - b) for a, b in zip(before, values['polymix'])):.3g}"
        print(line)


if __name__ == "__main__":
    sys.exit(main())
