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
import logging
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

from polymix import faults, stats as run_stats
from polymix.atomic import atomic_write_bytes, atomic_write_json, sha256_file  # noqa: F401  (re-exported: shards.atomic_write_json)
from polymix.locks import (  # re-exported: stages take the build lock and its errors from shards
    INCOMPLETE,  # noqa: F401
    BuildLock,  # noqa: F401
    BuildLockedError,  # noqa: F401
    IncompleteMixError,  # noqa: F401
    MixError,
    ReadLock,  # noqa: F401
    incomplete,  # noqa: F401
    require_complete,
)
from polymix.schema import REJECTED_SCHEMA, SCHEMA, conform

log = logging.getLogger(__name__)
ROW_GROUP_SIZE = 65_536
COMPRESSION = "zstd"
MANIFEST = "manifest.json"
CHUNKS_DIR = Path("_manifest") / "chunks"
REJECTED_DIR = "_rejected"
_CHUNK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")
# Source split names -> the split names the Hugging Face Hub knows (mBLIP trains on Karpathy's
# train + restval). Other names keep their own (Hub split names are \w+).
HUB_SPLITS = {
    "train": "train",
    "restval": "train",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "dev": "validation",
    "test": "test",
}
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
        faults.point()
        os.replace(tmp, path)
        faults.point()
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
        """True when the chunk has a completion record and every file matches it (size and checksum).

        Checked on every resume: a damaged or truncated file makes the chunk unfinished, so the
        re-run redoes it instead of skipping it."""
        record = self.record(chunk_id)
        if record is None:
            return False
        for f in record["files"]:
            problem = file_problem(self.root, f)
            if problem is not None:
                log.warning("%s: %s; redoing chunk %s", self.root / f["path"], problem, chunk_id)
                return False
        return True

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
            files.append(
                {"path": rel.as_posix(), "lang": lang, "split": file_split(rel.name), **write_table_atomic(part, self.root / rel)}
            )
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

    def finalize(self, info: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write ``manifest.json``: chunk list, totals, rows per language, summed stats."""
        return write_manifest(self.root, info)


def read_record(root: str | Path, chunk_id: str) -> dict[str, Any] | None:
    """One chunk's completion record, or None when the chunk is not finished."""
    path = Path(root) / CHUNKS_DIR / f"{chunk_id}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def read_records(root: str | Path) -> list[dict[str, Any]]:
    folder = Path(root) / CHUNKS_DIR
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]


