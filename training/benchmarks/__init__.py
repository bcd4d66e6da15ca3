"""Evaluation on mBLIP's benchmarks (XM3600, xGQA, MaXM, XVNLI, MaRVL) with mBLIP's protocol.

    polymix eval --benchmark xgqa --data iglue/datasets/xGQA/annotations/few_shot \\
        --images gqa/images --model out/train/mt0-xl

Modules: ``datasets`` (official release files -> items), ``prompts`` (+ ``prompts.yaml``,
versioned), ``normalize`` and ``scores`` (mBLIP's answer cleaning, CIDEr, accuracies),
``runner`` (the model of a run, checkpoint or export; batched generation), ``evaluate`` (per
language, resumable), ``report`` (JSON, Markdown, chart, mBLIP's numbers), ``cli``.
"""

from __future__ import annotations

from pathlib import Path

from polymix.training.benchmarks.base import BenchmarkError, Item
from polymix.training.benchmarks.datasets import BENCHMARKS, Benchmark

__all__ = ["BENCHMARKS", "Benchmark", "BenchmarkError", "Item", "get", "load"]


def get(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise BenchmarkError(f"unknown benchmark {name!r}: use one of {', '.join([*BENCHMARKS, 'mix'])}")
    return BENCHMARKS[name]


def languages(bench: Benchmark, langs: list[str] | None) -> list[str]:
    unknown = [lang for lang in langs or [] if lang not in bench.languages]
    if unknown:
        raise BenchmarkError(f"--langs {','.join(unknown)}: not in {bench.name}; use some of {','.join(bench.languages)}")
    return list(langs or bench.languages)


def load(
    name: str, data: str | Path, images: str | Path, langs: list[str] | None = None, limit: int | None = None
) -> dict[str, list[Item]]:
    """{lang: items} of benchmark ``name`` (the first ``limit`` per language), every image checked."""
    from polymix.training.benchmarks.base import check_images

    bench = get(name)
    data, images = Path(data).expanduser(), Path(images).expanduser()
    if not data.exists():
        raise BenchmarkError(f"--data {data}: not found; {bench.data_hint}")
    out = {}
    for lang in languages(bench, langs):
        items = bench.rows(data, images, lang)[:limit]
        if not items:
            raise BenchmarkError(f"{name} {lang}: no items in {data}; {bench.data_hint}")
        out[lang] = check_images(items, images, bench.images_hint)
    return out
