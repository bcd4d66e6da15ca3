"""Which autocast precision a run uses, and the dtype its frozen weights are loaded in.

    precision = resolve_precision(config.train.precision, device)   # "auto" -> "bf16" or "fp16"
    llm_dtype = weight_dtype(config.model.llm_dtype, precision, device)

``train.precision: auto`` picks bf16 where the GPU computes in it natively (Ampere and newer) and
fp16 elsewhere (V100, T4, Turing); asking for bf16 on a card without it is refused before any
model is loaded. On CPU, ``auto`` means no autocast and every frozen weight is float32.

Why the weight dtype follows the autocast dtype: a frozen half-precision weight in the *other*
half type mixes bf16 and fp16 tensors, and torch promotes bf16 + fp16 to float32. With an 8-bit
mT5 under fp16 autocast, peft adds its fp16 LoRA output to the bf16 result of the 8-bit layer,
so queries and keys become float32 while the relative position bias (an embedding of bf16
weights, which autocast does not touch) stays bf16; transformers' SDPA path then fills masked
positions of that bf16 bias with float32's minimum, which bf16 cannot hold: "value cannot be
converted to type c10::BFloat16 without overflow". With the weights in the autocast dtype every
tensor of the attention agrees (and bitsandbytes no longer casts its bf16 inputs to fp16).
"""

from __future__ import annotations

import logging

import torch

from polymix.errors import ConfigError

log = logging.getLogger(__name__)

HALF = {"bf16": torch.bfloat16, "fp16": torch.float16}


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` computes in bf16 natively (emulated bf16 on older GPUs does not count)."""
    if device.type != "cuda":
        return False
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch before 2.3 has no including_emulation
        return torch.cuda.get_device_capability(device)[0] >= 8


def resolve_precision(requested: str, device: torch.device, bf16: bool | None = None) -> str:
    """The autocast precision of ``train.precision`` on ``device``: no, bf16 or fp16.

    ``bf16`` overrides the card's answer (for tests). CPU runs never autocast unless asked to."""
    if device.type != "cuda":
        return "no" if requested == "auto" else requested
    bf16 = bf16_supported(device) if bf16 is None else bf16
    if requested == "auto":
        return "bf16" if bf16 else "fp16"
    if requested == "bf16" and not bf16:
        name = torch.cuda.get_device_name(device) if torch.cuda.is_available() else str(device)
        raise ConfigError(
            f"train.precision=bf16: the GPU {name} does not compute in bf16; "
            f"use --set train.precision=auto (fp16 here) or train.precision=fp16"
        )
    return requested


def weight_dtype(setting: str, precision: str, device: torch.device) -> torch.dtype:
    """The dtype frozen weights are loaded in: ``setting`` (model.llm_dtype / vision_dtype) on CUDA,
    switched to the autocast's half type when it names the other one; float32 on CPU."""
    if device.type != "cuda":
        return torch.float32
    dtype = getattr(torch, setting)
    half = HALF.get(precision)
    if half is not None and dtype in HALF.values() and dtype != half:
        log.info("loading %s weights as %s to match %s autocast", setting, half, precision)
        return half
    return dtype
