"""The data card of a built mix: Hub metadata that parses back, tables, chart, examples."""

from __future__ import annotations

import datasets
import pytest
import yaml
from huggingface_hub import DatasetCard
from test_lid_accounting import build_mix

from polymix.data_cards.card import read_metadata, size_category, write_card
from polymix.data_cards.hub_rules import check_metadata
from polymix import shards
from polymix.mix.prepare import PrepareSettings, prepare


def test_card_of_a_translated_mix(tmp_path):
    build_mix(tmp_path)
    readme = write_card(tmp_path)
    assert readme == tmp_path / "README.md" and (tmp_path / "rows_per_language.png").stat().st_size > 1000
    text = readme.read_text(encoding="utf-8")
    meta = read_metadata(readme)
    assert meta == yaml.safe_load(text.split("---\n")[1])
    assert meta["language"] == ["de", "en", "fr"]
    assert meta["language_details"] == ["de-Latn", "en-Latn", "fr-Latn"]
    assert meta["license"] == "other" and meta["license_name"] == "polymix-mixed-sources" and meta["license_link"] == "LICENSE.md"
    terms = (tmp_path / "LICENSE.md").read_text(encoding="utf-8")
    assert "CC-BY-NC-4.0" in terms and "coco" in terms and "vqav2" in terms
    assert meta["source_datasets"] == ["extended|HuggingFaceM4/VQAv2", "extended|coco"]
    assert check_metadata(meta) == []
    assert DatasetCard.load(readme).data.to_dict() == meta  # huggingface_hub reads back what it wrote
    assert meta["task_categories"] == ["image-to-text", "visual-question-answering"]
    assert meta["size_categories"] == ["n<1K"]
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert configs["default"]["default"] is True
    assert configs["default"]["data_files"] == [{"split": "train", "path": "lang=*/part-*.parquet"}]
    assert configs["fra_Latn"]["data_files"] == [{"split": "train", "path": "lang=fra_Latn/part-*.parquet"}]
    assert sorted(configs) == ["default", "deu_Latn", "eng_Latn", "fra_Latn"]
    # body: sources, decoding and filter settings, the per-language table by reason, examples
    assert "| fra_Latn | French | 2 | 2 |" in text
    assert "untranslated" in text and "empty_translation" in text and "wrong_language" in text
    assert "no_repeat_ngram_size: 4" in text and "vote_min_prob" in text
    # how the filter decided: the referee, the letters, and the files it was calibrated on
    assert "lingua re-checked" in text and "2 letters its language never writes" in text
    assert "calibrated on udhr-lid-dev.jsonl, captions-lid-dev.jsonl, tatoeba-lid-dev.jsonl, ud-lid-dev.jsonl;" in text
    assert "Accounting: 12 rows planned = 9 kept + 3 rejected." in text
    assert "Ein Mann reitet auf einem Pferd" in text and "rows_per_language.png" in text
    for key in ("geigle2024mblip", "nllb2022", "lin2014coco", "goyal2017vqav2"):  # BibTeX of recipe, model, sources
        assert f"{{{key}," in text


def test_card_of_an_english_mix_is_regenerated(tmp_path):
    out = tmp_path / "mix"
    prepare(PrepareSettings(source="shapes", out=out, limit=12, chunk_size=5), progress=False)
    readme = write_card(out)
    first = readme.read_text(encoding="utf-8")
    meta = read_metadata(readme)
    assert meta["language"] == ["en"] and meta["language_details"] == ["en-Latn"]
    assert meta["multilinguality"] == "monolingual" and "nllb" not in meta["tags"] and meta["source_datasets"] == ["original"]
    assert [c["config_name"] for c in meta["configs"]] == ["default", "eng_Latn"]
    assert "Not translated" in first and "shapes" in first
    assert write_card(out).read_text(encoding="utf-8") == first


def test_size_categories():
    assert [size_category(n) for n in (0, 999, 1000, 250_000, 5_000_000_000)] == ["n<1K", "n<1K", "1K<n<10K", "100K<n<1M", "n>1B"]


def test_configs_expose_the_real_splits_to_datasets(tmp_path):
    """A source's val rows are a `validation` split of every config; none of them leaks into `train`."""
    out = tmp_path / "mix"
    prepare(PrepareSettings(source="shapes", out=out, limit=60, chunk_size=25, options={"val_every": 3}), progress=False)
    split_of = {r["id"]: r["split"] for r in shards.scan(out).collect().to_dicts()}
    assert set(split_of.values()) == {"train", "val"}
    meta = read_metadata(write_card(out))
    assert check_metadata(meta) == []
    configs = {c["config_name"]: c["data_files"] for c in meta["configs"]}
    assert configs["eng_Latn"] == [
        {"split": "train", "path": "lang=eng_Latn/part-*.parquet"},
        {"split": "validation", "path": "lang=eng_Latn/validation-*.parquet"},
    ]
    for name in ("default", "eng_Latn"):
        loaded = datasets.load_dataset(str(out), name)  # the card's YAML, read by datasets itself
        assert sorted(loaded) == ["train", "validation"]
        assert {split_of[i] for i in loaded["train"]["id"]} == {"train"}
        assert {split_of[i] for i in loaded["validation"]["id"]} == {"val"}
        assert len(loaded["train"]) + len(loaded["validation"]) == len(split_of)


@pytest.mark.parametrize(
    "key, value, problem",
    [
        ("language_details", ["deu_Latn"], "BCP-47"),
        ("language_details", ["xx-Latn"], "BCP-47"),  # the right form, but no registered language
        ("language", ["qq"], "ISO 639"),
        ("license_link", None, "license_link"),
        ("license_name", "Mixed: per-source licenses", "slug"),
        ("source_datasets", ["shapes"], "original"),
        ("size_categories", ["small"], "size_categories"),
        ("configs", [{"config_name": "default", "data_files": [{"split": "val-1", "path": "x"}]}], "split name"),
    ],
)
def test_hub_rules_catch_what_the_old_card_wrote(tmp_path, key, value, problem):
    prepare(PrepareSettings(source="shapes", out=tmp_path, limit=4, chunk_size=4), progress=False)
    meta = read_metadata(write_card(tmp_path))
    meta[key] = value
    assert any(problem in p for p in check_metadata(meta)), check_metadata(meta)
