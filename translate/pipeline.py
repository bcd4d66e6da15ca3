"""The decoding pipeline: batches go to one worker thread per model replica, and nothing else
waits on them.

:class:`NllbTranslator <polymix.translate.nllb.NllbTranslator>` tokenizes and batches a call's
texts, then hands the batches to a :class:`DecodePool` and detokenizes each result as it comes
back, while the replicas decode the next ones (at most ``2 x workers`` batches of a call are out
at once: a bounded producer/consumer queue). The pool is shared by every call of the translator,
so two chunks translated in two threads keep the replicas busy between each other's batches.

Each worker calls CTranslate2's ``translate_batch`` synchronously (CTranslate2 releases the GIL
while it decodes), so the pool knows when every batch started and ended, and
:class:`CallTiming` splits a call's replica-time into decoding and idle: before the first
batch (tokenizing), between batches (the replica waited for Python), after the last one
(detokenizing the tail). ``bench/translate_throughput.py`` prints these.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator


@dataclasses.dataclass
class CallTiming:
    """Replica-seconds of one call: ``workers x wall = decoding + lead + gaps + tail``."""

    workers: int
    wall: float = 0.0
    decoding: float = 0.0
    lead: float = 0.0
    """before the call's first batch started, per replica (tokenizing, batching)"""
    gaps: float = 0.0
    """between the first batch's start and the last one's end, not decoding (replicas waited)"""
    tail: float = 0.0
    """after the last batch ended (detokenizing the last results)"""

    @classmethod
    def of(cls, workers: int, started: float, ended: float, spans: list[tuple[float, float]]) -> "CallTiming":
        if not spans:
            return cls(workers, ended - started, lead=workers * (ended - started))
        first, last = min(s for s, _ in spans), max(e for _, e in spans)
        busy = sum(e - s for s, e in spans)
        return cls(
            workers,
            ended - started,
            busy,
            workers * (first - started),
            max(0.0, workers * (last - first) - busy),
            workers * (ended - last),
        )

    @property
    def idle_share(self) -> float:
        """Share of the replicas' time in this call that they did not decode."""
        total = self.workers * self.wall
        return 1 - self.decoding / total if total > 0 else 0.0


class DecodePool:
    """``workers`` threads (a ``ThreadPoolExecutor``) running ``translate_batch(*args, **kwargs)``
    on submitted batches."""

    def __init__(self, translate_batch: Callable[..., Any], workers: int):
        self.workers = workers
        self._translate = translate_batch
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="polymix-decode")

    def _timed(self, args: tuple, kwargs: dict) -> tuple[Any, float, float]:
        started = time.perf_counter()
        return self._translate(*args, **kwargs), started, time.perf_counter()

    def run(self, jobs: Iterable[tuple[Any, tuple, dict]], depth: int | None = None) -> Iterator[tuple[Any, Any, float, float]]:
        """Decode ``(tag, args, kwargs)`` jobs; yield ``(tag, result, started, ended)`` as batches
        finish, keeping at most ``depth`` (default 2 x workers) of them submitted at once. An
        error in a batch is raised here once the batches already submitted have come back."""
        depth = depth or 2 * self.workers
        jobs = iter(jobs)
        out: dict[Future, Any] = {}
        error = None
        while True:
            while error is None and len(out) < depth and (job := next(jobs, None)) is not None:
                tag, args, kwargs = job
                out[self._executor.submit(self._timed, args, kwargs)] = tag
            if not out:
                break
            done, _ = wait(out, return_when=FIRST_COMPLETED)
            for future in done:
                tag = out.pop(future)
                if future.exception() is not None:
                    error = error or future.exception()
                elif error is None:
                    yield (tag, *future.result())
        if error is not None:
            raise error

    def close(self) -> None:
        """Stop the workers (they finish the batches already queued) and wait for them, then drop
        the model here: a CTranslate2 model freed by a worker thread while the interpreter shuts
        down aborts the process ("terminate called without an active exception")."""
        self._executor.shutdown(wait=not threading.current_thread().name.startswith("polymix-decode"))
        self._translate = None
