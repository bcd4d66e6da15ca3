"""The ``prepare`` stage: an English source -> templated English examples -> Parquet shards.

    polymix prepare --source shapes --out out/demo
    polymix prepare --source coco --path dataset_coco.json --image-root /data/coco --out out/mix

Examples are cut into chunks of ``chunk_size`` in source order; a chunk is written atomically
and recorded in the mix's manifest, so an interrupted run resumes where it stopped and never
duplicates rows. Several sources can be prepared into the same folder, one run each: chunk ids
start with the source name. Rows that cannot become examples (no text, missing or unreadable
image) are kept as rejected rows with a reason, and the counts are checked at the end:
examples in = rows written + rows rejected.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

from tqdm.auto import tqdm

from polymix.mix import shards
from polymix.mix.schema import Example, to_table
from polymix.mix.sources.base import ConfigError, Rejection, get_source
from polymix.templates import render


class DuplicateIdError(ValueError):
    """Two examples with the same id: the source lists the same item twice."""


@dataclasses.dataclass
class PrepareSettings:
    """Settings of one ``prepare`` run (they become ``polymix prepare --help``)."""

    source: str
    """registry name of the English source (``polymix sources`` lists them)"""
    out: Path
    """output mix folder (created)"""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """source options (``path=...``; ``polymix sources`` lists each source's options)"""
    image_root: Path | None = None
    """folder that the source's image paths are relative to (``shapes``: where to draw them)"""
    tasks: tuple[str, ...] = ()
    """tasks to make (default: the source's default tasks)"""
    chunk_size: int = 10_000
    """examples per chunk: the unit of atomic writing and resuming"""
    limit: int | None = None
    """stop after this many examples (for trying things out)"""
    seed: int = 0
    """seed of the template choice"""
    image_check: str = "header"
    """off: trust paths; exists: the file must exist; header: Pillow must recognise it"""

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.image_root is not None:
            self.image_root = Path(self.image_root)
        problems = []
        if self.chunk_size < 1:
            problems.append(f"chunk_size must be >= 1 (got {self.chunk_size})")
        if self.limit is not None and self.limit < 1:
            problems.append(f"limit must be >= 1 (got {self.limit})")
        if problems:
            raise ConfigError("; ".join(problems))

    def fingerprint(self) -> dict[str, Any]:
        """What decides the chunks' contents: a re-run must match it to resume."""
        return {
            "source": self.source,
            "options": {k: str(v) for k, v in sorted(self.options.items())},
            "image_root": str(self.image_root) if self.image_root else None,
            "tasks": list(self.tasks),
            "chunk_size": self.chunk_size,
            "limit": self.limit,
            "seed": self.seed,
            "image_check": self.image_check,
        }


def _settings_path(out: Path, source: str) -> Path:
    return out / "_manifest" / f"prepare-{source}.json"


def _chunks(stream: Iterator[Example | Rejection], size: int) -> Iterator[list[Example | Rejection]]:
    chunk: list[Example | Rejection] = []
    for item in stream:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _foreign(out: Path) -> bool:
    """True for an existing folder that holds something other than a polymix mix (or its lock)."""
    if not out.exists() or (out / "_manifest").is_dir():
        return False
    return any(not p.name.startswith(".") for p in out.iterdir())


def clear_source(out: Path, source: str) -> None:
    """Remove one source's chunks from a mix (``--overwrite``)."""
    if not (out / "_manifest").is_dir():
        if _foreign(out):
            raise ConfigError(f"{out} exists and is not a polymix mix; refusing to overwrite it (choose another --out)")
        return
    writer = shards.ShardWriter(out)
    for record in writer.records():
        if record["chunk"].startswith(f"{source}-"):
            writer.remove_chunk(record["chunk"])
    _settings_path(out, source).unlink(missing_ok=True)


def prepare(settings: PrepareSettings, overwrite: bool = False, progress: bool = True,
            on_chunk: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run the stage; return the manifest. See the module docstring.

    The output folder is locked for the run: a second build writing it at once is refused.
    """
    if _foreign(settings.out):
        raise ConfigError(f"{settings.out} exists and is not a polymix mix; choose another --out")
    with shards.BuildLock(settings.out, f"polymix prepare --source {settings.source}"):
        return _prepare(settings, overwrite, progress, on_chunk)


def _prepare(settings: PrepareSettings, overwrite: bool, progress: bool,
             on_chunk: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    out = settings.out
    if settings.source == "shapes" and settings.image_root is None:
        settings.image_root = out / "images" / "shapes"
    source = get_source(settings.source)(image_root=settings.image_root, image_check=settings.image_check, **settings.options)
    tasks = source.check_tasks(settings.tasks)
    if overwrite:
        clear_source(out, settings.source)
    out.mkdir(parents=True, exist_ok=True)
    writer = shards.ShardWriter(out)

    fingerprint = settings.fingerprint()
    settings_file = _settings_path(out, settings.source)
    if settings_file.exists():
        before = json.loads(settings_file.read_text(encoding="utf-8"))
        if before != fingerprint:
            diff = {k: (before.get(k), v) for k, v in fingerprint.items() if before.get(k) != v}
            raise ConfigError(
                f"{out} already holds source {settings.source!r} prepared with other settings {diff} "
                "(old, new). Re-run with the same settings to resume, --overwrite to rebuild it, or another --out."
            )
    else:
        shards.atomic_write_json(settings_file, fingerprint)

    source.prepare_images()
    stream = source.examples(tasks)
    if settings.limit:
        stream = (x for _, x in zip(range(settings.limit), stream))

    seen: set[int] = set()
    totals: Counter[str] = Counter()
    started = time.perf_counter()
    # delay: a bar appears only for work that takes a while, not as an empty line before an error
    bar = tqdm(desc=f"prepare {settings.source}", unit=" rows", disable=not progress, total=settings.limit, delay=0.5)
    for index, chunk in enumerate(_chunks(stream, settings.chunk_size)):
        for item in chunk:
            ex = item.to_example(settings.source) if isinstance(item, Rejection) else item
            key = int(ex.id[:16], 16)
            if key in seen:
                raise DuplicateIdError(
                    f"duplicate example id {ex.id} (source {ex.source}, source_id {ex.source_id!r}, task {ex.task}): "
                    "the source lists the same item twice; de-duplicate the input file"
                )
            seen.add(key)
        chunk_id = f"{settings.source}-{index:06d}"
        if writer.is_done(chunk_id):
            totals["chunks_skipped"] += 1
            bar.update(len(chunk))
            continue
        rows = [render(x, settings.seed) for x in chunk if isinstance(x, Example)]
        rejected = [x for x in chunk if isinstance(x, Rejection)]
        stats = {"in": len(chunk), "out": len(rows), **Counter(f"rejected_{r.reason}" for r in rejected)}
        record = writer.write_chunk(
            chunk_id,
            to_table(rows),
            to_table([r.to_example(settings.source) for r in rejected], reasons=[r.reason for r in rejected]),
            stats=stats,
        )
        totals["chunks_written"] += 1
        bar.update(len(chunk))
        bar.set_postfix(chunks=index + 1)
        if on_chunk:
            on_chunk(record)
    bar.close()

    previous = _previous(out)
    info = {
        "image_roots": {**previous.get("image_roots", {}), settings.source: shards.root_record(out, settings.image_root)},
        "prepared": sorted(set(previous.get("prepared", [])) | {settings.source}),
    }
    manifest = writer.finalize(info)
    check_accounting(manifest)
    manifest["run"] = {**totals, "seconds": round(time.perf_counter() - started, 2), "pid": os.getpid()}
    return manifest


def _previous(out: Path) -> dict[str, Any]:
    try:
        return shards.load_manifest(out)
    except FileNotFoundError:
        return {}


def check_accounting(manifest: dict[str, Any]) -> None:
    """Every example that entered is a row or a rejected row: in = out + rejected."""
    stats = manifest["stats"]
    rejected = sum(v for k, v in stats.items() if k.startswith("rejected_"))
    if stats.get("in", 0) != stats.get("out", 0) + rejected or stats.get("out", 0) != manifest["rows"]:
        raise RuntimeError(f"accounting broken: in={stats.get('in')} out={stats.get('out')} rejected={rejected} rows={manifest['rows']}")
