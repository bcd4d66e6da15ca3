"""Caption and VQA scores: chrF (sacrebleu), CIDEr-D (equal to pycocoevalcap) and exact match on hand-checked cases."""

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


def test_chrf_is_sacrebleus_with_a_varying_number_of_references():
    import sacrebleu

    hyps = ["a red circle on a white background", "zwei", "the", "ein", "Un cercle rouge."]
    refs = [["a red circle on white", "a red disc"], ["zwei"], ["a"], ["ein", "eins", "1"], ["un cercle rouge"]]
    # sacrebleu wants every sentence to have the same number of references: repeat the first one,
    # which cannot change the best reference chosen per sentence
    streams = [[r[k] if k < len(r) else r[0] for r in refs] for k in range(3)]
    assert chrf(hyps, refs) == pytest.approx(sacrebleu.corpus_chrf(hyps, streams).score, abs=1e-9)
    # the case the hand-written chrF got wrong (78.57): a 1-letter reference has no 2-grams, and
    # sacrebleu does not count the hypothesis' 2-grams against it
    assert chrf(["the", "ein"], [["a"], ["ein"]]) == pytest.approx(89.86928104575163)
    assert chrf(["a b"], [[]]) == 0.0 and chrf([], []) == 0.0


def test_cider_equals_pycocoevalcap_called_directly():
    """Same words in, the same number out, to the last digit (pycocoevalcap is in the [test] extra)."""
    import random

    from pycocoevalcap.cider.cider import Cider

    from polymix.metrics import _words

    vocab = "a red blue green circle square triangle on the white black background two ein roter Kreis".split()
    rng = random.Random(0)
    for _ in range(20):
        sentence = lambda: " ".join(rng.choice(vocab) for _ in range(rng.randint(1, 9)))  # noqa: E731
        preds = [sentence() for _ in range(rng.randint(1, 12))]
        refs = [[sentence() for _ in range(rng.randint(1, 4))] for _ in preds]
        gts = {str(i): [" ".join(_words(r)) for r in rs] for i, rs in enumerate(refs)}
        res = {str(i): [" ".join(_words(p))] for i, p in enumerate(preds)}
        assert cider(preds, refs) == 100 * float(Cider().compute_score(gts, res)[0])


def test_cider_prefers_the_right_caption():
    refs = [
        ["a red circle on a white background"],
        ["a blue square on a black background"],
        ["a green triangle on a gray background"],
    ]
    right = cider(
        ["a red circle on a white background", "a blue square on a black background", "a green triangle on a gray background"],
        refs,
    )
    wrong = cider(
        ["a green triangle on a gray background", "a red circle on a white background", "a blue square on a black background"],
        refs,
    )
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
