"""COCO captions, from either of the two common caption files (the format is auto-detected).

Karpathy split JSON (``dataset_coco.json``)::

    {"images": [{"filepath": "val2014", "filename": "COCO_val2014_000000391895.jpg",
                 "split": "test", "cocoid": 391895,
                 "sentences": [{"raw": "A man ...", "sentid": 770337, ...}, ...]}, ...]}

    One item per sentence: ``source_id`` is the sentence id, ``split`` the image's split
    (``train``, ``restval``, ``val``, ``test``), ``image`` is ``{filepath}/{filename}`` (just
    ``filename`` when ``filepath`` is absent), so ``image_root`` is the folder holding
    ``train2014/`` and ``val2014/``. The ``split`` option keeps only the given split(s).

Official caption annotations (``captions_train2017.json``, ``captions_val2014.json``)::

    {"images": [{"id": 179765, "file_name": "000000179765.jpg", ...}],
     "annotations": [{"id": 38, "image_id": 179765, "caption": "A black Honda ..."}]}

    One item per annotation: ``source_id`` is the annotation id, ``image`` is the image's
    ``file_name`` (point ``image_root`` at the folder holding the images, e.g. ``train2017/``),
    ``split`` is the ``split`` option, else taken from the file name (``captions_val2014.json``
    gives ``val``), else ``train``.

Items are yielded in file order; each caption is also the item's only reference answer.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Iterator

from polymix.settings import comma_list
from polymix.mix.sources.base import (
    ConfigError,
    Source,
    SourceFormatError,
    SourceItem,
    load_json,
    register,
    require_keys,
)

KARPATHY = (
    'Karpathy split JSON (dataset_coco.json: {"images": [{"filepath", "filename", "split", "sentences": [{"raw", "sentid"}]}]})'
)
OFFICIAL = (
    'COCO captions JSON (captions_train2017.json: {"images": [{"id", "file_name"}], '
    '"annotations": [{"id", "image_id", "caption"}]})'
)
_SPLIT_IN_NAME = re.compile(r"captions_(train|val|test)", re.IGNORECASE)


@register
class CocoCaptions(Source):
    name = "coco"
    description = "MS COCO captions (Karpathy split JSON or official captions_*.json)"
    formats = f"{KARPATHY}, or {OFFICIAL}"
    tasks = ("caption", "short_caption")
    default_tasks = ("caption",)

    @dataclasses.dataclass
    class Options:
        path: str = dataclasses.field(
            metadata={"help": "COCO captions file: Karpathy dataset_coco.json or official captions_<split><year>.json"},
        )
        split: str = dataclasses.field(
            default="",
            metadata={
                "help": "Karpathy file: keep only these splits (comma list, e.g. 'train,restval'); "
                "official file: the split label (default: from the file name, else 'train')"
            },
        )

    def items(self) -> Iterator[SourceItem]:
        path = Path(self.options.path)
        data = load_json(path, self.formats)
        if isinstance(data, dict) and "annotations" in data:
            yield from self._official(path, data)
        elif (
            isinstance(data, dict)
            and isinstance(data.get("images"), list)
            and (not data["images"] or "sentences" in data["images"][0])
        ):
            yield from self._karpathy(path, data)
        else:
            have = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise SourceFormatError(f"{path}: not a COCO captions file (found {have}); expected {self.formats}")

    # -- Karpathy split JSON ----------------------------------------------------------------
    def _karpathy(self, path: Path, data: dict[str, Any]) -> Iterator[SourceItem]:
        images = data["images"]
        for i, image in enumerate(images):
            require_keys(image, ("filename", "split", "sentences"), f"{path}: images[{i}]", KARPATHY)
        wanted = self._split_filter(path, {image["split"] for image in images})
        for i, image in enumerate(images):
            if wanted is not None and image["split"] not in wanted:
                continue
            filepath = image.get("filepath") or ""
            rel = f"{filepath}/{image['filename']}" if filepath else image["filename"]
            for j, sentence in enumerate(image["sentences"]):
                require_keys(sentence, ("raw", "sentid"), f"{path}: images[{i}].sentences[{j}]", KARPATHY)
                caption = str(sentence["raw"] or "").strip()
                yield SourceItem(
                    source_id=str(sentence["sentid"]),
                    split=str(image["split"]),
                    image=rel,
                    slots={"caption": caption},
                    answers=[caption],
                )

    def _split_filter(self, path: Path, present: set[str]) -> set[str] | None:
        if not self.options.split:
            return None
        wanted = set(comma_list(self.options.split))
        unknown = sorted(wanted - present)
        if unknown:
            raise ConfigError(
                f"source 'coco': split {', '.join(unknown)} not in {path}; splits present: {', '.join(sorted(present))}"
            )
        return wanted

    # -- official captions_*.json -----------------------------------------------------------
    def _official(self, path: Path, data: dict[str, Any]) -> Iterator[SourceItem]:
        require_keys(data, ("images", "annotations"), str(path), OFFICIAL)
        split = self.options.split.strip()
        if "," in split:
            raise ConfigError(f"source 'coco': split={split!r} is a list, but {path} is one split; give one name")
        if not split:
            match = _SPLIT_IN_NAME.search(path.name)
            split = match.group(1).lower() if match else "train"
        file_names: dict[Any, str] = {}
        for i, image in enumerate(data["images"]):
            require_keys(image, ("id", "file_name"), f"{path}: images[{i}]", OFFICIAL)
            file_names[image["id"]] = image["file_name"]
        for i, ann in enumerate(data["annotations"]):
            require_keys(ann, ("id", "image_id", "caption"), f"{path}: annotations[{i}]", OFFICIAL)
            if ann["image_id"] not in file_names:
                raise SourceFormatError(
                    f"{path}: annotations[{i}] (id {ann['id']}) refers to image_id {ann['image_id']}, "
                    f"which is not in the file's images list; expected {OFFICIAL}"
                )
            caption = str(ann["caption"] or "").strip()
            yield SourceItem(
                source_id=str(ann["id"]),
                split=split,
                image=file_names[ann["image_id"]],
                slots={"caption": caption},
                answers=[caption],
            )
