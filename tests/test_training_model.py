"""Model assembly from tiny configs: trainable groups, LLM kinds, released-checkpoint layout, 8-bit."""

from __future__ import annotations

import pytest
import torch

from polymix.errors import ConfigError
from polymix.training.assemble import build_model, check_device
from polymix.training.config import load_config
from polymix.training.model import IGNORE, group_of, param_counts, set_trainable
from training_fixtures import *  # noqa: F401,F403  (fixtures)

ALL = ("qformer", "query_tokens", "projection", "lora")


def _batch(built, n=2):
    tok = built.tokenizer
    enc = tok(["Caption the image.", "What color is the circle?"][:n], padding=True, return_tensors="pt")
    tgt = tok(["A red circle.", "red"][:n], padding=True, return_tensors="pt").input_ids
    tgt[tgt == tok.pad_token_id] = IGNORE
    if built.model.decoder_only:
        ids = torch.cat([enc.input_ids, tgt.clamp(min=0)], 1)
        return {
            "input_ids": ids,
            "attention_mask": torch.cat([enc.attention_mask, (tgt != IGNORE).long()], 1),
            "labels": torch.cat([torch.full_like(enc.input_ids, IGNORE), tgt], 1),
            "pixel_values": torch.randn(n, 3, 32, 32),
        }
    return {
        "input_ids": enc.input_ids,
        "attention_mask": enc.attention_mask,
        "labels": tgt,
        "pixel_values": torch.randn(n, 3, 32, 32),
    }


@pytest.mark.parametrize("llm", ["tiny:mt5", "tiny:bloom", "tiny:llama"])
def test_only_the_intended_parameters_train(tiny_models, llm):
    built = build_model(load_config("tiny", [f"model.llm={llm}"]))
    model = built.model
    assert model.decoder_only == (llm != "tiny:mt5")
    assert param_counts(model)["total"]["trainable"] == 0  # frozen until a stage says otherwise
    set_trainable(model, ["projection"])
    assert {group_of(n) for n, p in model.named_parameters() if p.requires_grad} == {"projection"}
    set_trainable(model, ALL)
    counts = param_counts(model)
    assert counts["frozen"]["trainable"] == 0 and all(counts[g]["trainable"] == counts[g]["params"] > 0 for g in ALL)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith("vision_model.") for n in trainable)
    assert all("lora_" in n for n in trainable if n.startswith("language_model."))
    model.train()
    assert not model.vision_model.training  # the frozen ViT never drops out
    loss = model(**_batch(built))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad)
    model.eval()
    ids = model.generate(**{k: v for k, v in _batch(built).items() if k != "labels"}, num_beams=2, max_new_tokens=4)
    assert ids.shape[0] == 2


def test_default_lora_targets_by_architecture(tiny_models):
    mt5 = build_model(load_config("tiny")).model
    targeted = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in mt5.named_parameters() if "lora_A" in n}
    assert targeted == {"q", "k", "v", "o", "wi_0", "wi_1", "wo"}
    # the ViT and the Q-Former run attention through SDPA too (fused kernels on the GPU), not eager
    assert {part.config._attn_implementation for part in (mt5.vision_model, mt5.qformer, mt5.language_model)} == {"sdpa"}
    bloom = build_model(load_config("tiny", ["model.llm=tiny:bloom"])).model
    assert {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in bloom.named_parameters() if "lora_A" in n} == {
        "query_key_value",
        "dense",
        "dense_h_to_4h",
        "dense_4h_to_h",
    }
    with pytest.raises(ConfigError, match="none of lora.target_modules"):
        build_model(load_config("tiny", ["lora.target_modules=[nope]"]))


