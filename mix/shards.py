"""Parquet shards of a mix: atomic, Hive-partitioned by language, with a resumable manifest.

Layout of a mix folder::

    OUT/
      lang=eng_Latn/part-<chunk>.parquet     train rows of mix.schema.SCHEMA, zstd, row groups <= 64k
      lang=eng_Latn/validation-<chunk>.parquet   rows of the source's validation split (val, dev)
      lang=deu_Latn/test-<chunk>.parquet     rows of its test split (other splits: <name>-<chunk>)
      _rejected/part-<chunk>.arrow           rejected rows (schema + reason), Arrow IPC + zstd
      _manifest/chunks/<chunk>.json          one completion record per finished chunk
      manifest.json                          summary written by ShardWriter.finalize()

A chunk is the unit of work. :meth:`ShardWriter.write_chunk` writes every file of a chunk under
a temporary hidden name, renames it into place, and only then writes the chunk's completion
record (itself written atomically). A crash at any point leaves either a complete chunk or no
record; a re-run skips recorded chunks (:meth:`ShardWriter.is_done`) and rewrites the others
over any stale files, so rows are never duplicated.

Rejected rows are Arrow IPC files, not Parquet, so that ``OUT/**/*.parquet`` matches the mix's
rows only. Rows are filed by the Hub split of their ``split`` column (:func:`hub_split`), so a
dataset card can offer real ``train`` / ``validation`` / ``test`` splits; train rows keep the
``part-`` prefix. Read a mix with ``pl.scan_parquet(f"{OUT}/**/*.parquet", hive_partitioning=True)``,
``datasets.load_dataset("parquet", data_files=f"{OUT}/lang=*/*.parquet")`` or :func:`scan`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq

from polymix.mix.schema import REJECTED_SCHEMA, SCHEMA, conform

ROW_GROUP_SIZE = 65_536
COMPRESSION = "zstd"
MANIFEST = "manifest.json"
CHUNKS_DIR = Path("_manifest") / "chunks"
REJECTED_DIR = "_rejected"
_CHUNK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
# Source split names -> the split names the Hugging Face Hub knows (mBLIP trains on Karpathy's
# train + restval). Other names keep their own (Hub split names are \w+).
HUB_SPLITS = {"train": "train", "restval": "train", "val": "validation", "valid": "validation",
              "validation": "validation", "dev": "validation", "test": "test"}
TRAIN_PREFIX = "part"


def hub_split(split: str) -> str:
    """The Hub split a source split belongs to: ``val`` -> ``validation``, ``restval`` -> ``train``."""
    key = split.strip().lower()
    return HUB_SPLITS.get(key) or re.sub(r"\W+", "_", key).strip("_") or "train"


def split_prefix(hub: str) -> str:
    """The file-name prefix of a Hub split's files (``part`` for train, the split name otherwise)."""
    return TRAIN_PREFIX if hub == "train" else (hub if hub != TRAIN_PREFIX else "part_split")


def file_split(name: str) -> str:
    """The Hub split of a row file from its name (``part-x.parquet`` -> ``train``)."""
    prefix = name.split("-", 1)[0]
    return "train" if prefix == TRAIN_PREFIX else ("part" if prefix == "part_split" else prefix)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a hidden temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8"))


