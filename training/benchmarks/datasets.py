"""The five benchmarks of mBLIP's paper, each read from its official release files.

=========  ==========================================  ===========================================
benchmark  --data (official release)                   --images
=========  ==========================================  ===========================================
xm3600     Crossmodal-3600 ``captions.jsonl``          its ``images/`` (``<image/key>.jpg``)
xgqa       IGLUE ``datasets/xGQA/annotations/few_shot``  GQA images (``<imageId>.jpg``)
           (``<lang>/test.json`` per language)
maxm       MaXM ``maxm_v1_release`` (``maxm_v1_<lang>.json``)  Crossmodal-3600 ``images/`` (``<image_id>.jpg``)
xvnli      IGLUE ``datasets/XVNLI/annotations``        Flickr30k images (``<Flikr30kID>.jpg``)
           (``<lang>/test.jsonl``)
marvl      IGLUE ``datasets/marvl/zero_shot/annotations``  MaRVL images (``<lang>/images/<concept>/<file>``)
           (``marvl-<lang>.jsonl``)
=========  ==========================================  ===========================================

Rows become :class:`Item` s the way mBLIP's ``data/<benchmark>/generate_*.py`` scripts built
their evaluation files (XVNLI's labels mapped to yes/no/maybe and rows without a gold label
skipped; MaRVL's True/False to yes/no; MaXM's ``processed_answers`` as references).
"""

from __future__ import annotations

from pathlib import Path

from polymix.training.benchmarks import scores
from polymix.training.benchmarks.base import (
    ANSWER_GENERATION,
    CAPTION_GENERATION,
    BenchmarkError,
    Generation,
    Item,
    field_of,
    read_json,
    read_jsonl,
    require_file,
)

# mBLIP's XM3600 languages and the names its prompt used (data/xm3600/convert_xm3600_to_coco.py), spelling kept.
XM3600_NAMES = dict(
    zip(
        "fa te ko fi fil mi hu id hr fr quz sv zh sw no vi da ja nl he th ru it hi uk de pt tr cs pl bn ar ro en es el".split(),
        [
            "Farsi",
            "Telugu",
            "Korean",
            "Finnish",
            "Filipino",
            "Maori",
            "Hungarian",
            "Indonesian",
            "Croatian",
            "French",
            "Quechua",
            "Swedish",
            "Chinese",
            "Swahili",
            "Norwegian",
            "Vietnamese",
            "Danish",
            "Japanese",
            "Dutch",
            "Hebrew",
            "Thai",
            "Russian",
            "Italian",
            "Hindi",
            "Ukranian",
            "German",
            "Portugese",
            "Turkish",
            "Czech",
            "Polish",
            "Bengali",
            "Arabic",
            "Romanian",
            "English",
            "Spanish",
            "Greek",
        ],
    )
)
MAXM_NAMES = {"en": "English", "fr": "French", "hi": "Hindi", "iw": "Hebrew", "ro": "Romanian", "th": "Thai", "zh": "Chinese"}
XVNLI_LABELS = {"neutral": "maybe", "entailment": "yes", "contradiction": "no"}


class Benchmark:
    name: str
    metric: str
    languages: tuple[str, ...]
    generation: Generation = ANSWER_GENERATION
    data_hint: str
    images_hint: str

    def rows(self, data: Path, images: Path, lang: str) -> list[Item]:
        raise NotImplementedError

    def score(self, predictions: list[str], items: list[Item]) -> float:
        return scores.classification_accuracy(predictions, [i.references[0] for i in items])


class XM3600(Benchmark):
    name, metric, languages, generation = "xm3600", "CIDEr", tuple(XM3600_NAMES), CAPTION_GENERATION
    data_hint = "give Crossmodal-3600's captions.jsonl (or the folder holding it)"
    images_hint = "give Crossmodal-3600's images/ folder (<image/key>.jpg)"

    def rows(self, data, images, lang):
        path = require_file(data / "captions.jsonl" if data.is_dir() else data, "xm3600 captions", self.data_hint)
        items = []
        for row in read_jsonl(path):
            key = field_of(row, "image/key", str(path))
            captions = (row.get(lang) or {}).get("caption") or []
            if captions:
                items.append(Item(key, lang, (str(images / f"{key}.jpg"),), {"language": XM3600_NAMES[lang]}, tuple(captions)))
        return items

    def score(self, predictions, items):
        return scores.cider(predictions, [list(i.references) for i in items], items[0].lang if items else "en")


