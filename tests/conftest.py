"""Shared fixtures. Tests never touch the network: hub access is switched off for the session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout (CI has it there)."""
    folder = SHARED / "data"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found: the shared data folder must sit beside the checkout")
    return folder
