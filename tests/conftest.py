"""Shared fixtures. Tests never touch the network: hub access is switched off for the session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# before anything imports huggingface_hub / datasets, which read these once
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from polymix.translate.random_nllb import build_random_nllb, convert_to_ct2  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout (CI has it there)."""
    folder = SHARED / "data"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found: the shared data folder must sit beside the checkout")
    return folder


# -- the random NLLB look-alike (random weights, not the trained toy), built once per session ---
@pytest.fixture(scope="session")
def random_nllb(tmp_path_factory) -> Path:
    """The random model in transformers format (built once per session)."""
    return build_random_nllb(tmp_path_factory.mktemp("random-nllb") / "hf")


@pytest.fixture(scope="session")
def random_nllb_ct2(random_nllb, tmp_path_factory) -> Path:
    """The random model converted to CTranslate2 in float32 (bit-for-bit comparable with transformers)."""
    return convert_to_ct2(random_nllb, tmp_path_factory.mktemp("random-nllb") / "ct2-f32", quantization="float32")


@pytest.fixture(scope="session")
def random_nllb_ct2_int8(random_nllb, tmp_path_factory) -> Path:
    """The random model converted to CTranslate2 in int8 (what users run on CPU)."""
    return convert_to_ct2(random_nllb, tmp_path_factory.mktemp("random-nllb") / "ct2-int8", quantization="int8")


@pytest.fixture(scope="session")
def tok(random_nllb):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(random_nllb))
