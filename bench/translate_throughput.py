"""Translation throughput: polymix's path against transformers ``generate`` as mBLIP ran it.

    .venv/bin/python bench/translate_throughput.py                  # small NLLB shape on CPU, a few minutes
    .venv/bin/python bench/translate_throughput.py --shape 1.3B     # on a GPU: mBLIP's NLLB-1.3B shape
    .venv/bin/python bench/translate_throughput.py --help

A benchmark, not a test. One run translates the same English inputs with the same model two ways:

* **polymix**: :class:`polymix.translate.nllb.NllbTranslator` on CTranslate2 -- per-text length
  check and split, source tokenization, token-budget batches over length-sorted inputs submitted
  asynchronously, prefix stripping and detokenization -- in polymix's default compute type
  (int8 on CPU, int8_float16 on CUDA), and once more in the compute type transformers runs in
  (float32 on CPU, float16 on CUDA) so that "same model" is visible in the table;
* **transformers**: ``model.generate`` as mBLIP ran NLLB: batches of 256 texts in data order,
  padded to the longest, greedy, ``forced_bos_token_id`` = target language, fp32 on CPU / fp16 on
  GPU, then ``batch_decode``.

Both are timed from English strings to target-language strings (tokenization and detokenization
included), after one warm-up run each, with the same number of CPU threads (``--threads`` is
polymix's total thread budget, which it splits into CTranslate2 replicas x threads as it does by
default, and ``torch.set_num_threads`` for transformers).

The model has random weights (:func:`polymix.translate.random_nllb.build_random_nllb`: NLLB's
architecture and tokenizer conventions). Random weights never stop on their own, so both paths
are forced to decode exactly ``--output-tokens`` tokens per sentence after the language token:
CTranslate2 counts the target prefix in its decoding length, transformers counts the forced
language token in its new tokens, so CTranslate2 gets ``min_decoding_length =
max_decoding_length = T + 1`` and transformers ``min_new_tokens = max_new_tokens = T + 1``; the
script checks that both produced ``T`` tokens for every sentence. (Forcing one length for every
sentence hides one advantage of length-sorted batching -- a batch of short inputs also stops
early -- so the ratio is conservative.)

Vocabulary. A random model cannot come with a 256k-piece tokenizer, so the tokenizer is a small
sentencepiece model trained on the benchmark's own English (realistic tokens per word), laid out
like NLLB's. For the ``small``, ``600M`` and ``1.3B`` shapes the model's vocabulary is then
*extended* to the shape's size (``config.vocab_size``; CTranslate2's converter pads its
vocabulary with ``madeupwordN`` entries up to it, exactly as it does for the real NLLB's 256206
entries against its 256204-entry tokenizer). Both runtimes therefore compute embeddings, output
projection and argmax over the full vocabulary -- the output layer is the largest single cost of
an NLLB decoding step -- while tokenization stays real. Generated ids beyond the tokenizer decode
to nothing in both paths (the text is noise anyway).

A second figure shows what polymix's de-duplication and cache save on a realistic mix:
VQA-style rows (templates from :mod:`polymix.templates`, questions that repeat, short answers
with VQAv2's Zipf-like distribution) plus some captions, each assigned one of a few target
languages, translated chunk by chunk as the translate stage does (``strings_needed`` ->
``TranslationService`` with a temporary SQLite cache -> ``render_translated``). It reports
strings sent to the model per output row: mBLIP translated every row's instruction and target
(2 per row); polymix sends each distinct (string, language) once. These counts do not depend on
the model, so that part runs on the default tiny model whatever ``--shape`` says.

The last line is for scripts:
``ratio=<polymix/transformers> polymix_sps=<...> transformers_sps=<...> strings_per_row=<...>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/ helpers, when run as a script
from throughput_rows import ct2_alone, idle_line, log, table, timed_rounds  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGET_LANG = "deu_Latn"
NLLB_VOCAB = 256206  # config.vocab_size of every NLLB-200 checkpoint
MBLIP_BATCH = 256  # mBLIP's translation batch size (data order, padded to the longest)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model")


@dataclasses.dataclass(frozen=True)
class Shape:
    d_model: int
    layers: int  # encoder layers = decoder layers
    ffn: int
    heads: int
    vocab: int | None  # model vocabulary; None: the tokenizer's own size (no extension)
    note: str


SHAPES = {
    "tiny": Shape(128, 2, 512, 4, None, "plumbing check; overheads dominate, not a throughput figure"),
    "small": Shape(
        512,
        6,
        2048,
        8,
        32000,
        "transformer-base body; the output layer is 43% of a decoding step's "
        "multiply-adds, between NLLB-1.3B (32%) and NLLB-600M (60%); CPU default",
    ),
    "600M": Shape(1024, 12, 4096, 16, NLLB_VOCAB, "nllb-200-distilled-600M, for a GPU"),
    "1.3B": Shape(1024, 24, 8192, 16, NLLB_VOCAB, "nllb-200-distilled-1.3B, mBLIP's translator, for a GPU"),
}


# -- inputs ------------------------------------------------------------------------------------
_SUBJECTS = [
    "a man",
    "a woman",
    "a young boy",
    "a little girl",
    "two men",
    "a group of people",
    "a dog",
    "a brown dog",
    "a black cat",
    "a cat",
    "a baseball player",
    "a tennis player",
    "a skateboarder",
    "a surfer",
    "an old man",
    "a giraffe",
    "two zebras",
    "an elephant",
    "a herd of sheep",
    "a horse",
    "a bird",
    "a chef",
    "a couple",
    "a child",
    "three kids",
    "a police officer",
    "a person",
    "a teddy bear",
    "a red bus",
    "a white truck",
]
_VERBS = [
    "is standing next to",
    "is sitting on",
    "is riding",
    "is holding",
    "is eating",
    "is looking at",
    "walks along",
    "is playing with",
    "is parked in front of",
    "is lying on",
    "is carrying",
    "is jumping over",
    "is throwing",
    "is waiting near",
    "stands beside",
    "is cutting",
    "is flying over",
    "is running across",
]
_OBJECTS = [
    "a wooden bench",
    "a surfboard",
    "a large pizza",
    "a frisbee",
    "a red umbrella",
    "a kite",
    "a laptop",
    "a cell phone",
    "a plate of food",
    "a bicycle",
    "a motorcycle",
    "a fire hydrant",
    "a stop sign",
    "a clock tower",
    "a pile of bananas",
    "a tennis racket",
    "a skateboard",
    "a slice of cake",
    "a cup of coffee",
    "a snowboard",
    "a traffic light",
    "a table",
    "the ball",
    "a small boat",
    "a train",
    "a sandwich",
    "the fence",
    "a bowl of fruit",
]
_PLACES = [
    "on a sandy beach",
    "in a kitchen",
    "on a busy city street",
    "in a grassy field",
    "next to a brick building",
    "under a large tree",
    "in a living room",
    "at the airport",
    "near the water",
    "in the snow",
    "on a dirt road",
    "in front of a store",
    "at a train station",
    "in a park",
    "on the sidewalk",
    "in a small bathroom",
]
_ADJUNCTS = [
    "while people watch",
    "on a sunny day",
    "at night",
    "in the rain",
    "with a smile",
    "during a game",
    "while talking on the phone",
    "as the sun sets",
    "in front of a crowd",
    "with its mouth open",
]
_COLORS = ["white", "black", "red", "blue", "green", "brown", "yellow", "gray", "orange", "pink"]
_QUESTIONS_COMMON = [  # VQAv2's most frequent questions, in rough order of frequency
    "What color is the {o}?",
    "How many people are there?",
    "Is this a {o}?",
    "What is the {s} holding?",
    "What is the man doing?",
    "Is it raining?",
    "What sport is being played?",
    "Where is the {s}?",
    "What room is this?",
    "How many {o}s are in the picture?",
    "Is the {s} happy?",
    "What is on the table?",
    "Are there any people in the photo?",
    "What time of day is it?",
    "Why is the {s} smiling?",
    "What is the woman wearing?",
    "Is this picture taken indoors?",
    "What animal is this?",
    "What is the {s} {v}?",
    "Does the {s} look tired?",
]
_ANSWERS = [  # VQAv2's most frequent answers, most frequent first (numbers pass through in polymix)
    "yes",
    "no",
    "2",
    "1",
    "white",
    "3",
    "blue",
    "red",
    "black",
    "4",
    "green",
    "brown",
    "yellow",
    "0",
    "tennis",
    "baseball",
    "frisbee",
    "kitchen",
    "gray",
    "5",
    "dog",
    "giraffe",
    "orange",
    "surfing",
    "skiing",
    "pizza",
    "cat",
    "right",
    "left",
    "wood",
    "water",
    "umbrella",
    "daytime",
    "night",
    "table",
    "bathroom",
    "living room",
    "skateboarding",
    "pink",
    "grass",
    "snow",
    "on table",
    "eating",
    "standing",
    "sitting",
    "playing",
    "walking",
    "on the table",
    "in the sky",
    "on the plate",
    "a frisbee",
    "a surfboard",
    "two dogs",
    "to eat",
    "playing tennis",
    "because it is cold",
    "the man on the left",
    "it is raining",
]


def _noun(phrase: str) -> str:
    return phrase.split(" ", 1)[1] if phrase.split(" ", 1)[0] in ("a", "an", "the", "two", "three") else phrase


def caption(rng: random.Random) -> str:
    """A COCO-style caption of 8 to 20 words."""
    while True:
        parts = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)]
        if rng.random() < 0.8:
            parts.append(rng.choice(_PLACES))
        if rng.random() < 0.45:
            parts.append(rng.choice(_ADJUNCTS))
        text = " ".join(parts)
        if 8 <= len(text.split()) <= 20:
            return text[0].upper() + text[1:] + "."


def question(rng: random.Random, zipf: float = 1.1) -> str:
    """A VQA-style question; frequent forms repeat (Zipf over the list), slots vary."""
    weights = [1 / (k + 1) ** zipf for k in range(len(_QUESTIONS_COMMON))]
    form = rng.choices(_QUESTIONS_COMMON, weights)[0]
    return form.format(
        s=_noun(rng.choice(_SUBJECTS)),
        o=_noun(rng.choice(_OBJECTS)),
        v=rng.choice(["holding", "eating", "looking at", "carrying", "doing"]),
    )


def answer(rng: random.Random, zipf: float = 1.2) -> str:
    """A short VQA answer, Zipf-distributed like VQAv2's (yes/no dominate)."""
    weights = [1 / (k + 1) ** zipf for k in range(len(_ANSWERS))]
    return rng.choices(_ANSWERS, weights)[0]


