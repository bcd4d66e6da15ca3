"""Results of ``polymix eval``: ``results.json``, a Markdown table per language, and a bar chart.

Every benchmark (and ``--benchmark mix``, one table per task) reports the same shape::

    {"benchmark": "xgqa", "model": ..., "prompt": "xgqa.v1", "generation": {...},
     "tables": [{"name": "xgqa", "metric": "accuracy",
                 "languages": {"de": {"n": 12, "score": 41.7, "mblip": null}, ...},
                 "average": .., "average_non_en": .., "mblip_average": ..}],
     "compare": {"model": "mBLIP mT0-XL", "source": ...}}

mBLIP's numbers come from ``published.yaml`` (each set cites the paper table it was copied from).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import yaml

PUBLISHED = Path(__file__).with_name("published.yaml")


@functools.cache
def published(name: str = "mblip-mt0-xl") -> dict[str, Any]:
    sets = yaml.safe_load(PUBLISHED.read_text(encoding="utf-8")) or {}
    return sets.get(name) or {"model": name, "source": None, "scores": {}}


def about(name: str = "mblip-mt0-xl") -> dict[str, Any]:
    """The published set's model name and source, without its scores."""
    return {k: v for k, v in published(name).items() if k != "scores"}


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def table(name: str, metric: str, per_lang: dict[str, tuple[int, float]], compare: str = "mblip-mt0-xl") -> dict[str, Any]:
    """One table: ``per_lang`` {lang: (items, score)} with the published score of each language beside it."""
    theirs = (published(compare).get("scores") or {}).get(name) or {}
    langs = {lang: {"n": n, "score": score, "mblip": theirs.get(lang)} for lang, (n, score) in sorted(per_lang.items())}
    mblip = [theirs[lang] for lang in langs if theirs.get(lang) is not None]
    return {
        "name": name,
        "metric": metric,
        "languages": langs,
        "average": _mean([r["score"] for r in langs.values()]),
        "average_non_en": _mean([r["score"] for lang, r in langs.items() if lang not in ("en", "eng_Latn")]),
        "mblip_average": _mean(mblip) if len(mblip) == len(langs) else None,
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def markdown(results: dict[str, Any]) -> str:
    comp = results["compare"]
    lines = [
        f"# {results['benchmark']}: {results['model']}",
        "",
        f"prompt `{results.get('prompt') or '-'}`, generation `{json.dumps(results.get('generation') or {})}`"
        + (f", at most {results['limit']} items per language" if results.get("limit") else ""),
        "",
    ]
    for t in results["tables"]:
        lines += [
            f"## {t['name']} ({t['metric']})",
            "",
            f"| language | items | polymix | {comp['model']} |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [f"| {lang} | {r['n']} | {_fmt(r['score'])} | {_fmt(r['mblip'])} |" for lang, r in t["languages"].items()]
        lines += [
            f"| **average** | | **{_fmt(t['average'])}** | {_fmt(t['mblip_average'])} |",
            f"| average without English | | {_fmt(t['average_non_en'])} | |",
            "",
        ]
    source = comp.get("source") or "not filled in yet (see training/benchmarks/published.yaml)"
    return "\n".join(lines + [f"{comp['model']} numbers: {source}.", ""])


def bar_chart(results: dict[str, Any], path: Path) -> Path:
    """Bars per language (polymix, and mBLIP where published), one panel per table."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = results["tables"]
    fig, axes = plt.subplots(len(tables), 1, figsize=(8, 2.2 * len(tables) + 0.6), squeeze=False)
    for ax, t in zip(axes[:, 0], tables):
        langs = list(t["languages"])
        xs = range(len(langs))
        ours = [t["languages"][lang]["score"] for lang in langs]
        theirs = [t["languages"][lang]["mblip"] for lang in langs]
        width = 0.4 if any(v is not None for v in theirs) else 0.8
        ax.bar([x - (width / 2 if width < 0.8 else 0) for x in xs], ours, width, color="#3b75af", label="polymix")
        if width < 0.8:
            ax.bar(
                [x + width / 2 for x in xs], [v or 0 for v in theirs], width, color="#aaaaaa", label=results["compare"]["model"]
            )
            ax.legend(fontsize=7)
        ax.set_ylim(0, 1.15 * max([*ours, *(v or 0 for v in theirs), 1.0]))  # an all-zero score still shows its axis
        ax.set_xticks(list(xs), langs, fontsize=7, rotation=90 if len(langs) > 12 else 0)
        ax.set_ylabel(t["metric"])
        ax.set_title(f"{t['name']}: {t['metric']} per language (average {_fmt(t['average'])})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write(results: dict[str, Any], out: Path) -> dict[str, Path]:
    """results.json, results.md and results.png in ``out`` (each written whole, then renamed)."""
    from polymix.shards import atomic_write_bytes, atomic_write_json

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", results)
    atomic_write_bytes(out / "results.md", markdown(results).encode("utf-8"))
    return {"json": out / "results.json", "markdown": out / "results.md", "chart": bar_chart(results, out / "results.png")}
