"""Where the demo's errors come from, measured on the mix's held-out scenes while the models are built.

Called by :func:`polymix.training.demo.build`, whose result (printed by ``make demo-train``) holds:

- ``ceiling``: per language, the share of held-out VQA answers equal (normalised as exact match
  scores them) to the training split's usual answer for the same English answer: the best any
  model can score if the translator rendered one English answer in several ways.
- ``llm_true_scene``: per language and question kind, the exact match of the pre-trained LLM given
  the TRUE slot tokens of the held-out scene (no vision): low figures mean the LLM is the bottleneck.
- ``vision_slots``: per slot, the share of held-out images whose projected query lands nearest its
  true slot token among that slot's tokens: low figures mean the seeing half is.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import torch

KINDS = ("How many", "What color is the background", "What color", "What shape", "Is there")
KIND_NAMES = {"How many": "count", "What color is the background": "background", "What color": "colour"}
KIND_NAMES |= {"What shape": "shape", "Is there": "yes/no"}


def kind(instruction_en: str) -> str:
    """The question kind of an English VQA instruction (count, background, colour, shape, yes/no)."""
    return next((KIND_NAMES[k] for k in KINDS if k in (instruction_en or "")), "other")


def held_out_vqa(data: Path) -> tuple[list[dict], list[dict]]:
    """(training VQA rows, held-out VQA rows with a shapes scene) of a mix."""
    from polymix.training.demo import mix_rows, scene_of

    rows = [r for r in mix_rows(data, split=None) if r["task"] == "vqa" and scene_of(r["image"]) is not None]
    return [r for r in rows if r["split"] == "train"], [r for r in rows if r["split"] != "train"]


def _shares(hits: dict) -> dict:
    return {key: round(sum(v) / len(v), 3) for key, v in sorted(hits.items())}


def ceiling(data: Path) -> dict[str, float]:
    """Per language: the share of held-out answers the training rows teach (see the module doc)."""
    from polymix.metrics import normalize_answer

    train, held = held_out_vqa(data)
    usual: dict[tuple, Counter] = defaultdict(Counter)
    for r in train:
        usual[(r["lang"], r["target_en"])][normalize_answer(r["target"])] += 1
    hits: dict[str, list[bool]] = defaultdict(list)
    for r in held:
        taught = usual.get((r["lang"], r["target_en"]))
        hits[r["lang"]].append(bool(taught) and taught.most_common(1)[0][0] == normalize_answer(r["target"]))
    return _shares(hits)


@torch.no_grad()
def llm_true_scene(data: Path, llm, tokenizer, scene_table: torch.Tensor) -> dict[str, dict[str, float]]:
    """Per language, per question kind: exact match of ``llm`` given the held-out scene's true slot tokens."""
    from polymix.metrics import normalize_answer
    from polymix.mix.sources.shapes import caption
    from polymix.training.demo import scene_labels, scene_of, scene_words, with_scene

    _, held = held_out_vqa(data)
    hits: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for start in range(0, len(held), 64):
        batch = held[start : start + 64]
        scenes = [scene_words(scene_labels(caption(scene_of(r["image"])))) for r in batch]
        text = tokenizer([r["instruction"] for r in batch], padding=True, truncation=True, max_length=48, return_tensors="pt")
        embeds, mask = with_scene(llm, scene_table, scenes, text["input_ids"], text["attention_mask"])
        out = llm.generate(inputs_embeds=embeds, attention_mask=mask, max_new_tokens=6, num_beams=1, do_sample=False)
        for r, answer in zip(batch, tokenizer.batch_decode(out, skip_special_tokens=True)):
            hits[r["lang"]][kind(r["instruction_en"])].append(normalize_answer(answer) == normalize_answer(r["target"]))
    return {lang: _shares(by_kind) for lang, by_kind in sorted(hits.items())}


@torch.no_grad()
def vision_slots(data: Path, blip2, scene_table: torch.Tensor, size: int, drawn_size: int) -> dict[str, float]:
    """Per slot: share of held-out images whose projected query is nearest its true slot token."""
    from polymix.mix.sources.shapes import caption, draw
    from polymix.training.demo import SLOT_NAMES, SLOT_WORDS, mix_rows, scene_labels, scene_of, slot_first_rows
    from polymix.training.demo_vision import image_processor, query_outputs

    scenes = sorted({scene_of(r["image"]) for r in mix_rows(data, split=None) if r["split"] != "train"} - {None}, key=repr)
    if not scenes:
        return {}
    processor = image_processor(size)
    pixels = torch.from_numpy(processor([draw(s, drawn_size) for s in scenes], return_tensors="np")["pixel_values"])
    projected = blip2.language_projection(query_outputs(blip2.vision_model, blip2.qformer, blip2.query_tokens, pixels))
    labels = torch.tensor([scene_labels(caption(s)) for s in scenes])
    shares = {}
    for k, (words, first) in enumerate(zip(SLOT_WORDS, slot_first_rows().tolist())):
        nearest = torch.cdist(projected[:, k], scene_table[first : first + len(words)]).argmin(-1)
        shares[SLOT_NAMES[k]] = round((nearest == labels[:, k]).float().mean().item(), 3)
    return shares