def make_inputs(n: int, seed: int) -> list[str]:
    """``n`` English strings of an instruction mix, in data order (not sorted): captions (8-20
    words), questions, short answers and template instructions, interleaved at random."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        r = rng.random()
        if r < 0.40:
            out.append(caption(rng))
        elif r < 0.75:
            out.append(question(rng))
        elif r < 0.90:
            a = answer(rng)
            out.append(a if not a.isdigit() else rng.choice(_COLORS))  # numbers would not reach the model
        else:
            out.append(
                rng.choice(
                    [
                        "Describe the image.",
                        "Short answer:",
                        "Answer in a few words.",
                        "Write a caption for this image.",
                        "Look at the image and answer the question:",
                    ]
                )
            )
    return out


def tokenizer_corpus(seed: int) -> list[str]:
    """English the benchmark's sentencepiece model is trained on (same generators, other seed)."""
    rng = random.Random(seed + 7919)
    texts = [caption(rng) for _ in range(3000)] + [question(rng) for _ in range(1500)]
    texts += _ANSWERS + _COLORS
    return texts


# -- model -------------------------------------------------------------------------------------
def build_model(shape_name: str, shape: Shape, folder: Path, seed: int, spm_size: int) -> Path:
    """A random-weight NLLB-shaped transformers folder in ``folder`` (reused when already built)."""
    import torch
    from transformers import GenerationConfig, M2M100Config, M2M100ForConditionalGeneration

    from polymix.translate.random_nllb import build_random_nllb, reinit

    stamp = folder / "bench-shape.json"
    wanted = {"shape": shape_name, **dataclasses.asdict(shape), "seed": seed, "spm_size": spm_size}
    if stamp.is_file() and json.loads(stamp.read_text()) == wanted:
        log(f"[model] reusing {folder}")
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    started = time.perf_counter()
    corpus = tokenizer_corpus(seed)
    if shape.vocab is None:
        build_random_nllb(
            folder,
            corpus=corpus,
            d_model=shape.d_model,
            layers=shape.layers,
            ffn=shape.ffn,
            heads=shape.heads,
            vocab_size=spm_size,
            seed=seed,
        )
    else:
        # The tokenizer (and the config conventions) from the tiny builder, then the same
        # architecture at the shape's size with the vocabulary extended to ``shape.vocab``.
        with tempfile.TemporaryDirectory() as tmp:
            small = build_random_nllb(
                Path(tmp) / "tok", corpus=corpus, d_model=16, layers=1, ffn=16, heads=2, vocab_size=spm_size, seed=seed
            )
            config = M2M100Config.from_pretrained(str(small))
            folder.mkdir(parents=True)
            for name in TOKENIZER_FILES:
                if (small / name).is_file():
                    shutil.copy2(small / name, folder / name)
        if shape.vocab < config.vocab_size:
            raise ValueError(f"shape vocabulary {shape.vocab} is smaller than the tokenizer's {config.vocab_size}")
        config.vocab_size = shape.vocab
        config.d_model = shape.d_model
        config.encoder_layers = config.decoder_layers = shape.layers
        config.encoder_ffn_dim = config.decoder_ffn_dim = shape.ffn
        config.encoder_attention_heads = config.decoder_attention_heads = shape.heads
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = M2M100ForConditionalGeneration(config).eval()
            reinit(model, shape.d_model)  # the tiny builder's init: outputs depend on the input
        model.generation_config = GenerationConfig(
            bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2, max_length=200
        )
        model.save_pretrained(str(folder), safe_serialization=True)
        del model
    stamp.write_text(json.dumps(wanted))
    log(f"[model] built {shape_name} in {folder} ({time.perf_counter() - started:.1f} s)")
    return folder


