"""A tiny NLLB-200 look-alike with random weights, for tests and benchmarks (the trained demo translator is ``translate/toy``).

``build_random_nllb`` writes, in a second or two on CPU and without the network, a transformers
M2M100 folder with NLLB-200's architecture and conventions: pre-norm transformer, ReLU, scaled and
tied embeddings, sinusoidal positions, ``decoder_start_token_id`` = ``</s>`` (2), pad 1, bos 0,
and an ``NllbTokenizer`` laid out like the real one (fairseq offset: ``<s> <pad> </s> <unk>``, then
the sentencepiece pieces, then the 202 language codes as special tokens, then ``<mask>``); the
source reads ``[src_lang] tokens </s>``. ``convert_to_ct2`` turns it into a CTranslate2 folder
that also holds the tokenizer, like the published ``nllb-200-*-ct2`` folders.

It is NOT a translation model: its weights are random, so its "translations" are noise. Use it
to exercise the plumbing (tokenisation, language codes, batching, caching, CTranslate2 loading)
and to time it; everything is deterministic in the arguments, so two builds are byte-identical.
"""

from __future__ import annotations

import base64
import io
import json
import random
import shutil
import tempfile
from pathlib import Path

__all__ = ["NLLB_LANGUAGE_CODES", "build_random_nllb", "convert_to_ct2", "default_corpus", "nllb_config", "write_tokenizer"]

_INIT_GAIN = 4.0  # std of the projections = gain / sqrt(fan_in); see reinit
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "sentencepiece.bpe.model")


def _language_codes() -> list[str]:
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    return list(FAIRSEQ_LANGUAGE_CODES)


NLLB_LANGUAGE_CODES: list[str] = _language_codes()  # the 202 codes of NLLB-200, in NLLB's id order

_WORDS = {
    "en": "the a man woman child dog cat bird horse car bus train house street table chair picture "
    "red blue green small big old young two three is are sits stands runs holds looks eats "
    "on in under next to with and of near white black wooden playing people field water".split(),
    "de": "der die das ein eine Mann Frau Kind Hund Katze Vogel Pferd Auto Bus Zug Haus Straße "
    "Tisch Stuhl Bild rot blau grün klein groß alt jung zwei drei ist sind sitzt steht läuft "
    "hält schaut isst auf in unter neben mit und von weiß schwarz Menschen Wasser".split(),
    "fr": "le la un une homme femme enfant chien chat oiseau cheval voiture bus train maison rue "
    "table chaise image rouge bleu vert petit grand vieux jeune deux trois est sont assis "
    "debout court tient regarde mange sur dans sous à côté avec et de près blanc noir eau".split(),
}


def default_corpus(seed: int = 0, n: int = 360) -> list[str]:
    """``n`` English/German/French-ish sentences (and a few questions), a pure function of ``seed``."""
    rng = random.Random(seed)
    langs = sorted(_WORDS)
    out = []
    for i in range(n):
        words = _WORDS[langs[i % len(langs)]]
        sentence = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
        out.append(sentence[0].upper() + sentence[1:] + rng.choice(".....?!"))
    return out


