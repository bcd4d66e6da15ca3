"""Translate each distinct string once: de-duplication, pass-through and the persistent cache.

:class:`TranslationService` sits in front of :class:`~polymix.translate.nllb.NllbTranslator`.
Given (text, target language) requests it answers pass-through strings (empty, numbers,
punctuation) itself, looks the rest up in the cache, sends each distinct missing pair to the
model once (once across calls running at once too: a string another thread is translating is
waited for), stores the results, and counts hits and misses per language.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Sequence

from polymix.schema import ENGLISH
from polymix.translate.cache import TranslationCache, namespace
from polymix.translate.nllb import NllbTranslator
from polymix.translate.text import passthrough


class TranslationService:
    def __init__(self, translator: NllbTranslator, cache: TranslationCache | str | Path | None = None):
        self.translator = translator
        self.cache = TranslationCache(cache) if isinstance(cache, (str, Path)) else cache
        self._lock = threading.Lock()
        self._inflight: dict[tuple[str, str, str], list] = {}
        """(source, text, target) being translated by some call: [done event, translation or None]"""
        self.counts: dict[str, Counter[str]] = defaultdict(Counter)
        """per target language: requests, passthrough, hits, translated (distinct strings sent to
        the model), seconds (share of model time, by input length: batches mix languages)"""

    @property
    def model_key(self) -> str:
        return self.translator.model.key

    def _ns(self, lang: str, src: str = ENGLISH) -> str:
        pair = lang if src == ENGLISH else f"{src}>{lang}"
        return namespace(self.model_key, pair, self.translator.decode.cache_key())

    def translate(
        self,
        texts: Sequence[str],
        tgt_langs: Sequence[str] | str,
        stats: dict[str, Counter[str]] | None = None,
        src_lang: str = ENGLISH,
    ) -> list[str]:
        """Translations of ``texts[i]`` into ``tgt_langs[i]``. Counts go to ``self.counts`` and,
        when given, to ``stats`` (per-call counters, e.g. for one chunk while others run).
        ``src_lang`` other than English is for back-translation (round-trip checks)."""
        if isinstance(tgt_langs, str):
            tgt_langs = [tgt_langs] * len(texts)
        sinks = [self.counts] if stats is None else [self.counts, stats]

        def count(lang: str, key: str, n: float = 1) -> None:
            for sink in sinks:
                sink.setdefault(lang, Counter())[key] += n

        answers: dict[tuple[str, str], str] = {}
        todo: dict[str, set[str]] = defaultdict(set)
        for text, lang in zip(texts, tgt_langs):
            count(lang, "requests")
            if passthrough(text):
                count(lang, "passthrough")
                answers[(text, lang)] = text
            elif (text, lang) not in answers:
                todo[lang].add(text)
        # cache lookups, per language namespace
        missing: list[tuple[str, str]] = []
        for lang, distinct in todo.items():
            found = self.cache.get_many(self._ns(lang, src_lang), distinct) if self.cache is not None else {}
            count(lang, "hits", len(found))
            answers.update({(t, lang): v for t, v in found.items()})
            missing += [(t, lang) for t in sorted(distinct) if t not in found]
        # Strings another call (a chunk in another thread) is translating right now are waited
        # for, not translated twice; this call's own go to the model first, so no two calls wait
        # on each other.
        missing, theirs = self._claim(missing, src_lang)
        try:
            if missing:
                self._translate_missing(missing, src_lang, answers, count)
        finally:
            self._release(missing, src_lang, answers)
        for (text, lang), entry in theirs.items():
            entry[0].wait()
            if entry[1] is None:  # that call failed: translate it here
                self._translate_missing([(text, lang)], src_lang, answers, count)
            else:
                answers[(text, lang)] = entry[1]
                count(lang, "hits")
        return [answers[(t, lang)] for t, lang in zip(texts, tgt_langs)]

    def _claim(self, pairs: list[tuple[str, str]], src_lang: str) -> tuple[list[tuple[str, str]], dict]:
        """(pairs this call translates, {pair: [event, result]} of those another call has in hand)."""
        mine, theirs = [], {}
        with self._lock:
            for pair in pairs:
                key = (src_lang, *pair)
                if key in self._inflight:
                    theirs[pair] = self._inflight[key]
                else:
                    self._inflight[key] = [threading.Event(), None]
                    mine.append(pair)
        return mine, theirs

    def _release(self, pairs: list[tuple[str, str]], src_lang: str, answers: dict[tuple[str, str], str]) -> None:
        with self._lock:
            for pair in pairs:
                entry = self._inflight.pop((src_lang, *pair))
                entry[1] = answers.get(pair)
                entry[0].set()

    def _translate_missing(self, missing: list[tuple[str, str]], src_lang: str, answers: dict, count) -> None:
        started = time.perf_counter()
        outputs = self.translator.translate([t for t, _ in missing], [lang for _, lang in missing], src_lang)
        elapsed = time.perf_counter() - started
        fresh: dict[str, dict[str, str]] = defaultdict(dict)
        total_chars = sum(len(t) for t, _ in missing) or 1
        for (text, lang), out in zip(missing, outputs):
            answers[(text, lang)] = out
            fresh[lang][text] = out
            count(lang, "translated")
            # batches mix languages: attribute time by share of the input text
            count(lang, "seconds", elapsed * len(text) / total_chars)
        if self.cache is not None:
            for lang, pairs in fresh.items():
                self.cache.put_many(self._ns(lang, src_lang), pairs)

    def back_translate(self, texts: Sequence[str], src_lang: str) -> list[str]:
        """English translations of texts in ``src_lang`` (for the round-trip check of short answers)."""
        return self.translate(texts, ENGLISH, src_lang=src_lang)

    def totals(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for c in self.counts.values():
            out.update(c)
        return out