def write_table_atomic(table: pa.Table, path: Path) -> dict[str, Any]:
    """Write one Parquet (or, for ``*.arrow``, Arrow IPC) file atomically; return its record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if path.suffix == ".arrow":
            feather.write_feather(table, tmp, compression=COMPRESSION)
        else:
            pq.write_table(table, tmp, compression=COMPRESSION, row_group_size=ROW_GROUP_SIZE)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        checksum = sha256_file(tmp)
        size = tmp.stat().st_size
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {"rows": table.num_rows, "bytes": size, "sha256": checksum}


class ShardWriter:
    """Writes chunks of a mix into ``root``; see the module docstring for the layout."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / CHUNKS_DIR).mkdir(parents=True, exist_ok=True)

    def _record_path(self, chunk_id: str) -> Path:
        return self.root / CHUNKS_DIR / f"{chunk_id}.json"

    def is_done(self, chunk_id: str) -> bool:
        """True when the chunk has a completion record whose files all exist."""
        record = self.record(chunk_id)
        return record is not None and all((self.root / f["path"]).exists() for f in record["files"])

    def record(self, chunk_id: str) -> dict[str, Any] | None:
        return read_record(self.root, chunk_id)

    def write_chunk(
        self,
        chunk_id: str,
        table: pa.Table,
        rejected: pa.Table | None = None,
        stats: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write a chunk's rows (split by ``lang``) and rejected rows, then record it done.

        ``stats`` (counters such as rows in, rejected by reason) is stored in the record and
        summed by :meth:`finalize`.
        """
        if not _CHUNK_ID.match(chunk_id):
            raise ValueError(f"bad chunk id {chunk_id!r}: use letters, digits, '.', '_' and '-'")
        table = conform(table, SCHEMA)
        splits = pa.array([split_prefix(hub_split(s)) for s in table["split"].to_pylist()], pa.string())
        groups = sorted(set(zip(table["lang"].to_pylist(), splits.to_pylist())))
        wanted = {Path(f"lang={lang}") / f"{prefix}-{chunk_id}.parquet" for lang, prefix in groups}
        # Files left by an earlier, interrupted attempt at this chunk in languages or splits it no
        # longer has would be read as rows: remove them before writing.
        for stale in self.root.glob(f"lang=*/*-{chunk_id}.parquet"):
            rel = stale.relative_to(self.root)
            if rel not in wanted and rel.name.split("-", 1)[1] == f"{chunk_id}.parquet":
                stale.unlink()
        files: list[dict[str, Any]] = []
        for lang, prefix in groups:
            part = table.filter(pc.and_(pc.equal(table["lang"], lang), pc.equal(splits, prefix)))
            rel = Path(f"lang={lang}") / f"{prefix}-{chunk_id}.parquet"
            files.append({"path": rel.as_posix(), "lang": lang, "split": file_split(rel.name),
                          **write_table_atomic(part, self.root / rel)})
        if rejected is not None and rejected.num_rows:
            rel = Path(REJECTED_DIR) / f"part-{chunk_id}.arrow"
            info = write_table_atomic(conform(rejected, REJECTED_SCHEMA), self.root / rel)
            files.append({"path": rel.as_posix(), "lang": None, "rejected": True, **info})
        record = {
            "chunk": chunk_id,
            "rows": table.num_rows,
            "rejected": 0 if rejected is None else rejected.num_rows,
            "files": files,
            "stats": stats or {},
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        # The completion record comes last: its presence means every file above is in place.
        atomic_write_json(self._record_path(chunk_id), record)
        return record

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.root)

    def remove_chunk(self, chunk_id: str) -> None:
        """Delete a chunk's record first (so it counts as unfinished), then its files."""
        record = self.record(chunk_id)
        self._record_path(chunk_id).unlink(missing_ok=True)
        for f in (record or {}).get("files", []):
            (self.root / f["path"]).unlink(missing_ok=True)

    def finalize(self, info: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write ``manifest.json``: chunk list, totals, rows per language, summed stats."""
        return write_manifest(self.root, info)


class BuildLockedError(RuntimeError):
    """Another build holds the output folder."""


class BuildLock:
    """Exclusive lock on a mix folder for the duration of a build.

    An OS-level lock (``flock``) on ``OUT/.polymix.lock``: a second build on the same folder is
    refused at once with the holder's pid and command; the lock dies with its process, so a
    killed build never leaves a stale lock behind.
    """

    def __init__(self, root: str | Path, what: str = "build"):
        from filelock import FileLock

        self.root = Path(root)
        self.what = what
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.root / ".polymix.lock"))
        self._info = self.root / ".polymix.lock.owner"

    def __enter__(self) -> "BuildLock":
        from filelock import Timeout

        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            owner = self._info.read_text(encoding="utf-8").strip() if self._info.exists() else "unknown"
            raise BuildLockedError(
                f"{self.root} is being written by another build ({owner}); wait for it to finish or choose another output folder"
            ) from None
        self._info.write_text(f"pid {os.getpid()}, {self.what}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n", encoding="utf-8")
        return self

    def __exit__(self, *exc: Any) -> None:
        self._info.unlink(missing_ok=True)
        self._lock.release()


def read_record(root: str | Path, chunk_id: str) -> dict[str, Any] | None:
    """One chunk's completion record, or None when the chunk is not finished."""
    path = Path(root) / CHUNKS_DIR / f"{chunk_id}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def read_records(root: str | Path) -> list[dict[str, Any]]:
    folder = Path(root) / CHUNKS_DIR
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def write_manifest(root: str | Path, info: dict[str, Any] | None = None) -> dict[str, Any]:
    root = Path(root)
    records = read_records(root)
    per_lang: Counter[str] = Counter()
    stats: Counter[str] = Counter()
    for rec in records:
        for f in rec["files"]:
            if not f.get("rejected"):
                per_lang[f["lang"]] += f["rows"]
        for key, value in rec.get("stats", {}).items():
            if isinstance(value, (int, float)):
                stats[key] += value
    previous = load_manifest(root) if (root / MANIFEST).exists() else {}
    manifest = {
        **previous,
        **(info or {}),
        "format": "polymix-mix/1",
        "schema": [f"{f.name}: {f.type}" for f in SCHEMA],
        "rows": sum(rec["rows"] for rec in records),
        "rejected": sum(rec["rejected"] for rec in records),
        "rows_per_lang": dict(sorted(per_lang.items())),
        "stats": dict(sorted(stats.items())),
        "chunks": [
            {k: rec[k] for k in ("chunk", "rows", "rejected", "files", "finished_at")} for rec in records
        ],
    }
    atomic_write_json(root / MANIFEST, manifest)
    return manifest


def load_manifest(root: str | Path) -> dict[str, Any]:
    path = Path(root) / MANIFEST
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {root} is not a finished polymix mix (run `polymix prepare` first)")
    return json.loads(path.read_text(encoding="utf-8"))


def verify(root: str | Path) -> list[str]:
    """Problems found by checking every recorded file's existence, row count and checksum."""
    root = Path(root)
    problems = []
    for rec in read_records(root):
        for f in rec["files"]:
            path = root / f["path"]
            if not path.exists():
                problems.append(f"{f['path']}: missing (chunk {rec['chunk']})")
            elif sha256_file(path) != f["sha256"]:
                problems.append(f"{f['path']}: checksum differs from the manifest")
            elif _num_rows(path) != f["rows"]:
                problems.append(f"{f['path']}: row count differs from the manifest")
    return problems


def root_record(out: str | Path, folder: str | Path | None) -> str | None:
    """How a mix records a folder (an image root): relative to the mix when inside it, else absolute."""
    if folder is None:
        return None
    folder = Path(folder).resolve()
    try:
        return folder.relative_to(Path(out).resolve()).as_posix()
    except ValueError:
        return str(folder)


def _num_rows(path: Path) -> int:
    if path.suffix == ".arrow":
        return feather.read_table(path, memory_map=True).num_rows
    return pq.ParquetFile(path).metadata.num_rows


def shard_files(root: str | Path, langs: Iterable[str] | None = None, splits: Iterable[str] | None = None) -> list[Path]:
    """The finished row files of a mix (rejected rows excluded), optionally for some languages
    and for files that can hold rows of some source splits (``val`` -> the validation files)."""
    wanted = set(langs) if langs is not None else None
    hub = {hub_split(s) for s in splits} if splits else None
    files = []
    for rec in read_records(root):
        for f in rec["files"]:
            if f.get("rejected") or (wanted is not None and f["lang"] not in wanted):
                continue
            # Records written before files were split by Hub split have no "split": any split may be in them.
            if hub is None or f.get("split") is None or f["split"] in hub:
                files.append(Path(root) / f["path"])
    return sorted(files)


def scan(root: str | Path, rejected: bool = False):
    """A lazy Polars frame over a mix (or its rejected rows)."""
    import polars as pl

    if rejected:
        files = sorted((Path(root) / REJECTED_DIR).glob("*.arrow"))
        if not files:
            return pl.from_arrow(REJECTED_SCHEMA.empty_table()).lazy()
        return pl.concat([pl.scan_ipc(f) for f in files])
    return pl.scan_parquet(f"{Path(root)}/lang=*/*.parquet", hive_partitioning=True)


def iter_batches(root: str | Path, langs: Iterable[str] | None = None, batch_size: int = 8192) -> Iterator[pa.RecordBatch]:
    """Stream a mix in record batches without loading it into memory."""
    for path in shard_files(root, langs):
        yield from pq.ParquetFile(path).iter_batches(batch_size=batch_size, columns=list(SCHEMA.names))
