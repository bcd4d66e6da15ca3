"""Where model weights come from: hub ids, local folders and ``tiny:`` models, read selectively.

mBLIP users had to hand-make a "stripped" BLIP-2 checkpoint holding only the ViT and Q-Former.
Here :func:`load_tensors` reads just the tensors under some prefixes (``vision_model.``,
``qformer.``, ``query_tokens``) from a full ``Blip2ForConditionalGeneration`` checkpoint; for a
hub id it downloads the index first and then only the shards that hold those tensors (the
Flan-T5 weights in the other shards are never fetched). Hub access goes through
``huggingface_hub`` and honours ``HF_HUB_OFFLINE``; tests only ever pass local folders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

from polymix.errors import ConfigError

SAFE_INDEX = "model.safetensors.index.json"
SAFE_SINGLE = "model.safetensors"
BIN_INDEX = "pytorch_model.bin.index.json"
BIN_SINGLE = "pytorch_model.bin"


def resolve(source: str) -> str:
    """A loadable reference: the folder of a ``tiny:`` model or local path, else the hub id as is."""
    if source.startswith("tiny:"):
        from polymix.training import random_models

        return str(random_models.resolve(source))
    path = Path(source).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ConfigError(f"{path} has no config.json: not a transformers model folder")
        return str(path)
    if source.startswith((".", "/", "~")):
        raise ConfigError(f"model folder {source} not found")
    return source


def load_config(source: str):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(resolve(source))
    except OSError as err:
        raise ConfigError(
            f"cannot read the model config of {source!r} (no folder of that name, and the hub "
            f"is unreachable or has no such model): {err}"
        ) from None


def is_blip2(config) -> bool:
    return getattr(config, "model_type", "") in ("blip-2", "blip_2")


def _fetch(source: str, filename: str) -> Path | None:
    """``filename`` of ``source`` as a local path (downloaded for a hub id), or None if absent."""
    local = Path(source)
    if local.is_dir():
        return local / filename if (local / filename).exists() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        return Path(hf_hub_download(source, filename))
    except EntryNotFoundError:
        return None


def _weight_files(source: str, prefixes: tuple[str, ...]) -> list[Path]:
    """The weight files of ``source`` that hold tensors starting with ``prefixes``."""
    for index_name, single in ((SAFE_INDEX, SAFE_SINGLE), (BIN_INDEX, BIN_SINGLE)):
        index = _fetch(source, index_name)
        if index is not None:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            shards = sorted({f for k, f in weight_map.items() if k.startswith(prefixes)})
            return [p for p in (_fetch(source, s) for s in shards) if p is not None]
        path = _fetch(source, single)
        if path is not None:
            return [path]
    raise ConfigError(f"{source}: no model.safetensors / pytorch_model.bin (or their index) found")


def load_tensors(source: str, prefixes: Iterable[str]) -> dict:
    """Every tensor of ``source`` whose name starts with one of ``prefixes`` (CPU, stored dtype)."""
    import torch
    from safetensors import safe_open

    prefixes = tuple(prefixes)
    source = resolve(source)
    out = {}
    for path in _weight_files(source, prefixes):
        if path.suffix == ".safetensors":
            with safe_open(str(path), framework="pt", device="cpu") as fh:
                for key in fh.keys():
                    if key.startswith(prefixes):
                        out[key] = fh.get_tensor(key)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            out.update({k: v for k, v in state.items() if k.startswith(prefixes)})
    return out


def strip(state: dict, prefix: str) -> dict:
    """The entries of ``state`` under ``prefix``, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
