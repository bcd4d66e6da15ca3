import csv

import pytest

from polymix import languages as L


def test_registry_has_95_targets_plus_english_with_unique_codes():
    langs = L.languages()
    assert len(langs) == 96
    assert langs[0].nllb == "eng_Latn"
    assert len(L.targets()) == 95 and "eng_Latn" not in L.targets()
    assert len({lang.nllb for lang in langs}) == 96
    assert len({lang.iso639_3 + lang.script for lang in langs}) == 96
    assert len({lang.iso639_1 for lang in langs if lang.iso639_1}) == 95  # Cebuano has none


def test_registry_matches_mblip_table(shared_data):
    rows = list(csv.DictReader(open(shared_data / "mblip-languages.tsv", encoding="utf-8"), delimiter="\t"))
    assert len(rows) == 96
    for row in rows:
        lang = L.get(row["mc4_code"])
        assert lang.nllb_mblip == row["nllb_code_mblip"]
        assert lang.mc4_share == pytest.approx(float(row["mc4_share_percent"]))
    # the one deliberate difference: Chinese defaults to Simplified script
    assert L.get("zh").nllb == "zho_Hans" and L.get("zh").nllb_mblip == "zho_Hant"


def test_langid_codes_are_labels_langid_can_output():
    from langid.langid import LanguageIdentifier, model

    known = set(LanguageIdentifier.from_modelstring(model).nb_classes)
    covered = [lang for lang in L.languages() if lang.langid]
    assert all(lang.langid in known for lang in covered)
    # langid knows 78 of the 94 languages of the UDHR dev file (English included; Sindhi and
    # Sorani are not in that file)
    assert len([lang for lang in covered if lang.nllb != "ckb_Arab"]) == 78


def test_resolve_accepts_all_nllb_and_iso_codes_and_both_chinese_scripts():
    assert L.resolve("all") == L.targets()
    assert L.resolve("all", include_english=True)[0] == "eng_Latn"
    assert L.resolve("de, fr,deu_Latn") == ["deu_Latn", "fra_Latn"]
    assert L.resolve(["zh", "zho_Hant", "he", "iw", "nb", "no"]) == ["zho_Hans", "zho_Hant", "heb_Hebr", "nob_Latn"]
    assert L.get("zho_Hant").script == "Hant"


def test_unknown_codes_are_all_reported_with_the_nearest_valid_ones():
    with pytest.raises(L.UnknownLanguageError) as err:
        L.resolve("de,xx,klingon,german,fra_Latm,deutsch")
    message = str(err.value)
    assert "'xx'" in message and "'klingon'" in message and "'de'" not in message
    assert "'german' (did you mean deu_Latn (German)" in message  # by name
    assert "'fra_Latm' (did you mean fra_Latn (French)" in message  # by spelling
    assert "'deutsch' (did you mean deu_Latn (German)" in message  # by ISO 639-3 stem
    assert message.count("_") <= 4 * 5 + 1  # at most 4 hints each, not all 96 codes
    assert "polymix langs" in message


def test_mc4_distribution_sums_to_one_and_keeps_english_share():
    dist = L.mc4_distribution()
    assert sum(dist.values()) == pytest.approx(1.0)
    assert dist["eng_Latn"] == pytest.approx(0.438, abs=0.002)
    sub = L.mc4_distribution(["deu_Latn", "fra_Latn"])
    assert sub["deu_Latn"] / sub["fra_Latn"] == pytest.approx(6.088564 / 5.065605)


def test_iso_codes_and_scripts_agree_with_langcodes():
    """The ISO and script columns polymix added to mBLIP's table, checked against langcodes (the IANA
    registry and CLDR): where they differ, the table keeps mBLIP's and the Hub's usual codes."""
    import langcodes

    from polymix.data_cards.card import bcp47

    kept = {
        "tgl_Latn": ("tl", "fil"),  # CLDR folds Tagalog into Filipino; mC4 and the Hub write tl
        "pbt_Arab": ("ps", "pbt"),  # Southern Pashto: the table uses the macrolanguage's 639-1 code
        "ckb_Arab": ("ku", "ckb"),
    }  # Central Kurdish: likewise (ku)
    for lang in L.languages():
        tag = langcodes.Language.get(lang.nllb.replace("_", "-"))
        assert tag.script == lang.script and tag.to_alpha3() == langcodes.Language.get(lang.iso639_3).to_alpha3()
        ours, theirs = lang.iso639_1 or lang.iso639_3, tag.prefer_macrolanguage().language
        assert (ours, theirs) == kept.get(lang.nllb, (ours, ours)), lang.nllb
        assert langcodes.tag_is_valid(bcp47(lang.nllb)), bcp47(lang.nllb)
