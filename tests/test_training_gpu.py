"""The CUDA paths: the LLM in 8-bit / 4-bit with bitsandbytes, bf16/fp16 autocast. Skipped without a GPU."""

from __future__ import annotations

import pytest
import torch

from polymix.training import metrics_log
from polymix.training.loop import Trainer
from training_fixtures import *  # noqa: F401,F403  (fixtures)

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize(
    ("bits", "precision"), [("8bit", "bf16"), ("4bit", "bf16"), ("8bit", "fp16"), ("4bit", "fp16"), ("none", "bf16")]
)
def test_quantized_llm_trains_on_gpu(tiny_models, shapes_mix, tmp_path, bits, precision):
    config = tiny_config(
        tmp_path,
        f"model.quantization={bits}",
        f"train.precision={precision}",
        "model.gradient_checkpointing=true",
        "train.require_cuda=true",
        "stages.1.lr.lora=1e-2",
        warmup=1,
        steps=12,
        batch=8,
    )
    trainer = Trainer(config, shapes_mix)
    assert trainer.built.device.type == "cuda" and trainer.built.quantization == bits
    kinds = {type(m).__name__ for m in trainer.model.language_model.modules()}
    assert bits == "none" or ("Linear8bitLt" if bits == "8bit" else "Linear4bit") in kinds
    frozen = {k: v.clone() for k, v in trainer.model.state_dict().items() if k.startswith("vision_model.") or ".base_layer." in k}
    result = trainer.fit()
    assert result["finished"]
    rows = [r for r in metrics_log.read(tmp_path) if "loss" in r]
    assert sum(r["loss"] for r in rows[-3:]) / 3 < rows[0]["loss"]
    after = trainer.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in frozen.items())


def test_generation_on_gpu(tiny_models, shapes_mix, tmp_path):
    from polymix.training.assemble import build_model
    from polymix.training.evaluate import evaluate

    config = tiny_config(tmp_path, "model.quantization=8bit", "train.precision=bf16", "eval.max_rows_per_lang=2")
    result = evaluate(build_model(config), config, shapes_mix)
    assert result["rows"] == 8 and "eng_Latn/caption" in result


def test_plan_auto_on_gpu_fits_the_budget_and_trains(tiny_models, shapes_mix, tmp_path, monkeypatch):
    monkeypatch.setenv("POLYMIX_PLAN_CACHE", str(tmp_path / "plans"))
    config = tiny_config(
        tmp_path,
        "train.plan=auto",
        "train.precision=auto",
        "train.memory_budget=2GiB",
        "train.require_cuda=true",
        warmup=1,
        steps=2,
        batch=4,
        accumulation=4,
    )
    try:
        trainer = Trainer(config, shapes_mix)
        plan = trainer.plan
        assert plan.source == "probe" and plan.peak_bytes <= 0.9 * 2**31 and plan.batch_size * plan.accumulation == 16
        assert trainer.config.train.precision == ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
        assert trainer.fit()["finished"]  # under the allocator limit the plan set: going past 2 GiB would have raised
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)  # the limit is per process: lift it for the tests after
