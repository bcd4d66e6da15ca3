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
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator

from tqdm.auto import tqdm

from polymix import locks, shards
from polymix.schema import Example, to_table
from polymix.stats import Stats, count_rejected
from polymix.mix.settings import PrepareSettings
from polymix.mix.sources.base import ConfigError, Rejection, get_source
from polymix.templates import render


log = logging.getLogger(__name__)


class DuplicateIdError(ValueError):
    """Two examples with the same id: the source lists the same item twice."""


def _same_run(before: dict[str, Any], now: dict[str, Any], default_tasks: tuple[str, ...]) -> dict[str, Any]:
    """The settings that differ, (old, new) by name; an input file named by a relative or an
    absolute path is the same file, and no tasks (written by older versions) are the defaults."""

    def normal(fp: dict[str, Any]) -> dict[str, Any]:
        options = {k: str(Path(v).resolve()) if Path(v).is_file() else v for k, v in fp.get("options", {}).items()}
        return {**fp, "options": options, "tasks": fp.get("tasks") or list(default_tasks)}

    a, b = normal(before), normal(now)
    return {k: (before.get(k), now[k]) for k in now if a.get(k) != b[k]}


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


def _own_files(source: str):
    """``skip(rel)`` for the files of one source in a mix: its chunk files, records and settings."""
    chunk = f"{source}-"  # chunk ids are <source>-<n>; row files <split prefix>-<chunk>.parquet

    def skip(rel: Path) -> bool:
        name = rel.name
        top = rel.parts[0]
        in_chunk = "-" in name and name.split("-", 1)[1].startswith(chunk)
        return (
            (in_chunk and (top.startswith("lang=") or top == shards.REJECTED_DIR))
            or rel.as_posix().startswith(f"_manifest/chunks/{source}-")
            or rel == _settings_path(Path(), source)
            or name in (locks.LOCK, locks.OWNER, locks.INCOMPLETE)
        )

    return skip


def prepare(
    settings: PrepareSettings,
    overwrite: bool = False,
    progress: bool = True,
    on_chunk: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the stage; return the manifest. See the module docstring.

    The output folder is locked for the run: a second build writing it at once is refused, and so
    is a build while another command reads it. ``overwrite`` rebuilds this source's chunks in a
    copy of the mix beside it and swaps the copy in when it is finished: until then, and when
    the rebuild fails, the old mix stays whole.
    """
    out = settings.out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; choose a folder")
    if _foreign(out):
        raise ConfigError(f"{out} exists and is not a polymix mix; choose another --out")
    locks.recover_swap(out)
    what = f"polymix prepare --source {settings.source}"
    with shards.BuildLock(out, what):
        if not (overwrite and (out / "_manifest").is_dir()):
            return _prepare(settings, progress, on_chunk)
        aside = locks.aside_path(out)
        shutil.rmtree(aside, ignore_errors=True)  # what an earlier, failed overwrite left
        locks.link_tree(out, aside, _own_files(settings.source))
        image_root = settings.image_root
        if image_root is not None and shards.root_record(out, image_root) != str(Path(image_root).resolve()):
            image_root = aside / shards.root_record(out, image_root)  # a root inside the mix moves with it
        try:
            with shards.BuildLock(aside, what + " --overwrite"):
                manifest = _prepare(dataclasses.replace(settings, out=aside, image_root=image_root), progress, on_chunk)
                locks.swap_in(aside, out)
        except BaseException:
            shutil.rmtree(aside, ignore_errors=True)
            raise
        return manifest


def _prepare(settings: PrepareSettings, progress: bool, on_chunk: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    out = settings.out
    if settings.source == "shapes" and settings.image_root is None:
        settings.image_root = out / "images" / "shapes"
    kind = get_source(settings.source)
    if settings.image_root is not None and not kind.writes_images and not settings.image_root.is_dir():
        raise ConfigError(
            f"--image-root {settings.image_root}: no such folder (the folder the source's image paths are relative to)"
        )
    source = kind(image_root=settings.image_root, image_check=settings.image_check, **settings.options)
    tasks = source.check_tasks(settings.tasks)
    if settings.image_root is None and settings.image_check != "off":
        log.warning(
            "no --image-root for source %s: local images are neither checked nor findable by training "
            "(pass --image-root, or --image-check off to silence this)",
            settings.source,
        )
    out.mkdir(parents=True, exist_ok=True)
    writer = shards.ShardWriter(out)

    fingerprint = settings.fingerprint(tasks)
    settings_file = _settings_path(out, settings.source)
    if settings_file.exists():
        diff = _same_run(json.loads(settings_file.read_text(encoding="utf-8")), fingerprint, kind.default_tasks)
        if diff:
            raise ConfigError(
                f"{out} already holds source {settings.source!r} prepared with other settings {diff} "
                "(old, new). Re-run with the same settings to resume, --overwrite to rebuild it, or another --out."
            )
    locks.mark_incomplete(out, f"polymix prepare --source {settings.source}")
    if not settings_file.exists():
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
        stats = {"in": len(chunk), "out": len(rows), **count_rejected(r.reason for r in rejected)}
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
    locks.mark_complete(out)
    manifest["run"] = {**totals, "seconds": round(time.perf_counter() - started, 2), "pid": os.getpid()}
    return manifest


def _previous(out: Path) -> dict[str, Any]:
    try:
        return shards.load_manifest(out, complete=False)
    except FileNotFoundError:
        return {}


def check_accounting(manifest: dict[str, Any]) -> None:
    """Every example that entered is a row or a rejected row: in = out + rejected."""
    stats = manifest["stats"]
    rejected = Stats.parse(stats).rejected_total
    if stats.get("in", 0) != stats.get("out", 0) + rejected or stats.get("out", 0) != manifest["rows"]:
        raise RuntimeError(
            f"accounting broken: in={stats.get('in')} out={stats.get('out')} rejected={rejected} rows={manifest['rows']}"
        )
