"""Any Hugging Face dataset, through ``datasets``, with a column mapping.

``dataset`` is a hub id (``nlphuji/flickr30k``) or a local path: a folder of parquet/json/csv
files (loaded with ``datasets.load_dataset``), a single such file, or a folder written by
``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` (it has ``dataset_info.json``,
``state.json`` or ``dataset_dict.json``; loaded with ``datasets.load_from_disk``). One split is
read (the ``split`` option, also stored as every row's split), in dataset order.

Columns are named by options: ``image_column``; ``caption_column`` (a string, or a list of
strings as in Flickr30k/COCO: one item per caption, ``source_id`` ``{row_id}-{k}``);
``question_column`` and ``answer_column`` (the answer may be a string, a list of strings, or a
list of ``{"answer": ...}`` dicts as in VQAv2: the slot gets the most common, ``answers`` all);
``id_column`` (else the 0-based row index). The reference answers are the answers when the
row has any, else the caption.

The image column may hold a path/URL string (used as is, relative to the image root) or an
embedded image (an ``Image`` feature, a PIL image, or a ``{"bytes", "path"}`` dict). Embedded
images are written once under the image root as ``hf_images/<dataset>-<hash>/<split>/<row_id>.jpg`` (JPEG bytes are kept
as they are) or ``.png`` (everything else), and an existing file is re-used on later runs.

Without explicit tasks: ``caption`` when the caption column exists, else ``vqa``. ``datasets``
is imported only when the dataset is loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
from pathlib import Path
from typing import Any, Iterator

from polymix.mix.sources.base import ConfigError, Source, SourceFormatError, SourceItem, TASK_SLOTS, register
from polymix.mix.sources.generic import make_slots, pick_answer

IMAGE_DIR = "hf_images"
_DISK_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")
_FILE_BUILDERS = {
    ".parquet": ("parquet", {}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"delimiter": "\t"}),
    ".arrow": ("arrow", {}),
}
_OFFLINE_HINTS = ("couldn't reach", "could not reach", "offline", "connection", "timed out", "name resolution")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value.strip() if isinstance(value, str) else str(value).strip()


def _answers(value: Any) -> list[str]:
    if isinstance(value, dict) and "answer" in value:
        value = value["answer"]
    if isinstance(value, (list, tuple)):
        out = [_text(v.get("answer") if isinstance(v, dict) else v) for v in value]
        return [a for a in out if a]
    text = _text(value)
    return [text] if text else []


def _sniff(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return None


def _dataset_slug(dataset: str, split: str) -> str:
    """``flickr30k-1a2b3c4d/test``: the dataset's last path part plus a hash of the full id or path."""
    name = _UNSAFE.sub("_", Path(dataset.rstrip("/")).name).lstrip(".") or "dataset"
    digest = hashlib.blake2b(dataset.encode("utf-8"), digest_size=4).hexdigest()
    return f"{name}-{digest}/{_file_stem(split)}"


def _file_stem(row_id: str) -> str:
    safe = _UNSAFE.sub("_", row_id).lstrip(".") or "_"
    if safe != row_id:  # keep distinct ids distinct after sanitizing
        safe += "-" + hashlib.blake2b(row_id.encode("utf-8"), digest_size=4).hexdigest()
    return safe


