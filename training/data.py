"""Training rows streamed from polymix shards: filtered, shuffled in bounded memory, resumable.

``ShardStream`` is a torch ``IterableDataset`` over a mix folder (``lang=XXX/part-*.parquet`` plus
``manifest.json``). It never holds the mix in memory: it reads ``data.interleave`` Parquet row
groups at a time (in a seeded random order, so languages mix), round-robin in record batches,
through a shuffle buffer (``data.shuffle_buffer`` rows plus one record batch per open row
group). Rows are dealt out to every consumer
(DDP rank x DataLoader worker) by position, so each sees a disjoint share, and the stream of one
consumer is a pure function of (seed, epoch, position): ``start_batch`` skips what a run has
already consumed without decoding an image, which is what makes ``--resume`` exact.
Images are decoded in the worker; an unreadable one yields ``pixel_values=None`` (the collator
drops and counts it) so batch positions stay fixed. The training stream repeats epochs forever;
the loop decides when to stop.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import torch

from polymix import shards

COLUMNS = ["id", "source", "image", "task", "lang", "split", "instruction", "target", "answers_en"]
READ_BATCH = 256


def _mask(batch, tasks, splits):
    mask = None
    for column, wanted in (("task", tasks), ("split", splits)):
        if wanted:
            m = pc.is_in(batch.column(column), value_set=pa.array(list(wanted)))
            mask = m if mask is None else pc.and_(mask, m)
    return mask


def count_rows(root: str | Path, langs=None, tasks=None, splits=None) -> int:
    """Rows of a mix that pass the filters (reads two small columns, never the whole mix)."""
    total = 0
    for path in shards.shard_files(root, langs, splits):
        f = shards.open_parquet(path)
        if not tasks and not splits:
            total += f.metadata.num_rows
            continue
        for batch in f.iter_batches(batch_size=65_536, columns=["task", "split"]):
            total += pc.sum(_mask(batch, tasks, splits)).as_py() or 0
    return total


class BadImagesError(shards.MixError):
    """Too many images of the mix could not be read: training on the rest would be silently wrong."""


class ImageLoader:
    """Reads an image of a row from its source's image root (manifest ``image_roots``, relative to the mix)."""

    def __init__(self, root: str | Path, processor):
        self.processor = processor
        self.roots = shards.image_roots(root)

    def path(self, source: str, image: str) -> str:
        """What :meth:`__call__` tries to read, for messages and ``bad_images.txt``."""
        base = self.roots.get(source)
        if image.startswith(("http://", "https://")):
            return image
        return f"{image} (no image root recorded for source {source!r})" if base is None else str(base / image)

    def __call__(self, source: str, image: str) -> np.ndarray | None:
        from PIL import Image

        base = self.roots.get(source)
        if base is None or image.startswith(("http://", "https://")):
            return None  # no image root recorded (or a URL): cannot read offline
        try:
            with Image.open(base / image) as im:
                im = im.convert("RGB")
                return self.processor(im, return_tensors="np")["pixel_values"][0].astype(np.float32)
        except (OSError, ValueError, SyntaxError):
            return None


def check_bad_images(bad: int, good: int, limit: float, paths: list[str], out: Path, data: Path) -> None:
    """Stop training when every image read so far was unreadable, or (after 100 images) more than ``limit`` of them."""
    seen = bad + good
    if not bad or (good and (seen < 100 or bad / seen <= limit)):
        return
    raise BadImagesError(
        f"{bad} of {seen} images could not be read (limit data.max_bad_images={limit:g}); tried {', '.join(paths[:3])}"
        f"{' ...' if len(paths) > 3 else ''} (more in {out / 'bad_images.txt'}): fix image_roots in {data / shards.MANIFEST} "
        "(relative to the mix) or put the images back; --set data.max_bad_images=1 trains on what can be read"
    )


