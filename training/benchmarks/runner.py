"""The model under evaluation and batched generation over benchmark items.

``--model`` may be a polymix run folder (its newest checkpoint), a checkpoint folder
(``OUT/checkpoints/step-N``), or a ``Blip2ForConditionalGeneration`` folder or hub id (a
``polymix train export``, or a released mBLIP checkpoint such as ``Gregor/mblip-mt0-xl``). All
three are assembled by :func:`polymix.training.assemble.build_model`, so a checkpoint is
evaluated with exactly the model that trained.

Generation runs in batches; on CUDA the batch starts large (``auto``: 64) and is halved when
memory runs out, the same "largest batch that fits" idea as the training plan, and a progress
bar counts items. Items with two images (MaRVL) give the LLM both images' query tokens side by
side, as mBLIP did.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from polymix.training.benchmarks.base import BenchmarkError, Generation, Item

log = logging.getLogger(__name__)
AUTO_CUDA_BATCH, CPU_BATCH = 64, 8
MBLIP_MAX_PROMPT_TOKENS = 256  # mBLIP's TokenizeCLM max_len: long MaRVL statements are not cut at the training length


@dataclass
class Loaded:
    built: object
    config: object
    kind: str
    """run, checkpoint or blip2 (an export or a released checkpoint)."""
    name: str


def _checkpoint_of(path: Path) -> Path | None:
    from polymix.training import checkpoint

    if (path / "state.json").is_file():
        return path
    if (path / "checkpoints").is_dir():
        found = checkpoint.latest(path)
        if found is None:
            raise BenchmarkError(f"--model {path}: a run folder without a finished checkpoint; train first or give a checkpoint")
        return found
    return None


def resolve_config(model: str, preset: str = "mblip-mt0-xl", overrides: list[str] | None = None):
    """(RunConfig, kind) for ``--model``; overrides (``--set``) apply last."""
    from polymix.training import sources
    from polymix.training.config import load_config

    overrides = ["model.gradient_checkpointing=false", *(overrides or [])]  # generation only: no activations to save
    path = Path(model).expanduser()
    ckpt = _checkpoint_of(path) if path.is_dir() else None
    if ckpt is not None:
        kind = "checkpoint" if ckpt == path else "run"
        config = load_config(ckpt / "config.yaml", [f"model.init_weights={ckpt}", *overrides])
    else:
        if not path.exists() and not model.startswith("tiny:") and (model.count("/") != 1 or model.startswith((".", "/", "~"))):
            raise BenchmarkError(f"--model {model}: no such folder; give a run or checkpoint folder, an export, or a hub id")
        try:
            cfg = sources.load_config(sources.resolve(model))
        except (OSError, ValueError) as err:  # not on the hub, the hub unreachable, or not a valid hub id
            raise BenchmarkError(f"--model {model}: not a local folder, and loading it from the hub failed ({err})") from None
        if not sources.is_blip2(cfg):
            raise BenchmarkError(f"--model {model}: neither a polymix run/checkpoint nor a BLIP-2 model ({cfg.model_type})")
        kind = "blip2"  # ViT, Q-Former, projection and LLM all from the one folder; LoRA starts as a no-op
        base = [
            f"model.blip2={model}",
            f"model.llm={model}",
            "model.projection=checkpoint",
            f"data.image_size={cfg.vision_config.image_size}",
        ]
        config = load_config(preset, base + overrides)
    if config.train.require_cuda and not torch.cuda.is_available():
        raise BenchmarkError(
            f"--model {model}: its settings load the LLM in {config.model.quantization} on a CUDA GPU and none "
            "is visible; evaluate on a GPU, or add --set train.require_cuda=false (float32 on CPU, slow)"
        )
    return config, kind


def load_model(model: str, preset: str = "mblip-mt0-xl", overrides: list[str] | None = None) -> Loaded:
    from polymix.training.assemble import build_model

    config, kind = resolve_config(model, preset, overrides)
    built = build_model(config)
    built.model.eval()
    return Loaded(built, config, kind, Path(model).name or model)


def _pixels(processor, paths: tuple[str, ...]) -> np.ndarray:
    from PIL import Image

    arrays = []
    for p in paths:
        with Image.open(p) as im:
            arrays.append(processor(im.convert("RGB"), return_tensors="np")["pixel_values"][0].astype(np.float32))
    return arrays[0] if len(arrays) == 1 else np.stack(arrays)  # (images, 3, H, W) for MaRVL


def _autocast(loaded: Loaded):
    """The training run's autocast: bf16 or fp16 as ``train.precision`` resolves on this card (the
    frozen weights were loaded in that type by build_model), none on CPU."""
    from polymix.training.precision import HALF, resolve_precision

    device = loaded.built.device
    precision = resolve_precision(loaded.config.train.precision, device)
    if device.type != "cuda" or precision not in HALF:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast("cuda", dtype=HALF[precision])


@torch.no_grad()
def generate_batch(loaded: Loaded, prompts: list[str], items: list[Item], generation: Generation) -> list[str]:
    from polymix.training.collate import Collator, to_device

    built, tok = loaded.built, loaded.built.tokenizer
    limit = max(MBLIP_MAX_PROMPT_TOKENS, loaded.config.data.max_text_tokens)
    collate = Collator(
        tok,
        decoder_only=built.model.decoder_only,
        max_text_tokens=limit,
        answer_prefix=loaded.config.data.answer_prefix,
        train=False,
    )
    rows = [
        {
            "pixel_values": _pixels(built.image_processor, item.images),
            "instruction": prompt,
            "target": "",
            "image": item.images[0],
            "id": item.id,
            "lang": item.lang,
            "task": "benchmark",
            "answers_en": None,
        }
        for prompt, item in zip(prompts, items)
    ]
    inputs = to_device(collate(rows), built.device)
    with _autocast(loaded):
        ids = built.model.generate(**inputs, **generation.kwargs(), pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    return [t.strip() for t in tok.batch_decode(ids, skip_special_tokens=True)]


def generate(
    loaded: Loaded,
    prompts: list[str],
    items: list[Item],
    generation: Generation,
    batch_size: int | None = None,
    desc: str = "generate",
) -> list[str]:
    """Predictions for ``items`` in order; ``batch_size`` None: auto (halved on CUDA out-of-memory)."""
    cuda = loaded.built.device.type == "cuda"
    size = batch_size or (AUTO_CUDA_BATCH if cuda else CPU_BATCH)
    out: list[str] = []
    with tqdm(total=len(items), desc=desc, unit="item", leave=False) as bar:
        while len(out) < len(items):
            start = len(out)
            try:
                texts = generate_batch(loaded, prompts[start : start + size], items[start : start + size], generation)
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                size //= 2
                torch.cuda.empty_cache()
                log.warning("out of GPU memory: generation batch halved to %d", size)
                continue
            out.extend(texts)
            bar.update(len(texts))
    return out