def count_parameters(hf_dir: Path) -> int:
    from safetensors import safe_open

    total = 0
    for path in hf_dir.glob("*.safetensors"):
        with safe_open(str(path), "pt") as f:
            for key in f.keys():
                total += math.prod(f.get_slice(key).get_shape())
    return total


# -- polymix's path ----------------------------------------------------------------------------
class _FixedLength:
    """Wraps a ``ctranslate2.Translator``: every ``translate_batch`` decodes exactly ``length``
    steps (the target prefix included), overriding the per-batch length bound."""

    def __init__(self, inner: Any, length: int):
        self.inner, self.length = inner, length

    def translate_batch(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["min_decoding_length"] = kwargs["max_decoding_length"] = self.length
        return self.inner.translate_batch(*args, **kwargs)


def fixed_length_translator_class():
    from polymix.translate.nllb import NllbTranslator

    class FixedLengthNllbTranslator(NllbTranslator):
        """polymix's ``NllbTranslator``, unchanged except that its CTranslate2 translator is
        wrapped so that every batch decodes ``output_tokens`` tokens after the language token.

        Everything else is NllbTranslator's own code: the split check, source tokenization,
        ``_batches`` (token budget over length-sorted inputs), the decoding pool, prefix
        stripping, the per-text length check (``length_extra`` is raised so that it never cuts
        the forced length) and detokenization. nllb.py has no min-length option, and the
        benchmark does not change polymix's code.
        """

        _output_tokens = 0
        _fixed: _FixedLength | None = None

        @property
        def output_tokens(self) -> int:
            return self._output_tokens

        @output_tokens.setter
        def output_tokens(self, value: int) -> None:
            # one wrapper per model, changed in place: the decoding pool holds its translate_batch
            self._output_tokens = value
            if self._fixed is not None:
                self._fixed.length = value + 1

        @property
        def translator(self):
            inner = NllbTranslator.translator.fget(self)
            if self._fixed is None or self._fixed.inner is not inner:
                self._fixed = _FixedLength(inner, self._output_tokens + 1)  # +1: the target prefix
            return self._fixed

    return FixedLengthNllbTranslator


def polymix_translator(
    model, compute_type: str, device: str, threads: int, max_batch_tokens: int, output_tokens: int, replicas: int = 0
):
    """A fixed-length NllbTranslator on ``model`` (a ResolvedModel from polymix's resolver)."""
    from polymix.translate.nllb import DecodeSettings, RuntimeSettings

    cls = fixed_length_translator_class()
    # polymix's decoding defaults (greedy, no_repeat_ngram_size=4, ...), except that the length
    # bound may not cut the forced length.
    decode = DecodeSettings(length_extra=output_tokens + 10)
    runtime = RuntimeSettings(
        device=device, compute_type=compute_type, threads=threads, inter_threads=replicas, max_batch_tokens=max_batch_tokens
    )
    translator = cls(model, decode, runtime)
    translator.output_tokens = output_tokens
    return translator


def run_polymix(translator, texts: Sequence[str], lang: str) -> tuple[float, list[str], int]:
    for key in translator.stats:
        translator.stats[key] = 0
    started = time.perf_counter()
    out = translator.translate(list(texts), lang)
    seconds = time.perf_counter() - started
    return seconds, out, translator.stats["tokens_out"]


# -- transformers as mBLIP ran it --------------------------------------------------------------
def run_transformers(
    model, tok, texts: Sequence[str], lang: str, output_tokens: int, device: str, batch_size: int = MBLIP_BATCH
) -> tuple[float, list[str], int]:
    import torch

    lang_id = tok.convert_tokens_to_ids(lang)
    outputs: list[str] = []
    tokens = 0
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])  # data order, padded to the longest
            enc = tok(batch, padding=True, return_tensors="pt").to(device)
            gen = model.generate(
                **enc,
                forced_bos_token_id=lang_id,
                num_beams=1,
                do_sample=False,
                min_new_tokens=output_tokens + 1,
                max_new_tokens=output_tokens + 1,
            )
            gen = gen.cpu()
            # [decoder start </s>, target language, T tokens]: no EOS can come before T + 1 new tokens
            if gen.shape[1] != output_tokens + 2 or not bool((gen[:, 1] == lang_id).all()):
                raise AssertionError(
                    f"transformers produced {gen.shape[1] - 2} tokens after the language token, expected {output_tokens}"
                )
            tokens += (gen.shape[1] - 2) * gen.shape[0]
            outputs += tok.batch_decode(gen, skip_special_tokens=True)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started, outputs, tokens


