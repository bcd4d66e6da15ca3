"""Shared fixtures. Tests never touch the network: hub access is switched off for the session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# before anything imports huggingface_hub / datasets, which read these once
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from polymix.translate.tiny import build_tiny_nllb, convert_to_ct2  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout (CI has it there)."""
    folder = SHARED / "data"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found: the shared data folder must sit beside the checkout")
    return folder


# -- the tiny NLLB look-alike (random weights), built once per session -----------------------
@pytest.fixture(scope="session")
def tiny_nllb(tmp_path_factory) -> Path:
    """The tiny model in transformers format (built once per session)."""
    return build_tiny_nllb(tmp_path_factory.mktemp("tiny") / "hf")


@pytest.fixture(scope="session")
def tiny_nllb_ct2(tiny_nllb, tmp_path_factory) -> Path:
    """The tiny model converted to CTranslate2 in float32 (bit-for-bit comparable with transformers)."""
    return convert_to_ct2(tiny_nllb, tmp_path_factory.mktemp("tiny") / "ct2-f32", quantization="float32")


@pytest.fixture(scope="session")
def tiny_nllb_ct2_int8(tiny_nllb, tmp_path_factory) -> Path:
    """The tiny model converted to CTranslate2 in int8 (what users run on CPU)."""
    return convert_to_ct2(tiny_nllb, tmp_path_factory.mktemp("tiny") / "ct2-int8", quantization="int8")


@pytest.fixture(scope="session")
def tok(tiny_nllb):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_nllb))
