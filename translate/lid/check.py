"""Language-ID check of any JSONL or Parquet file: ``polymix lid-check``.

    polymix lid-check --input rows.jsonl --text-field text --lang-field lang --output checked.parquet
    polymix lid-check --input mix/lang=deu_Latn/part-x.parquet --text-field target --lang-field lang \\
        --source-field target_en --output checked.jsonl

Every input row is written to ``--output`` (JSONL or Parquet, by its suffix) with ``lid_label``
and ``lid_score`` (langid's label as an NLLB code, and its probability), ``keep`` (bool),
``reason`` (null when kept, else one of the filter's reasons), ``lid_seen`` (the language the
detectors vouch for most, or the close neighbour the lingua referee vetoed the row for: what a
wrong_language row really is) and ``lid_detail`` (each
detector's best label). ``lang`` holds NLLB codes (ISO 639-1 codes are accepted too). With
``--source-field`` (the English original) the untranslated and length-ratio checks run as well.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import polars as pl

from polymix.errors import ConfigError
from polymix.stats import Outcome
from polymix.translate.lid.scoring import LidPool
from polymix.translate.lid.decide import seen
from polymix.translate.lid.filter import text_reason
from polymix.translate.lid.settings import LidSettings, default_settings, normalize_languages

SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"{path}: unknown file type {path.suffix!r}; use one of {', '.join(SUFFIXES)}")
    return fmt


def read_rows(path: str | Path) -> pl.DataFrame:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found")
    if _format(path) == "parquet":
        return pl.read_parquet(path)
    try:
        return pl.read_ndjson(path, infer_schema_length=None)
    except Exception as err:  # polars raises several types for malformed JSON
        raise ConfigError(f"{path}: not JSON Lines ({err})") from None


def write_rows(frame: pl.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if _format(path) == "parquet":
        frame.write_parquet(tmp, compression="zstd")
    else:
        frame.write_ndjson(tmp)
    tmp.replace(path)
    return path


def check_frame(
    frame: pl.DataFrame,
    text_field: str = "text",
    lang_field: str = "lang",
    source_field: str | None = None,
    settings: LidSettings | None = None,
    processes: int = 1,
) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """The frame with the check's columns added, and per-language counts (lang, rows, kept, keep_rate, reasons)."""
    missing = [f for f in (text_field, lang_field, source_field) if f and f not in frame.columns]
    if missing:
        raise ConfigError(f"missing field(s) {missing}; the input has {frame.columns}")
    s = settings or default_settings()
    texts = ["" if t is None else str(t) for t in frame[text_field].to_list()]
    codes = normalize_languages([str(c) for c in frame[lang_field].to_list()])
    langs = [codes[str(c)] for c in frame[lang_field].to_list()]
    sources = frame[source_field].to_list() if source_field else [None] * len(texts)
    with LidPool(processes) as pool:
        scores = pool.score(texts)
    reasons = [
        text_reason(t, lang, sc, s, None if src is None else str(src))[0]
        for t, lang, sc, src in zip(texts, langs, scores, sources)
    ]
    out = frame.with_columns(
        pl.Series("lid_label", [sc.label for sc in scores], dtype=pl.String),
        pl.Series("lid_score", [sc.score for sc in scores], dtype=pl.Float32),
        pl.Series("keep", [r is None for r in reasons], dtype=pl.Boolean),
        pl.Series("reason", reasons, dtype=pl.String),
        # the claimed language matters only where a row was rejected (the referee's neighbour): no second
        # rule or lingua question for the kept rows
        pl.Series(
            "lid_seen",
            [seen(sc, s, None if r is None else lang) for sc, lang, r in zip(scores, langs, reasons)],
            dtype=pl.String,
        ),
        pl.Series("lid_detail", [sc.detail() for sc in scores], dtype=pl.String),
    )
    per_lang: dict[str, Outcome] = {}
    for lang, reason in zip(langs, reasons):
        per_lang.setdefault(lang, Outcome()).add(reason)
    summary = [
        {
            "lang": lang,
            "rows": c.total,
            "kept": c.kept,
            "keep_rate": c.kept / c.total,
            "reasons": dict(sorted(c.rejected.items())),
        }
        for lang, c in sorted(per_lang.items())
    ]
    return out, summary


def lid_check(
    input: str | Path,
    output: str | Path,
    text_field: str = "text",
    lang_field: str = "lang",
    source_field: str | None = None,
    settings: LidSettings | None = None,
    processes: int = 1,
) -> dict[str, Any]:
    """Read ``input``, check every row, write ``output``; return the summary (see the module docstring)."""
    started = time.perf_counter()
    _format(Path(output))  # a bad output suffix fails before the work
    frame, summary = check_frame(read_rows(input), text_field, lang_field, source_field, settings, processes)
    write_rows(frame, output)
    kept = int(frame["keep"].sum())
    return {
        "rows": frame.height,
        "kept": kept,
        "per_lang": summary,
        "output": str(output),
        "seconds": round(time.perf_counter() - started, 2),
    }


def format_summary(result: dict[str, Any]) -> str:
    """The per-language keep rates as plain text (the CLI prints a rich table of the same)."""
    lines = [f"{'lang':<10} {'rows':>7} {'kept':>7} {'keep':>6}  rejected by reason"]
    for row in result["per_lang"]:
        reasons = ", ".join(f"{k}={v}" for k, v in row["reasons"].items())
        lines.append(f"{row['lang']:<10} {row['rows']:>7} {row['kept']:>7} {row['keep_rate']:>6.1%}  {reasons}")
    total = result["rows"] or 1
    lines.append(
        f"{result['rows']} rows, {result['kept']} kept ({result['kept'] / total:.1%}) -> {result['output']} "
        f"in {result['seconds']} s"
    )
    return "\n".join(lines)
