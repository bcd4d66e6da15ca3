"""mBLIP's benchmark metrics on fixed predictions: VQA cleaning, accuracies, CIDEr vs pycocoevalcap."""

from __future__ import annotations

import shutil

import pytest

from polymix.training.benchmarks.normalize import segment, vqa_clean
from polymix.training.benchmarks.scores import classification_accuracy, cider, maxm_accuracy

needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap's PTB tokenizer needs java")


@pytest.mark.parametrize(
    "raw, clean",
    [
        ("Two dogs.", "2 dogs"),  # number word -> digit, final period gone
        ("The Table!", "table"),  # article dropped, lower-cased, '!' spaced away
        ("dont know", "don't know"),  # apostrophe restored
        ("1,000 people", "1000 people"),  # digit comma: punctuation removed, not spaced
        ("black/white", "black white"),  # '/' between words becomes a space
        ("yes ,", "yes"),  # ' ,' present: punctuation removed
        ("3.5 m", "3.5 m"),  # a decimal point stays
        ("  no\n", "no"),
    ],
)
def test_vqa_clean_follows_the_vqa_rules(raw, clean):
    assert vqa_clean(raw) == clean


def test_classification_accuracy_needs_the_cleaning():
    preds, labels = ["Yes.", "the maybe", "No!", "concrete"], ["yes", "maybe", "yes", "Concrete"]
    assert classification_accuracy(preds, labels) == pytest.approx(75.0)
    assert classification_accuracy(preds, labels, clean=False) == pytest.approx(25.0)  # only "concrete"
    assert classification_accuracy([], []) == 0.0


def test_maxm_accuracy_matches_any_processed_answer_without_cleaning():
    preds = ["Red", " deux ", "the cat", "3"]
    answers = [["red", "dark red"], ["2", "deux"], ["cat"], ["three"]]
    assert maxm_accuracy(preds, answers) == pytest.approx(50.0)  # "the cat" and "3" are not cleaned, so they miss


def test_segmentation_of_languages_without_spaces():
    assert segment(["一只猫坐在桌子上。"], "zh") == ["一 只 猫 坐 在 桌 子 上 。"]  # spaCy's Chinese(): characters
    assert segment(["猫がいる。"], "ja") == ["猫 が いる 。"]
    assert segment(["แมวนั่งอยู่บนโต๊ะ"], "th") == ["แมว นั่ง อยู่ บน โต๊ะ"]
    decomposed = "Cafe\u0301"
    assert segment([decomposed], "fr") == ["Café"]  # NFC for every language


CAPTIONS = [
    ["a red circle on a white background", "a red round shape"],
    ["a blue square on a black background", "a dark square that is blue"],
    ["two green triangles", "a pair of green triangles on grey"],
]


@needs_java
def test_cider_equals_pycocoevalcap_called_directly():
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    preds = ["A red circle.", "a blue square on black", "three green triangles"]
    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": c} for c in refs] for i, refs in enumerate(CAPTIONS)})
    res = tok.tokenize({i: [{"caption": p}] for i, p in enumerate(preds)})
    direct, _ = Cider().compute_score(gts, res)
    assert cider(preds, CAPTIONS, "en") == pytest.approx(100 * direct)
    assert 0 < cider(preds, CAPTIONS, "en") < cider([r[0] for r in CAPTIONS], CAPTIONS, "en")


@needs_java
def test_cider_segments_chinese_as_mblip_did():
    refs = [["一只红色的圆"], ["一个蓝色的方块"], ["两个绿色的三角形"]]
    preds = ["红色的圆", "蓝色的方块", "绿色三角形"]
    # Without segmentation each caption is one "word" and nothing matches; characters give n-gram overlap.
    assert cider(preds, refs, "zh") > 0
    assert cider(preds, refs, "en") == pytest.approx(0.0)
