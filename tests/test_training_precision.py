"""Precision decisions (bf16 where the card has it, weights in the autocast's half type) and the
fp16 failure of an 8-bit mT5 on the GPU, reproduced on CPU and shown fixed by those decisions."""

from __future__ import annotations

import pytest
import torch

from polymix.errors import ConfigError
from polymix.training.precision import resolve_precision, weight_dtype
from training_fixtures import *  # noqa: F401,F403  (fixtures)

CUDA, CPU = torch.device("cuda"), torch.device("cpu")


def test_auto_picks_bf16_where_the_card_has_it():
    assert resolve_precision("auto", CUDA, bf16=True) == "bf16"
    assert resolve_precision("auto", CUDA, bf16=False) == "fp16"  # V100, T4, Turing
    assert resolve_precision("auto", CPU) == "no" and resolve_precision("bf16", CPU) == "bf16"
    assert resolve_precision("fp16", CUDA, bf16=True) == "fp16" and resolve_precision("no", CUDA, bf16=False) == "no"
    with pytest.raises(ConfigError, match="does not compute in bf16.*train.precision=auto"):
        resolve_precision("bf16", CUDA, bf16=False)


def test_frozen_weights_follow_the_autocast_half_type():
    assert weight_dtype("bfloat16", "fp16", CUDA) == torch.float16
    assert weight_dtype("float16", "bf16", CUDA) == torch.bfloat16
    assert weight_dtype("bfloat16", "bf16", CUDA) == torch.bfloat16  # the presets today: unchanged
    assert weight_dtype("float32", "fp16", CUDA) == torch.float32 and weight_dtype("bfloat16", "no", CUDA) == torch.bfloat16
    assert weight_dtype("bfloat16", "fp16", CPU) == torch.float32


def _mt5_attention_dtypes(monkeypatch, tiny_models, weights: torch.dtype) -> tuple[set, float]:
    """Train one step of the tiny mT5 in 8-bit with LoRA under fp16 autocast, as on the GPU; returns
    the dtypes (position bias, query, key) that reached SDPA's position-bias mask, and the loss."""
    pytest.importorskip("bitsandbytes")
    import transformers.integrations.sdpa_attention as sdpa

    from polymix.training import sources
    from polymix.training.assemble import add_lora, load_llm
    from polymix.training.config import load_config

    # peft's bitsandbytes LoRA asks torch.is_autocast_enabled() with no device, which means CUDA:
    # answering for the CPU's autocast makes it take the path it takes on the GPU.
    cpu_autocast = torch.is_autocast_enabled
    monkeypatch.setattr(torch, "is_autocast_enabled", lambda device_type=None: cpu_autocast(device_type or "cpu"))
    seen, make_mask = set(), sdpa.create_position_bias_mask

    def spy(position_bias, attention_mask, is_causal, query, key):
        seen.add((position_bias.dtype, query.dtype, key.dtype))
        return make_mask(position_bias, attention_mask, is_causal, query, key)

    monkeypatch.setattr(sdpa, "create_position_bias_mask", spy)
    config = load_config("tiny", ["model.quantization=8bit", "model.quantize_on_cpu=true"])
    llm, _, quant = load_llm(config, sources.resolve("tiny:mt5"), CPU, dtype=weights)
    llm = add_lora(llm, config)
    for name, param in llm.named_parameters():
        if "lora_" in name:
            param.data = param.data.float()  # as build_model does
    assert quant == "8bit"
    ids = torch.randint(3, 300, (2, 9), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[0, 6:] = 0  # padding: SDPA then fills masked positions of the bias with the dtype's minimum
    with torch.autocast("cpu", dtype=torch.float16):
        loss = llm(input_ids=ids, attention_mask=mask, labels=ids, use_cache=False).loss
    loss.backward()
    return seen, float(loss)


@pytest.mark.filterwarnings("ignore")
def test_fp16_autocast_over_bf16_weights_breaks_mt5_attention(monkeypatch, tiny_models):
    """Today's GPU failure: the 8-bit layer returns bf16, peft adds fp16 LoRA, queries and keys become
    float32 while the position bias stays bf16, and float32's minimum overflows bf16 in the mask."""
    seen, _ = _mt5_attention_dtypes(monkeypatch, tiny_models, torch.bfloat16)
    overflow = [s for s in seen if torch.isinf(torch.tensor(torch.finfo(s[2]).min, dtype=s[0]))]
    assert (torch.bfloat16, torch.float32, torch.float32) in seen and overflow  # CUDA raises on this cast


@pytest.mark.filterwarnings("ignore")
def test_fp16_autocast_with_weights_in_fp16_is_consistent_and_trains(monkeypatch, tiny_models):
    seen, loss = _mt5_attention_dtypes(monkeypatch, tiny_models, weight_dtype("bfloat16", "fp16", CUDA))
    assert seen == {(torch.float16, torch.float16, torch.float16)} and loss == loss and loss < 20
