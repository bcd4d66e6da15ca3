"""Evaluation on a held-out split: generated outputs per language and task, and their scores.

As mBLIP evaluated: beam search with 5 beams, at most 50 new tokens for captions and 10 for
short answers (``eval.max_new_tokens`` per task). Caption-like tasks get chrF and CIDEr-D,
the others exact match (:mod:`polymix.metrics`). References are the row's ``target``
and, for English rows, every annotator answer in ``answers_en``. Each process generates for its
share of rows; the main process gathers them, writes ``OUT/eval/step-N.jsonl`` (one prediction
a line) and returns ``{"<lang>/<task>": {"n": .., "chrf": .., "cider": ..}, ..., "<task>": mean}``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import torch
from tqdm.auto import tqdm

from polymix.schema import ENGLISH
from polymix import metrics
from polymix.training.collate import Collator, to_device
from polymix.training.config import RunConfig
from polymix.training.data import ShardStream

CAPTION_TASKS = {"caption", "short_caption", "vqg", "vqa_rationale"}


def _buckets(rows, size: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Batches of one task each (generation lengths differ by task), in stream order."""
    pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        bucket = pending[row["task"]]
        bucket.append(row)
        if len(bucket) == size:
            yield row["task"], pending.pop(row["task"])
    for task, bucket in pending.items():
        yield task, bucket


def references(row: dict[str, Any]) -> list[str]:
    refs = [row["target"]]
    if row["lang"] == ENGLISH:
        refs += [a for a in row.get("answers_en") or [] if a not in refs]
    return refs


def score(predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """Scores per "<lang>/<task>" and their mean per task over languages."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in predictions:
        groups[(p["lang"], p["task"])].append(p)
    out: dict[str, Any] = {}
    per_task: dict[str, list[dict[str, float]]] = defaultdict(list)
    for (lang, task), rows in sorted(groups.items()):
        hyps, refs = [r["prediction"] for r in rows], [r["references"] for r in rows]
        if task in CAPTION_TASKS:
            result = {"n": len(rows), "chrf": metrics.chrf(hyps, refs), "cider": metrics.cider(hyps, refs)}
        else:
            result = {"n": len(rows), "exact_match": metrics.exact_match(hyps, refs)}
        out[f"{lang}/{task}"] = result
        per_task[task].append(result)
    for task, results in per_task.items():
        keys = [k for k in results[0] if k != "n"]
        out[task] = {"langs": len(results), **{k: sum(r[k] for r in results) / len(results) for k in keys}}
    return out


@torch.no_grad()
def generate_predictions(
    built, config: RunConfig, data: str | Path, rank: int = 0, world: int = 1, autocast=None
) -> tuple[list[dict[str, Any]], int]:
    """(prediction rows of this process's share, unreadable images skipped)."""
    e = config.eval
    stream = ShardStream(
        data,
        built.image_processor,
        langs=e.langs or config.data.langs,
        tasks=config.data.tasks,
        splits=[e.split],
        shuffle=False,
        repeat=False,
        rank=rank,
        world=world,
        limit_per_group=e.max_rows_per_lang,
    )
    collate = Collator(
        built.tokenizer,
        decoder_only=built.model.decoder_only,
        max_text_tokens=config.data.max_text_tokens,
        answer_prefix=config.data.answer_prefix,
        train=False,
    )
    model, tok = built.model, built.tokenizer
    was_training = model.training
    model.eval()
    out, bad = [], 0
    limits = e.max_new_tokens
    bar = tqdm(desc="eval", unit="row", disable=rank != 0, leave=False)
    for task, rows in _buckets(iter(stream), e.batch_size):
        batch = collate(rows)
        bad += batch["bad_images"]
        if not batch["size"]:
            continue
        inputs = to_device(batch, built.device)
        with autocast() if autocast else torch.autocast(built.device.type, enabled=False):
            ids = model.generate(
                **inputs,
                num_beams=e.num_beams,
                max_new_tokens=limits.get(task, limits.get("default", 10)),
                pad_token_id=tok.pad_token_id,
                eos_token_id=tok.eos_token_id,
            )
        for row, text in zip(batch["rows"], tok.batch_decode(ids, skip_special_tokens=True)):
            out.append({**row, "prediction": text.strip(), "references": references(row)})
        bar.update(batch["size"])
    bar.close()
    model.train(was_training)
    return out, bad


def evaluate(
    built, config: RunConfig, data: str | Path, *, accelerator=None, out_file: str | Path | None = None
) -> dict[str, Any]:
    """Generate on the held-out split, gather, score; write predictions to ``out_file``."""
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    autocast = accelerator.autocast if accelerator else None
    preds, bad = generate_predictions(built, config, data, rank, world, autocast)
    if accelerator is not None and world > 1:
        from accelerate.utils import gather_object

        preds = gather_object(preds)
        bad = sum(gather_object([bad]))
    if accelerator is not None and not accelerator.is_main_process:
        return {}
    preds.sort(key=lambda p: (p["lang"], p["task"], p["id"]))
    if out_file is not None:
        out_file = Path(out_file)
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in preds), encoding="utf-8")
    return {**score(preds), "rows": len(preds), "bad_images": bad}
