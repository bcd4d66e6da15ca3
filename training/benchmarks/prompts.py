"""The benchmark prompts: versioned templates in ``prompts.yaml`` beside this module.

    >>> get("xgqa").render({"question": "Is the bus black?"})
    'Question: Is the bus black? Short answer in English:'

``get("xgqa")`` is the newest version, ``get("xgqa.v1")`` a fixed one; an unknown id lists the valid ones.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from polymix.training.benchmarks.base import BenchmarkError

FILE = Path(__file__).with_name("prompts.yaml")


@dataclass(frozen=True)
class Prompt:
    id: str
    version: int
    text: str

    @property
    def versioned_id(self) -> str:
        return f"{self.id}.v{self.version}"

    def render(self, slots: dict[str, str]) -> str:
        try:
            return self.text.format(**slots)
        except KeyError as err:
            raise BenchmarkError(f"prompt {self.versioned_id} needs the slot {err}; the item has {sorted(slots)}") from None


@functools.cache
def _all() -> dict[str, Prompt]:
    prompts = [
        Prompt(str(p["id"]), int(p["version"]), str(p["text"]))
        for p in yaml.safe_load(FILE.read_text(encoding="utf-8"))["prompts"]
    ]
    return {p.versioned_id: p for p in prompts}


def get(name: str) -> Prompt:
    """A prompt by versioned id (``xgqa.v1``) or by id (its newest version)."""
    prompts = _all()
    if name in prompts:
        return prompts[name]
    versions = [p for p in prompts.values() if p.id == name]
    if not versions:
        raise BenchmarkError(f"unknown prompt {name!r}: use one of {', '.join(sorted(prompts))}")
    return max(versions, key=lambda p: p.version)
