"""The demo's starting models, pre-trained by polymix on a shapes mix, reproducibly from a seed.

    python -m polymix.training.demo --data out/demo-train --out out/demo-models --seed 0

mBLIP starts from a ViT that already sees and an LLM that already speaks the languages; the
tiny random models of :mod:`polymix.training.random_models` do neither, so nothing trained on them shows
learning. This module builds the two starting points the ``demo`` preset reads, the way
``make toy-model`` builds the offline translator: small, on CPU, deterministic in the seed.

    OUT/blip2   a Blip2ForConditionalGeneration folder: BLIP-2's two pre-training stages in small.
                A ViT (64 px), a Q-Former and its 12 query tokens trained together so that query
                k names slot k of the scene (count, background, colour and shape of each object),
                on freshly drawn scenes, never one of the mix's held-out scenes; then the linear
                projection from query k to the LLM's embedding of slot k's word, fitted by least
                squares (the ``demo`` preset starts its warm-up stage from it).
    OUT/llm     an mT5-style LLM and a sentencepiece tokenizer built from the mix's own text
                (each slot word one token), pre-trained on the training split's rows as text:
                the scene's 12 slot words, then the instruction -> the target. It knows every
                language's words and answer formats before it ever sees an image.

The ViT and the LLM stay frozen during ``polymix train`` (the LLM gets LoRA), as in the mBLIP recipe.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from polymix.errors import ConfigError
from polymix.mix.sources.shapes import BACKGROUNDS, COLORS, SHAPES


@dataclass
class DemoModels:
    """Sizes and pre-training budgets of the demo's starting models."""

    image_size: int = 64
    patch_size: int = 8
    vision_hidden: int = 64
    vision_layers: int = 2
    vision_steps: int = 800
    vision_lr: float = 5e-3
    vision_images: int = 4000
    drawn_size: int = 224
    qformer_hidden: int = 64
    llm_hidden: int = 128
    llm_layers: int = 2
    llm_steps: int = 600
    llm_batch_size: int = 384
    """examples a pre-training step: at 128 the LLM learned to answer a colour question with some
    colour of the scene (0.59-0.69 right, three seeds), never which shape's; at 256 it learns to find
    the slot the question names (colour 0.90 / 0.95, seeds 0 / 1), at 384 every question kind is 1.0
    with the true slots (seed 0; measured, README)"""
    vocab_size: int = 1200
    fresh_scenes: int = 20_000
    """scenes drawn (as labels only) to re-pose the mix's VQA rows on (:mod:`polymix.training.demo_text`)"""
    batch_size: int = 128
    """images a ViT + Q-Former pre-training step"""
    seed: int = 0
    threads: int = 1
    """torch CPU threads while building: a fixed count (and deterministic kernels) makes the models
    a function of the seed alone."""


NONE = "none"
SLOT_WORDS = (("one", "two", "three"), BACKGROUNDS) + ((NONE, *COLORS), (NONE, *SHAPES)) * 3 + ((NONE, *COLORS),) * 3 + (SHAPES,)
"""The words of the 12 scene slots: count, background, colour and shape of objects 1..3 (left to
right, what a caption lists), then the colour of the first circle, square and triangle (none: no
such shape) and the rightmost shape. The last four are facts the questions ask for ("What color is
the circle?", "Is there a square?", "What shape is on the right?"), so every short answer is one
slot's word, not a search across the object slots."""
SLOT_NAMES = ("count", "bg", "c1", "s1", "c2", "s2", "c3", "s3", "circle", "square", "triangle", "right")
"""Each slot's words are its own tokens (``c1=red``, ``circle=red``): T5's cross-attention has no
positions, so the LLM can find the circle's colour only by what the token says, not where it stands.
With shared word tokens ("red" in any slot) it answered held-out colour questions 13-55% right."""


def slot_token(slot: int, label: int) -> str:
    """The token of label ``label`` in slot ``slot``, e.g. ``circle=red``."""
    return f"{SLOT_NAMES[slot]}={SLOT_WORDS[slot][label]}"


def slot_tokens() -> list[str]:
    """Every slot token, in slot order (the tokenizer keeps each one piece)."""
    return [slot_token(k, i) for k, words in enumerate(SLOT_WORDS) for i in range(len(words))]


def slot_first_rows() -> torch.Tensor:
    """Row of slot k's first token in a table of slot-token vectors in :func:`slot_tokens` order."""
    return torch.tensor([0, *(len(words) for words in SLOT_WORDS)]).cumsum(0)[:-1]


