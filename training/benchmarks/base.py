"""What every benchmark shares: the evaluation item, mBLIP's generation settings, file checks.

A benchmark reads its official release files into :class:`Item` rows (one question, caption
request or statement per row, with the image paths and the references), fills its prompt, and
scores one language's predictions. Loading stops with one :class:`BenchmarkError` that names
what is missing (the file, or how many images and the first few) and how to fix it, before any
model is built.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polymix.errors import ConfigError


class BenchmarkError(ConfigError):
    """A benchmark file or image is missing or malformed (exit code 2 from the CLI)."""


@dataclass(frozen=True)
class Generation:
    """Decoding settings, as mBLIP's ``configs/evaluation/mblip_eval_*.yaml`` set them."""

    num_beams: int = 5
    max_new_tokens: int = 10
    min_new_tokens: int = 1
    length_penalty: float = -1.0
    """mBLIP: 1 for captions, -1 (favours short answers under beam search) for VQA and classification."""

    def kwargs(self) -> dict[str, Any]:
        return {
            "num_beams": self.num_beams,
            "max_new_tokens": self.max_new_tokens,
            "min_new_tokens": self.min_new_tokens,
            "length_penalty": self.length_penalty,
        }


CAPTION_GENERATION = Generation(max_new_tokens=50, length_penalty=1.0)
ANSWER_GENERATION = Generation()


@dataclass(frozen=True)
class Item:
    """One evaluation example: ``slots`` fill the prompt, ``references`` are the gold answers."""

    id: str
    lang: str
    images: tuple[str, ...]
    slots: dict[str, str] = field(hash=False)
    references: tuple[str, ...]


def require_file(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise BenchmarkError(f"{what}: {path} not found; {fix}")
    return path


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise BenchmarkError(f"{path}: not valid JSON ({err})") from None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise BenchmarkError(f"{path} line {n}: not valid JSON ({err})") from None
    return rows


def field_of(row: dict[str, Any], key: str, where: str) -> Any:
    if key not in row:
        raise BenchmarkError(
            f"{where}: no {key!r} field (keys: {', '.join(sorted(row)[:8])}); is this the official release file?"
        )
    return row[key]


def existing(path: Path) -> Path:
    """``path`` as given, else its NFKD or NFC spelling (MaRVL's non-ASCII file names differ by file system)."""
    if path.exists():
        return path
    for form in ("NFKD", "NFC"):
        other = Path(unicodedata.normalize(form, str(path)))
        if other.exists():
            return other
    return path


def check_images(items: list[Item], images: Path, hint: str) -> list[Item]:
    """Every image of ``items`` resolved to an existing file, or one error naming the missing ones."""
    if not images.is_dir():
        raise BenchmarkError(f"--images {images}: no such folder; {hint}")
    resolved, missing = [], []
    for item in items:
        paths = tuple(str(existing(Path(p))) for p in item.images)
        missing.extend(p for p in paths if not Path(p).is_file())
        resolved.append(Item(item.id, item.lang, paths, item.slots, item.references))
    if missing:
        unique = sorted(set(missing))
        raise BenchmarkError(f"{len(unique)} images not found under --images {images} (e.g. {', '.join(unique[:3])}); {hint}")
    return resolved