@register
class HuggingFaceSource(Source):
    name = "hf"
    writes_images = True
    description = "Any Hugging Face dataset (hub id or local folder/file/save_to_disk) with a column mapping"
    formats = (
        "a Hugging Face dataset: hub id, local folder of parquet/json/csv files, a single such file, "
        "or a save_to_disk folder; columns named by the *_column options"
    )
    tasks = ("caption", "short_caption", "vqa", "vqg")
    default_tasks = ("caption",)

    @dataclasses.dataclass
    class Options:
        dataset: str = dataclasses.field(
            metadata={
                "help": "hub id (nlphuji/flickr30k) or local path: folder of parquet/json/csv files, one such file,"
                " or a save_to_disk folder"
            },
        )
        config: str = dataclasses.field(default="", metadata={"help": "dataset configuration name (hub datasets with several)"})
        split: str = dataclasses.field(default="train", metadata={"help": "split to load; also stored as the row split"})
        image_column: str = dataclasses.field(
            default="image", metadata={"help": "column with the image: path/URL string or embedded image"}
        )
        caption_column: str = dataclasses.field(
            default="caption", metadata={"help": "column with the caption (a string or a list of strings)"}
        )
        question_column: str = dataclasses.field(default="", metadata={"help": "column with the question (VQA datasets)"})
        answer_column: str = dataclasses.field(
            default="", metadata={"help": "column with the answer: string, list of strings, or list of {answer} dicts"}
        )
        id_column: str = dataclasses.field(
            default="", metadata={"help": "column with the row id (default: the 0-based row index)"}
        )
        revision: str = dataclasses.field(default="", metadata={"help": "hub revision (branch, tag or commit)"})
        streaming: bool = dataclasses.field(
            default=False, metadata={"help": "stream the hub dataset instead of downloading it first"}
        )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._ds: Any = None
        self._has_caption = False

    # -- loading ----------------------------------------------------------------------------
    @property
    def image_dir(self) -> str:
        """Where embedded images go under the image root; row ids repeat across splits and datasets."""
        return f"{IMAGE_DIR}/{_dataset_slug(self.options.dataset, self.options.split)}"

    def _load(self) -> Any:
        import datasets

        o = self.options
        local = Path(o.dataset).expanduser()
        hint = (
            "pass a local path instead: dataset=<folder of parquet/json/csv files>, one such file, "
            "or a folder written by save_to_disk"
        )
        try:
            if local.is_dir() and any((local / m).is_file() for m in _DISK_MARKERS):
                ds = datasets.load_from_disk(str(local))
                if isinstance(ds, datasets.DatasetDict):
                    if o.split not in ds:
                        raise ConfigError(f"dataset {o.dataset!r}: no split {o.split!r}; its splits are: {', '.join(ds)}")
                    ds = ds[o.split]
                return ds
            if local.is_file():
                if local.suffix.lower() not in _FILE_BUILDERS:
                    raise SourceFormatError(f"{local}: unknown data file type; accepted suffixes: {', '.join(_FILE_BUILDERS)}")
                builder, kwargs = _FILE_BUILDERS[local.suffix.lower()]
                return datasets.load_dataset(
                    builder, data_files={o.split: str(local)}, split=o.split, streaming=o.streaming, **kwargs
                )
            if o.dataset.startswith(("/", ".", "~")) and not local.exists():
                raise SourceFormatError(f"{o.dataset}: no such file or folder (expected {self.formats})")
            return datasets.load_dataset(
                o.dataset, name=o.config or None, split=o.split, revision=o.revision or None, streaming=o.streaming
            )
        except (ConfigError, SourceFormatError):
            raise
        except Exception as err:  # datasets raises many types; report them all the same way
            message = str(err)
            if isinstance(err, ValueError) and "split" in message.lower() and "unknown" in message.lower():
                raise ConfigError(f"dataset {o.dataset!r}: {message}") from None
            offline = isinstance(err, (ConnectionError, TimeoutError, datasets.exceptions.DatasetNotFoundError)) or any(
                h in message.lower() for h in _OFFLINE_HINTS
            )
            why = "the Hugging Face Hub may be unreachable (offline?) or the id is wrong" if offline else "see the error above"
            raise SourceFormatError(
                f"dataset {o.dataset!r} could not be loaded ({type(err).__name__}: {message}); {why}. To work offline, {hint}"
            ) from err

    def _columns(self, ds: Any) -> list[str]:
        if getattr(ds, "column_names", None):
            return list(ds.column_names)
        for row in ds:  # streaming datasets of unknown features: peek at the first row
            return list(row)
        return []

    def _resolve(self) -> Any:
        """Load the dataset once and check the column mapping against it."""
        if self._ds is not None:
            return self._ds
        import datasets

        o = self.options
        ds = self._load()
        columns = self._columns(ds)
        wanted = {
            "image_column": o.image_column,
            "question_column": o.question_column,
            "answer_column": o.answer_column,
            "id_column": o.id_column,
            "caption_column": o.caption_column,
        }
        # A VQA dataset (question and answer columns set) need not have the default caption column.
        optional = {"caption_column"} if o.caption_column == "caption" and o.question_column and o.answer_column else set()
        missing = [
            f"{value!r} ({option})"
            for option, value in wanted.items()
            if value and value not in columns and option not in optional
        ]
        if missing:
            raise ConfigError(
                f"dataset {o.dataset!r} (split {o.split!r}): column(s) {', '.join(missing)} not found; "
                f"its columns are: {', '.join(columns) or '(none)'}"
            )
        self._has_caption = bool(o.caption_column) and o.caption_column in columns
        features = getattr(ds, "features", None) or {}
        feature = features.get(o.image_column)
        if isinstance(feature, datasets.Image):
            if self.image_root is None:
                raise ConfigError(f"dataset {o.dataset!r} embeds its images: pass --image-root (the folder to write them to)")
            if feature.decode:  # keep the encoded bytes: no decode/re-encode, and re-runs skip cheaply
                ds = ds.cast_column(o.image_column, datasets.Image(decode=False))
        self._ds = ds
        return ds

    # -- tasks ------------------------------------------------------------------------------
    def check_tasks(self, tasks: tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
        chosen = super().check_tasks(tasks) if tasks else None
        self._resolve()
        o = self.options
        has_qa = bool(o.question_column and o.answer_column)
        if chosen is None:
            if self._has_caption:
                return ("caption",)
            if has_qa:
                return ("vqa",)
            raise ConfigError(f"dataset {o.dataset!r}: set caption_column, or question_column and answer_column")
        for task in chosen:
            if "caption" in TASK_SLOTS[task] and not self._has_caption:
                raise ConfigError(f"task {task!r} needs a caption column: set caption_column")
            if "question" in TASK_SLOTS[task] and not has_qa:
                raise ConfigError(f"task {task!r} needs question_column and answer_column")
        return chosen

    # -- items ------------------------------------------------------------------------------
    def items(self) -> Iterator[SourceItem]:
        ds = self._resolve()
        o = self.options
        for index, row in enumerate(ds):
            row_id = (_text(row.get(o.id_column)) if o.id_column else "") or str(index)
            image = self._image(row.get(o.image_column), row_id)
            question = answer = None
            answers: list[str] = []
            if o.question_column and o.answer_column:
                question = _text(row.get(o.question_column))
                answers = _answers(row.get(o.answer_column))
                answer = pick_answer(answers)
            raw = row.get(o.caption_column) if self._has_caption else None
            if isinstance(raw, (list, tuple)):
                captions = [(f"{row_id}-{k}", _text(c)) for k, c in enumerate(raw)]
            else:
                captions = [(row_id, _text(raw) if self._has_caption else None)]
            for source_id, caption in captions:
                slots = make_slots(caption, question, answer)
                yield SourceItem(source_id, o.split, image, slots, list(answers) or ([caption] if caption else []))

    # -- embedded images --------------------------------------------------------------------
    def _image(self, value: Any, row_id: str) -> str:
        """The image reference of a row, writing an embedded image under the image root once."""
        if value is None:
            return ""
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, dict):
            data, path = value.get("bytes"), value.get("path")
            if data:
                return self._write(row_id, data=bytes(data), original=path or "")
            return _text(path)
        if hasattr(value, "save") and hasattr(value, "mode"):  # a PIL image
            return self._write(row_id, image=value)
        raise SourceFormatError(
            f"dataset {self.options.dataset!r}: column {self.options.image_column!r} holds {type(value).__name__}; "
            "expected a path/URL string or an image"
        )

    def _write(self, row_id: str, data: bytes | None = None, image: Any = None, original: str = "") -> str:
        """Write one embedded image as ``hf_images/<dataset>/<split>/<row_id>.<ext>`` unless it is already there.

        JPEG and PNG bytes are written as they are; other encoded images are converted to PNG;
        bytes that are not an image are kept (with the original suffix) so that the image check
        rejects the row as ``bad_image``. A PIL image is saved as JPEG when it was one, else PNG.
        """
        if self.image_root is None:
            raise ConfigError(
                f"dataset {self.options.dataset!r} embeds its images: pass --image-root (the folder to write them to)"
            )
        if data is not None:
            ext = _sniff(data) or "png"
        else:
            ext = "jpg" if getattr(image, "format", None) == "JPEG" and image.mode in ("RGB", "L") else "png"
        # dataset and split in the path: row ids repeat across splits and datasets.
        stem = f"{self.image_dir}/{_file_stem(row_id)}"
        if (self.image_root / f"{stem}.{ext}").is_file():
            self.stats["images_reused"] += 1
            return f"{stem}.{ext}"
        if data is not None and _sniff(data) is None:
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(io.BytesIO(data)) as im:
                    im.load()
                    image, data = im.copy(), None
            except (UnidentifiedImageError, OSError, ValueError):
                ext = (Path(original).suffix.lower() or ".bin").lstrip(".")
        rel = f"{stem}.{ext}"
        target = self.image_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")  # no half-written file on a crash
        try:
            if data is not None:
                tmp.write_bytes(data)
            elif ext == "jpg":
                image.save(tmp, format="JPEG", quality=95)
            else:
                if image.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
                    image = image.convert("RGBA")
                image.save(tmp, format="PNG")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        self.stats["images_written"] += 1
        return rel
