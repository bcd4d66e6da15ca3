"""Optimizer and learning-rate schedule of one training stage.

AdamW with one learning rate per trained group (mBLIP: 1e-5 for the Q-Former, query tokens and
projection, 2e-4 for LoRA), weight decay on matrices only (not on biases, norms, query tokens),
and a schedule of linear warm-up then cosine/linear decay to zero, or constant: transformers'
``get_scheduler``, the schedule mBLIP trained with (``get_cosine_schedule_with_warmup``, 1000
warm-up steps). Its warm-up starts from 0 (the first optimizer step of a stage with warm-up
moves nothing) and it is a ``LambdaLR``, whose state (the step) the checkpoint saves and resumes.
"""

from __future__ import annotations

import math

import torch

from polymix.errors import ConfigError
from polymix.training.config import StageSettings
from polymix.training.model import group_of


def accumulation(effective: int, batch: int, world: int) -> int:
    """Micro-batches per optimizer step so that batch x world x steps == effective."""
    if effective % (batch * world):
        raise ConfigError(
            f"train.effective_batch_size {effective} is not a multiple of batch_size {batch} x {world} "
            f"process(es); pick sizes that divide"
        )
    return effective // (batch * world)


def stage_steps(stage: StageSettings, rows: int, effective: int) -> int:
    """Optimizer steps of ``stage``: its ``steps``, or ``epochs`` over ``rows`` (rounded up)."""
    return stage.steps if stage.steps > 0 else max(1, math.ceil(stage.epochs * rows / effective))


def _no_decay(name: str, param: torch.Tensor) -> bool:
    return param.dim() < 2 or name == "query_tokens" or "norm" in name.lower()


def make_optimizer(model, stage: StageSettings, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the trainable parameters of ``stage``'s groups (call after set_trainable)."""
    groups: dict[tuple[str, bool], list[torch.Tensor]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups.setdefault((group_of(name), _no_decay(name, param)), []).append(param)
    if not groups:
        raise ConfigError(f"stage {stage.name!r}: nothing to train (groups {stage.train} have no parameters)")
    param_groups = [
        {"params": params, "lr": stage.lr[group], "weight_decay": 0.0 if no_decay else weight_decay, "name": group}
        for (group, no_decay), params in sorted(groups.items())
    ]
    fused = all(p.is_cuda for g in param_groups for p in g["params"])
    return torch.optim.AdamW(param_groups, betas=(0.9, 0.999), eps=1e-8, fused=fused or None)


def make_scheduler(optimizer: torch.optim.Optimizer, stage: StageSettings, total_steps: int):
    """Linear warm-up from 0 over ``stage.warmup_steps``, then ``stage.schedule`` down to 0 at ``total_steps``."""
    from transformers import get_scheduler

    name = {"constant": "constant_with_warmup"}.get(stage.schedule, stage.schedule)
    return get_scheduler(name, optimizer, num_warmup_steps=min(stage.warmup_steps, total_steps), num_training_steps=total_steps)


def current_lrs(optimizer: torch.optim.Optimizer) -> dict[str, float]:
    """Learning rate per group name (the decay and no-decay halves of a group share it)."""
    return {g.get("name", str(i)): g["lr"] for i, g in enumerate(optimizer.param_groups)}
