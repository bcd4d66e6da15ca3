"""The filter's targets on real text: UDHR paragraphs in 94 languages (../shared/data/udhr-lid-dev.jsonl)."""

from __future__ import annotations

import pytest

from polymix.mix.schema import ENGLISH
from polymix.translate.lid import score_batch
from polymix.translate.lid_calibrate import TARGETS, calibrate, caption_cut, measure, read_dev
from polymix.translate.lid_settings import SETTINGS_FILE, LidSettings, default_settings


@pytest.fixture(scope="module")
def dev(shared_data):
    rows = read_dev(shared_data / "udhr-lid-dev.jsonl")
    langs = [r["lang"] for r in rows]
    paras = [r["text"] for r in rows]
    caps = [caption_cut(r["text"], r["lang"]) for r in rows]
    return langs, {"paragraph": (paras, score_batch(paras)), "caption": (caps, score_batch(caps))}


def test_caption_cut():
    assert caption_cut("one two three four five six seven eight nine ten", "deu_Latn") == "one two three four five six seven eight"
    text = "人人生而自由，在尊严和权利上一律平等。他们赋有理性和良心，并应以兄弟关系的精神相对待。"
    assert caption_cut(text, "zho_Hans") == text[:24] and len(text[:24]) == 24


@pytest.mark.parametrize("length, keep_target", [("paragraph", TARGETS["keep_para"]), ("caption", TARGETS["keep_cap"])])
def test_targets_on_the_dev_file(dev, length, keep_target):
    langs, texts = dev
    strings, scores = texts[length]
    rates = measure(strings, langs, scores, default_settings(), pairs_per_target=300, seed=1)
    assert len(rates) == 94
    low_keep = {x: r["keep"] for x, r in rates.items() if r["keep"] < keep_target}
    low_english = {x: r["english"] for x, r in rates.items() if x != ENGLISH and r["english"] < TARGETS["english"]}
    low_other = {x: r["other"] for x, r in rates.items() if x != ENGLISH and r["other"] < TARGETS["other"]}
    assert not low_keep and not low_english and not low_other, (low_keep, low_english, low_other)


def test_a_naive_langid_check_misses_the_targets(dev):
    """Why the ensemble: langid's top label alone keeps few Zulu or Malay paragraphs."""
    langs, texts = dev
    naive = LidSettings.load(detectors=["langid"], groups=[], vote_min_prob={})
    rates = measure(texts["paragraph"][0], langs, texts["paragraph"][1], naive, pairs_per_target=50)
    assert rates["zul_Latn"]["keep"] < 0.5 and rates["zsm_Latn"]["keep"] < 0.7


@pytest.mark.slow
def test_calibration_is_reproducible(shared_data, tmp_path):
    """The shipped settings are what `polymix lid-calibrate --write` computes from the dev file."""
    out = tmp_path / "lid_settings.yaml"
    report = calibrate(shared_data / "udhr-lid-dev.jsonl", processes=2, write=out)
    shipped, again = LidSettings.load(SETTINGS_FILE), LidSettings.load(out)
    assert again.to_dict() == shipped.to_dict()
    assert report["seconds"] < 180
    for length, keep_target in (("paragraph", TARGETS["keep_para"]), ("caption", TARGETS["keep_cap"])):
        rates = report[length]
        assert min(r["keep"] for r in rates.values()) >= keep_target
        assert min(r["english"] for x, r in rates.items() if x != ENGLISH) >= TARGETS["english"]
        assert min(r["other"] for x, r in rates.items() if x != ENGLISH) >= TARGETS["other"]
