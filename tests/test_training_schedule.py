"""The learning-rate schedule: transformers' warm-up + cosine/linear/constant, and its exact resume."""

from __future__ import annotations

import io
import math

import pytest
import torch

from polymix.training.config import StageSettings
from polymix.training.optim import make_scheduler


def _run(schedule: str, warmup: int, total: int, state: dict | None = None, steps: int | None = None):
    """The learning rates of ``steps`` optimizer steps (all by default), from ``state`` if given."""
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.AdamW([{"params": [param], "lr": 2e-4}])
    stage = StageSettings(name="s", train=["lora"], lr={"lora": 2e-4}, steps=total, warmup_steps=warmup, schedule=schedule)
    scheduler = make_scheduler(optimizer, stage, total)
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    lrs = []
    for _ in range(steps if steps is not None else total):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs, {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
def test_warmup_then_decay(schedule):
    lrs, _ = _run(schedule, warmup=4, total=12)
    assert lrs[:5] == pytest.approx([0.0, 0.5e-4, 1e-4, 1.5e-4, 2e-4])  # from 0, as mBLIP's transformers schedule
    after = (
        [2e-4 * 0.5 * (1 + math.cos(math.pi * k / 8)) for k in range(8)]
        if schedule == "cosine"
        else ([2e-4 * (8 - k) / 8 for k in range(8)] if schedule == "linear" else [2e-4] * 8)
    )
    assert lrs[4:] == pytest.approx(after)


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
def test_resume_from_saved_state_gives_the_same_rates(schedule):
    straight, _ = _run(schedule, warmup=3, total=10)
    first, state = _run(schedule, warmup=3, total=10, steps=5)
    # what the checkpoint does (torch.save, then torch.load into a scheduler built afresh)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=False)
    second, _ = _run(schedule, warmup=3, total=10, state=state, steps=5)
    assert first + second == straight  # bit for bit
