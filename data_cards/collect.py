"""What a data card says about a mix, read from its manifest and files.

:func:`collect` gathers it once (row counts per language and reason, templates used, sample rows,
the recorded build settings); :mod:`polymix.data_cards.card` renders it. :func:`bar_chart` draws
``rows_per_language.png``.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from polymix import shards
from polymix.stats import Outcome
from polymix.translate.lid.accounting import counted
from polymix.translate.lid.filter import REASONS


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def collect(root: str | Path, examples_per_lang: int = 3) -> dict[str, Any]:
    """Everything the card needs; reads the rows once per question (lazy Polars scans)."""
    import polars as pl

    root = Path(root)
    manifest = shards.load_manifest(root)
    rows = shards.scan(root)
    per_lang: dict[str, Outcome] = {}
    sources: Counter = Counter()
    for (source, lang), counts in counted(root).items():  # kept and rejected-by-reason per (source, language)
        if counts.kept:
            sources[source] += counts.kept
        total = per_lang.setdefault(lang, Outcome())
        total += counts
    seen = {reason for c in per_lang.values() for reason in c.rejected}
    reasons = [r for r in REASONS if r in seen] + sorted(seen - set(REASONS))
    splits: dict[str, set[str]] = {}  # Hub split -> languages whose files hold rows of it
    for rec in shards.read_records(root):
        for f in rec["files"]:
            if not f.get("rejected") and f["rows"]:
                splits.setdefault(f.get("split") or shards.file_split(Path(f["path"]).name), set()).add(f["lang"])
    templates = rows.group_by("task", "template_id").agg(pl.len().alias("n")).sort("task", "template_id").collect().rows()
    samples = (
        rows.select("lang", "task", "instruction", "target")
        .group_by("lang", maintain_order=True)
        .head(examples_per_lang)
        .collect()
        .sort("lang", maintain_order=True)
        .rows()
    )
    return {
        "root": root,
        "name": root.resolve().name,
        "manifest": manifest,
        "per_lang": dict(sorted(per_lang.items())),
        "reasons": reasons,
        "splits": {s: sorted(splits[s]) for s in sorted(splits, key=lambda s: (s != "train", s != "validation", s))},
        "sources": dict(sorted(sources.items())),
        "tasks": sorted({task for task, _, _ in templates}),
        "templates": templates,
        "samples": samples,
        "translate": _json(root / "_manifest" / "translate.json"),
        "lid": _json(root / "_manifest" / "lid.json"),
        "total": sum(c.kept for c in per_lang.values()),
        "rejected_total": sum(c.rejected_total for c in per_lang.values()),
    }


def bar_chart(info: dict[str, Any], path: Path) -> Path:
    """Horizontal bars of kept (and rejected) rows per language, largest first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = sorted(info["per_lang"], key=lambda x: (-info["per_lang"][x].kept, x))
    kept = [info["per_lang"][x].kept for x in langs]
    rejected = [info["per_lang"][x].rejected_total for x in langs]
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.2 * len(langs)))
    ax.barh(langs, kept, color="#3b75af", label="kept")
    if any(rejected):
        ax.barh(langs, rejected, left=kept, color="#d9534f", label="rejected")
        ax.legend(loc="lower right")
    ax.invert_yaxis()
    ax.set_xlabel("rows")
    ax.set_title(f"{info['name']}: rows per language ({info['total']:,} kept)")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
