"""``train.plan: auto`` with the real probe on CPU (tiny models): an out-of-memory in a real step is
survived, the Trainer trains with the plan, records it, and a resumed run keeps it without probing."""

from __future__ import annotations

import json

import pytest
import torch

from polymix.training import metrics_log, planner
from polymix.training.loop import Trainer
from polymix.training.model import MBlip
from polymix.training.probe import ModelProbe
from training_fixtures import *  # noqa: F401,F403  (fixtures)

pytestmark = pytest.mark.slow
CPU = torch.device("cpu")


@pytest.fixture
def plan_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("POLYMIX_PLAN_CACHE", str(tmp_path / "plans"))
    return tmp_path / "plans"


def test_real_probe_survives_out_of_memory(monkeypatch, tiny_models, plan_cache, tmp_path):
    forward = MBlip.forward

    def small_device(self, pixel_values, *args, **kwargs):  # a device that holds 4 samples' activations
        if pixel_values.shape[0] > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return forward(self, pixel_values, *args, **kwargs)

    monkeypatch.setattr(MBlip, "forward", small_device)
    config = tiny_config(tmp_path, "train.plan=auto", batch=8, accumulation=2)  # effective 16, preset micro-batch 8
    plan = planner.make_plan(config, CPU)
    rows = {(p.checkpointing, p.batch_size): p for p in plan.probes}
    assert rows[(False, 8)].status == "oom" and rows[(False, 4)].status == "ok" and rows[(False, 4)].peak_bytes > 0
    assert plan.batch_size == 4 and plan.accumulation == 4 and plan.source == "probe"
    assert all(p.batch_size <= 8 for p in plan.probes)  # a failed size is not tried bigger


def test_trainer_runs_the_plan_and_a_resume_keeps_it(monkeypatch, tiny_models, shapes_mix, plan_cache, tmp_path):
    config = tiny_config(tmp_path, "train.plan=auto", "train.probe_steps=1", warmup=1, steps=2, batch=2, accumulation=4)
    first = Trainer(config, shapes_mix)
    plan = first.plan
    assert plan.source == "probe" and first.config.train.batch_size == plan.batch_size
    assert first.accum * first.config.train.batch_size == 8 and first.config.train.effective_batch_size == 8
    assert json.loads((tmp_path / "plan.json").read_text())["key"] == plan.key
    result = first.fit(max_steps=2)
    ckpt = tmp_path / "checkpoints" / "step-000002"
    assert not result["finished"] and planner.recorded(ckpt).batch_size == plan.batch_size
    rows = [r for r in metrics_log.read(tmp_path) if "loss" in r]
    assert rows and all(0 <= r["data_wait_share"] < 1 for r in rows)

    again = Trainer(config, shapes_mix)  # a restart of the same run: the cache answers
    assert again.plan.source == "cache" and again.plan.key == plan.key

    def no_probe(self, candidate):
        raise AssertionError("a resumed run must not probe")

    monkeypatch.setattr(ModelProbe, "measure", no_probe)
    for cached in plan_cache.glob("*.json"):
        cached.unlink()
    resumed = Trainer(config.replaced(**{"train.memory_budget": "1GiB"}), shapes_mix, resume=True)
    assert resumed.plan.source == "checkpoint" and resumed.config.train.batch_size == plan.batch_size
    assert resumed.fit()["finished"]


def test_resuming_a_fixed_run_with_plan_auto_keeps_its_micro_batch(monkeypatch, tiny_models, shapes_mix, plan_cache, tmp_path):
    fixed = tiny_config(tmp_path, warmup=1, steps=2, batch=2, accumulation=4)
    Trainer(fixed, shapes_mix).fit(max_steps=1)  # a checkpoint without plan.json

    def no_probe(self, candidate):
        raise AssertionError("the data position counts micro-batches of the checkpoint's size: no new plan")

    monkeypatch.setattr(ModelProbe, "measure", no_probe)
    resumed = Trainer(fixed.replaced(**{"train.plan": "auto", "train.batch_size": 8}), shapes_mix, resume=True)
    assert resumed.plan is None and resumed.config.train.batch_size == 2 and resumed.accum == 4
