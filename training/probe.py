"""Measure one training setting: samples/s and peak memory of a few instruction-stage steps.

    probe = ModelProbe(config, device, text_tokens=128, steps=3)
    samples_per_s, step_s, peak_bytes = probe.measure(Candidate("none", False, 16))
    probe.close()

The planner (:mod:`polymix.training.plan`) asks for candidates one at a time; an out-of-memory
error propagates to it (the probe frees what the failed step held first), which drops the
candidate. The probe runs the instruction stage (the last one: Q-Former, query tokens,
projection and LoRA trained, AdamW states included) on synthetic batches of the worst-case text
length, so the peak covers both stages. ``bench/train_step.py`` times its variants with the same
batch and step. Peak memory: the CUDA caching allocator's reserved bytes (what the card really
holds), or on CPU the process's peak resident set (``VmHWM``, reset through ``clear_refs``).
"""

from __future__ import annotations

import gc
import re
import time
from pathlib import Path

import torch

from polymix.training.model import IGNORE, set_trainable


def synthetic_batch(model, batch: int, text_tokens: int, image_size: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Random images and ``text_tokens`` instruction and target tokens (ids 3..299), on ``device``."""
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 300, (batch, text_tokens), generator=gen)
    out = {
        "pixel_values": torch.randn(batch, 3, image_size, image_size, generator=gen),
        "attention_mask": torch.ones(batch, text_tokens, dtype=torch.long),
    }
    if model.decoder_only:  # the prompt is masked out of the loss, as the collator does
        out.update(
            input_ids=torch.cat([ids, ids], 1),
            attention_mask=torch.ones(batch, 2 * text_tokens, dtype=torch.long),
            labels=torch.cat([torch.full_like(ids, IGNORE), ids], 1),
        )
    else:
        out.update(input_ids=ids, labels=ids.clone())
    return {k: v.to(device) for k, v in out.items()}


def make_step(model, optimizer, batch: dict[str, torch.Tensor], precision: str, device: torch.device):
    """A closure running one optimizer step (autocast, fp16 loss scaling) and returning the loss."""
    half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    # A small initial scale: the default 2**16 skips the first fp16 steps, and with them the
    # allocation of AdamW's states, which would hide part of the peak.
    scaler = torch.amp.GradScaler(device.type, enabled=half == torch.float16, init_scale=2.0**4)

    def step() -> torch.Tensor:
        with torch.autocast(device.type, dtype=half or torch.float32, enabled=half is not None):
            loss = model(**batch)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    return step


def is_oom(err: BaseException) -> bool:
    text = str(err).lower()
    return isinstance(err, (torch.OutOfMemoryError, MemoryError)) or "out of memory" in text or "can't allocate memory" in text


def capacity_bytes(device: torch.device) -> int:
    """All memory of the device: the GPU's, or the machine's RAM."""
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    import os

    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def limit_memory(device: torch.device, budget: int) -> None:
    """Make the GPU's allocator fail past ``budget`` bytes, as a card of that size would."""
    if device.type == "cuda":
        # torch wants an index here: "cuda" alone (the usual device) raises on torch 2.11
        index = device.index if device.index is not None else torch.cuda.current_device()
        torch.cuda.set_per_process_memory_fraction(min(1.0, budget / capacity_bytes(device)), index)


def reset_peak(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    else:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the peak RSS to the current one


def peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_reserved(device)
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) * 1024


class ModelProbe:
    """Builds the model of each (quantization, checkpointing) variant once and times batch sizes on it."""

    def __init__(self, config, device: torch.device, *, text_tokens: int | None = None, steps: int = 3, warmup: int = 1):
        from polymix.training.precision import resolve_precision

        self.config, self.device, self.steps, self.warmup = config, device, steps, warmup
        self.precision = resolve_precision(config.train.precision, device)
        self.text_tokens = text_tokens or config.data.max_text_tokens
        self.built, self.variant = None, None

    def _model(self, quantization: str, checkpointing: bool):
        # Rebuilt per variant rather than toggled: peft prepares a model for checkpointing when it
        # wraps it, so only a model built as the trainer builds it measures what the run will use.
        if self.variant != (quantization, checkpointing):
            from polymix.training.assemble import build_model

            self.close()
            config = self.config.replaced(**{"model.quantization": quantization, "model.gradient_checkpointing": checkpointing})
            self.built, self.variant = build_model(config, self.device), (quantization, checkpointing)
        return self.built.model

    def measure(self, candidate) -> tuple[float, float, int]:
        """(samples/s, s/step, peak bytes) of ``candidate``; raises the out-of-memory error of a
        candidate that does not fit, after freeing what it held."""
        from polymix.training.optim import make_optimizer

        model = self._model(candidate.quantization, candidate.checkpointing)
        stage = self.config.stages[-1]
        set_trainable(model, stage.train)
        model.train()
        reset_peak(self.device)
        optimizer, oom = make_optimizer(model, stage, self.config.train.weight_decay), None
        try:
            batch = synthetic_batch(model, candidate.batch_size, self.text_tokens, self.config.data.image_size, self.device)
            step = make_step(model, optimizer, batch, self.precision, self.device)
            for _ in range(self.warmup):  # untimed: allocates AdamW's states, warms kernels
                float(step())
            start = time.perf_counter()
            for _ in range(self.steps):
                loss = step()
            float(loss)  # waits for the device
            seconds = (time.perf_counter() - start) / self.steps
            return candidate.batch_size / seconds, seconds, peak_bytes(self.device)
        except Exception as err:  # noqa: BLE001  (re-raised below unless it is an out-of-memory)
            if not is_oom(err):
                raise
            oom = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
        finally:
            optimizer.zero_grad(set_to_none=True)
            optimizer = batch = step = None
        # Out here the failed step's traceback (and the activations its frames hold) is gone.
        reset_peak(self.device)
        raise torch.OutOfMemoryError(oom)

    def close(self) -> None:
        self.built = self.variant = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