def load_transformers(hf_dir: Path, device: str, threads: int):
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    torch.set_num_threads(threads)
    dtype = torch.float16 if device == "cuda" else torch.float32
    model = AutoModelForSeq2SeqLM.from_pretrained(str(hf_dir), dtype=dtype).to(device).eval()
    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    tok.src_lang = "eng_Latn"
    return model, tok, dtype


def agreement(translator, hf_model, tok, texts: Sequence[str], output_tokens: int, device: str) -> tuple[int, int]:
    """How many of ``texts`` get the same token ids from CTranslate2 (the polymix translator's
    model, no n-gram guard) and transformers, greedy, ``output_tokens`` after the language token.
    Compared as ids, so that extended-vocabulary entries count too."""
    import torch

    inner = translator.translator.inner  # the ctranslate2.Translator behind the fixed-length wrapper
    vocab_file = translator.model.path / "shared_vocabulary.json"
    if vocab_file.is_file():
        vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
    else:
        vocab = (translator.model.path / "shared_vocabulary.txt").read_text(encoding="utf-8").splitlines()
    index = {t: i for i, t in enumerate(vocab)}
    lang_id = tok.convert_tokens_to_ids(TARGET_LANG)
    same = 0
    for text in texts:  # one at a time: no padding on either side
        source = translator.source_tokens([text])
        res = inner.translate_batch(
            source,
            target_prefix=[[TARGET_LANG]],
            beam_size=1,
            no_repeat_ngram_size=0,
            min_decoding_length=output_tokens + 1,
            max_decoding_length=output_tokens + 1,
        )
        ct2_ids = [index[t] for t in res[0].hypotheses[0][1:]]
        with torch.inference_mode():
            enc = tok([text], return_tensors="pt").to(device)
            gen = hf_model.generate(
                **enc,
                forced_bos_token_id=lang_id,
                num_beams=1,
                do_sample=False,
                min_new_tokens=output_tokens + 1,
                max_new_tokens=output_tokens + 1,
            )
        same += ct2_ids == gen[0, 2:].tolist()
    return same, len(texts)


