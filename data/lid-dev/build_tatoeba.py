"""Rebuild tatoeba-lid-dev.jsonl: short everyday sentences and questions of Tatoeba, for language ID.

    python data/lid-dev/build_tatoeba.py --laser /work/.mirror/facebookresearch+LASER/repo

``--laser`` is a checkout or a bare git mirror of https://github.com/facebookresearch/LASER, whose
``data/tatoeba/v1`` holds the Tatoeba test set of Artetxe & Schwenk (2019): up to 1,000 sentences per
language with their English translations (Tatoeba of 2018-11-17, CC BY 2.0 FR). Whole sentences of
3-15 words (scripts without spaces: 4-40 characters), up to ``PER_LANGUAGE`` a language, shuffled with
a seed of the language; cleaned by build.py's ``is_language_evidence``; ``split`` from a hash of the
language and line, about 40% ``heldout``. Deterministic: the same checkout gives the same file.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build import NO_SPACE, dev_row, is_language_evidence, repo_file, to_cyrillic, write  # noqa: E402

# Tatoeba (ISO 639-3) -> NLLB code, or a detector label for languages polymix does not translate into.
# cmn mixes simplified and traditional characters (one language to the filter: varieties); uzb and srp
# mix Latin and Cyrillic: Uzbek keeps its Latin lines (polymix writes uzn_Latn), Serbian Latin lines are
# transliterated to Cyrillic (srp_Cyrl). English: the English side of the German, French and Spanish pairs.
CODES = {
    "afr": "afr_Latn", "amh": "amh_Ethi", "ara": "arb_Arab", "aze": "azj_Latn", "bel": "bel_Cyrl",
    "ben": "ben_Beng", "bul": "bul_Cyrl", "cat": "cat_Latn", "ceb": "ceb_Latn", "ces": "ces_Latn",
    "cmn": "zho_Hans", "cym": "cym_Latn", "dan": "dan_Latn", "deu": "deu_Latn", "ell": "ell_Grek",
    "epo": "epo_Latn", "est": "est_Latn", "eus": "eus_Latn", "fin": "fin_Latn", "fra": "fra_Latn",
    "gla": "gla_Latn", "gle": "gle_Latn", "glg": "glg_Latn", "heb": "heb_Hebr", "hin": "hin_Deva",
    "hrv": "hr", "hun": "hun_Latn", "hye": "hye_Armn", "ind": "ind_Latn", "isl": "isl_Latn",
    "ita": "ita_Latn", "jav": "jav_Latn", "jpn": "jpn_Jpan", "kat": "kat_Geor", "kaz": "kaz_Cyrl",
    "khm": "khm_Khmr", "kor": "kor_Hang", "lit": "lit_Latn", "lvs": "lvs_Latn", "mal": "mal_Mlym",
    "mar": "mar_Deva", "mkd": "mkd_Cyrl", "mon": "khk_Cyrl", "nld": "nld_Latn", "nob": "nob_Latn",
    "pes": "pes_Arab", "pol": "pol_Latn", "por": "por_Latn", "ron": "ron_Latn", "rus": "rus_Cyrl",
    "slk": "slk_Latn", "slv": "slv_Latn", "spa": "spa_Latn", "sqi": "als_Latn", "srp": "srp_Cyrl",
    "swe": "swe_Latn", "swh": "swh_Latn", "tam": "tam_Taml", "tel": "tel_Telu", "tgl": "tgl_Latn",
    "tha": "tha_Thai", "tur": "tur_Latn", "ukr": "ukr_Cyrl", "urd": "urd_Arab", "uzb": "uzn_Latn",
    "vie": "vie_Latn", "xho": "xho_Latn", "yid": "ydd_Hebr", "yue": "yue", "zsm": "zsm_Latn",
}  # fmt: skip
ENGLISH_FROM = ("deu", "fra", "spa")
PER_LANGUAGE = 400


def read(laser: Path, name: str) -> list[str]:
    return repo_file(laser, laser, f"data/tatoeba/v1/{name}").decode("utf-8").splitlines()  # a checkout or a bare mirror


def fits(text: str, lang: str) -> bool:
    """Caption/question length: 3-15 words, or 4-40 characters in scripts without spaces."""
    if lang.rsplit("_", 1)[-1] in NO_SPACE or lang == "yue":
        return 4 <= len(text) <= 40
    return 3 <= len(text.split()) <= 15


def lines(laser: Path, code: str, lang: str) -> list[tuple[str, str]]:
    """(source, text) of one language, in file order, transliterated or filtered by script."""
    if lang == "eng_Latn":
        return [
            (f"tatoeba.{x}-eng.eng#{i}", t.strip())
            for x in ENGLISH_FROM
            for i, t in enumerate(read(laser, f"tatoeba.{x}-eng.eng"))
        ]
    out = []
    for i, text in enumerate(read(laser, f"tatoeba.{code}-eng.{code}")):
        text = text.strip()
        cyrillic = any("\u0400" <= c <= "\u04ff" for c in text)
        if code == "uzb" and cyrillic:
            continue
        if code == "srp" and not cyrillic:
            text = to_cyrillic(text)
        out.append((f"tatoeba.{code}-eng#{i}", text))
    return out


def build(laser: Path, out: Path) -> int:
    rows = []
    for code, lang in sorted({**CODES, "eng": "eng_Latn"}.items(), key=lambda kv: kv[1]):
        seen: set[str] = set()
        candidates = []
        for source, text in lines(laser, code, lang):
            if text and text not in seen and fits(text, lang) and is_language_evidence(text, lang):
                seen.add(text)
                candidates.append((source, text))
        random.Random(f"tatoeba/{lang}").shuffle(candidates)
        for source, text in candidates[:PER_LANGUAGE]:
            rows.append(dev_row(lang, source, text))
    return write(rows, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--laser", type=Path, required=True, help="LASER checkout or bare git mirror (see the docstring)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("tatoeba-lid-dev.jsonl"))
    args = parser.parse_args()
    print(f"{build(args.laser, args.out)} rows -> {args.out}")