def with_scene(
    llm, table: torch.Tensor, scenes: list[str], ids: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The LLM's input (embeddings, attention mask): each scene's slot-token vectors from ``table``
    (rows in :func:`slot_tokens` order; ``scenes`` as :func:`scene_words` writes them), then the
    instruction's token embeddings ``ids`` with their ``mask``: where the query tokens will stand."""
    row_of = {token: i for i, token in enumerate(slot_tokens())}
    scene = table[torch.tensor([[row_of[w] for w in words.split()] for words in scenes])]
    embeds = torch.cat([scene, llm.get_input_embeddings()(ids)], 1)
    return embeds, torch.cat([torch.ones(scene.shape[:2], dtype=torch.long), mask], 1)


def scene_of(image: str):
    """The shapes Scene drawn into an image named ``shapes-<seed>-<index>.png``, else None."""
    from polymix.mix.sources.shapes import make_scene

    match = re.fullmatch(r"shapes-(\d+)-(\d+)\.png", image)
    return make_scene(int(match[1]), int(match[2])) if match else None


def scene_words(labels: list[int]) -> str:
    """The slot tokens of a scene's labels, e.g. "count=two bg=white c1=red s1=circle ... right=square"."""
    return " ".join(slot_token(k, label) for k, label in enumerate(labels))


def scene_labels(caption_en: str) -> list[int] | None:
    """The slot labels of :data:`SLOT_WORDS` (indices into each slot's words) from an English shapes caption."""
    words = re.findall(r"[a-z]+", caption_en.lower())
    objects = [(words[i - 1], w) for i, w in enumerate(words) if w in SHAPES and i and words[i - 1] in COLORS]
    background = next((w for w in words if w in BACKGROUNDS), None)
    if not 1 <= len(objects) <= 3 or background is None:
        return None
    slots = [(COLORS.index(c) + 1, SHAPES.index(s) + 1) for c, s in objects] + [(0, 0)] * (3 - len(objects))
    first = [next((COLORS.index(c) + 1 for c, s in objects if s == shape), 0) for shape in SHAPES]
    return [
        len(objects) - 1,
        BACKGROUNDS.index(background),
        *(x for slot in slots for x in slot),
        *first,
        SHAPES.index(objects[-1][1]),
    ]


def mix_rows(data: Path, split: str | None = "train") -> list[dict]:
    """The text columns of a split's rows (None: every split), in file order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from polymix import shards

    columns = ["image", "task", "split", "lang", "instruction", "target", "instruction_en", "target_en"]
    files = shards.shard_files(data, splits=[split] if split else None)
    if not files:
        raise ConfigError(f"--data {data}: no shards (is it a finished polymix mix?)")
    table = pa.concat_tables(pq.read_table(f, columns=columns) for f in files)
    return [r for r in table.to_pylist() if split is None or r["split"] == split]


def _train(module: nn.Module, step_loss, steps: int, lr: float, desc: str) -> float:
    """AdamW with a linear warm-up and cosine decay; returns the last step's metric."""
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warm = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + torch.cos(torch.tensor(s / steps * torch.pi)).item())
    )
    metric = 0.0
    bar = tqdm(range(steps), desc=desc, unit="step", leave=False)
    for step in bar:
        loss, metric = step_loss(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", metric=f"{float(metric):.3f}")
    return float(metric)


SHORT_TARGET = 8
"""Targets of at most this many tokens (short answers) train in their own pass, apart from captions."""


def _pad(seqs: list[list[int]], value: int) -> torch.Tensor:
    width = max(len(q) for q in seqs)
    return torch.tensor([q + [value] * (width - len(q)) for q in seqs])


def text_loss(llm, table: torch.Tensor, tokenizer, batch: list[tuple[str, str, str]], short: int = SHORT_TARGET):
    """(summed token loss, right tokens, tokens) of ``llm`` on (scene words, instruction, target)
    examples, each scene's slot vectors taken from ``table`` (:func:`with_scene`).

    Targets of at most ``short`` tokens (short answers) and longer ones (captions) go through the
    model in separate passes: padded together, every one-word answer paid for a caption's length in
    the decoder and a pre-training step took 1.5x as long. The sums are the same either way."""
    targets = tokenizer([t for _, _, t in batch], truncation=True, max_length=48)["input_ids"]
    loss, right, tokens = torch.zeros(()), torch.zeros((), dtype=torch.long), torch.zeros((), dtype=torch.long)
    for long in (False, True):
        part = [i for i, t in enumerate(targets) if (len(t) > short) == long]
        if not part:
            continue
        ids = _pad(tokenizer([batch[i][1] for i in part], truncation=True, max_length=48)["input_ids"], 0)
        embeds, mask = with_scene(llm, table, [batch[i][0] for i in part], ids, (ids != 0).long())
        labels = _pad([targets[i] for i in part], -100)
        out = llm(inputs_embeds=embeds, attention_mask=mask, labels=labels)
        known = labels != -100
        loss = loss + out.loss * known.sum()
        right = right + ((out.logits.argmax(-1) == labels) & known).sum()
        tokens = tokens + known.sum()
    return loss, right, tokens


def pretrain_llm(examples, tokenizer, s: DemoModels):
    """A small mT5 trained on (scene words + instruction -> target) drawn from ``examples``
    (:class:`polymix.training.demo_text.TextExamples`); returns (model, last batch's token accuracy,
    the slot tokens' input vectors in :func:`slot_tokens` order).

    The scene is one slot token per slot, where the query tokens will stand, embedded by a
    :class:`~polymix.training.demo_text.SceneEmbedding` while training."""
    from transformers import MT5Config, MT5ForConditionalGeneration

    from polymix.training.demo_text import SceneEmbedding
    from polymix.training.random_models import _rescale_head, padded_vocab

    config = MT5Config(
        vocab_size=padded_vocab(len(tokenizer)),
        d_model=s.llm_hidden,
        d_kv=32,
        d_ff=2 * s.llm_hidden,
        num_layers=s.llm_layers,
        num_decoder_layers=s.llm_layers,
        num_heads=s.llm_hidden // 32,
        dropout_rate=0.0,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )  # transformers 5's MT5Config ties the LM head to the input embeddings whatever it is told
    llm = MT5ForConditionalGeneration(config)
    _rescale_head(llm)
    scene_embedding = SceneEmbedding(s.llm_hidden)
    order = torch.Generator().manual_seed(s.seed + 1)

    def step_loss(step):
        loss, right, tokens = text_loss(llm, scene_embedding.table(), tokenizer, examples.sample(s.llm_batch_size, order))
        return loss / tokens, right / tokens

    parts = torch.nn.ModuleList([llm, scene_embedding]).train()
    acc = _train(parts, step_loss, s.llm_steps, 3e-3, "pre-train LLM")
    # The projection maps query k onto these vectors. They are not written into the LLM's slot-token
    # rows: mT5 ties its LM head to the embeddings, and rows that large would be generated.
    return llm.eval(), acc, scene_embedding.table().detach()


def build(data: str | Path, out: str | Path, settings: DemoModels | None = None) -> dict[str, float]:
    """Write ``out/blip2`` and ``out/llm`` pre-trained on the train split of the mix ``data``."""
    from transformers import Blip2Config, Blip2ForConditionalGeneration

    from polymix.training import demo_diagnose, demo_vision
    from polymix.training.demo_text import TextExamples
    from polymix.training.loop import repeatable
    from polymix.training.random_models import build_tokenizer

    s = settings or DemoModels()
    data, out = Path(data), Path(out)
    if not data.is_dir():
        raise ConfigError(f"--data {data}: no such mix folder (build one with `make demo-train`)")
    with torch.random.fork_rng(devices=[]), repeatable(s.threads, deterministic=True):
        torch.manual_seed(s.seed)
        examples = TextExamples(data, s.seed, s.fresh_scenes)
        (out / "llm").mkdir(parents=True, exist_ok=True)
        # Every scene word is one token, so each of the 12 query tokens stands for one word.
        tokenizer = build_tokenizer(out / "llm", s.vocab_size, examples.texts, symbols=slot_tokens() + examples.answer_words)
        llm, llm_acc, scene_table = pretrain_llm(examples, tokenizer, s)
        llm.save_pretrained(str(out / "llm"))
        x, y = demo_vision.draw_scenes(data, s)
        vit, qformer, queries, vit_acc = demo_vision.pretrain(x, y, s)
        config = Blip2Config(
            vision_config=vit.config.to_dict(),
            qformer_config=qformer.config.to_dict(),
            text_config=llm.config.to_dict(),
            num_query_tokens=len(SLOT_WORDS),
        )
        blip2 = Blip2ForConditionalGeneration(config)
        with torch.no_grad():
            blip2.query_tokens.copy_(queries)
        blip2.vision_model.load_state_dict(vit.state_dict())
        blip2.qformer.load_state_dict(qformer.state_dict())
        blip2.language_model.load_state_dict(llm.state_dict())
        blip2.language_projection.load_state_dict(demo_vision.fit_projection(vit, qformer, queries, x, y, scene_table))
        # Where errors will come from, on the held-out scenes (none of them was trained on).
        diagnosis = {
            "ceiling": demo_diagnose.ceiling(data),
            "llm_true_scene": demo_diagnose.llm_true_scene(data, llm, tokenizer, scene_table),
            "vision_slots": demo_diagnose.vision_slots(data, blip2.eval(), scene_table, s.image_size, s.drawn_size),
        }
    blip2.save_pretrained(str(out / "blip2"))
    demo_vision.image_processor(s.image_size).save_pretrained(str(out / "blip2"))
    tokenizer.save_pretrained(str(out / "blip2"))
    return {"vision_scene_accuracy": vit_acc, "llm_token_accuracy": llm_acc, "text_rows": len(examples), **diagnosis}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m polymix.training.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="a shapes mix (its train split is read)")
    p.add_argument("--out", required=True, help="folder to write blip2/ and llm/ into")
    p.add_argument("--seed", type=int, default=0, help="seed of weights, data order and dropout (same seed, same models)")
    args = p.parse_args(argv)
    try:
        for key, value in build(args.data, args.out, DemoModels(seed=args.seed)).items():
            print(f"{key}: {value}")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