# -- the cache figure ---------------------------------------------------------------------------
def realistic_mix(rows: int, seed: int, vqa_share: float = 0.8):
    """English examples of a VQA-heavy instruction mix, templated as ``polymix prepare`` does."""
    from polymix.schema import Example, encode_slots
    from polymix.templates import render

    rng = random.Random(seed + 1)
    examples = []
    for i in range(rows):
        if rng.random() < vqa_share:
            slots = {"question": question(rng), "answer": answer(rng)}
            task = "vqa"
        else:
            slots = {"caption": caption(rng)}
            task = "caption"
        ex = Example(
            source="bench", source_id=str(i), split="train", image=f"{i:06d}.jpg", task=task, slots_en=encode_slots(slots)
        )
        examples.append(render(ex, seed=seed))
    return examples


def mix_rows(examples, plan: dict[str, list[str]], service) -> int:
    """Translate one chunk with the translate stage's own code (``translate_examples``:
    ``strings_needed`` -> one ``TranslationService.translate`` call -> ``render_translated``);
    return the output rows."""
    from polymix.translate.stage import translate_examples

    return len(translate_examples(examples, plan, service))


def cache_figure(workdir: Path, rows: int, langs: list[str], chunk_rows: int, seed: int, threads: int) -> dict[str, float]:
    """Strings sent to the model per output row: mBLIP (every instruction and target), polymix
    without its persistent cache (de-dup within a chunk), and polymix with the cache."""
    from polymix.translate import assign
    from polymix.translate.model import ResolvedModel, fingerprint
    from polymix.translate.nllb import NllbTranslator, RuntimeSettings
    from polymix.translate.service import TranslationService
    from polymix.translate.random_nllb import build_random_nllb, convert_to_ct2

    hf = build_random_nllb(workdir / "cache-model-hf")
    ct2 = convert_to_ct2(hf, workdir / "cache-model-ct2", quantization="int8")
    resolved = ResolvedModel(ct2, str(ct2), fingerprint(ct2), "int8")
    examples = realistic_mix(rows, seed)
    plan_langs = assign.expand([ex.id for ex in examples], langs, "uniform", 0.0, seed)
    plan = {ex.id: ls for ex, ls in zip(examples, plan_langs)}
    out: dict[str, float] = {}
    for label, cache in (("dedup", None), ("cache", workdir / "translations.sqlite")):
        if cache is not None and cache.exists():
            cache.unlink()
        translator = NllbTranslator(resolved, runtime=RuntimeSettings(device="cpu", threads=threads))
        service = TranslationService(translator, cache)
        produced = 0
        started = time.perf_counter()
        for start in range(0, len(examples), chunk_rows):
            produced += mix_rows(examples[start : start + chunk_rows], plan, service)
        totals = service.totals()
        for key in ("translated", "requests", "passthrough", "hits"):
            out[f"{label}_{key}"] = totals[key]
        out[f"{label}_seconds"] = time.perf_counter() - started
        out["rows"] = produced
    out["mblip_strings"] = 2 * out["rows"]  # instruction + target of every row, translated again
    return out


