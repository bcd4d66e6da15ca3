"""Rows of ``translate_throughput.py``'s table: "ctranslate2 alone", the timed rounds, the table
and the decoding pipeline's idle time. Imported by the benchmark scripts, not run by itself.

"ctranslate2 alone" is the floor polymix's own Python adds to: the CTranslate2 translator that
the polymix row loaded (same converted model, compute type and replicas), fed the same source
tokens in the same batches with the same decoding options, every batch submitted at once with
``asynchronous=True`` and waited for -- no tokenizing, splitting, detokenizing or polymix code
inside the timed part. polymix's gap to it is the time its pipeline leaves the replicas idle.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable, Sequence

Run = Callable[[], tuple[float, Any, int]]  # () -> (seconds, outputs, tokens decoded after the language token)


def log(msg: str) -> None:
    print(msg, flush=True)


def ct2_alone(translator, texts: Sequence[str], lang: str) -> Run:
    """A run of ``translator``'s CTranslate2 model alone on its batches of ``texts`` (prepared here,
    outside the timing, with polymix's own tokenizer and batcher so that the batches are the same)."""
    tokens = translator.source_tokens(list(texts))
    lengths = [len(t) for t in tokens]
    batches = translator._batches(lengths, translator.replicas)
    d = translator.decode
    inner = translator.translator  # the fixed-length wrapper around the loaded ctranslate2.Translator
    options = dict(
        beam_size=d.beam_size,
        sampling_topk=d.sampling_topk,
        no_repeat_ngram_size=d.no_repeat_ngram_size,
        repetition_penalty=d.repetition_penalty,
        return_scores=False,
    )
    sources = [[tokens[i] for i in batch] for batch in batches]
    prefixes = [[[lang]] * len(batch) for batch in batches]

    def run() -> tuple[float, None, int]:
        started = time.perf_counter()
        pending = [
            inner.translate_batch(src, target_prefix=prefix, max_decoding_length=0, asynchronous=True, **options)
            for src, prefix in zip(sources, prefixes)
        ]
        decoded = sum(len(r.result().hypotheses[0]) - 1 for results in pending for r in results)
        return time.perf_counter() - started, None, decoded

    return run


def timed_rounds(
    paths: list[tuple[str, Run]], n: int, T: int, repeat: int, optional: Sequence[str] = ()
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Every path once per round, ``repeat`` rounds; (fastest seconds per path, seconds per round).
    A path in ``optional`` that fails (e.g. more replicas than the GPU's memory holds) is reported
    and left out of the later rounds; any other failure is raised."""
    best: dict[str, float] = {}
    rounds: list[dict[str, float]] = []
    failed: set[str] = set()
    for rep in range(repeat):
        rounds.append({})
        for label, run in paths:
            if label in failed:
                continue
            load = os.getloadavg()[0]
            log(f"[{label}] translating {n} sentences, {T} tokens{f' (run {rep + 1}/{repeat})' if repeat > 1 else ''} ...")
            try:
                seconds, _, tokens = run()
            except Exception as err:  # noqa: BLE001 - only for optional rows, see below
                if label not in optional:
                    raise
                log(f"[{label}] FAILED, left out: {type(err).__name__}: {str(err)[:200]}")
                failed.add(label)
                best.pop(label, None)
                continue
            if tokens != n * T:
                raise AssertionError(f"{label} decoded {tokens} tokens, expected {n} x {T}")
            log(
                f"[{label}] {seconds:.2f} s, {n / seconds:.1f} sentences/s (load average {load:.1f} -> "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
            )
            best[label] = min(best.get(label, math.inf), seconds)
            rounds[-1][label] = seconds
    return best, rounds


def table(best: dict[str, float], n: int, T: int, hf_label: str) -> None:
    hf_sps = n / best[hf_label]
    log("")
    log(f"{T} tokens per sentence (fastest of the rounds):")
    log(f"{'path':<34}{'seconds':>9}{'sent/s':>10}{'tokens/s':>11}{'vs transformers':>17}")
    for label, secs in best.items():
        log(f"{label:<34}{secs:>9.2f}{n / secs:>10.1f}{n * T / secs:>11.0f}{(n / secs) / hf_sps:>16.2f}x")


def idle_line(translator) -> str:
    """The replicas' idle time in the translator's last call (translate/pipeline.py's CallTiming)."""
    t = translator.last_timing
    if t is None or t.wall <= 0:
        return "[pipeline] no call timed"
    total = t.workers * t.wall
    return (
        f"[pipeline] last call: {t.workers} replica(s) x {t.wall:.2f} s, decoding {t.decoding / total:.1%}, idle "
        f"{t.idle_share:.1%}: before the first batch (tokenizing, batching) {t.lead / total:.1%}, between batches "
        f"{t.gaps / total:.1%}, after the last (detokenizing) {t.tail / total:.1%}"
    )
