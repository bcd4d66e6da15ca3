"""Train the toy NLLB-format model on the synthetic ``shapes`` corpus and write it as CTranslate2.

    python -m polymix.translate.toy.train --out translate/toy/model --seed 0

The recipe, in order: the corpus (:mod:`~polymix.translate.toy.corpus`); sentencepiece trained
on its training side and an NLLB tokenizer with all 202 language codes
(:func:`polymix.translate.random_nllb.write_tokenizer`); an M2M100 model with NLLB's conventions
(:func:`polymix.translate.random_nllb.nllb_config`), trained from scratch with transformers on CPU
exactly as NLLB is fed: source ``[eng_Latn] tokens </s>``, labels ``[tgt_lang] tokens </s>``,
decoder input the labels shifted right behind ``</s>``; conversion to CTranslate2 int8 with the
checks of :func:`polymix.translate.random_nllb.convert_to_ct2`; evaluation through polymix's own
translator on the held-out captions; the model card (``README.md``) and ``toy.json`` beside it.

Everything is seeded and runs on a fixed number of threads with deterministic algorithms, so
the same command with the same library versions on the same kind of CPU rebuilds ``model.bin``
bit for bit (see the model card for what was checked).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import random
import shutil
import tempfile
import time
from pathlib import Path

from polymix.translate.random_nllb import convert_to_ct2, nllb_config, write_tokenizer
from polymix.translate.toy import TOY_LANGUAGES, TOY_MODEL_DIR
from polymix.translate.toy.corpus import ENGLISH, CorpusSettings, corpus_digest, heldout_pairs, training_pairs

log = logging.getLogger(__name__)


def _opt(default, help: str):
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass
class TrainSettings:
    """How the toy model is built. The defaults are what the committed model was built with."""

    out: str = _opt(str(TOY_MODEL_DIR), "CTranslate2 folder to write (replaced)")
    seed: int = _opt(0, "seed of the corpus sample, the initial weights, dropout and batch order")
    d_model: int = _opt(128, "model width")
    layers: int = _opt(2, "encoder layers = decoder layers")
    ffn: int = _opt(256, "feed-forward width")
    heads: int = _opt(
        8,
        "attention heads (8 of width 16: the alignment of colours and shapes to objects is found in far fewer steps than with 4)",
    )
    vocab_size: int = _opt(1000, "sentencepiece pieces (the model adds pad, 202 language codes, <mask>)")
    three_object_captions: int = _opt(CorpusSettings.three_object_captions, "3-object captions sampled per language")
    short_repeats: int = _opt(CorpusSettings.short_repeats, "repeats of each question, answer and template piece per language")
    steps: int = _opt(2500, "optimizer steps (batches drawn from successive shuffles of the training pairs)")
    batch_size: int = _opt(32, "sentence pairs per step")
    lr: float = _opt(3e-3, "peak learning rate (AdamW; linear warm-up, then linear decay to 0)")
    warmup_steps: int = _opt(300, "warm-up steps")
    label_smoothing: float = _opt(0.0, "label smoothing of the cross-entropy")
    dropout: float = _opt(0.0, "dropout (and attention dropout); the corpus is noise-free, none is needed")
    check_every: int = _opt(0, "every N steps, print the exact-match rate on held-out captions (0: off; for tuning)")
    threads: int = _opt(1, "CPU threads for torch (results are bit-for-bit only for the same number)")
    quantization: str = _opt("int8", "CTranslate2 quantization of the written model")

    def __post_init__(self) -> None:
        problems = [
            f"{name} must be >= 1"
            for name in ("d_model", "layers", "ffn", "heads", "steps", "batch_size", "threads")
            if getattr(self, name) < 1
        ]
        if self.d_model % max(self.heads, 1):
            problems.append("d_model must be a multiple of heads")
        if problems:
            raise ValueError("; ".join(problems))


def encode(tok, pairs: list[tuple[str, str, str]]) -> list[tuple[list[int], list[int]]]:
    """(source ids, label ids) in NLLB's layout: ``[eng_Latn] x </s>`` and ``[tgt_lang] y </s>``."""
    texts = sorted({t for _, en, tgt in pairs for t in (en, tgt)})
    ids = dict(zip(texts, tok(texts, add_special_tokens=False)["input_ids"]))
    code = dict(zip([ENGLISH, *TOY_LANGUAGES], tok.convert_tokens_to_ids([ENGLISH, *TOY_LANGUAGES])))
    eos = tok.eos_token_id
    return [([code[ENGLISH], *ids[en], eos], [code[lang], *ids[tgt], eos]) for lang, en, tgt in pairs]