def totals(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the manifest says about its chunk records: totals, rows per language, summed stats, chunk list."""
    per_lang: Counter[str] = Counter()
    for rec in records:
        for f in rec["files"]:
            if not f.get("rejected"):
                per_lang[f["lang"]] += f["rows"]
    return {
        "rows": sum(rec["rows"] for rec in records),
        "rejected": sum(rec["rejected"] for rec in records),
        "rows_per_lang": dict(sorted(per_lang.items())),
        "stats": run_stats.merge(rec.get("stats", {}) for rec in records),
        "chunks": [{k: rec[k] for k in ("chunk", "rows", "rejected", "files", "finished_at")} for rec in records],
    }


def content_digest(records: list[dict[str, Any]]) -> str:
    """What a mix holds, independent of where it lies: its chunk ids and file checksums, hashed."""
    digest = hashlib.sha256()
    for record in records:
        digest.update(record["chunk"].encode())
        for f in record["files"]:
            digest.update(f["sha256"].encode())
    return digest.hexdigest()


def write_manifest(root: str | Path, info: dict[str, Any] | None = None) -> dict[str, Any]:
    root = Path(root)
    previous = load_manifest(root, complete=False) if (root / MANIFEST).exists() else {}
    manifest = {
        **previous,
        **(info or {}),
        "format": "polymix-mix/1",
        "schema": [f"{f.name}: {f.type}" for f in SCHEMA],
        **totals(read_records(root)),
    }
    atomic_write_json(root / MANIFEST, manifest)
    return manifest


def load_manifest(root: str | Path, complete: bool = True) -> dict[str, Any]:
    """The mix's manifest; with ``complete`` (readers), refuse a mix whose build has not finished."""
    path = Path(root) / MANIFEST
    if complete:
        require_complete(root)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {root} is not a finished polymix mix (run `polymix prepare` first)")
    return json.loads(path.read_text(encoding="utf-8"))


def file_problem(root: Path, f: dict[str, Any], checksum: bool = True) -> str | None:
    """Why a recorded file does not match its record (missing, size, checksum), or None."""
    path = root / f["path"]
    if not path.exists():
        return "missing"
    if "bytes" in f and path.stat().st_size != f["bytes"]:
        # a different size is a different checksum too; it just costs no read
        return f"size and checksum differ from its record: {path.stat().st_size} bytes, not {f['bytes']} (truncated or replaced)"
    if checksum and sha256_file(path) != f["sha256"]:
        return "checksum differs from its record (the file was changed or damaged)"
    return None


class CorruptShardError(MixError):
    """A shard file that cannot be read."""


def _corrupt(path: str | Path, err: Exception) -> CorruptShardError:
    return CorruptShardError(
        f"{path}: unreadable ({str(err).splitlines()[0]}); run `polymix inspect --verify` on its mix "
        "and re-run the command that built it: chunks whose files differ from their records are redone"
    )


def open_parquet(path: str | Path) -> pq.ParquetFile:
    """A shard's ParquetFile; a truncated or damaged file is a one-line error naming it and the fix."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise _corrupt(path, err) from None


def read_table(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    """A whole shard (or some columns of it), with :func:`open_parquet`'s errors."""
    try:
        return open_parquet(path).read(columns=columns)
    except (pa.ArrowInvalid, OSError) as err:
        raise _corrupt(path, err) from None


def image_roots(root: str | Path) -> dict[str, Path | None]:
    """Each source's image folder, as :func:`root_record` wrote it into the manifest, resolved
    against the mix (an absolute record stays as it is; ``../english/images`` is normalised so
    that messages show readable paths); None where no image root was given."""
    root = Path(root)
    recorded = load_manifest(root).get("image_roots") or {}
    return {source: None if rel is None else Path(os.path.normpath(root / rel)) for source, rel in recorded.items()}


def root_record(out: str | Path, folder: str | Path | None, near: Iterable[str | Path] = ()) -> str | None:
    """How a mix records a folder (an image root): relative to the mix when it lies inside the mix
    or inside one of ``near`` (the mix it was translated from), so that a moved or copied pair
    of mixes still finds its images; absolute otherwise (images that stay where they are)."""
    if folder is None:
        return None
    folder, out = Path(folder).resolve(), Path(out).resolve()
    for base in (out, *(Path(n).resolve() for n in near)):
        if folder == base or base in folder.parents:
            return Path(os.path.relpath(folder, out)).as_posix()
    return str(folder)


def num_rows(path: Path) -> int:
    """Rows of a shard (Parquet: from its footer) or rejected-rows file; CorruptShardError when unreadable."""
    if path.suffix != ".arrow":
        return open_parquet(path).metadata.num_rows
    try:
        return feather.read_table(path, memory_map=True).num_rows
    except (pa.ArrowInvalid, OSError) as err:
        raise _corrupt(path, err) from None


def shard_files(root: str | Path, langs: Iterable[str] | None = None, splits: Iterable[str] | None = None) -> list[Path]:
    """The finished row files of a mix (rejected rows excluded), optionally for some languages
    and for files that can hold rows of some source splits (``val`` -> the validation files)."""
    require_complete(root)
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


def check_readable(root: str | Path) -> None:
    """Read the footer of every file :func:`scan` would read: a truncated one is a one-line
    :class:`CorruptShardError` naming it, not a Polars traceback later (cheap: footers only)."""
    root = Path(root)
    for path in sorted(root.glob("lang=*/*.parquet")) + sorted((root / REJECTED_DIR).glob("*.arrow")):
        num_rows(path)


def scan(root: str | Path, rejected: bool = False):
    """A lazy Polars frame over a mix (or its rejected rows)."""
    import polars as pl

    if rejected:
        files = sorted((Path(root) / REJECTED_DIR).glob("*.arrow"))
        if not files:
            return pl.from_arrow(REJECTED_SCHEMA.empty_table()).lazy()
        return pl.concat([pl.scan_ipc(f) for f in files])
    if not any(Path(root).glob("lang=*/*.parquet")):  # an empty mix is a valid mix: zero rows, same columns
        return pl.from_arrow(SCHEMA.empty_table()).lazy()
    return pl.scan_parquet(f"{Path(root)}/lang=*/*.parquet", hive_partitioning=True)


def iter_batches(root: str | Path, langs: Iterable[str] | None = None, batch_size: int = 8192) -> Iterator[pa.RecordBatch]:
    """Stream a mix in record batches without loading it into memory."""
    for path in shard_files(root, langs):
        yield from open_parquet(path).iter_batches(batch_size=batch_size, columns=list(SCHEMA.names))
