"""Caption and VQA scores: chrF, CIDEr-D and exact match on hand-checked cases."""

from __future__ import annotations

import pytest

from polymix.training.evaluate import references, score
from polymix.metrics import chrf, cider, exact_match, normalize_answer


def test_exact_match_normalises():
    assert normalize_answer("The Two!") == "two"
    assert exact_match(["The two.", "no", "Rot"], [["two"], ["yes"], ["rot", "red"]]) == pytest.approx(200 / 3)
    assert exact_match([], []) == 0.0


def test_chrf_bounds_and_order():
    ref = [["A red circle on a white background."]]
    assert chrf(["A red circle on a white background."], ref) == pytest.approx(100.0)
    close = chrf(["A red circle on a black background."], ref)
    far = chrf(["Two squares."], ref)
    assert 0 < far < close < 100
    assert chrf(["x"], [["totally different", "x"]]) == pytest.approx(100.0)  # best reference wins
    assert chrf(["ein roter Kreis"], [["ein roter Kreis"]]) == pytest.approx(100.0)


def test_cider_prefers_the_right_caption():
    refs = [["a red circle on a white background"], ["a blue square on a black background"], ["a green triangle on a gray background"]]
    right = cider(["a red circle on a white background", "a blue square on a black background", "a green triangle on a gray background"], refs)
    wrong = cider(["a green triangle on a gray background", "a red circle on a white background", "a blue square on a black background"], refs)
    assert right > wrong >= 0
    assert cider(["nothing like it"] * 3, refs) == pytest.approx(0.0)


def test_score_groups_by_language_and_task():
    rows = [
        {"lang": "eng_Latn", "task": "vqa", "prediction": "two", "references": ["two"]},
        {"lang": "deu_Latn", "task": "vqa", "prediction": "drei", "references": ["zwei"]},
        {"lang": "eng_Latn", "task": "caption", "prediction": "a red circle", "references": ["a red circle"]},
    ]
    out = score(rows)
    assert out["eng_Latn/vqa"] == {"n": 1, "exact_match": 100.0} and out["deu_Latn/vqa"]["exact_match"] == 0.0
    assert out["vqa"] == {"langs": 2, "exact_match": 50.0}
    assert out["eng_Latn/caption"]["chrf"] == pytest.approx(100.0) and "cider" in out["eng_Latn/caption"]
    # English rows are scored against every annotator answer, translated rows against their target
    assert references({"lang": "eng_Latn", "target": "2", "answers_en": ["2", "two"]}) == ["2", "two"]
    assert references({"lang": "deu_Latn", "target": "zwei", "answers_en": ["two"]}) == ["zwei"]