def test_released_blip2_layout_is_loaded_whole(tiny_models):
    """A Blip2ForConditionalGeneration folder (the layout of Gregor/mblip-mt0-xl) gives every part."""
    from safetensors.torch import load_file

    from polymix.training import random_models

    folder = random_models.resolve("tiny:mblip")
    saved = load_file(str(folder / "model.safetensors"))
    built = build_model(load_config("tiny", ["model.blip2=tiny:mblip", "model.llm=tiny:mblip", "model.projection=auto"]))
    state = built.model.state_dict()
    for key, value in saved.items():
        if key.startswith("language_model."):
            ours = key.replace("language_model.", "language_model.base_model.model.", 1)
            ours = ours if ours in state else ours.replace(".weight", ".base_layer.weight")
            assert torch.equal(state[ours], value), key
        else:
            assert torch.equal(state[key], value), key  # ViT, Q-Former, query tokens and the projection
    assert torch.isfinite(built.model(**_batch(built)))
    # a BLIP-2 checkpoint for ViT + Q-Former with a different LLM: the projection is new
    other = build_model(load_config("tiny", ["model.blip2=tiny:mblip", "model.llm=tiny:mt5", "model.projection=auto"]))
    assert not torch.equal(other.model.language_projection.weight, saved["language_projection.weight"])
    assert torch.equal(other.model.qformer.layernorm.weight, saved["qformer.layernorm.weight"])


def test_bad_sources_are_clear_errors(tiny_models, tmp_path):
    with pytest.raises(ConfigError, match="not a BLIP-2 checkpoint"):
        build_model(load_config("tiny", ["model.blip2=tiny:mt5"]))
    with pytest.raises(ConfigError, match="not found"):
        build_model(load_config("tiny", [f"model.llm={tmp_path}/missing"]))
    with pytest.raises(ConfigError, match="image_size"):
        build_model(load_config("tiny", ["data.image_size=64"]))


def test_a_gpu_preset_without_a_gpu_points_to_tiny():
    with pytest.raises(ConfigError) as err:
        check_device(load_config("mblip-mt0-xl"), torch.device("cpu"))
    assert "tiny.yaml" in str(err.value) and "CUDA" in str(err.value)
    check_device(load_config("tiny"), torch.device("cpu"))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("bits", ["8bit", "4bit"])
def test_bitsandbytes_llm_on_cpu(tiny_models, bits):
    built = build_model(load_config("tiny", [f"model.quantization={bits}", "model.quantize_on_cpu=true"]))
    assert built.quantization == bits
    kinds = {type(m).__name__ for m in built.model.language_model.modules()}
    assert ("Linear8bitLt" if bits == "8bit" else "Linear4bit") in kinds
    set_trainable(built.model, ALL)
    loss = built.model(**_batch(built))
    loss.backward()
    assert torch.isfinite(loss)
    assert all(not p.requires_grad for n, p in built.model.named_parameters() if group_of(n) == "frozen")


def test_hub_blip2_reads_only_the_shards_it_needs(tiny_models, tmp_path, monkeypatch):
    """From a hub id, the ViT/Q-Former come without fetching the shards that hold only the LLM."""
    import json

    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError
    from transformers import Blip2ForConditionalGeneration

    from polymix.training import random_models, sources

    repo = tmp_path / "repo"
    Blip2ForConditionalGeneration.from_pretrained(random_models.resolve("tiny:blip2")).save_pretrained(
        repo, max_shard_size="100KB"
    )
    weight_map = json.loads((repo / "model.safetensors.index.json").read_text())["weight_map"]
    llm_only = {f for f in weight_map.values()} - {f for k, f in weight_map.items() if not k.startswith("language_model.")}
    assert llm_only  # the test needs shards with LLM weights only
    fetched = []

    def fake_download(repo_id, filename, **kw):
        assert repo_id == "org/blip2-like"
        fetched.append(filename)
        if not (repo / filename).exists():
            raise EntryNotFoundError(filename)
        return str(repo / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    state = sources.load_tensors("org/blip2-like", ["vision_model.", "qformer.", "query_tokens"])
    assert state and all(k.startswith(("vision_model.", "qformer.", "query_tokens")) for k in state)
    assert {k for k in weight_map if k.startswith(("vision_model.", "qformer.", "query_tokens"))} == set(state)
    assert not llm_only & set(fetched)
