"""Rows -> model batches: image tensors, the instruction, and the target as labels.

Seq2seq LLMs (mT0/mT5): the instruction goes to the encoder (after the image's query tokens),
the target is the decoder's labels (padding -100). Decoder-only LLMs (BLOOMZ, Llama-style):
``[bos] instruction answer_prefix target eos``, right-padded, with the prompt and padding masked
out of the labels; for generation only the prompt is given. Instruction and target are each cut
to ``max_text_tokens``. Rows whose image could not be read are dropped and counted in
``batch["bad_images"]``, so a bad file costs one sample, never the run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from polymix.training.model import IGNORE


class Collator:
    def __init__(
        self, tokenizer, *, decoder_only: bool, max_text_tokens: int = 128, answer_prefix: str = " ", train: bool = True
    ):
        self.tok = tokenizer
        self.decoder_only = decoder_only
        self.max_tokens = max_text_tokens
        self.answer_prefix = answer_prefix
        self.train = train

    def _ids(self, texts: list[str], special: bool) -> list[list[int]]:
        return self.tok(texts, add_special_tokens=special, truncation=True, max_length=self.max_tokens)["input_ids"]

    def _pad(self, seqs: list[list[int]], value: int) -> torch.Tensor:
        width = max(1, max(len(s) for s in seqs))
        return torch.tensor([s + [value] * (width - len(s)) for s in seqs], dtype=torch.long)

    def _decoder_only(self, instructions, targets) -> dict[str, torch.Tensor]:
        bos = [self.tok.bos_token_id] if self.tok.bos_token_id is not None and getattr(self.tok, "add_bos_token", False) else []
        prompts = [bos + p for p in self._ids(instructions, special=False)]
        if not self.train:
            ids = prompts
            labels = None
        else:
            answers = [
                t[: self.max_tokens - 1] + [self.tok.eos_token_id]
                for t in self._ids([self.answer_prefix + t for t in targets], special=False)
            ]
            ids = [p + a for p, a in zip(prompts, answers)]
            labels = self._pad([[IGNORE] * len(p) + a for p, a in zip(prompts, answers)], IGNORE)
        out = {"input_ids": self._pad(ids, self.tok.pad_token_id), "attention_mask": self._pad([[1] * len(s) for s in ids], 0)}
        if labels is not None:
            out["labels"] = labels
        return out

    def _seq2seq(self, instructions, targets) -> dict[str, torch.Tensor]:
        ids = self._ids(instructions, special=True)
        out = {"input_ids": self._pad(ids, self.tok.pad_token_id), "attention_mask": self._pad([[1] * len(s) for s in ids], 0)}
        if self.train:
            out["labels"] = self._pad(self._ids(targets, special=True), IGNORE)
        return out

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        good = [r for r in rows if r.get("pixel_values") is not None]
        batch: dict[str, Any] = {
            "bad_images": len(rows) - len(good),
            "size": len(good),
            "bad_paths": [r.get("image_path", r["image"]) for r in rows if r.get("pixel_values") is None],
            "epoch": max(r.get("epoch", 0) for r in rows),
        }
        if not good:
            return batch
        instructions = [r["instruction"] for r in good]
        targets = [r["target"] for r in good]
        text = self._decoder_only(instructions, targets) if self.decoder_only else self._seq2seq(instructions, targets)
        batch.update(text)
        batch["pixel_values"] = torch.from_numpy(np.stack([r["pixel_values"] for r in good]))
        if not self.train:
            batch["rows"] = [{k: r[k] for k in ("id", "lang", "task", "instruction", "target", "answers_en")} for r in good]
        return batch


MODEL_INPUTS = ("pixel_values", "input_ids", "attention_mask", "labels")


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, torch.Tensor]:
    """The model's inputs of ``batch`` on ``device``."""
    return {k: batch[k].to(device, non_blocking=True) for k in MODEL_INPUTS if k in batch}
