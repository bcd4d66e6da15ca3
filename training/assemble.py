"""Model assembly: BLIP-2 ViT + Q-Former, a multilingual LLM (8-bit/4-bit on CUDA), LoRA.

    built = build_model(load_config("tiny"))        # -> Built(model, tokenizer, image_processor, ...)
    print(format_counts(param_counts(built.model)))

The ViT, Q-Former and query tokens are read from a BLIP-2 checkpoint (hub id or folder) without
instantiating its Flan-T5; the LLM is loaded through transformers from its own id, or from the
``language_model.*`` weights of a released ``Blip2ForConditionalGeneration`` checkpoint (mBLIP's
``Gregor/mblip-mt0-xl``), in 8-bit or 4-bit nf4 with bitsandbytes on CUDA. On CPU the LLM falls
back to float32 unless ``model.quantize_on_cpu`` (bitsandbytes loads there too; slow).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from pathlib import Path
from typing import Any

import torch

from polymix.errors import ConfigError
from polymix.training import sources
from polymix.training.config import RunConfig
from polymix.training.model import MBlip, group_of, set_trainable
from polymix.training.precision import resolve_precision, weight_dtype

log = logging.getLogger(__name__)

LORA_TARGETS = {
    ("t5", "mt5", "umt5"): ["q", "k", "v", "o", "wi_0", "wi_1", "wo"],
    ("bloom",): ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2"): [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ],
}


@dataclasses.dataclass
class Built:
    model: MBlip
    tokenizer: Any
    image_processor: Any
    device: torch.device
    quantization: str
    """What the LLM was loaded in: 8bit, 4bit or none."""


def default_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")


def check_device(config: RunConfig, device: torch.device) -> None:
    """A preset that needs a GPU stops here with what to do instead, not deep in bitsandbytes."""
    if device.type != "cuda" and config.train.require_cuda:
        raise ConfigError(
            f"config {config.name!r} needs a CUDA GPU (its LLM {config.model.llm} is loaded in "
            f"{config.model.quantization} with bitsandbytes), and none is visible. On CPU train with the tiny "
            f"preset: `make train CONFIG=training/configs/tiny.yaml DATA=<mix>` (or `polymix train --config tiny`), "
            f"or force this preset onto the CPU in full precision with --set train.require_cuda=false (very slow)."
        )


@contextlib.contextmanager
def _quiet():
    """transformers prints a load report of every unused key; we check the keys ourselves."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _load_part(cls, config, state: dict, what: str):
    from accelerate import init_empty_weights

    with init_empty_weights(include_buffers=False):
        part = cls._from_config(config)
    result = part.load_state_dict(state, strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        raise ConfigError(
            f"{what}: weights do not match the config (missing {result.missing_keys[:4]}, "
            f"unexpected {result.unexpected_keys[:4]})"
        )
    return part


def quantization_for(config: RunConfig, device: torch.device) -> str:
    q = config.model.quantization
    if q != "none" and device.type != "cuda" and not config.model.quantize_on_cpu:
        log.warning("no CUDA device: loading the LLM in float32 instead of %s", q)
        return "none"
    return q


def load_llm(config: RunConfig, source: str, device: torch.device, dtype: torch.dtype | None = None):
    """The LLM (seq2seq or decoder-only) on ``device``; returns (model, decoder_only, quantization).

    Its dtype: ``dtype`` if given, else ``model.llm_dtype`` on CUDA (in the autocast's half type, see
    :mod:`polymix.training.precision`) and float32 on CPU."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, BitsAndBytesConfig

    cfg = sources.load_config(source)
    kwargs: dict[str, Any] = {}
    if sources.is_blip2(cfg):  # a released Blip2ForConditionalGeneration: take its language_model.*
        cfg, decoder_only = cfg.text_config, bool(getattr(cfg, "use_decoder_only_language_model", False))
        kwargs["key_mapping"] = {r"^language_model\.": ""}
    else:
        decoder_only = not getattr(cfg, "is_encoder_decoder", False)
    quant = quantization_for(config, device)
    if dtype is None:
        dtype = weight_dtype(config.model.llm_dtype, resolve_precision(config.train.precision, device), device)
    if quant == "8bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    elif quant == "4bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype
        )
    if quant != "none" or device.type == "cuda":
        kwargs["device_map"] = {"": device.index or 0} if device.type == "cuda" else "cpu"
    auto = AutoModelForCausalLM if decoder_only else AutoModelForSeq2SeqLM
    with _quiet():
        llm, info = auto.from_pretrained(source, config=cfg, dtype=dtype, output_loading_info=True, **kwargs)
    missing = [k for k in info.get("missing_keys", []) if "lm_head" not in k or not cfg.tie_word_embeddings]
    if missing:
        raise ConfigError(f"LLM {source}: {len(missing)} weights missing from the checkpoint (e.g. {sorted(missing)[:3]})")
    return llm.to(device) if quant == "none" else llm, decoder_only, quant


def add_lora(llm, config: RunConfig):
    from peft import LoraConfig, get_peft_model

    lora = config.lora
    targets = lora.target_modules
    if not targets:
        model_type = llm.config.model_type
        targets = next((t for types, t in LORA_TARGETS.items() if model_type in types), None)
        if targets is None:
            raise ConfigError(f"no default LoRA targets for a {model_type!r} LLM: set lora.target_modules")
    present = {name.rsplit(".", 1)[-1] for name, _ in llm.named_modules()}
    targets = [t for t in targets if t in present]
    if not targets:
        raise ConfigError(f"none of lora.target_modules {lora.target_modules} is a module of {llm.config.model_type}")
    peft_config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets, bias="none")
    return get_peft_model(llm, peft_config)


def load_trainable(model: MBlip, path: str | Path) -> int:
    """Load trainable weights saved by a checkpoint (folder or file); returns the tensor count."""
    from safetensors.torch import load_file

    path = Path(path)
    path = path / "trainable.safetensors" if path.is_dir() else path
    if not path.exists():
        raise ConfigError(f"model.init_weights: {path} not found")
    state = load_file(str(path))
    params = dict(model.named_parameters())
    bad = [k for k, v in state.items() if k not in params or params[k].shape != v.shape]
    if bad:
        raise ConfigError(
            f"{path}: {len(bad)} tensors do not fit this model (e.g. {bad[:3]}); was it trained with another preset?"
        )
    with torch.no_grad():
        for key, value in state.items():
            params[key].copy_(value)
    return len(state)


def build_model(config: RunConfig, device: torch.device | None = None, dtype: torch.dtype | None = None) -> Built:
    """Assemble the model of ``config`` on ``device`` (default: the current CUDA device, else CPU).

    ``dtype`` overrides the dtype of the frozen parts (ViT, LLM); the export uses it on CPU."""
    from transformers import AutoTokenizer, Blip2QFormerModel, Blip2VisionModel

    m = config.model
    device = device or default_device()
    check_device(config, device)
    precision = resolve_precision(config.train.precision, device)  # refuses bf16 on a card without it, before loading
    blip2_src, llm_src = sources.resolve(m.blip2), sources.resolve(m.llm)
    blip2_cfg = sources.load_config(blip2_src)
    if not sources.is_blip2(blip2_cfg):
        raise ConfigError(f"model.blip2 {m.blip2!r} is a {blip2_cfg.model_type!r} model, not a BLIP-2 checkpoint")
    if blip2_cfg.vision_config.image_size != config.data.image_size:
        raise ConfigError(f"data.image_size {config.data.image_size} differs from the ViT's {blip2_cfg.vision_config.image_size}")
    projection = m.projection if m.projection != "auto" else ("checkpoint" if blip2_src == llm_src else "new")
    prefixes = ["vision_model.", "qformer.", "query_tokens", *(["language_projection."] if projection == "checkpoint" else [])]
    state = sources.load_tensors(blip2_src, prefixes)
    vision = _load_part(Blip2VisionModel, blip2_cfg.vision_config, sources.strip(state, "vision_model."), f"{m.blip2} ViT")
    qformer = _load_part(Blip2QFormerModel, blip2_cfg.qformer_config, sources.strip(state, "qformer."), f"{m.blip2} Q-Former")
    llm, decoder_only, quant = load_llm(config, llm_src, device, dtype)
    if m.gradient_checkpointing:
        for part in (qformer, llm):
            part.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    with torch.random.fork_rng(devices=[]):  # new weights (projection, LoRA) depend on the seed only
        torch.manual_seed(config.train.seed)
        model = MBlip(vision, qformer, state["query_tokens"], add_lora(llm, config), decoder_only=decoder_only)
    if projection == "checkpoint":
        proj = sources.strip(state, "language_projection.")
        if not proj or proj["weight"].shape != model.language_projection.weight.shape:
            raise ConfigError(
                f"model.projection=checkpoint: {m.blip2} has no projection of shape "
                f"{tuple(model.language_projection.weight.shape)}; use projection: new"
            )
        model.language_projection.load_state_dict(proj)
    vision_dtype = dtype or weight_dtype(m.vision_dtype, precision, device)
    model.vision_model.to(device, vision_dtype)
    for part in (model.qformer, model.language_projection):
        part.to(device, torch.float32)
    model.query_tokens.data = model.query_tokens.data.to(device, torch.float32)
    for name, param in model.named_parameters():  # LoRA weights train in float32 whatever the base
        if group_of(name) == "lora" and param.dtype != torch.float32:
            param.data = param.data.float()
    if m.init_weights:
        load_trainable(model, m.init_weights)
    set_trainable(model, ())
    tokenizer = AutoTokenizer.from_pretrained(llm_src)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return Built(model, tokenizer, image_processor(config, blip2_src), device, quant)


def image_processor(config: RunConfig, blip2_src: str):
    """BLIP-2's processor (CLIP normalisation, bicubic) at ``data.image_size``; PIL backend."""
    from transformers import BlipImageProcessorPil

    source = config.data.image_processor or blip2_src
    size = {"height": config.data.image_size, "width": config.data.image_size}
    try:
        with _quiet():
            return BlipImageProcessorPil.from_pretrained(sources.resolve(source), size=size)
    except OSError:
        return BlipImageProcessorPil(size=size)
