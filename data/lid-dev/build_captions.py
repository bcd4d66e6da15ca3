"""Rebuild captions-lid-dev.jsonl: real image captions and visual questions, for language ID.

    python data/lid-dev/build_captions.py --mirrors /work/.mirror

The closest genre to what polymix filters: human-written captions and questions about images in 24
languages and English, from public GitHub repositories (``SOURCES``; licenses in README.md). None is
taken from IGLUE, Multi30k, XM3600 or MaXM: those benchmarks are the held-out check. ``--mirrors`` is a
folder with one checkout (``owner+name/``) or bare git mirror (``owner+name/repo``) per repository.

Whole texts, not cut: 2-40 words (scripts without spaces: 3-80 characters), in the script of their
language, each text once; not cleaned by build.py's rule (a caption or question is what a translation
will be; a question about the text in an image may name a brand or a title: part of the genre). Up to
``PER_LANGUAGE`` a language, drawn in turn from its sources, each shuffled with a seed of the language and source;
``split`` from a hash of the language and source line, about 40% ``heldout``. Deterministic.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import re
import sys
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build import NO_SPACE, dev_row, repo_file, write  # noqa: E402

PER_LANGUAGE = 400
# MTVQA language tags -> NLLB codes (its other languages: Italian, Thai; Korean is "KR").
MTVQA = {"AR": "arb_Arab", "DE": "deu_Latn", "FR": "fra_Latn", "IT": "ita_Latn", "JA": "jpn_Jpan",
         "KR": "kor_Hang", "RU": "rus_Cyrl", "TH": "tha_Thai", "VI": "vie_Latn"}  # fmt: skip
EVJVQA = {"en": "eng_Latn", "ja": "jpn_Jpan", "vi": "vie_Latn"}
# WorldCuisines' question templates (columns of generate_vqa/resources/query_ctx.csv) -> NLLB codes; not its
# Cantonese, Hokkien and Sardinian columns (no polymix language)
WORLDCUISINES = {
    "English": "eng_Latn", "Indonesian_Formal": "ind_Latn", "Indonesian_Casual": "ind_Latn", "Chinese_Mandarin": "zho_Hans",
    "Korean_Formal": "kor_Hang", "Korean_Casual": "kor_Hang", "Japanese_Formal": "jpn_Jpan", "Japanese_Casual": "jpn_Jpan",
    "Sundanese_Loma": "sun_Latn", "Javanese_Krama": "jav_Latn", "Javanese_Ngoko": "jav_Latn", "Czech": "ces_Latn",
    "Spanish": "spa_Latn", "French": "fra_Latn", "Arabic_MSA": "arb_Arab", "Hindi": "hin_Deva", "Marathi": "mar_Deva",
    "Bengali": "ben_Beng", "Sinhala_formal_spoken": "sin_Sinh", "Yoruba": "yor_Latn", "Tagalog": "tgl_Latn", "Thai": "tha_Thai",
    "Azerbaijani": "azj_Latn", "Russian_Casual": "rus_Cyrl", "Russian_Formal": "rus_Cyrl", "Italian": "ita_Latn",
}  # fmt: skip
BANGLAVERSE_DOMAINS = (
    "culture", "food", "history", "media_and_movies", "national_achievements", "nature", "personalities", "politics", "sports",
)  # fmt: skip


def _show(mirrors: Path, repo: str, path: str) -> str:
    root = mirrors / repo.replace("/", "+")
    data = repo_file(root, root / "repo" if (root / "repo").exists() else root, path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # one of the Turkish files is in the Turkish Windows code page
        return data.decode("cp1254")


def _coco_cn(read: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    for line in read("data/coco-cn_ext.icap2020.txt").splitlines():
        key, _, text = line.partition("\t")
        yield "zho_Hans", key, text


def _uit_viic(read: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    for split in ("train", "val", "test"):
        for a in json.loads(read(f"uitviic_captions_{split}2017.json"))["annotations"]:
            yield "vie_Latn", f"{split}#{a['id']}", a["caption"]


def _evjvqa(read: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    for a in json.loads(read("data/test/evjvqa_public_test-lang-qtype-answer.json"))["annotations"]:
        if a["language"] in EVJVQA:
            yield EVJVQA[a["language"]], f"test#{a['id']}", a["question"]


def _heron(read: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    for line in read("playground/data/japanese-heron-bench/questions_ja.jsonl").splitlines():
        q = json.loads(line)
        yield "jpn_Jpan", f"questions_ja#{q['question_id']}", q["text"]


def _banglaverse(read: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    for domain in BANGLAVERSE_DOMAINS:
        for kind, field in (("captions", "caption"), ("qa_pairs", "question")):
            for i, a in enumerate(json.loads(read(f"data/{domain}/annotations/{domain}_{kind}.json"))):
                yield "ben_Beng", f"{domain}_{kind}#{i}", a[field]


def _mtvqa(read: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    for q in json.loads(read("data/mtvqa_all_data_test_filtered_cleaned_tomodels.jsonl")):  # one JSON array
        if q["lang"] in MTVQA:
            yield MTVQA[q["lang"]], q["quesion_number"], q["question"]


def _worldcuisines(read: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    for row in csv.DictReader(io.StringIO(read("generate_vqa/resources/query_ctx.csv"))):
        for column, lang in WORLDCUISINES.items():
            text = row[column]
            if "<" not in text and "‹" not in text:  # templates with a place name to fill in are left out
                yield lang, f"query_ctx#{row['prompt_id']}#{column}", text


def _turkish_coco(read: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    for n in (1, 2):  # the hand-written validation captions; the train captions are machine-translated
        for i, text in enumerate(read(f"MSCOCO/val/val_baseline_{n}.txt").splitlines()):
            yield "tur_Latn", f"val_baseline_{n}#{i}", text


def _dutch(read: Callable[[str], str]) -> Iterator[tuple[str, str, str]]:
    for part in ("Test/test", "Val/val"):
        for n in range(5):
            for i, text in enumerate(read(f"Data/Dutch/{part}.{n}").splitlines()):
                yield "nld_Latn", f"{part}.{n}#{i}", text


# (owner/name, reader): each yields (lang, id within the repository, text).
SOURCES: tuple[tuple[str, Callable[[Callable[[str], str]], Iterator[tuple[str, str, str]]]], ...] = (
    ("li-xirong/coco-cn", _coco_cn),
    ("yingyong26072001/uit_dataset", _uit_viic),
    ("phanxuanphucnd/EVJVQA", _evjvqa),
    ("turingmotors/heron", _heron),
    ("faiyazabdullah/BanglaVerse", _banglaverse),
    ("ZHCSJ666/MTVQA-Test", _mtvqa),
    ("worldcuisines/worldcuisines", _worldcuisines),
    ("giddyyupp/turkish-image-captioning", _turkish_coco),
    ("cltl/DutchDescriptions", _dutch),
)


def normal(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def fits(text: str, lang: str) -> bool:
    """A caption or question: 2-40 words, or 3-80 characters in scripts without spaces; in a language not
    written in Latin letters, mostly not Latin letters (MTVQA's Thai file holds English questions)."""
    script = lang.rsplit("_", 1)[-1]
    letters = [c for c in text if c.isalpha()]
    if script != "Latn" and sum("LATIN" in unicodedata.name(c, "") for c in letters) * 2 > len(letters):
        return False
    if script in NO_SPACE:
        return 3 <= len(text) <= 80
    return 2 <= len(text.split()) <= 40 and bool(letters)


def build(mirrors: Path, out: Path) -> int:
    per_lang: dict[str, dict[str, list[tuple[str, str]]]] = {}
    seen: set[tuple[str, str]] = set()
    for repo, reader in SOURCES:
        for lang, key, text in reader(lambda path, repo=repo: _show(mirrors, repo, path)):
            text = normal(text)
            if fits(text, lang) and (lang, text) not in seen:
                seen.add((lang, text))
                per_lang.setdefault(lang, {}).setdefault(repo, []).append((f"{repo}#{key}", text))
    rows = []
    for lang in sorted(per_lang):
        queues = []
        for repo in sorted(per_lang[lang]):
            texts = per_lang[lang][repo]
            random.Random(f"captions/{lang}/{repo}").shuffle(texts)
            queues.append(texts)
        picked: list[tuple[str, str]] = []
        while len(picked) < PER_LANGUAGE and any(queues):  # in turn from each source
            for q in queues:
                if q and len(picked) < PER_LANGUAGE:
                    picked.append(q.pop(0))
        for source, text in picked:
            rows.append(dev_row(lang, source, text))
    return write(rows, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirrors", type=Path, required=True, help="folder of the SOURCES repositories (see the docstring)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("captions-lid-dev.jsonl"))
    args = parser.parse_args()
    print(f"{build(args.mirrors, args.out)} rows -> {args.out}")
