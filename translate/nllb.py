"""Batched NLLB-200 translation on CTranslate2, with NLLB's conventions done right.

* source tokens ``[src_lang] tokens </s>``; target prefix ``[tgt_lang]``, stripped from the output;
  output detokenized with the model's own tokenizer;
* token-budget batching over length-sorted inputs (a batch holds at most ``max_batch_tokens``
  padded tokens), batches may mix target languages, and go to one worker thread per model
  replica (``device_index`` x ``inter_threads``; :mod:`polymix.translate.pipeline`), so that
  the replicas decode while this thread detokenizes finished batches;
* device-aware defaults for every runtime setting left on auto (:mod:`polymix.translate.device`);
* a decoding length bound relative to each batch's input length, and a repetition guard
  (``no_repeat_ngram_size``, ``repetition_penalty``);
* inputs longer than ``max_input_tokens`` are split into sentences, translated and joined.

This class translates; :mod:`polymix.translate.service` adds the cache and de-duplication.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
import weakref
from typing import Any, Sequence

from polymix.errors import ConfigError
from polymix.settings import setting
from polymix.translate.device import CPU_BATCH_TOKENS, GPU_BATCH_TOKENS, Choice, choose, probe
from polymix.translate.model import ResolvedModel
from polymix.translate.pipeline import CallTiming, DecodePool
from polymix.translate.text import joiner, split_long

log = logging.getLogger(__name__)
SOURCE_LANG = "eng_Latn"


@dataclasses.dataclass
class DecodeSettings:
    """Decoding settings: they change the output, so they are part of the cache key."""

    beam_size: int = setting(1, "beam width (1 = greedy, as mBLIP ran NLLB)")
    sampling_topk: int = setting(1, "sample among the k most likely tokens (1 = no sampling)")
    sampling_temperature: float = setting(1.0, "temperature when sampling (with sampling_topk > 1)")
    no_repeat_ngram_size: int = setting(
        4, "forbid repeating any n-gram of this size (0 = off): the guard against \"I'm sorry, I'm sorry, ...\" loops"
    )
    repetition_penalty: float = setting(1.0, "penalty on tokens already generated (1.0 = off)")
    length_ratio: float = setting(2.0, "output tokens <= length_ratio x input tokens + length_extra")
    length_extra: int = setting(10, "see length_ratio")
    max_input_tokens: int = setting(200, "longer inputs are split into sentences (then runs of words), translated and joined")
    seed: int = setting(0, "random seed of sampling (independent of the language assignment's seed)")

    def __post_init__(self) -> None:
        if self.beam_size < 1 or self.sampling_topk < 1 or self.max_input_tokens < 8 or self.length_ratio <= 0:
            raise ValueError("beam_size and sampling_topk must be >= 1, max_input_tokens >= 8, length_ratio > 0")

    def cache_key(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class RuntimeSettings:
    """Where and how fast to run; these do not change the output (beyond float rounding). Values
    left on auto (``"auto"``, 0, empty) are chosen for the device by :func:`polymix.translate.device.choose`."""

    device: str = setting("auto", "auto | cpu | cuda (auto: CUDA when CTranslate2 sees a GPU)")
    device_index: tuple[int, ...] = setting(
        help="GPU ids, each with its own model replicas (a comma list on the command line; empty or auto: every GPU)",
        factory=tuple,
        cli_default="auto",
    )
    compute_type: str = setting(
        "auto", "CTranslate2 compute type (auto: float16 on CUDA, int8_float16 for int8 weights; int8 on CPU)"
    )
    threads: int = setting(0, "CPU threads translation may use in all (0: every core), split into replicas x threads each")
    inter_threads: int = setting(
        0,
        "model replicas per device translating batches in parallel (0: auto; on CPU "
        "threads / intra_threads, measured 1.4x faster than one replica on all threads; on "
        "a GPU 2 where its free memory holds them)",
    )
    intra_threads: int = setting(0, "CPU threads per replica (0: auto, min(4, threads // 2), at least 1)")
    max_batch_tokens: int = setting(
        0,
        f"padded source tokens per batch (0: auto, {CPU_BATCH_TOKENS} on CPU; on a GPU "
        f"up to {GPU_BATCH_TOKENS}, as its free memory allows)",
    )

    def __post_init__(self) -> None:
        self.device_index = parse_device_index(self.device_index)


def parse_device_index(value: str | Sequence[int]) -> tuple[int, ...]:
    """GPU ids from a comma list (``"0,1"``; ``"auto"`` or empty: every GPU) or a sequence of ints."""
    if not isinstance(value, str):
        return tuple(value)
    if value.strip() in ("", "auto"):
        return ()
    try:
        return tuple(int(i) for i in value.split(",") if i.strip())
    except ValueError:
        raise ConfigError(f"--device-index {value!r}: expected auto or a comma list of GPU ids (0,1)") from None


class NllbTranslator:
    """Translate English strings into NLLB target languages (no cache; see service.py)."""

    def __init__(
        self,
        model: ResolvedModel,
        decode: DecodeSettings | None = None,
        runtime: RuntimeSettings | None = None,
        src_lang: str = SOURCE_LANG,
    ):
        self.model = model
        self.decode = decode or DecodeSettings()
        self.runtime = runtime or RuntimeSettings()
        self.src_lang = src_lang
        self._translator = None
        self._tokenizer = None
        self._load_lock = threading.RLock()  # chunks run in threads: load the model once
        self._tok_lock = threading.Lock()  # fast tokenizers raise "Already borrowed" when shared by threads
        self._choice: Choice | None = None
        self._pool: DecodePool | None = None
        self.replicas = 1
        self.last_timing: CallTiming | None = None
        self.stats = {
            "sentences": 0,
            "pieces": 0,
            "split_texts": 0,
            "tokens_in": 0,
            "tokens_out": 0,
            "hit_length_bound": 0,
            "seconds": 0.0,
            "batches": 0,
            "decode_seconds": 0.0,
            "idle_lead": 0.0,
            "idle_gaps": 0.0,
            "idle_tail": 0.0,
        }
        """running totals; ``decode_seconds`` and ``idle_*`` are replica-seconds (see translate/pipeline.py)"""

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
                raise ValueError(
                    f"{self.model.path}: the tokenizer has no language code {self.src_lang}; is it an NLLB tokenizer?"
                )
            self._tokenizer = tok
        return self._tokenizer

    @property
    def translator(self):
        with self._load_lock:
            return self._load_translator()

    def _load_translator(self):
        if self._translator is None:
            import ctranslate2

            c = self.choice
            kwargs: dict[str, Any] = {
                "device": c.device,
                "compute_type": c.compute_type,
                "inter_threads": c.replicas,
                "intra_threads": c.threads,
            }
            if c.device == "cuda":
                kwargs["device_index"] = list(c.device_index)
            log.info("loading %s on %s", self.model.path, c.describe())
            self._translator = ctranslate2.Translator(str(self.model.path), **kwargs)
            self.replicas = c.workers
        return self._translator

    @property
    def choice(self) -> Choice:
        """The runtime settings resolved for this machine (auto values chosen; see translate/device.py)."""
        with self._load_lock:
            if self._choice is None:
                weights = self.model.path / "model.bin"
                self._choice = choose(
                    probe(self.runtime.device),
                    self.runtime,
                    self.model.quantization,
                    weights.stat().st_size if weights.is_file() else None,
                )
            return self._choice

    def _decode_pool(self) -> DecodePool:
        with self._load_lock:
            if self._pool is None:
                translator = self.translator
                self._pool = DecodePool(translator.translate_batch, self.replicas)
                # the workers hold the CTranslate2 model: stop them when this translator goes away
                weakref.finalize(self, self._pool.close)
            return self._pool

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
            backend = getattr(tok, "backend_tokenizer", None)
            if backend is not None:
                # The Rust tokenizer's batch call, tokens as strings: a third of the time of
                # tok(...) + convert_ids_to_tokens, which held the replicas idle before the first batch
                rows = [enc.tokens for enc in backend.encode_batch(list(texts), add_special_tokens=False)]
            else:
                rows = [tok.convert_ids_to_tokens(r) for r in tok(list(texts), add_special_tokens=False)["input_ids"]]
            return [[src, *row, tok.eos_token] for src, row in zip(src_langs, rows)]

    def _n_tokens(self, text: str) -> int:
        tok = self.tokenizer
        with self._tok_lock:
            return len(tok(text, add_special_tokens=True)["input_ids"])

    def translate(
        self, texts: Sequence[str], tgt_langs: Sequence[str] | str, src_langs: Sequence[str] | str | None = None
    ) -> list[str]:
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
        outputs = self._translate_pieces(piece_tokens, piece_langs, started)
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
        budget = self.runtime.max_batch_tokens or self.choice.max_batch_tokens

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

    def _translate_pieces(self, tokens: list[list[str]], langs: list[str], started: float | None = None) -> list[str]:
        """Translate source-token lists (``source_tokens``' format) into ``langs``. ``started``: when
        the call began (its tokenizing counts as time the replicas waited)."""
        started = time.perf_counter() if started is None else started
        pool, tok = self._decode_pool(), self.tokenizer
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

        def bound(length: int) -> int:
            return math.ceil(d.length_ratio * length + d.length_extra)

        def jobs():
            for batch in self._batches(lengths, self.replicas):
                longest = max(lengths[i] for i in batch)
                yield (
                    batch,
                    ([tokens[i] for i in batch],),
                    dict(target_prefix=[[langs[i]] for i in batch], max_decoding_length=bound(longest) + 1, **options),
                )  # +1: the prefix

        outputs: list[str | None] = [None] * len(tokens)
        spans: list[tuple[float, float]] = []
        # Detokenize each batch as it comes back while the replicas decode the next ones.
        for batch, results, begun, ended in pool.run(jobs()):
            spans.append((begun, ended))
            hyps = []
            for i, res in zip(batch, results):
                hyp = res.hypotheses[0]
                if hyp and hyp[0] == langs[i]:
                    hyp = hyp[1:]
                # The batch decodes up to its longest input's bound; each output is held to its
                # own, so the result of a text does not depend on which batch it landed in.
                if len(hyp) >= bound(lengths[i]):
                    hyp = hyp[: bound(lengths[i])]
                    self.stats["hit_length_bound"] += 1
                self.stats["tokens_out"] += len(hyp)
                hyps.append(hyp)
            with self._tok_lock:
                for i, hyp in zip(batch, hyps):
                    outputs[i] = tok.decode(tok.convert_tokens_to_ids(hyp), skip_special_tokens=True).strip()
        timing = CallTiming.of(pool.workers, started, time.perf_counter(), spans)
        self.last_timing = timing
        for key, value in (
            ("batches", len(spans)),
            ("decode_seconds", timing.decoding),
            ("idle_lead", timing.lead),
            ("idle_gaps", timing.gaps),
            ("idle_tail", timing.tail),
        ):
            self.stats[key] += value
        return outputs  # type: ignore[return-value]