def _train_sentencepiece(corpus: list[str], vocab_size: int) -> bytes:
    """A sentencepiece BPE model (like NLLB's ``sentencepiece.bpe.model``): unk 0, <s> 1, </s> 2."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=buf,
        vocab_size=vocab_size,
        model_type="bpe",
        character_coverage=1.0,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        num_threads=1,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return buf.getvalue()


def _nllb_tokenizer(spm_dir: Path, languages: list[str]):
    """NllbTokenizer with NLLB's id layout: spm pieces (fairseq offset), then the codes, then <mask>.

    ``NllbTokenizer(vocab_file=...)`` ignores the file in transformers 5 (all words -> <unk>), and
    ``from_pretrained`` on the sentencepiece file alone adds no language codes and puts <mask>
    before them; so convert once via ``from_pretrained`` and rebuild with the ids laid out.
    """
    from transformers import NllbTokenizer

    base = NllbTokenizer.from_pretrained(str(spm_dir), extra_special_tokens=[])
    spec = json.loads(base.backend_tokenizer.to_str())
    vocab = dict(spec["model"]["vocab"])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in spec["model"]["merges"]]
    charsmap = next(n["precompiled_charsmap"] for n in spec["normalizer"]["normalizers"] if n["type"] == "Precompiled")
    for code in [*languages, "<mask>"]:
        vocab[code] = len(vocab)
    tok = NllbTokenizer(
        vocab=vocab,
        merges=merges,
        _spm_precompiled_charsmap=base64.b64decode(charsmap),
        extra_special_tokens=list(languages),
        src_lang="eng_Latn" if "eng_Latn" in languages else languages[0],
    )
    if len(tok) != len(vocab):
        raise RuntimeError(f"tokenizer has {len(tok)} entries, expected {len(vocab)}")
    return tok


def _check_codes(tok, languages: list[str]) -> None:
    ids = tok.convert_tokens_to_ids(list(languages))
    bad = [c for c, i in zip(languages, ids) if i is None or i == tok.unk_token_id]
    if bad:
        raise RuntimeError(f"language codes missing from the tokenizer: {bad[:5]}")


def reinit(model, d_model: int) -> None:
    """fairseq's embedding init (std d**-0.5, zero pad row) and wide random projections.

    With transformers' default (std 0.02 everywhere) a model this small ignores its input and
    repeats one token; with these, outputs differ per input and per step, which makes
    comparisons between runtimes meaningful. Still noise: there is no </s> to expect.
    """
    import torch

    with torch.no_grad():
        torch.nn.init.normal_(model.model.shared.weight, 0.0, d_model**-0.5)
        model.model.shared.weight[model.config.pad_token_id].zero_()
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head"):
                torch.nn.init.normal_(module.weight, 0.0, _INIT_GAIN / module.in_features**0.5)
                if module.bias is not None:
                    module.bias.zero_()


def write_tokenizer(out_dir: Path, corpus: list[str], vocab_size: int, languages: list[str] | None = None):
    """Train sentencepiece on ``corpus`` and save an NLLB tokenizer (the language codes checked)
    plus its ``sentencepiece.bpe.model`` into ``out_dir``; return the tokenizer."""
    out_dir = Path(out_dir)
    languages = list(languages or NLLB_LANGUAGE_CODES)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_bytes = _train_sentencepiece(corpus, vocab_size)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "sentencepiece.bpe.model").write_bytes(model_bytes)
        tok = _nllb_tokenizer(Path(tmp), languages)
    _check_codes(tok, languages)
    tok.save_pretrained(str(out_dir))
    (out_dir / "sentencepiece.bpe.model").write_bytes(model_bytes)
    return tok


def nllb_config(vocab_size: int, *, d_model: int, layers: int, ffn: int, heads: int, dropout: float = 0.1):
    """An M2M100Config with NLLB-200's conventions (pre-norm, ReLU, scaled tied embeddings,
    bos 0 / pad 1 / eos 2, decoder start ``</s>``) at the given size."""
    from transformers import M2M100Config

    return M2M100Config(
        vocab_size=vocab_size,
        d_model=d_model,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_ffn_dim=ffn,
        decoder_ffn_dim=ffn,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        max_position_embeddings=1024,
        activation_function="relu",
        scale_embedding=True,
        dropout=dropout,
        attention_dropout=dropout,
        activation_dropout=0.0,
        encoder_layerdrop=0.0,
        decoder_layerdrop=0.0,
        init_std=0.02,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        decoder_start_token_id=2,
        tie_word_embeddings=True,
        tokenizer_class="NllbTokenizer",
        use_cache=True,
    )


def build_random_nllb(
    out_dir: Path,
    *,
    corpus: list[str] | None = None,
    d_model: int = 64,
    layers: int = 2,
    ffn: int = 128,
    heads: int = 4,
    vocab_size: int = 400,
    seed: int = 0,
    languages: list[str] | None = None,
) -> Path:
    """Write a transformers M2M100 folder (config, weights as safetensors, NLLB tokenizer with the
    language codes, ``sentencepiece.bpe.model``) to ``out_dir``; return ``out_dir``.

    ``vocab_size`` is the sentencepiece size (an upper bound when ``corpus`` is too small); the
    model's vocabulary is the tokenizer's length (pieces + 1 pad + codes + <mask>). ``languages``
    defaults to NLLB-200's 202 codes. Same arguments -> same files.
    """
    import torch
    from transformers import GenerationConfig, M2M100ForConditionalGeneration

    out_dir = Path(out_dir)
    tok = write_tokenizer(out_dir, corpus or default_corpus(seed), vocab_size, languages)
    config = nllb_config(len(tok), d_model=d_model, layers=layers, ffn=ffn, heads=heads)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = M2M100ForConditionalGeneration(config).eval()
        reinit(model, d_model)
    model.generation_config = GenerationConfig(
        bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2, max_length=200
    )
    model.save_pretrained(str(out_dir), safe_serialization=True)
    return out_dir


def convert_to_ct2(hf_dir: Path, ct2_dir: Path, quantization: str = "int8") -> Path:
    """Convert ``hf_dir`` to CTranslate2 in ``ct2_dir`` (overwriting), copy the tokenizer files in,
    and check that every language code kept its id in the converted vocabulary; return ``ct2_dir``."""
    import ctranslate2
    from transformers import AutoTokenizer

    hf_dir, ct2_dir = Path(hf_dir), Path(ct2_dir)
    ctranslate2.converters.TransformersConverter(str(hf_dir)).convert(str(ct2_dir), quantization=quantization, force=True)
    for name in TOKENIZER_FILES:
        if (hf_dir / name).is_file():
            shutil.copy2(hf_dir / name, ct2_dir / name)

    vocab_file = ct2_dir / "shared_vocabulary.json"
    if vocab_file.is_file():
        ct2_vocab = json.loads(vocab_file.read_text(encoding="utf-8"))
    else:
        ct2_vocab = (ct2_dir / "shared_vocabulary.txt").read_text(encoding="utf-8").splitlines()
    tok = AutoTokenizer.from_pretrained(str(ct2_dir))
    codes = [t for t in NLLB_LANGUAGE_CODES if t in tok.get_vocab()] or list(tok.extra_special_tokens or [])
    if not codes:
        raise RuntimeError(f"{ct2_dir}: the tokenizer holds no NLLB language codes")
    _check_codes(tok, codes)
    index = {t: i for i, t in enumerate(ct2_vocab)}
    wrong = [c for c in codes if index.get(c) != tok.convert_tokens_to_ids(c)]
    if wrong:
        raise RuntimeError(
            f"{ct2_dir}: converted vocabulary lacks language codes or moved them: {wrong[:5]} "
            f"(e.g. {wrong[0]!r}: tokenizer id {tok.convert_tokens_to_ids(wrong[0])}, ct2 id {index.get(wrong[0])})"
        )
    madeup = [t for t in ct2_vocab if t.startswith("madeupword")]
    if madeup or len(ct2_vocab) != len(tok):
        raise RuntimeError(
            f"{ct2_dir}: converted vocabulary has {len(ct2_vocab)} entries ({len(madeup)} 'madeupword' pads) "
            f"but the tokenizer has {len(tok)}: config.vocab_size and the tokenizer disagree"
        )
    return ct2_dir