# -- main --------------------------------------------------------------------------------------
class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except where the help text says what None/False means."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False:
            return action.help or ""
        return super()._get_help_string(action)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    shapes = " | ".join(
        f"{name}: d_model {s.d_model}, {s.layers}+{s.layers} layers, FFN {s.ffn}, {s.heads} heads, vocabulary "
        f"{s.vocab or 'the tokenizer'}: {s.note.replace('%', '%%')}"
        for name, s in SHAPES.items()
    )
    p = argparse.ArgumentParser(
        prog="translate_throughput.py",
        description="Sentences/s of polymix's translation path (NllbTranslator on CTranslate2) against transformers "
        "generate as mBLIP ran it (batch 256 in data order, fp32 CPU / fp16 GPU), same random-weight "
        "NLLB-shaped model, same inputs, same number of decoded tokens; plus strings translated per output "
        "row with and without polymix's cache. Last line: ratio=... polymix_sps=... transformers_sps=... "
        "strings_per_row=...",
        formatter_class=_Formatter,
    )
    p.add_argument("--shape", choices=list(SHAPES), default="small", help=f"model shape. {shapes}")
    p.add_argument(
        "--vocab",
        type=int,
        default=None,
        help="override the shape's model vocabulary size (0: the tokenizer's own size, no extension; default: the shape's)",
    )
    p.add_argument("--sentences", type=int, default=None, help="English inputs to translate (default: 512 on CPU, 4096 on CUDA)")
    p.add_argument(
        "--output-tokens",
        type=int,
        default=None,
        help="tokens every sentence decodes after the target-language token, in all paths (fixed, since "
        "random weights never emit </s>); default 24 on CUDA (a caption's length), 12 on CPU (about "
        "1.3x the inputs' mean English tokens)",
    )
    p.add_argument(
        "--also-tokens",
        default=None,
        help="comma list of further output lengths to time the same way (default: 12 on CUDA, none on CPU)",
    )
    p.add_argument(
        "--replicas",
        default=None,
        help="comma list of replicas per device to time polymix with besides its own choice, at --output-tokens "
        "and the default row's batch budget (default: 1,2,4 on CUDA, none on CPU); a count whose model or "
        "batches do not fit is reported and left out",
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where both paths run (auto: CUDA when CTranslate2 sees a GPU)",
    )
    p.add_argument(
        "--quantization",
        default="auto",
        help="polymix's compute type: auto = polymix's default, int8 on CPU and float16 on CUDA; or any "
        "CTranslate2 compute type (int8, int8_float32, int8_float16, float16, bfloat16, float32)",
    )
    p.add_argument(
        "--max-batch-tokens",
        type=int,
        default=None,
        help="polymix's padded-token budget per batch (default: polymix's choice, 4096 on CPU, up to 16384 on a GPU)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for both paths: polymix's thread budget (RuntimeSettings.threads) and torch.set_num_threads "
        "(default: the CPUs this process may use)",
    )
    p.add_argument(
        "--hf-batch-size", type=int, default=MBLIP_BATCH, help="transformers batch size (mBLIP's was 256; change only to explore)"
    )
    p.add_argument("--spm-size", type=int, default=1000, help="pieces of the benchmark tokenizer's sentencepiece model")
    p.add_argument("--cache-rows", type=int, default=2000, help="output rows of the cache figure's mix (0: skip it)")
    p.add_argument(
        "--cache-langs",
        default="deu_Latn,fra_Latn,zho_Hans,hin_Deva",
        help="target languages of the cache figure's mix (one per row, uniform)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the inputs and the random weights")
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep built and converted models here and reuse them on the next run (default: a temporary "
        "folder, removed at the end)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed rounds, each path once per round, interleaved; the fastest run of each path counts, and "
        "the per-round ratios are printed too (raise it on a busy machine)",
    )
    p.add_argument(
        "--skip-float", action="store_true", help="skip the polymix row in transformers' precision (float32 CPU / float16 CUDA)"
    )
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    import ctranslate2
    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        import huggingface_hub.utils

        huggingface_hub.utils.disable_progress_bars()
    except Exception:  # noqa: BLE001 - cosmetic only
        pass
    import logging

    logging.getLogger("polymix.translate.model").setLevel(logging.ERROR)  # "converting ... once"
    from polymix.translate.model import resolve

    device = args.device
    if device == "auto":
        device = "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no GPU (a CPU build of torch?); both paths must run on the same device")
    threads = args.threads or len(os.sched_getaffinity(0))
    n = args.sentences or (4096 if device == "cuda" else 512)
    T = args.output_tokens or (24 if device == "cuda" else 12)
    also = args.also_tokens if args.also_tokens is not None else ("12" if device == "cuda" else "")
    replica_sweep = [
        int(x)
        for x in (args.replicas if args.replicas is not None else ("1,2,4" if device == "cuda" else "")).split(",")
        if x.strip()
    ]
    token_counts = [T] + [int(x) for x in also.split(",") if x.strip() and int(x) != T]
    if min(token_counts) < 1 or n < 1 or args.repeat < 1 or any(r < 1 for r in replica_sweep):
        raise SystemExit("--sentences, --output-tokens, --also-tokens, --replicas and --repeat must be >= 1")
    shape = SHAPES[args.shape]
    if args.vocab is not None:
        shape = dataclasses.replace(shape, vocab=args.vocab or None)
    quant = args.quantization
    if quant == "auto":  # polymix's own choice for the device (translate/device.py)
        from polymix.translate import device as D

        quant = D.compute_type(
            device, D.conversion_quantization(device, "auto")[0], "auto", ctranslate2.get_supported_compute_types(device)
        )[0]
    reference_type = "float16" if device == "cuda" else "float32"  # what transformers runs in
    supported = ctranslate2.get_supported_compute_types(device)
    if quant not in supported:
        raise SystemExit(f"--quantization {quant}: not supported on {device} ({', '.join(sorted(supported))})")
    max_batch_tokens = args.max_batch_tokens or 0  # 0: polymix chooses (translate/device.py)

    temp = None
    if args.workdir is None:
        temp = tempfile.TemporaryDirectory(prefix="polymix-bench-")
        workdir = Path(temp.name)
    else:
        workdir = args.workdir.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    try:
        log(
            f"[setup] shape={args.shape} ({shape.d_model}d, {shape.layers}+{shape.layers} layers, FFN {shape.ffn}, "
            f"vocabulary {shape.vocab or 'tokenizer'}) device={device} threads={threads} sentences={n} "
            f"output_tokens={T} polymix={quant} transformers={'fp16' if device == 'cuda' else 'fp32'} "
            f"max_batch_tokens={max_batch_tokens or 'auto'} hf_batch={args.hf_batch_size} also_tokens={token_counts[1:]} "
            f"replica_sweep={replica_sweep}"
        )
        log(f"[setup] ctranslate2 {ctranslate2.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")
        tuned = {k: v for k, v in os.environ.items() if k.startswith(("CT2_", "OMP_", "MKL_", "DNNL_", "ONEDNN_"))}
        if tuned:
            # e.g. CT2_USE_MKL=1 on an AMD CPU without VNNI makes CTranslate2's int8 ~5x slower
            log(f"[setup] runtime variables set: {' '.join(f'{k}={v}' for k, v in sorted(tuned.items()))}")
        tag = f"{args.shape}-v{shape.vocab or 0}-s{args.seed}-p{args.spm_size}"
        hf_dir = build_model(args.shape, shape, workdir / f"hf-{tag}", args.seed, args.spm_size)
        log(f"[model] {count_parameters(hf_dir) / 1e6:.1f}M parameters")
        started = time.perf_counter()
        # polymix's own resolver converts the transformers folder (as `polymix translate --model
        # <folder> --quantization ...` does), into a cache under the work folder.
        stored = {"int8": "int8", "int8_float32": "int8", "int8_float16": "int8", "int8_bfloat16": "int8"}.get(quant, quant)
        resolved = {stored: resolve(str(hf_dir), stored, cache_dir=workdir / "polymix-cache")}
        if not args.skip_float and reference_type not in resolved:
            resolved[reference_type] = resolve(str(hf_dir), reference_type, cache_dir=workdir / "polymix-cache")
        log(f"[model] converted to CTranslate2 ({', '.join(resolved)}) in {time.perf_counter() - started:.1f} s")

        texts = make_inputs(n, args.seed)
        warm = texts[: min(n, 64)]

        # -- load and warm up the paths ------------------------------------------------------
        hf_label = f"transformers {'fp16' if device == 'cuda' else 'fp32'}"
        ct2_label = f"ctranslate2 alone {quant}"
        rows = [(quant, resolved[stored], 0)]
        rows += [] if args.skip_float or reference_type == quant else [(reference_type, resolved[reference_type], 0)]
        translators = {}
        for compute_type, model, replicas in rows + [(quant, resolved[stored], r) for r in replica_sweep]:
            if replicas and translators and replicas == translators[f"polymix {quant}"].choice.replicas:
                continue  # the default row already runs with this many
            budget = translators[f"polymix {quant}"].choice.max_batch_tokens if replicas else max_batch_tokens
            translator = polymix_translator(model, compute_type, device, threads, budget, max(token_counts), replicas)
            label = f"polymix {compute_type}" + (f", {replicas} replica(s)/device" if replicas else "")
            try:
                run_polymix(translator, warm, TARGET_LANG)  # loads the model
            except Exception as err:  # noqa: BLE001 - a sweep row that does not fit is reported, not fatal
                if not replicas:
                    raise
                log(f"[{label}] FAILED to load, left out: {type(err).__name__}: {str(err)[:200]}")
                continue
            translators[label] = translator
            log(f"[{label}] {translator.choice.describe()}")
        polymix_label = f"polymix {quant}"
        default = translators[polymix_label]
        hf_model, tok, _ = load_transformers(hf_dir, device, threads)
        run_transformers(hf_model, tok, warm, TARGET_LANG, T, device, args.hf_batch_size)

        lengths = [len(t) for t in default.source_tokens(texts)]
        log(
            f"[inputs] {n} texts in data order, source tokens mean {sum(lengths) / n:.1f} (min {min(lengths)}, max "
            f"{max(lengths)}); polymix: {len(default._batches(lengths, default.replicas))} batches of <= "
            f"{default.choice.max_batch_tokens} padded tokens for {default.replicas} replica(s), "
            f"length-sorted; transformers: {math.ceil(n / args.hf_batch_size)} batches of {args.hf_batch_size}, "
            f"{_padding_share(lengths, args.hf_batch_size):.0%} of their source tokens are padding"
        )
        if not args.skip_float:
            agree, checked = agreement(translators[f"polymix {reference_type}"], hf_model, tok, texts[:16], T, device)
            log(
                f"[check] same model: polymix {reference_type} and {hf_label} decode the same {T} token ids for "
                f"{agree}/{checked} inputs (greedy, no_repeat_ngram_size=0)"
            )

        # -- timed runs, interleaved; the best of --repeat per path, per output length ----------
        # Each length's table is printed as soon as it is measured: a run cut short keeps them.
        results: dict[int, tuple[dict[str, float], list[dict[str, float]]]] = {}
        target = 4.5 if device == "cuda" else 3.0
        for length in token_counts:
            for translator in translators.values():
                translator.output_tokens = length
            ct2_run = ct2_alone(default, texts, TARGET_LANG)
            paths: list[tuple[str, Any]] = [
                (polymix_label, lambda: run_polymix(default, texts, TARGET_LANG)),
                (ct2_label, ct2_run),
            ]
            ct2_run()  # warm-up at this length
            paths += [
                (label, lambda tr=tr: run_polymix(tr, texts, TARGET_LANG))
                for label, tr in translators.items()
                if label != polymix_label and (length == T or not label.endswith("device"))
            ]
            paths.append(
                (
                    hf_label,
                    lambda length=length: run_transformers(hf_model, tok, texts, TARGET_LANG, length, device, args.hf_batch_size),
                )
            )
            results[length] = best, rounds = timed_rounds(
                paths, n, length, args.repeat, optional=[label for label in translators if label.endswith("device")]
            )
            table(best, n, length, hf_label)
            hf_sps, sps = n / best[hf_label], n / best[polymix_label]
            log(
                f"headline: polymix {quant} (its default) vs {hf_label} (mBLIP's): {sps / hf_sps:.2f}x at {length} tokens"
                + (
                    f", target >= {target}x on {device.upper()}: {'met' if sps / hf_sps >= target else 'NOT met'}"
                    if length == T
                    else ""
                )
                + " (same model and inputs, before counting the cache)"
            )
            log(
                f"overhead: polymix runs at {sps / (n / best[ct2_label]):.1%} of ctranslate2 alone on the same batches "
                f"(target >= 90%)"
            )
            log(idle_line(default))  # its last timed run
            if args.repeat > 1:
                per_round = [r[hf_label] / r[polymix_label] for r in rounds]
                log(
                    f"per round (same round, back to back): {' '.join(f'{x:.2f}x' for x in per_round)}; median "
                    f"{sorted(per_round)[len(per_round) // 2]:.2f}x"
                )
            if not args.skip_float:
                log(
                    f"same precision: polymix {reference_type} vs {hf_label}"
                    f": {(n / best[f'polymix {reference_type}']) / hf_sps:.2f}x"
                )
            log("")
        translators.clear()
        hf_model = paths = default = None  # free the models before the cache figure (the timed lambdas are done)
        if device == "cuda":
            torch.cuda.empty_cache()

        best = results[T][0]
        hf_sps, polymix_sps, ct2_sps = n / best[hf_label], n / best[polymix_label], n / best[ct2_label]
        ratio = polymix_sps / hf_sps
        if os.getloadavg()[0] > os.cpu_count() and device == "cpu":
            log(
                f"[warning] load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs: other processes competed for "
                "the CPUs, so the timings are noisy (try --repeat 3)"
            )

        # -- cache ---------------------------------------------------------------------------
        strings_per_row = float("nan")
        if args.cache_rows > 0:
            langs = [s.strip() for s in args.cache_langs.split(",") if s.strip()]
            log("")
            log(f"[cache] {args.cache_rows} rows (80% VQA, 20% captions) into {len(langs)} languages, chunks of 500 rows ...")
            fig = cache_figure(workdir, args.cache_rows, langs, 500, args.seed, threads)
            n_rows = fig["rows"]
            strings_per_row = fig["cache_translated"] / n_rows
            mblip = fig["mblip_strings"] / n_rows
            dedup = fig["dedup_translated"] / n_rows
            log(f"{'strings sent to the model':<44}{'total':>8}{'per row':>9}")
            log(f"{'mBLIP: every instruction + target':<44}{fig['mblip_strings']:>8}{mblip:>9.3f}")
            log(f"{'polymix, de-dup per chunk, no cache':<44}{fig['dedup_translated']:>8}{dedup:>9.3f}")
            log(f"{'polymix, with the cache':<44}{fig['cache_translated']:>8}{strings_per_row:>9.3f}")
            log(
                f"[cache] {n_rows} output rows; polymix asks for {fig['cache_requests'] / n_rows:.2f} template pieces and slot "
                f"values per row, {fig['cache_passthrough']} pass through (numbers), {fig['cache_hits']} cache hits; the cache "
                f"sends {mblip / strings_per_row:.1f}x fewer strings to the model than mBLIP"
            )
            log(
                f"[estimate, rough] output rows/s on this model: polymix {polymix_sps / strings_per_row:.0f} "
                f"(cache), transformers as mBLIP {hf_sps / mblip:.0f}"
            )
        log(
            f"ratio={ratio:.2f} polymix_sps={polymix_sps:.1f} transformers_sps={hf_sps:.1f} "
            f"strings_per_row={strings_per_row:.3f} "
            f"ct2_alone_sps={ct2_sps:.1f} output_tokens={T}"
        )
        return 0
    finally:
        if temp is not None:
            temp.cleanup()


def _padding_share(lengths: list[int], batch: int) -> float:
    """Share of pad tokens in data-order batches of ``batch``, padded to the longest."""
    real = padded = 0
    for start in range(0, len(lengths), batch):
        chunk = lengths[start : start + batch]
        real += sum(chunk)
        padded += max(chunk) * len(chunk)
    return 1 - real / padded


if __name__ == "__main__":
    sys.exit(main())
