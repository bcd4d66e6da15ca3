"""The data card of a built mix: Hub metadata that parses back, tables, chart, examples."""

from __future__ import annotations

import yaml
from test_lid_accounting import build_mix

from polymix.data_cards.card import read_metadata, size_category, write_card
from polymix.mix.prepare import PrepareSettings, prepare


def test_card_of_a_translated_mix(tmp_path):
    build_mix(tmp_path)
    readme = write_card(tmp_path)
    assert readme == tmp_path / "README.md" and (tmp_path / "rows_per_language.png").stat().st_size > 1000
    text = readme.read_text(encoding="utf-8")
    meta = read_metadata(readme)
    assert meta == yaml.safe_load(text.split("---\n")[1])
    assert meta["language"] == ["de", "en", "fr"]
    assert meta["language_details"] == ["deu_Latn", "eng_Latn", "fra_Latn"]
    assert meta["license"] == "other" and "CC-BY-NC-4.0" in meta["license_details"] and "coco" in meta["license_details"]
    assert meta["task_categories"] == ["image-to-text", "visual-question-answering"]
    assert meta["size_categories"] == ["n<1K"]
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert configs["default"]["default"] is True
    assert configs["default"]["data_files"] == [{"split": "train", "path": "lang=*/*.parquet"}]
    assert configs["fra_Latn"]["data_files"][0]["path"] == "lang=fra_Latn/*.parquet"
    assert all((tmp_path / f"lang={x}").is_dir() for x in meta["language_details"])
    # body: sources, decoding and filter settings, the per-language table by reason, examples
    assert "| fra_Latn | French | 2 | 2 |" in text
    assert "untranslated" in text and "empty_translation" in text and "wrong_language" in text
    assert "no_repeat_ngram_size: 4" in text and "vote_min_prob" in text
    assert "Accounting: 12 rows planned = 9 kept + 3 rejected." in text
    assert "Ein Mann reitet auf einem Pferd" in text and "rows_per_language.png" in text


def test_card_of_an_english_mix_is_regenerated(tmp_path):
    out = tmp_path / "mix"
    prepare(PrepareSettings(source="shapes", out=out, limit=12, chunk_size=5), progress=False)
    readme = write_card(out)
    first = readme.read_text(encoding="utf-8")
    meta = read_metadata(readme)
    assert meta["language"] == ["en"] and meta["language_details"] == ["eng_Latn"]
    assert meta["multilinguality"] == "monolingual" and "nllb" not in meta["tags"]
    assert [c["config_name"] for c in meta["configs"]] == ["default", "eng_Latn"]
    assert "Not translated" in first and "shapes" in first
    assert write_card(out).read_text(encoding="utf-8") == first


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 250_000, 5_000_000_000)] == ["n<1K", "n<1K", "1K<n<10K", "100K<n<1M", "n>1B"]
