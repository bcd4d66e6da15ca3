"""Training settings: presets load and validate, overrides apply, bad settings are listed together."""

from __future__ import annotations

import pytest

from polymix.errors import ConfigError
from polymix.training.config import RunConfig, load_config, presets, settings_help


def test_presets_load_and_follow_mblip():
    assert {"mblip-mt0-xl", "mblip-bloomz-7b1", "tiny"} <= set(presets())
    mt0 = load_config("mblip-mt0-xl")
    assert (mt0.model.blip2, mt0.model.llm, mt0.model.quantization) == (
        "Salesforce/blip2-flan-t5-xl",
        "bigscience/mt0-xl",
        "8bit",
    )
    assert (mt0.lora.r, mt0.lora.alpha, mt0.lora.dropout) == (8, 16, 0.05)
    assert mt0.lora.target_modules == ["q", "k", "v", "o", "wi_0", "wi_1", "wo"]
    warmup, instruct = mt0.stages
    assert warmup.train == ["projection"] and warmup.lr == {"projection": 5e-3} and warmup.steps == 8000
    assert instruct.lr == {"qformer": 1e-5, "query_tokens": 1e-5, "projection": 1e-5, "lora": 2e-4}
    assert (instruct.epochs, instruct.warmup_steps, instruct.schedule) == (2, 1000, "cosine")
    t = mt0.train
    assert (t.batch_size, t.effective_batch_size, t.weight_decay, t.grad_clip, t.require_cuda) == (8, 128, 0.1, 1.0, True)
    assert (mt0.data.image_size, mt0.data.max_text_tokens) == (224, 128)
    bloom = load_config("mblip-bloomz-7b1")
    assert (bloom.model.quantization, bloom.train.batch_size, bloom.train.effective_batch_size) == ("4bit", 4, 128)
    assert bloom.lora.target_modules == ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]
    tiny = load_config("tiny")
    assert not tiny.train.require_cuda and tiny.model.blip2.startswith("tiny:")


def test_overrides_are_typed_and_index_lists():
    c = load_config("tiny", ["train.batch_size=2", "stages.1.steps=7", "data.langs=eng_Latn,deu_Latn", "stages.1.lr.lora=1e-3"])
    assert c.train.batch_size == 2 and c.stages[1].steps == 7 and c.stages[1].lr["lora"] == 1e-3
    assert c.data.langs == ["eng_Latn", "deu_Latn"]


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load_config("tiny", ["foo.bar=1", "train.batch_size=many", "stages.0.lr.projection=x", "nonsense"])
    text = str(err.value)
    assert "foo: unknown setting" in text and "train.batch_size: expected int" in text
    assert "stages[0].lr.projection: expected float" in text and "expected KEY=VALUE" in text


def test_semantic_checks():
    with pytest.raises(ConfigError) as err:
        load_config(
            "tiny",
            [
                "stages.1.lr={}",
                "stages.1.epochs=1",
                "train.precision=fp8",
                "model.quantization=3bit",
                "train.effective_batch_size=12",
                "data.langs=xx_Fake",
            ],
        )
    text = str(err.value)
    for needle in (
        "no learning rate for",
        "exactly one of steps",
        "train.precision",
        "model.quantization",
        "not a multiple",
        "data.langs",
    ):
        assert needle in text
    with pytest.raises(ConfigError, match="not found"):
        load_config("no-such-preset")


def test_settings_help_covers_every_leaf():
    lines = "\n".join(settings_help(RunConfig))
    for key in (
        "model.blip2",
        "lora.target_modules",
        "data.shuffle_buffer",
        "stages.N.lr",
        "train.effective_batch_size",
        "eval.num_beams",
    ):
        assert key in lines
