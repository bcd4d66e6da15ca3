"""Merge LoRA into the LLM and export the whole model as a ``Blip2ForConditionalGeneration`` folder.

    polymix train export --checkpoint out/train/x/checkpoints/step-001000 --out out/model

The checkpoint's run settings are re-read, the model is rebuilt on the CPU with the LLM in full
precision (``--dtype``, never 8-bit: merging into quantized weights loses precision), the
checkpoint's trainable weights are loaded, LoRA is merged, and config, weights (safetensors),
tokenizer and image processor are written in transformers' BLIP-2 layout, the layout of the
released mBLIP checkpoints. The folder loads with ``Blip2ForConditionalGeneration.from_pretrained``
and is a valid ``model.blip2`` + ``model.llm`` source for further training (the projection is
taken from it).

It is also a ``Blip2Processor`` folder: transformers 5 puts the query outputs where the prompt
holds ``num_query_tokens`` ``<image>`` tokens (``config.image_token_index``), so the export adds
that token to the tokenizer (in a spare embedding row when the LLM has one, as mT0 and BLOOMZ
do) and writes ``processor_config.json``. ``processor(images=..., text=instruction)`` then
``model.generate(**inputs)`` gives what polymix's own model gives (checked in the tests)::

    processor = Blip2Processor.from_pretrained("out/model")
    model = Blip2ForConditionalGeneration.from_pretrained("out/model")
    inputs = processor(images=image, text="Describe the image in German.", return_tensors="pt")
    print(processor.batch_decode(model.generate(**inputs), skip_special_tokens=True))
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import yaml

from polymix.errors import ConfigError
from polymix.training.checkpoint import load_state
from polymix.training.config import RunConfig, build

log = logging.getLogger(__name__)


def config_of(checkpoint: str | Path) -> RunConfig:
    """The run settings stored in a checkpoint folder."""
    path = Path(checkpoint) / "config.yaml"
    if not path.exists():
        raise ConfigError(f"{checkpoint}: no config.yaml; is it a checkpoint folder of `polymix train`?")
    problems: list[str] = []
    config = build(RunConfig, yaml.safe_load(path.read_text(encoding="utf-8")), "", problems)
    if problems:
        raise ConfigError(f"{path}: " + "; ".join(problems))
    return config


def merged_state(model) -> tuple[dict[str, torch.Tensor], object]:
    """State dict in the Blip2ForConditionalGeneration layout with LoRA merged; and the LLM."""
    llm = model.language_model.merge_and_unload()
    state = {}
    for prefix, part in (
        ("vision_model.", model.vision_model),
        ("qformer.", model.qformer),
        ("language_projection.", model.language_projection),
        ("language_model.", llm),
    ):
        state.update({prefix + k: v for k, v in part.state_dict().items()})
    state["query_tokens"] = model.query_tokens.detach()
    return state, llm


def export(checkpoint: str | Path, out: str | Path, dtype: str = "float32") -> Path:
    """Write the merged model of ``checkpoint`` to ``out``; returns ``out``."""
    from accelerate import init_empty_weights
    from transformers import Blip2Config, Blip2ForConditionalGeneration, Blip2Processor

    from polymix.training.assemble import build_model

    checkpoint, out = Path(checkpoint), Path(out)
    config = config_of(checkpoint)
    config.model.quantization = "none"
    config.model.init_weights = str(checkpoint)
    config.model.gradient_checkpointing = False
    config.train.require_cuda = False
    torch_dtype = getattr(torch, dtype)
    built = build_model(config, torch.device("cpu"), dtype=torch_dtype)
    model = built.model.eval()
    state, llm = merged_state(model)
    processor = Blip2Processor(built.image_processor, built.tokenizer, num_query_tokens=model.num_query_tokens)
    image_token = built.tokenizer.convert_tokens_to_ids(processor.image_token.content)
    rows = llm.get_input_embeddings().num_embeddings
    if image_token >= rows:
        # No spare row (e.g. Llama's 32000): one more, as transformers' own BLIP-2/LLaVA conversions do.
        # Its input vector is never read (the image goes there), but the LM head gains an output row,
        # initialised to the mean of the others, so scores can differ slightly from the checkpoint's.
        log.warning(
            "export: %s has no spare embedding row for <image>; adding one (id %d): the exported LM "
            "head has one more output row than the trained one",
            config.model.llm,
            image_token,
        )
        llm.resize_token_embeddings(image_token + 1)
        state = {k: v for k, v in state.items() if not k.startswith("language_model.")}
        state.update({"language_model." + k: v for k, v in llm.state_dict().items()})
    blip2_config = Blip2Config(
        vision_config=model.vision_model.config.to_dict(),
        qformer_config=model.qformer.config.to_dict(),
        text_config=llm.config.to_dict(),
        num_query_tokens=model.num_query_tokens,
        image_token_index=image_token,
    )
    with init_empty_weights(include_buffers=False):
        hf = Blip2ForConditionalGeneration(blip2_config)
    expected = set(hf.state_dict())
    missing = sorted(k for k in expected - set(state) if not k.startswith("language_model.") or "embed_tokens" not in k)
    if missing:
        raise RuntimeError(f"export: weights missing for {missing[:5]}")
    # Every tensor is assigned by name (tied ones share storage already); no tie_weights(): mT5's config
    # claims tied embeddings in transformers 5, but mT0's LM head is its own matrix and must stay so.
    hf.load_state_dict({k: v.to(torch_dtype).contiguous() for k, v in state.items() if k in expected}, strict=False, assign=True)
    out.mkdir(parents=True, exist_ok=True)
    hf.save_pretrained(str(out))
    processor.save_pretrained(str(out))  # tokenizer (with <image>), image processor, num_query_tokens
    step = load_state(checkpoint)["step"]
    info = {
        "exported_from": str(checkpoint.resolve()),
        "step": step,
        "dtype": dtype,
        "run": config.name,
        "blip2": config.model.blip2,
        "llm": config.model.llm,
        "lora_merged": True,
    }
    (out / "polymix_export.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return out
