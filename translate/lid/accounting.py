"""Accounting of a built mix: per source and language, rows planned = rows kept + rows rejected.

The translate stage counts what each chunk should produce before translating (:func:`planned`)
and stores it in the chunk's stats as ``acct/<source>/<lang>``; the manifest sums them.
:func:`check_accounting` then counts the rows really in the files -- kept rows in
``lang=*/*.parquet``, rejected rows (with their reason) in ``_rejected/*.arrow`` -- and lists
every (source, language) where the numbers differ; :func:`require_accounting` raises
:class:`AccountingError` on any. A row lost anywhere (in translation, in the filter, on disk)
fails the build.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from polymix import shards

PREFIX = "acct/"


class AccountingError(RuntimeError):
    """Rows planned and rows written differ; the message lists each (source, language)."""


def key(source: str, lang: str) -> str:
    return f"{PREFIX}{source}/{lang}"


def planned(pairs: Iterable[tuple[str, str]]) -> dict[str, int]:
    """Chunk stats from the (source, target language) of every row the chunk must produce.

    In the translate stage: ``planned((ex.source, lang) for ex in examples for lang in plan[ex.id])``.
    """
    return dict(Counter(key(source, lang) for source, lang in pairs))


def recorded(stats: dict[str, Any]) -> dict[tuple[str, str], int]:
    """(source, lang) -> planned rows, from a manifest's summed stats."""
    out = {}
    for name, value in stats.items():
        if name.startswith(PREFIX):
            source, lang = name[len(PREFIX):].rsplit("/", 1)
            out[(source, lang)] = int(value)
    return out


def counted(root: str | Path) -> dict[tuple[str, str], Counter]:
    """(source, lang) -> Counter(kept=..., <reason>=...) from the files of a mix."""
    import polars as pl

    out: dict[tuple[str, str], Counter] = {}
    kept = shards.scan(root).group_by("source", "lang").agg(pl.len().alias("n")).collect()
    for row in kept.iter_rows(named=True):
        out.setdefault((row["source"], row["lang"]), Counter())["kept"] += row["n"]
    rejected = shards.scan(root, rejected=True).group_by("source", "lang", "reason").agg(pl.len().alias("n")).collect()
    for row in rejected.iter_rows(named=True):
        out.setdefault((row["source"], row["lang"]), Counter())[row["reason"]] += row["n"]
    return out


def check_accounting(root: str | Path, manifest: dict[str, Any] | None = None) -> list[str]:
    """Every (source, language) whose planned rows differ from kept + rejected rows; [] when all agree."""
    manifest = manifest or shards.load_manifest(root)
    plan = recorded(manifest.get("stats", {}))
    if not plan and (manifest.get("stats", {}).get("in", 0) or manifest.get("rows", 0) or manifest.get("rejected", 0)):
        # rows planned or written but not counted; an empty mix plans none and is fine
        return [f"{root}: no per-source/language counts ({PREFIX}<source>/<lang>) in the manifest stats"]
    found = counted(root)
    problems = []
    for pair in sorted(set(plan) | set(found)):
        c = found.get(pair, Counter())
        rejected = sum(v for k, v in c.items() if k != "kept")
        if plan.get(pair, 0) != c["kept"] + rejected:
            problems.append(f"{pair[0]}/{pair[1]}: planned {plan.get(pair, 0)}, found {c['kept']} kept + {rejected} rejected")
    return problems


def require_accounting(root: str | Path, manifest: dict[str, Any] | None = None) -> None:
    """Raise :class:`AccountingError` listing every mismatch (see :func:`check_accounting`)."""
    problems = check_accounting(root, manifest)
    if problems:
        raise AccountingError("accounting broken (rows planned != kept + rejected): " + "; ".join(problems))