class ShardStream(torch.utils.data.IterableDataset):
    def __init__(
        self,
        root,
        processor,
        *,
        langs=None,
        tasks=None,
        splits=None,
        seed: int = 0,
        shuffle: bool = True,
        repeat: bool = True,
        shuffle_buffer: int = 10_000,
        interleave: int = 16,
        rank: int = 0,
        world: int = 1,
        batch_size: int = 1,
        start_batch: int = 0,
        rows: int | None = None,
        limit_per_group: int = 0,
    ):
        self.root = Path(root)
        self.files = shards.shard_files(self.root, langs, splits)
        if not self.files:
            raise FileNotFoundError(
                f"{self.root}: no shards{' for ' + ', '.join(langs) if langs else ''} (is it a finished polymix mix?)"
            )
        self.images = ImageLoader(self.root, processor)
        self.image_path = self.images.path
        self.tasks, self.splits = tasks, splits
        self.seed, self.shuffle, self.repeat = seed, shuffle, repeat
        self.shuffle_buffer, self.interleave = shuffle_buffer, interleave
        self.rank, self.world, self.batch_size, self.start_batch = rank, world, batch_size, start_batch
        self.limit_per_group = limit_per_group
        self.max_buffered = 0
        """Most rows held at once (the memory bound: shuffle_buffer + interleave x one record batch)."""
        """Evaluation: at most this many rows per (lang, task), in file order (with repeat=False)."""
        self.rows = rows if rows is not None else count_rows(self.root, langs, tasks, splits)
        if self.rows == 0:
            raise ValueError(f"{self.root}: no rows with task in {tasks} and split in {splits}")

    # -- the text stream (cheap), identical in every consumer ----------------------------------
    def _units(self, rng: random.Random) -> list[tuple[Path, int]]:
        units = [(p, g) for p in self.files for g in range(shards.open_parquet(p).num_row_groups)]
        if self.shuffle:
            rng.shuffle(units)
        return units

    def _read(self, unit) -> Iterator[list[dict[str, Any]]]:
        path, group = unit
        for batch in shards.open_parquet(path).iter_batches(batch_size=READ_BATCH, row_groups=[group], columns=COLUMNS):
            mask = _mask(batch, self.tasks, self.splits)
            yield (batch if mask is None else batch.filter(mask)).to_pylist()

    def _epoch_rows(self, epoch: int) -> Iterator[dict[str, Any]]:
        rng = random.Random(f"{self.seed}/{epoch}")
        pending = iter(self._units(rng))
        active = [self._read(u) for u in (next(pending, None) for _ in range(self.interleave)) if u is not None]
        buffer: list[dict[str, Any]] = []
        while active:
            for reader in list(active):  # one record batch from every open row group, then drain
                rows = next(reader, None)
                if rows is None:
                    active.remove(reader)
                    unit = next(pending, None)
                    if unit is not None:
                        active.append(self._read(unit))
                    continue
                buffer.extend(rows)
            self.max_buffered = max(self.max_buffered, len(buffer))
            if not self.shuffle:
                yield from buffer
                buffer.clear()
                continue
            while len(buffer) > self.shuffle_buffer:
                k = rng.randrange(len(buffer))
                buffer[k], buffer[-1] = buffer[-1], buffer[k]
                yield buffer.pop()
        rng.shuffle(buffer)
        yield from buffer

    def _consumer(self) -> tuple[int, int, int]:
        """(this consumer's index, number of consumers, rows it has already consumed)."""
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        logical = (worker + self.start_batch) % workers  # the DataLoader restarts its round-robin at worker 0
        done_batches = self.start_batch // workers + (1 if logical < self.start_batch % workers else 0)
        return self.rank * workers + logical, self.world * workers, done_batches * self.batch_size

    def text_rows(self) -> Iterator[dict[str, Any]]:
        """This consumer's rows from its resume position on, without images."""
        me, consumers, skip = self._consumer()
        if self.rows < consumers:
            raise ValueError(f"{self.root}: {self.rows} rows cannot feed {consumers} readers (ranks x workers)")
        if self.limit_per_group:
            yield from self._limited(me, consumers)
            return
        per_epoch = self.rows // consumers + (1 if me < self.rows % consumers else 0)
        epoch = skip // per_epoch if (self.repeat and per_epoch) else 0
        skip -= epoch * per_epoch
        while True:
            for i, row in enumerate(r for k, r in enumerate(self._epoch_rows(epoch)) if k % consumers == me):
                if i >= skip:
                    row["epoch"] = epoch
                    yield row
            skip = 0
            epoch += 1
            if not self.repeat:
                return

    def _limited(self, me: int, consumers: int) -> Iterator[dict[str, Any]]:
        seen: dict[tuple[str, str], int] = {}
        k = 0
        for row in self._epoch_rows(0):
            key = (row["lang"], row["task"])
            seen[key] = seen.get(key, 0) + 1
            if seen[key] <= self.limit_per_group:
                if k % consumers == me:
                    yield row
                k += 1

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for row in self.text_rows():
            row["pixel_values"] = self.images(row["source"], row["image"])
            if row["pixel_values"] is None:
                row["image_path"] = self.image_path(row["source"], row["image"])
            yield row
