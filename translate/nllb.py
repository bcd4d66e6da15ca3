"""Batched NLLB-200 translation on CTranslate2, with NLLB's conventions done right.

* source tokens ``[src_lang] tokens </s>``; target prefix ``[tgt_lang]``, stripped from the output;
  output detokenized with the model's own tokenizer;
* token-budget batching over length-sorted inputs (a batch holds at most ``max_batch_tokens``
  padded tokens), batches may mix target languages, and are submitted asynchronously so that
  several replicas (``device_index`` x ``inter_threads``) work at once;
* a decoding length bound relative to each batch's input length, and a repetition guard
  (``no_repeat_ngram_size``, ``repetition_penalty``);
* inputs longer than ``max_input_tokens`` are split into sentences, translated and joined.

This class translates; :mod:`polymix.translate.service` adds the cache and de-duplication.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import threading
import time
from collections import deque
from typing import Any, Sequence

from polymix.translate.model import ResolvedModel
from polymix.translate.text import joiner, split_long

log = logging.getLogger(__name__)
SOURCE_LANG = "eng_Latn"


@dataclasses.dataclass
class DecodeSettings:
    """Decoding settings: they change the output, so they are part of the cache key."""

    beam_size: int = 1
    """beam width (1 = greedy, as mBLIP ran NLLB)"""
    sampling_topk: int = 1
    """sample from the k most likely tokens (1 = no sampling)"""
    sampling_temperature: float = 1.0
    """sampling temperature (with sampling_topk > 1)"""
    no_repeat_ngram_size: int = 4
    """forbid repeating any n-gram of this size (0 = off): guards against "I'm sorry, I'm sorry, ..." loops"""
    repetition_penalty: float = 1.0
    """penalty for tokens already generated (1.0 = off)"""
    length_ratio: float = 2.0
    """output may be at most length_ratio x input tokens + length_extra"""
    length_extra: int = 10
    """see length_ratio"""
    max_input_tokens: int = 200
    """longer inputs are split into sentences (then runs of words), translated and joined"""
    seed: int = 0
    """random seed for sampling"""

    def __post_init__(self) -> None:
        if self.beam_size < 1 or self.sampling_topk < 1 or self.max_input_tokens < 8 or self.length_ratio <= 0:
            raise ValueError("beam_size and sampling_topk must be >= 1, max_input_tokens >= 8, length_ratio > 0")

    def cache_key(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class RuntimeSettings:
    """Where and how fast to run; these do not change the output (beyond float rounding)."""

    device: str = "auto"
    """auto | cpu | cuda (auto: CUDA when CTranslate2 sees a GPU)"""
    device_index: tuple[int, ...] = (0,)
    """GPU ids to use; one model replica per id"""
    compute_type: str = "auto"
    """CTranslate2 compute type; auto: int8_float16 on CUDA for int8 models, int8 on CPU"""
    threads: int = 0
    """CPU threads translation may use in all (0: every core), split into replicas x threads each"""
    inter_threads: int = 0
    """model replicas per device translating batches in parallel (0: auto; on CPU threads / intra_threads,
    measured 1.4x faster than one replica on all threads; on CUDA 1)"""
    intra_threads: int = 0
    """CPU threads per replica (0: auto, min(4, threads // 2), at least 1)"""
    max_batch_tokens: int = 4096
    """padded tokens per batch"""

    def layout(self, device: str) -> tuple[int, int]:
        """(replicas per device, threads per replica). For CPU throughput CTranslate2 prefers several
        replicas of a few threads over one replica on every core."""
        if device == "cuda":
            return self.inter_threads or 1, self.intra_threads or 4
        total = self.threads or os.cpu_count() or 1
        intra = self.intra_threads or min(4, max(1, total // 2))
        return self.inter_threads or max(1, total // intra), intra

    def resolve_device(self) -> str:
        import ctranslate2

        if self.device == "auto":
            return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device {self.device!r}: valid values are auto, cpu, cuda")
        return self.device

    def resolve_compute_type(self, device: str, quantization: str) -> str:
        import ctranslate2

        supported = ctranslate2.get_supported_compute_types(device)
        if self.compute_type != "auto":
            if self.compute_type not in supported:
                raise ValueError(f"compute_type {self.compute_type!r} not supported on {device}: {sorted(supported)}")
            return self.compute_type
        if device == "cuda":
            wanted = {"int8": "int8_float16", "float16": "float16", "bfloat16": "bfloat16"}.get(quantization, "int8_float16")
        else:
            wanted = "int8" if quantization.startswith("int8") else "float32"
        return wanted if wanted in supported else "default"


class NllbTranslator:
    """Translate English strings into NLLB target languages (no cache; see service.py)."""

    def __init__(self, model: ResolvedModel, decode: DecodeSettings | None = None,
                 runtime: RuntimeSettings | None = None, src_lang: str = SOURCE_LANG):
        self.model = model
        self.decode = decode or DecodeSettings()
        self.runtime = runtime or RuntimeSettings()
        self.src_lang = src_lang
        self._translator = None
        self._tokenizer = None
        self._load_lock = threading.RLock()  # chunks run in threads: load the model once
        self._tok_lock = threading.Lock()  # fast tokenizers raise "Already borrowed" when shared by threads
        self.stats = {"sentences": 0, "pieces": 0, "split_texts": 0, "tokens_in": 0, "tokens_out": 0,
                      "hit_length_bound": 0, "seconds": 0.0}

    # -- lazy loading: models load inside the worker that uses them ---------------------------
    @property
    def tokenizer(self):
        with self._load_lock:
            return self._load_tokenizer()

    def _load_tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            tok = AutoTokenizer.from_pretrained(str(self.model.path))
            tok.src_lang = self.src_lang
            unk = tok.unk_token_id
            if tok.convert_tokens_to_ids(self.src_lang) in (None, unk):
                raise ValueError(f"{self.model.path}: the tokenizer has no language code {self.src_lang}; is it an NLLB tokenizer?")
            self._tokenizer = tok
        return self._tokenizer

    @property
    def translator(self):
        with self._load_lock:
            return self._load_translator()

    def _load_translator(self):
        if self._translator is None:
            import ctranslate2

            device = self.runtime.resolve_device()
            compute_type = self.runtime.resolve_compute_type(device, self.model.quantization)
            inter, intra = self.runtime.layout(device)
            kwargs: dict[str, Any] = {"device": device, "compute_type": compute_type, "inter_threads": inter, "intra_threads": intra}
            if device == "cuda":
                kwargs["device_index"] = list(self.runtime.device_index)
            log.info("loading %s on %s (%s, %d replica(s) x %d thread(s))", self.model.path, device, compute_type, inter, intra)
            self._translator = ctranslate2.Translator(str(self.model.path), **kwargs)
            self.replicas = (len(self.runtime.device_index) if device == "cuda" else 1) * inter
        return self._translator

    def check_language(self, lang: str) -> None:
        tid = self.tokenizer.convert_tokens_to_ids(lang)
        if tid is None or tid == self.tokenizer.unk_token_id:
            raise ValueError(f"the model's tokenizer has no language code {lang!r}")

    # -- translation -----------------------------------------------------------------------
    def source_tokens(self, texts: Sequence[str], src_langs: Sequence[str] | None = None) -> list[list[str]]:
        """NLLB's source format, ``[src_lang] tokens </s>``, per text (English unless told)."""
        tok = self.tokenizer
        src_langs = src_langs or [self.src_lang] * len(texts)
        with self._tok_lock:
            ids = tok(list(texts), add_special_tokens=False)["input_ids"]
            return [[src, *tok.convert_ids_to_tokens(row), tok.eos_token] for src, row in zip(src_langs, ids)]

    def _n_tokens(self, text: str) -> int:
        tok = self.tokenizer
        with self._tok_lock:
            return len(tok(text, add_special_tokens=True)["input_ids"])

    def translate(self, texts: Sequence[str], tgt_langs: Sequence[str] | str,
                  src_langs: Sequence[str] | str | None = None) -> list[str]:
        """Translate ``texts[i]`` from ``src_langs[i]`` (default English) into ``tgt_langs[i]``;
        a single code stands for all texts. Back-translation passes ``tgt_langs="eng_Latn"``."""
        if isinstance(tgt_langs, str):
            tgt_langs = [tgt_langs] * len(texts)
        if src_langs is None or isinstance(src_langs, str):
            src_langs = [src_langs or self.src_lang] * len(texts)
        if not len(tgt_langs) == len(src_langs) == len(texts):
            raise ValueError("texts, tgt_langs and src_langs differ in length")
        if not texts:
            return []
        started = time.perf_counter()
        # Tokenize every text once; split the few that are too long and tokenize their pieces.
        whole = self.source_tokens(texts, src_langs)
        pieces: list[str] = []
        piece_tokens: list[list[str]] = []
        piece_langs: list[str] = []
        owner: list[int] = []
        for i, (text, tokens, lang, src) in enumerate(zip(texts, whole, tgt_langs, src_langs)):
            if len(tokens) <= self.decode.max_input_tokens:
                parts, part_tokens = [text], [tokens]
            else:
                parts = split_long(text, self._n_tokens, self.decode.max_input_tokens)
                part_tokens = self.source_tokens(parts, [src] * len(parts))
                self.stats["split_texts"] += len(parts) > 1
            pieces += parts
            piece_tokens += part_tokens
            piece_langs += [lang] * len(parts)
            owner += [i] * len(parts)
        outputs = self._translate_pieces(piece_tokens, piece_langs)
        joined: list[list[str]] = [[] for _ in texts]
        for i, out in zip(owner, outputs):
            joined[i].append(out)
        result = [joiner(lang).join(parts) for parts, lang in zip(joined, tgt_langs)]
        self.stats["sentences"] += len(texts)
        self.stats["pieces"] += len(pieces)
        self.stats["seconds"] += time.perf_counter() - started
        return result

    def _batches(self, lengths: list[int], replicas: int = 1) -> list[list[int]]:
        """Indices grouped into batches of similar lengths, at most ``max_batch_tokens`` padded
        tokens each, the costliest batch first.

        With several replicas the batches come in whole rounds (a multiple of ``replicas``) of
        about equal padded size, and the largest go first: a replica that is handed the last,
        odd batch while the others idle costs up to a batch's time per call (on 2 cores, 4
        balanced batches of 512 sentences ran ~8% faster than the 3 of the plain fill, best of 4
        runs each)."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        budget = self.runtime.max_batch_tokens

        def fill(limit: int) -> list[list[int]]:
            batches: list[list[int]] = []
            current: list[int] = []
            for i in order:
                # sorted ascending, so lengths[i] is the batch's longest so far
                if current and (len(current) + 1) * lengths[i] > limit:
                    batches.append(current)
                    current = []
                current.append(i)
            return batches + [current] if current else batches

        batches = fill(budget)
        if replicas > 1 and len(order) >= 2 * replicas:
            # The smallest budget that still gives no more batches than the next whole round.
            wanted = -(-len(batches) // replicas) * replicas
            low, high = min(max(lengths), budget), budget
            while low < high:
                mid = (low + high) // 2
                if len(fill(mid)) <= wanted:
                    high = mid
                else:
                    low = mid + 1
            batches = fill(low)
        return sorted(batches, key=lambda b: -len(b) * max(lengths[i] for i in b))

    def _translate_pieces(self, tokens: list[list[str]], langs: list[str]) -> list[str]:
        """Translate source-token lists (``source_tokens``' format) into ``langs``."""
        translator, tok = self.translator, self.tokenizer
        lengths = [len(t) for t in tokens]
        self.stats["tokens_in"] += sum(lengths)
        d = self.decode
        options = dict(
            beam_size=d.beam_size,
            sampling_topk=d.sampling_topk,
            sampling_temperature=d.sampling_temperature,
            no_repeat_ngram_size=d.no_repeat_ngram_size,
            repetition_penalty=d.repetition_penalty,
            return_scores=False,
        )
        if d.sampling_topk > 1:
            import ctranslate2

            ctranslate2.set_random_seed(d.seed)
        outputs: list[str | None] = [None] * len(tokens)
        pending: deque = deque()

        def bound(length: int) -> int:
            return math.ceil(d.length_ratio * length + d.length_extra)

        def collect(batch: list[int], results: list) -> None:
            for i, res in zip(batch, results):
                hyp = res.result().hypotheses[0]
                if hyp and hyp[0] == langs[i]:
                    hyp = hyp[1:]
                # The batch decodes up to its longest input's bound; each output is held to its
                # own, so the result of a text does not depend on which batch it landed in.
                if len(hyp) >= bound(lengths[i]):
                    hyp = hyp[: bound(lengths[i])]
                    self.stats["hit_length_bound"] += 1
                self.stats["tokens_out"] += len(hyp)
                with self._tok_lock:
                    outputs[i] = tok.decode(tok.convert_tokens_to_ids(hyp), skip_special_tokens=True).strip()

        for batch in self._batches(lengths, self.replicas):
            longest = max(lengths[i] for i in batch)
            results = translator.translate_batch(
                [tokens[i] for i in batch],
                target_prefix=[[langs[i]] for i in batch],
                max_decoding_length=bound(longest) + 1,  # +1: the target prefix
                asynchronous=True,
                **options,
            )
            pending.append((batch, results))
            while len(pending) > 2 * self.replicas:
                collect(*pending.popleft())
        while pending:
            collect(*pending.popleft())
        return outputs  # type: ignore[return-value]
