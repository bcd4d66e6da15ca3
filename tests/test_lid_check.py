"""`polymix lid-check` on JSONL and Parquet files (the function behind the command)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from polymix.errors import ConfigError
from polymix.translate.lid.check import format_summary, lid_check

ROWS = [
    {
        "id": 1,
        "lang": "deu_Latn",
        "text": "Ein Mann reitet auf einem Pferd an einem Sandstrand neben dem Meer.",
        "en": "A man riding a horse on a sandy beach next to the ocean.",
    },
    {
        "id": 2,
        "lang": "deu_Latn",
        "text": "A man riding a horse on a sandy beach next to the ocean.",
        "en": "A man riding a horse on a sandy beach next to the ocean.",
    },
    {
        "id": 3,
        "lang": "fra_Latn",
        "text": "Un homme monte un cheval sur une plage de sable au bord de la mer.",
        "en": "A man riding a horse on a sandy beach next to the ocean.",
    },
    {
        "id": 4,
        "lang": "fra_Latn",
        "text": "Ein Mann reitet auf einem Pferd an einem Sandstrand neben dem Meer.",
        "en": "A man riding a horse on a sandy beach next to the ocean.",
    },
    {"id": 5, "lang": "zho_Hans", "text": "", "en": "A red bus."},
    {"id": 6, "lang": "zul_Latn", "text": "Bonke abantu bazalwa bekhululekile belingana ngesithunzi nangamalungelo.", "en": "x"},
]
EXPECTED = {1: None, 2: "untranslated", 3: None, 4: "wrong_language", 5: "empty_translation", 6: None}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_jsonl_in_parquet_out(tmp_path):
    src = write_jsonl(tmp_path / "rows.jsonl", ROWS)
    result = lid_check(src, tmp_path / "out.parquet", text_field="text", lang_field="lang")
    out = pl.read_parquet(tmp_path / "out.parquet")
    assert out.height == len(ROWS) and out["id"].to_list() == [r["id"] for r in ROWS]
    assert {"lid_label", "lid_score", "keep", "reason"} <= set(out.columns)
    assert dict(zip(out["id"], out["reason"])) == EXPECTED
    assert out["keep"].to_list() == [EXPECTED[r["id"]] is None for r in ROWS]
    assert out.filter(pl.col("id") == 1)["lid_label"].item() == "deu_Latn"
    # what a rejected row really is: the German text claimed as French, the English copy
    assert dict(zip(out["id"], out["lid_seen"]))[4] == "deu_Latn" and dict(zip(out["id"], out["lid_seen"]))[2] == "eng_Latn"
    rates = {r["lang"]: r["keep_rate"] for r in result["per_lang"]}
    assert rates == {"deu_Latn": 0.5, "fra_Latn": 0.5, "zho_Hans": 0.0, "zul_Latn": 1.0}
    text = format_summary(result)
    assert "deu_Latn" in text and "untranslated=1" in text


def test_parquet_in_jsonl_out_with_a_source_field(tmp_path):
    pl.DataFrame(ROWS).write_parquet(tmp_path / "rows.parquet")
    result = lid_check(tmp_path / "rows.parquet", tmp_path / "out.jsonl", source_field="en")
    back = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(back) == len(ROWS) and result["kept"] == 3
    by_id = {r["id"]: r for r in back}
    assert by_id[2]["reason"] == "untranslated" and by_id[2]["keep"] is False
    assert by_id[1]["reason"] is None and by_id[1]["keep"] is True and by_id[1]["en"] == ROWS[0]["en"]


def test_bad_input_is_a_clear_error(tmp_path):
    src = write_jsonl(tmp_path / "rows.jsonl", [{"lang": "xx_Nope", "text": "hallo"}, {"lang": "qq", "text": "x"}])
    with pytest.raises(ConfigError, match="xx_Nope.*qq|qq.*xx_Nope"):
        lid_check(src, tmp_path / "out.jsonl")
    with pytest.raises(ConfigError, match="caption"):
        lid_check(src, tmp_path / "out.jsonl", text_field="caption")
    with pytest.raises(ConfigError, match="unknown file type"):
        lid_check(src, tmp_path / "out.csv")
