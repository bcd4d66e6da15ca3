"""Language-ID throughput on short captions: one process against the process pool, and each detector.

    .venv/bin/python bench/lid_throughput.py                      # 20,000 captions, pools of 2..cores
    .venv/bin/python bench/lid_throughput.py --rows 50000 --processes 2,4,8

First, each detector alone on the short real texts of data/lid-dev (UD sentences cut to 3-12
words): rows/s in this process and top-1 accuracy (written varieties count as the language),
which is what earned fastText its place as the fourth detector.

A benchmark, not a test. The texts are real: UDHR paragraphs of 94 languages
(../shared/data/udhr-lid-dev.jsonl) cut to caption length (8 words; 24 characters in scripts
without spaces), each made distinct with a number so that the pool's de-duplication does not
skip work. Each setting is timed after a warm-up (models loaded, workers started), from texts to
scores (three detectors) and to decisions (scores plus the filter's checks). A GPU translating
with NLLB-1.3B writes a few thousand short sentences per second: language ID must keep up.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import time
from pathlib import Path

from polymix.translate.lid.scoring import DETECTORS, LidPool, models, score_batch
from polymix.translate.lid.calibrate import SHORT_DEV, caption_cut, read_dev
from polymix.translate.lid import referee
from polymix.translate.lid.filter import text_reason
from polymix.translate.lid.settings import default_settings

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "udhr-lid-dev.jsonl"


def captions(path: Path, rows: int) -> tuple[list[str], list[str]]:
    items = read_dev(path)
    base = [(caption_cut(r["text"], r["lang"]), r["lang"]) for r in items]
    texts = [f"{base[i % len(base)][0]} {i // len(base)}" for i in range(rows)]
    return texts, [base[i % len(base)][1] for i in range(rows)]


def timed(fn, texts: list[str]) -> tuple[float, list]:
    started = time.perf_counter()
    out = fn(texts)
    return len(texts) / (time.perf_counter() - started), out


def per_detector(path: Path) -> None:
    """rows/s and top-1 accuracy of each detector alone, on the short real texts."""
    rows = [r for r in read_dev(path) if "_" in r["lang"]]
    texts, langs = [r["text"] for r in rows], [r["lang"] for r in rows]
    m, same = models(), default_settings().same
    rank = {"langid": m.langid_rank, "py3langid": m.py3_rank, "cld2": lambda t: m.cld2_rank(t)[0], "fasttext": m.fasttext_rank}
    print(f"each detector alone on {len(texts)} short real texts ({path.name}):")
    print(f"{'detector':<10} {'rows/s':>8} {'top-1':>7}")
    for d in DETECTORS:
        started = time.perf_counter()
        ranked = [rank[d](t) for t in texts]
        rate = len(texts) / (time.perf_counter() - started)
        right = sum(bool(r) and r[0][0] in same(lang) for r, lang in zip(ranked, langs))
        print(f"{d:<10} {rate:>8,.0f} {right / len(texts):>7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description="language-ID rows/s, single process vs process pool")
    parser.add_argument("--input", type=Path, default=DEV, help="JSONL with lang and text (default: the UDHR dev file)")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--processes", default=None, help="comma list of pool sizes (default: 2..cores)")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--short-dev", type=Path, default=SHORT_DEV, help="short real texts for the per-detector table")
    args = parser.parse_args()
    per_detector(args.short_dev)
    texts, langs = captions(args.input, args.rows)
    sizes = [int(x) for x in args.processes.split(",")] if args.processes else list(range(2, (os.cpu_count() or 2) + 1))
    settings = default_settings()

    def decide(scores: list, s=settings) -> None:
        for text, lang, score in zip(texts, langs, scores):
            text_reason(text, lang, score, s)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    score_batch(texts[:200])  # load the models in this process
    with LidPool(1) as one:
        single, scores = timed(one.score, texts)
    warm = [
        f"{t} warm-up" for t in texts
    ]  # distinct texts of every language: lingua loads the models they need, caches nothing used below
    for text, lang, score in zip(warm, langs, score_batch(warm)):
        text_reason(text, lang, score, settings)
    decide_cpu_off = _cpu(decide, scores, dataclasses.replace(settings, referee=False))
    asked = referee.lingua_calls()
    started, cpu_started = time.perf_counter(), time.process_time()
    decide(scores)  # the default: with the lingua referee
    decide_s, decide_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    asked = referee.lingua_calls() - asked
    print(
        f"{len(texts)} captions, mean {sum(map(len, texts)) / len(texts):.0f} characters, {os.cpu_count()} cores, "
        f"load average {load:.1f} at the start"
    )
    print(f"all {len(DETECTORS)} detectors and the decision:")
    print(
        f"{'setting':<16} {'scores/s':>9} {'decided/s':>10} {'vs single':>10}"
        f" {'per CPU-s':>10} {'decided/CPU-s':>14} {'on idle cores':>14}"
    )
    per_cpu = one.texts / one.cpu_seconds

    def line(name: str, rate: float, cpu_rate: float, n: int) -> None:
        total = len(texts) / (len(texts) / rate + decide_s)
        decided_cpu = len(texts) / (len(texts) / cpu_rate + decide_cpu)  # scores and decisions, per core
        print(
            f"{name:<16} {rate:>9,.0f} {total:>10,.0f} {rate / single:>9.2f}x {cpu_rate:>10,.0f} {decided_cpu:>14,.0f} "
            f"{cpu_rate * n:>14,.0f}"
        )

    line("single process", single, per_cpu, 1)
    for n in sizes:
        with LidPool(n, batch_size=args.batch_size) as pool:
            pool.score([f"warm-up {i} " + t for i, t in enumerate(texts[: 4 * args.batch_size * n])])
            pool.texts, pool.cpu_seconds = 0, 0.0
            rate, _ = timed(pool.score, texts)
            line(f"pool of {n}", rate, pool.texts / pool.cpu_seconds, n)
    print(
        "scores/s and decided/s: wall clock here; 'on idle cores': CPU-time rate x processes, what the pool "
        "reaches when its cores are free (this machine's other jobs share them)"
    )
    print(
        f"the decision alone, per CPU-second: referee off {len(texts) / decide_cpu_off:,.0f}, referee on "
        f"{len(texts) / decide_cpu:,.0f} ({decide_cpu_off / decide_cpu:.2f}x; lingua asked about {asked} of {len(texts)} "
        "texts, after a warm-up that loaded the models)"
    )
    both = {name: len(texts) / (len(texts) / per_cpu + cpu) for name, cpu in (("off", decide_cpu_off), ("on", decide_cpu))}
    print(
        f"scores and decision, single process, per CPU-second: referee off {both['off']:,.0f}, on {both['on']:,.0f} "
        f"({both['on'] / both['off']:.2f}x); peak RSS of this process (it decides, so it holds lingua's models; "
        f"the scoring workers do not) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"
    )


def _cpu(fn, *args) -> float:
    started = time.process_time()
    fn(*args)
    return time.process_time() - started


if __name__ == "__main__":
    main()
