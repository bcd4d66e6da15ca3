"""Test helpers for the trainer: a small multilingual ``shapes`` mix, tiny-model settings, fixtures.

Import the fixtures into a test module with ``from training_fixtures import *`` (pytest puts
``tests/`` on sys.path; this module is not installed with polymix, which never imports pytest).
Tiny models (``tiny:`` sources) are built once per test session into the session's temporary
folder; nothing is downloaded. Tests run torch on one thread: on a busy 2-core machine OpenMP's
spinning threads make tiny matrix products 20x slower.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["make_mix", "tiny_config", "tiny_models", "shapes_mix", "one_thread"]

SECOND_LANG = "deu_Latn"


def make_mix(out: Path, count: int = 40, second_lang: str | None = SECOND_LANG) -> Path:
    """A ``shapes`` mix (64 px images) in ``out``; with ``second_lang``, every row again in that
    language (a fake translation: the text prefixed with ``[de]``), as a second chunk."""
    import pyarrow.parquet as pq

    from polymix import shards
    from polymix.mix.prepare import PrepareSettings, prepare
    from polymix.schema import from_table, to_table

    out = Path(out)
    prepare(
        PrepareSettings(source="shapes", out=out, options={"count": count, "size": 64}, image_root=out / "images" / "shapes"),
        progress=False,
    )
    if second_lang:
        english = [e for path in shards.shard_files(out, ["eng_Latn"]) for e in from_table(pq.read_table(path))]
        tag = second_lang[:2]
        rows = [
            e.with_lang(second_lang, instruction=f"[{tag}] {e.instruction}", target=f"[{tag}] {e.target}", mt_model="fake")
            for e in english
        ]
        writer = shards.ShardWriter(out)
        writer.write_chunk(f"fake-{second_lang}", to_table(rows), stats={"in": len(rows), "out": len(rows)})
        writer.finalize()
    return out


def tiny_config(out_dir: Path, *overrides: str, warmup: int = 2, steps: int = 4, batch: int = 4, accumulation: int = 1):
    """The ``tiny`` preset writing to ``out_dir``, with short stages and no evaluation by default."""
    from polymix.training.config import load_config

    base = [
        f"train.output_dir={out_dir}",
        f"stages.0.steps={warmup}",
        f"stages.1.steps={steps}",
        f"train.batch_size={batch}",
        f"train.effective_batch_size={batch * accumulation}",
        "train.log_every=1",
        "train.save_every=0",
        "train.eval_every=-1",
        "stages.1.warmup_steps=1",
        "data.shuffle_buffer=64",
    ]
    return load_config("tiny", base + list(overrides))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> Path:
    """Points ``tiny:`` sources at a per-session folder (shared by every module of the session)."""
    folder = tmp_path_factory.getbasetemp() / "polymix-tiny-models"
    os.environ["POLYMIX_TINY_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def shapes_mix(tmp_path_factory) -> Path:
    """40 shapes scenes (~360 rows) in English and fake German; built once per session."""
    folder = tmp_path_factory.getbasetemp() / "polymix-shapes-mix"
    if not (folder / "manifest.json").exists():
        make_mix(folder)
    return folder


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
