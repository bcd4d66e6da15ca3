"""``polymix inspect --verify``: everything a mix holds checked against everything it records.

Three layers must agree, and each disagreement is one line naming the file and what is wrong:

- the tree and the chunk records: every recorded file exists with its size, checksum and row
  count, and its footer reads; every row file in the tree (``**/*.parquet`` outside
  ``_manifest``, ``_rejected/*.arrow``) belongs to a record, since a stray one (a copy, a chunk
  whose record was deleted) is read as rows by every reader of ``OUT/**/*.parquet``;
- the records and ``manifest.json``: the same chunks, files and totals;
- the build: no ``INCOMPLETE`` marker (see :mod:`polymix.locks`).
"""

from __future__ import annotations

import json
from pathlib import Path

from polymix import shards
from polymix.locks import INCOMPLETE, incomplete

_MANIFEST_KEYS = ("rows", "rejected", "rows_per_lang", "stats", "chunks")


def _row_files(root: Path) -> list[Path]:
    """Every file a reader of the mix would take for rows (hidden files and the manifest folder aside)."""
    found = [
        p for p in root.rglob("*.parquet") if not any(part.startswith((".", "_manifest")) for part in p.relative_to(root).parts)
    ]
    found += list((root / shards.REJECTED_DIR).glob("*.arrow"))
    return sorted(found)


def _records(root: Path, problems: list[str]) -> list[dict]:
    records = []
    for path in sorted((root / shards.CHUNKS_DIR).glob("*.json")):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError):
            problems.append(f"{path.relative_to(root)}: unreadable chunk record; re-run the command that built the mix")
    return records


def _check_files(root: Path, records: list[dict], problems: list[str]) -> None:
    recorded = set()
    for rec in records:
        for f in rec["files"]:
            recorded.add(f["path"])
            problem = shards.file_problem(root, f)
            if problem is None:
                try:
                    rows = shards.num_rows(root / f["path"])
                except shards.CorruptShardError as err:
                    problem = str(err).split("; ")[0].removeprefix(f"{root / f['path']}: ")
                else:
                    problem = None if rows == f["rows"] else f"{rows} rows, the record says {f['rows']}"
            if problem is not None:
                problems.append(f"{f['path']}: {problem} (chunk {rec['chunk']})")
    for path in _row_files(root):
        rel = path.relative_to(root).as_posix()
        if rel not in recorded:
            problems.append(
                f"{rel}: in no chunk record, yet every reader of the mix reads its rows; delete it "
                "(or re-run the build if its chunk record was lost)"
            )


def _check_manifest(root: Path, records: list[dict], problems: list[str]) -> None:
    try:
        manifest = shards.load_manifest(root, complete=False)
    except FileNotFoundError as err:
        problems.append(str(err))
        return
    except json.JSONDecodeError:
        problems.append(f"{shards.MANIFEST}: not valid JSON; re-run the command that built the mix to rewrite it")
        return
    expected = shards.totals(records)
    for key in _MANIFEST_KEYS:
        if manifest.get(key) != expected[key]:
            problems.append(
                f"{shards.MANIFEST}: '{key}' differs from the chunk records; re-run the command that built the mix to rewrite it"
            )


def verify(root: str | Path) -> list[str]:
    """Every problem found (an empty list for a sound mix); see the module docstring."""
    root = Path(root)
    problems: list[str] = []
    note = incomplete(root)
    if note is not None:
        problems.append(f"{INCOMPLETE}: {note}")
    records = _records(root, problems)
    _check_files(root, records, problems)
    _check_manifest(root, records, problems)
    return problems
