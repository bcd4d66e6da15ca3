"""Tiny, randomly initialised BLIP-2 parts and LLMs (the ``tiny:`` sources) for tests, benchmarks and offline CPU runs.

Everything here is built from configs on CPU in a second or two, without the network, and is
deterministic in its arguments. The ``tiny:<kind>`` model sources of the presets resolve here:

    tiny:blip2   a Blip2ForConditionalGeneration folder (ViT 32px, Q-Former, 8 query tokens, mT5)
    tiny:mblip   the same, with a different seed (stands in for a released mBLIP checkpoint)
    tiny:mt5     an MT5ForConditionalGeneration folder (seq2seq)
    tiny:bloom   a BloomForCausalLM folder (decoder-only)
    tiny:llama   a LlamaForCausalLM folder (decoder-only, Llama-style)

Every folder holds a T5-style sentencepiece tokenizer trained on the ``shapes`` vocabulary, the
instruction templates and a little German/French, and BLIP-2's image processor (32 px).
Folders are cached under ``$POLYMIX_TINY_CACHE`` (default ``~/.cache/polymix/tiny``).
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from pathlib import Path

KINDS = ("blip2", "mblip", "mt5", "bloom", "llama")
IMAGE_SIZE = 32
NUM_QUERY_TOKENS = 8
_VERSION = "v3"  # bump when the builders change, so cached folders are rebuilt


def corpus() -> list[str]:
    """English shapes captions/questions, every template's text, and some German/French."""
    import yaml

    from polymix.mix.sources.shapes import caption, make_scene, questions
    from polymix.templates import HERE as TEMPLATES
    from polymix.translate.random_nllb import default_corpus

    lines: list[str] = []
    for index in range(150):
        scene = make_scene(0, index)
        lines.append(caption(scene))
        lines.extend(f"{q} {a}" for q, a in questions(scene))
    for path in sorted(TEMPLATES.glob("*.yaml")):
        for t in yaml.safe_load(path.read_text(encoding="utf-8")).get("templates", []):
            lines.extend(str(t.get(k, "")).replace("{", "").replace("}", "") for k in ("instruction", "target"))
    return lines + default_corpus(0, 300)


def build_tokenizer(out_dir: Path, vocab_size: int = 400, lines: list[str] | None = None, symbols: list[str] | None = None):
    """A T5-style tokenizer (pad 0, eos 1, unk 2) from a sentencepiece unigram model of ``lines``
    (default: :func:`corpus`), ``symbols`` kept as single pieces; saved to ``out_dir``."""
    import sentencepiece as spm
    from transformers import T5Tokenizer

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines or corpus()),
        model_writer=buf,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        num_threads=1,
        hard_vocab_limit=False,
        minloglevel=2,
        user_defined_symbols=symbols or [],
    )
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "spiece.model").write_bytes(buf.getvalue())
        # T5Tokenizer(vocab_file=...) ignores the file in transformers 5; from_pretrained converts it.
        tok = T5Tokenizer.from_pretrained(tmp, extra_ids=0)
    tok.save_pretrained(str(out_dir))
    return tok


def padded_vocab(n_tokens: int) -> int:
    """Embedding rows for a tokenizer of ``n_tokens``: rounded up to a multiple of 64 with at least one
    spare row, as the real checkpoints have them (mT0: 250112 rows for 250100 tokens, BLOOMZ: 250880
    for 250680); an export puts BLIP-2's ``<image>`` token in the first spare row."""
    return (n_tokens // 64 + 1) * 64


def llm_config(kind: str, vocab_size: int):
    from transformers import BloomConfig, LlamaConfig, MT5Config

    if kind == "mt5":
        return MT5Config(
            vocab_size=vocab_size,
            d_model=64,
            d_kv=16,
            d_ff=128,
            num_layers=2,
            num_decoder_layers=2,
            num_heads=4,
            dropout_rate=0.1,
            pad_token_id=0,
            eos_token_id=1,
            decoder_start_token_id=0,
            tie_word_embeddings=False,
        )
    if kind == "bloom":
        return BloomConfig(
            vocab_size=vocab_size,
            hidden_size=64,
            n_layer=2,
            n_head=4,
            hidden_dropout=0.1,
            attention_dropout=0.1,
            pad_token_id=0,
            eos_token_id=1,
            bos_token_id=1,
        )
    if kind == "llama":
        return LlamaConfig(
            vocab_size=vocab_size,
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            pad_token_id=0,
            eos_token_id=1,
            bos_token_id=1,
            attention_dropout=0.1,
        )
    raise ValueError(f"unknown tiny LLM {kind!r}: use mt5, bloom or llama")


def blip2_config(text_config):
    from transformers import Blip2Config, Blip2QFormerConfig, Blip2VisionConfig

    vision = Blip2VisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=8
    )
    qformer = Blip2QFormerConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        encoder_hidden_size=32,
        cross_attention_frequency=1,
        vocab_size=16,
        max_position_embeddings=64,
    )
    return Blip2Config(
        vision_config=vision.to_dict(),
        qformer_config=qformer.to_dict(),
        text_config=text_config.to_dict(),
        num_query_tokens=NUM_QUERY_TOKENS,
    )


def _image_processor():
    from transformers import BlipImageProcessorPil

    return BlipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})


def _rescale_head(model) -> None:
    """T5 initialises its LM head (tied to the embeddings in transformers 5's mT5) with std 1:
    logits of std ~8 and a first loss ~35, where a real LLM starts near ln(vocab). Std d**-0.5
    gives unit-scale logits."""
    import torch

    head = model.get_output_embeddings()
    if head is not None:
        with torch.no_grad():
            head.weight.normal_(0.0, head.weight.shape[1] ** -0.5)


def build(kind: str, out_dir: Path, seed: int = 0) -> Path:
    """Write the tiny model ``kind`` (see the module docstring) to ``out_dir``; return it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, Blip2ForConditionalGeneration

    if kind not in KINDS:
        raise ValueError(f"unknown tiny model {kind!r}: use one of {', '.join(KINDS)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(out_dir)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + (1 if kind == "mblip" else 0))
        if kind in ("blip2", "mblip"):
            model = Blip2ForConditionalGeneration(blip2_config(llm_config("mt5", padded_vocab(len(tok)))))
            with torch.no_grad():  # BLIP-2 initialises query tokens to zero; make them informative
                model.query_tokens.normal_(0.0, 0.5)
        else:
            config = llm_config(kind, padded_vocab(len(tok)))
            auto = AutoModelForSeq2SeqLM if kind == "mt5" else AutoModelForCausalLM
            model = auto.from_config(config)
        _rescale_head(model)
    model.save_pretrained(str(out_dir))
    _image_processor().save_pretrained(str(out_dir))
    return out_dir


def cache_dir() -> Path:
    return Path(os.environ.get("POLYMIX_TINY_CACHE") or Path.home() / ".cache" / "polymix" / "tiny")


def resolve(source: str) -> Path:
    """The folder of ``tiny:<kind>``, built on first use (atomically) and cached."""
    kind = source.split(":", 1)[1]
    if kind not in KINDS:
        raise ValueError(f"unknown tiny model {source!r}: use one of {', '.join('tiny:' + k for k in KINDS)}")
    final = cache_dir() / f"{kind}-{_VERSION}"
    if (final / "config.json").exists():
        return final
    from filelock import FileLock

    final.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(final) + ".lock"):  # several processes (DDP ranks) may ask at once
        if not (final / "config.json").exists():
            tmp = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=final.parent))
            try:
                build(kind, tmp)
                shutil.rmtree(final, ignore_errors=True)
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return final