def batches(data: list, batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of pairs of similar length (sorted within windows of 32 batches)."""
    order = list(range(len(data)))
    rng.shuffle(order)
    window = batch_size * 32
    out: list[list[int]] = []
    for start in range(0, len(order), window):
        part = sorted(order[start : start + window], key=lambda i: (len(data[i][0]) + len(data[i][1]), i))
        out += [part[k : k + batch_size] for k in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def collate(rows: list[tuple[list[int], list[int]]], pad: int = 1, start: int = 2):
    """Padded tensors: input ids, attention mask, decoder input (``</s>`` + labels[:-1]), labels (-100 = pad)."""
    import torch

    n_src, n_tgt = max(len(s) for s, _ in rows), max(len(t) for _, t in rows)
    src = torch.full((len(rows), n_src), pad)
    dec = torch.full((len(rows), n_tgt), pad)
    labels = torch.full((len(rows), n_tgt), -100)
    for k, (s, t) in enumerate(rows):
        src[k, : len(s)] = torch.tensor(s)
        labels[k, : len(t)] = torch.tensor(t)
        dec[k, : len(t)] = torch.tensor([start, *t[:-1]])
    # The target language code is always forced at decoding (CTranslate2's target_prefix,
    # transformers' forced_bos_token_id); predicting it from </s> alone is a guess among the
    # languages, so it is left out of the loss.
    labels[:, 0] = -100
    return src, (src != pad).long(), dec, labels


def exact_rate(model, tok, pairs: list[tuple[str, str, str]]) -> float:
    """Share of ``pairs`` that transformers' greedy decoding translates exactly (a cheap progress check)."""
    import torch

    model.eval()
    tok.src_lang = ENGLISH
    hits = 0
    with torch.no_grad():
        for lang in sorted({lang for lang, _, _ in pairs}):
            rows = [(en, ref) for lg, en, ref in pairs if lg == lang]
            inputs = tok([en for en, _ in rows], return_tensors="pt", padding=True)
            out = model.generate(
                **inputs, forced_bos_token_id=tok.convert_tokens_to_ids(lang), num_beams=1, do_sample=False, max_new_tokens=64
            )
            hits += sum(h.strip() == ref for h, (_, ref) in zip(tok.batch_decode(out, skip_special_tokens=True), rows))
    model.train()
    return hits / len(pairs)


def train(model, data: list, settings: TrainSettings, check=None) -> dict[str, float]:
    """Train in place; return timing and the last loss. ``check()`` runs every ``check_every`` steps."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    rng = random.Random(f"toy-batches/{settings.seed}")
    plan: list[list[int]] = []
    while len(plan) < settings.steps:
        plan += batches(data, settings.batch_size, rng)
    plan = plan[: settings.steps]
    total = len(plan)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, betas=(0.9, 0.98), weight_decay=0.01)
    warm = settings.warmup_steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    model.train()
    started, tokens, smoothed = time.perf_counter(), 0, None
    bar = tqdm(plan, desc="training toy model", unit="step", mininterval=5)
    for step, batch in enumerate(bar, 1):
        src, mask, dec, labels = collate([data[i] for i in batch])
        logits = model(input_ids=src, attention_mask=mask, decoder_input_ids=dec).logits
        loss = F.cross_entropy(
            logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100, label_smoothing=settings.label_smoothing
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        tokens += int(mask.sum()) + int((labels != -100).sum())
        smoothed = loss.item() if smoothed is None else 0.98 * smoothed + 0.02 * loss.item()
        bar.set_postfix(loss=f"{smoothed:.3f}", tok_s=f"{tokens / (time.perf_counter() - started):.0f}", refresh=False)
        if check and settings.check_every and step % settings.check_every == 0:
            log.info("step %d: loss %.3f, held-out exact %.1f%%", step, smoothed, 100 * check())
    model.eval()
    seconds = time.perf_counter() - started
    log.info("trained %d steps in %.0f s (%.0f tokens/s), loss %.3f", total, seconds, tokens / seconds, smoothed)
    return {
        "steps": total,
        "seconds": round(seconds, 1),
        "tokens_per_second": round(tokens / seconds),
        "loss": round(smoothed, 4),
    }


def build(settings: TrainSettings) -> dict:
    """Build the toy model into ``settings.out``; return the report written to ``toy.json``."""
    import torch
    from transformers import GenerationConfig, M2M100ForConditionalGeneration

    from polymix.translate.toy.card import write_card
    from polymix.translate.toy.evaluate import evaluate

    torch.set_num_threads(settings.threads)
    torch.use_deterministic_algorithms(True)
    corpus = CorpusSettings(settings.three_object_captions, settings.short_repeats)
    pairs = training_pairs(list(TOY_LANGUAGES), settings.seed, corpus)
    out = Path(settings.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".toy-build-", dir=out.parent) as tmp:
        hf = Path(tmp) / "hf"
        texts = sorted({t for _, en, tgt in pairs for t in (en, tgt)})
        tok = write_tokenizer(hf, texts, settings.vocab_size)
        data = encode(tok, pairs)
        log.info("%d training pairs in %d languages, vocabulary %d", len(data), len(TOY_LANGUAGES), len(tok))
        config = nllb_config(
            len(tok),
            d_model=settings.d_model,
            layers=settings.layers,
            ffn=settings.ffn,
            heads=settings.heads,
            dropout=settings.dropout,
        )
        torch.manual_seed(settings.seed)
        model = M2M100ForConditionalGeneration(config)
        sample = heldout_pairs(list(TOY_LANGUAGES))[::25]
        timing = train(model, data, settings, check=lambda: exact_rate(model, tok, sample))
        model.generation_config = GenerationConfig(
            bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2, max_length=200
        )
        model.save_pretrained(str(hf), safe_serialization=True)
        ct2 = convert_to_ct2(hf, Path(tmp) / "ct2", quantization=settings.quantization)
        report = {
            "settings": {k: v for k, v in dataclasses.asdict(settings).items() if k not in ("out", "check_every")},
            "corpus": {"training_pairs": len(data), "sha256": corpus_digest(pairs), **dataclasses.asdict(corpus)},
            "parameters": sum(p.numel() for p in model.parameters()),
            "sha256": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(ct2.iterdir()) if p.is_file()},
            "versions": _versions(),
        }
        evaluation = evaluate(ct2, TOY_LANGUAGES, threads=settings.threads)
        report["evaluation"] = {lang: {k: v for k, v in r.items() if k != "errors"} for lang, r in evaluation.items()}
        write_card(ct2, report)
        (ct2 / "toy.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(ct2), str(out))
    report["training"] = timing
    return report


def _versions() -> dict[str, str]:
    import ctranslate2
    import sentencepiece
    import torch
    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "ctranslate2": ctranslate2.__version__,
        "sentencepiece": sentencepiece.__version__,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m polymix.translate.toy.train", description=TrainSettings.__doc__)
    for f in dataclasses.fields(TrainSettings):
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=type(f.default),
            default=f.default,
            help=f"{f.metadata['help']} (default: {f.default})",
        )
    settings = TrainSettings(**vars(parser.parse_args(argv)))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    started = time.perf_counter()
    report = build(settings)
    from polymix.translate.toy.evaluate import table

    print(table(report["evaluation"]))
    size = sum(p.stat().st_size for p in Path(settings.out).iterdir())
    print(
        f"wrote {settings.out} ({size / 1e6:.1f} MB, model.bin sha256 {report['sha256']['model.bin'][:16]}...) "
        f"in {time.perf_counter() - started:.0f} s; training {report['training']}"
    )


if __name__ == "__main__":
    main()
