"""The offline toy model as the demo's fallback: selected explicitly or when the hub cannot be
reached, refused outside its domain, and its rows survive the language-ID filter end to end."""

from __future__ import annotations

import polars as pl
import pytest

from polymix.mix.prepare import PrepareSettings, prepare
from polymix.translate import model as M
from polymix.translate.nllb import RuntimeSettings
from polymix.translate.stage import TranslateSettings, _SERVICES, resolve_model, translate_mix
from polymix.translate.toy import TOY_LANGUAGES, ToyModelError


@pytest.fixture()
def english(tmp_path):
    out = tmp_path / "english"
    prepare(PrepareSettings(source="shapes", out=out, options={"count": 12}), progress=False)
    return out


def _settings(english, out, **kw):
    base = dict(
        input=english,
        out=out,
        langs=",".join(TOY_LANGUAGES),
        distribution="uniform",
        english_share=0.2,
        cache="none",
        runtime=RuntimeSettings(device="cpu"),
        lid_processes=1,
    )
    base.update(kw)
    return TranslateSettings(**base)


def test_model_toy_resolves_to_the_committed_model():
    resolved = resolve_model("toy", "int8")
    assert resolved.name == "toy" and M.is_ct2_folder(resolved.path) and resolved.key.startswith("toy@")


def test_unreachable_hub_model_falls_back_to_toy_only_when_asked(english, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    _SERVICES.clear()
    with pytest.raises(M.ModelUnavailableError, match="cannot be reached"):
        translate_mix(_settings(english, tmp_path / "strict", model="facebook/nllb-200-distilled-600M"), progress=False)
    manifest = translate_mix(
        _settings(english, tmp_path / "mix", model="facebook/nllb-200-distilled-600M", fallback_to_toy=True), progress=False
    )
    assert manifest["mt_model"].startswith("toy@")
    assert manifest["mt_model_requested"] == "facebook/nllb-200-distilled-600M"
    from polymix.data_cards.card import write_card

    card = write_card(tmp_path / "mix").read_text()
    assert "offline TOY model" in card and "could not be reached" in card


def test_toy_rows_read_correctly_and_survive_the_filter(english, tmp_path):
    manifest = translate_mix(_settings(english, tmp_path / "mix", model="toy"), progress=False)
    rows = pl.scan_parquet(f"{tmp_path / 'mix'}/**/*.parquet", hive_partitioning=True).collect()
    assert set(rows["lang"]) == {"eng_Latn", *TOY_LANGUAGES}
    assert manifest["rejected"] <= 0.02 * (manifest["rows"] + manifest["rejected"])
    german = rows.filter((pl.col("lang") == "deu_Latn") & (pl.col("target_en") == "yes"))
    assert german.height == 0 or set(german["target"]) == {"ja"}
    assert rows.filter(pl.col("lang") != "eng_Latn")["lid_label"].is_not_null().all()


def test_toy_refuses_other_languages_and_sources(english, tmp_path):
    with pytest.raises(ToyModelError, match="jpn_Jpan"):
        translate_mix(_settings(english, tmp_path / "ja", model="toy", langs="de,ja"), progress=False)
    data = tmp_path / "caps.jsonl"
    data.write_text('{"id": "a", "image": "https://example.org/a.jpg", "caption": "A cat on a sofa."}\n')
    other = tmp_path / "generic"
    prepare(PrepareSettings(source="generic", out=other, options={"path": str(data)}), progress=False)
    with pytest.raises(ToyModelError, match="generic"):
        translate_mix(_settings(other, tmp_path / "g", model="toy", langs="de"), progress=False)