class XGQA(Benchmark):
    name, metric, languages = "xgqa", "accuracy", ("bn", "de", "en", "id", "ko", "pt", "ru", "zh")
    data_hint = "give IGLUE's datasets/xGQA/annotations/few_shot folder (<lang>/test.json)"
    images_hint = "give the GQA images folder (<imageId>.jpg)"

    def rows(self, data, images, lang):
        path = require_file(data / lang / "test.json", f"xgqa {lang}", self.data_hint)
        questions = read_json(path)
        if not isinstance(questions, dict):
            raise BenchmarkError(f"{path}: expected an object of question id -> question (GQA's format)")
        return [
            Item(
                qid,
                lang,
                (str(images / f"{field_of(q, 'imageId', str(path))}.jpg"),),
                {"question": field_of(q, "question", str(path))},
                (field_of(q, "answer", str(path)),),
            )
            for qid, q in questions.items()
        ]


class MaXM(Benchmark):
    name, metric, languages = "maxm", "accuracy", tuple(MAXM_NAMES)
    data_hint = "give MaXM's maxm_v1_release folder (maxm_v1_<lang>.json)"
    images_hint = "give Crossmodal-3600's images/ folder (MaXM's images are XM3600's, <image_id>.jpg)"

    def rows(self, data, images, lang):
        path = require_file(data / f"maxm_v1_{lang}.json", f"maxm {lang}", self.data_hint)
        items = []
        for ann in field_of(read_json(path), "annotations", str(path)):
            image = str(images / f"{field_of(ann, 'image_id', str(path))}.jpg")
            for n, qa in enumerate(field_of(ann, "qa_pairs", str(path))):
                qid = str(qa.get("question_id", f"{ann['image_id']}-{n}"))
                answers = tuple(field_of(qa, "processed_answers", str(path)))
                items.append(Item(qid, lang, (image,), {"question": qa["question"], "language": MAXM_NAMES[lang]}, answers))
        return items

    def score(self, predictions, items):
        return scores.maxm_accuracy(predictions, [list(i.references) for i in items])


class XVNLI(Benchmark):
    name, metric, languages = "xvnli", "accuracy", ("ar", "es", "fr", "ru", "en")
    data_hint = "give IGLUE's datasets/XVNLI/annotations folder (<lang>/test.jsonl)"
    images_hint = "give the Flickr30k images folder (<Flikr30kID>.jpg)"

    def rows(self, data, images, lang):
        path = require_file(data / lang / "test.jsonl", f"xvnli {lang}", self.data_hint)
        return [
            Item(
                str(field_of(r, "pairID", str(path))),
                lang,
                (str(images / f"{field_of(r, 'Flikr30kID', str(path))}.jpg"),),
                {"hypothesis": field_of(r, "sentence2", str(path))},
                (XVNLI_LABELS[r["gold_label"]],),
            )
            for r in read_jsonl(path)
            if field_of(r, "gold_label", str(path)) in XVNLI_LABELS
        ]


class MaRVL(Benchmark):
    name, metric, languages = "marvl", "accuracy", ("id", "sw", "ta", "tr", "zh")
    data_hint = "give IGLUE's datasets/marvl/zero_shot/annotations folder (marvl-<lang>.jsonl)"
    images_hint = "give MaRVL's images folder (<lang>/images/<concept>/<file>.jpg)"

    def rows(self, data, images, lang):
        path = require_file(data / f"marvl-{lang}.jsonl", f"marvl {lang}", self.data_hint)
        items = []
        for r in read_jsonl(path):
            folder = images / field_of(r, "language", str(path)) / "images" / field_of(r, "concept", str(path))
            pair = (str(folder / field_of(r, "left_img", str(path))), str(folder / field_of(r, "right_img", str(path))))
            label = "yes" if field_of(r, "label", str(path)) in (True, "True", "true") else "no"
            items.append(Item(str(r.get("id", len(items))), lang, pair, {"statement": r["caption"]}, (label,)))
        return items


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (XM3600(), XGQA(), MaXM(), XVNLI(), MaRVL())}
