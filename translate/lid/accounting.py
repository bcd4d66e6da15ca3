"""Accounting of a built mix: per source and language, rows planned = rows kept + rows rejected.

The translate stage counts what each chunk should produce before translating
(:func:`polymix.stats.planned_keys`) and stores it in the chunk's stats as ``acct/<source>/<lang>``;
the manifest sums them.
:func:`check_accounting` then counts the rows really in the files -- kept rows in
``lang=*/*.parquet``, rejected rows (with their reason) in ``_rejected/*.arrow`` -- and lists
every (source, language) where the numbers differ; :func:`require_accounting` raises
:class:`AccountingError` on any. A row lost anywhere (in translation, in the filter, on disk)
fails the build.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polymix import shards
from polymix.stats import PLANNED, Outcome, Stats


class AccountingError(RuntimeError):
    """Rows planned and rows written differ; the message lists each (source, language)."""


def counted(root: str | Path) -> dict[tuple[str, str], Outcome]:
    """(source, lang) -> rows kept and rejected by reason, from the files of a mix."""
    import polars as pl

    out: dict[tuple[str, str], Outcome] = {}
    kept = shards.scan(root).group_by("source", "lang").agg(pl.len().alias("n")).collect()
    for row in kept.iter_rows(named=True):
        out.setdefault((row["source"], row["lang"]), Outcome()).add(None, row["n"])
    rejected = shards.scan(root, rejected=True).group_by("source", "lang", "reason").agg(pl.len().alias("n")).collect()
    for row in rejected.iter_rows(named=True):
        out.setdefault((row["source"], row["lang"]), Outcome()).add(row["reason"], row["n"])
    return out


def check_accounting(root: str | Path, manifest: dict[str, Any] | None = None) -> list[str]:
    """Every (source, language) whose planned rows differ from kept + rejected rows; [] when all agree."""
    manifest = manifest or shards.load_manifest(root)
    plan = Stats.parse(manifest.get("stats", {})).planned
    if not plan and (manifest.get("stats", {}).get("in", 0) or manifest.get("rows", 0) or manifest.get("rejected", 0)):
        # rows planned or written but not counted; an empty mix plans none and is fine
        return [f"{root}: no per-source/language counts ({PLANNED}<source>/<lang>) in the manifest stats"]
    found = counted(root)
    problems = []
    for pair in sorted(set(plan) | set(found)):
        c = found.get(pair, Outcome())
        if plan[pair] != c.total:
            problems.append(f"{pair[0]}/{pair[1]}: planned {plan[pair]}, found {c.kept} kept + {c.rejected_total} rejected")
    return problems


def require_accounting(root: str | Path, manifest: dict[str, Any] | None = None) -> None:
    """Raise :class:`AccountingError` listing every mismatch (see :func:`check_accounting`)."""
    problems = check_accounting(root, manifest)
    if problems:
        raise AccountingError("accounting broken (rows planned != kept + rejected): " + "; ".join(problems))
