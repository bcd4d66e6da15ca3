"""The metrics mBLIP reported, computed the way its ``src/tasks/vllm/evaluation.py`` computed them.

- :func:`cider`: XM3600 captions. References and predictions are segmented for zh/ja/th and
  NFC-normalised (:func:`normalize.segment`), tokenised by pycocoevalcap's ``PTBTokenizer``
  (Stanford CoreNLP's PTB tokenizer: a Java program, so ``java`` must be on PATH), and scored
  by pycocoevalcap's ``Cider`` (CIDEr-D; document frequencies over the evaluated images). x100.
- :func:`classification_accuracy`: xGQA, XVNLI, MaRVL. The prediction, after :func:`vqa_clean`,
  lower-cased and stripped, equals the single label. x100.
- :func:`maxm_accuracy`: MaXM. The prediction, lower-cased and stripped (no VQA cleaning),
  equals any of the ``processed_answers``. x100.
"""

from __future__ import annotations

import shutil

from polymix.training.benchmarks.base import BenchmarkError
from polymix.training.benchmarks.normalize import segment, vqa_clean


def _pycocoevalcap():
    try:
        import pycocoevalcap
    except ImportError:
        raise BenchmarkError(
            "CIDEr is computed with pycocoevalcap, which is not installed: pip install 'polymix[eval]' (`make install` has it)"
        ) from None
    return pycocoevalcap


def _java() -> None:
    if shutil.which("java") is None:
        raise BenchmarkError(
            "CIDEr needs Java: pycocoevalcap's PTB tokenizer is Stanford CoreNLP (a jar); "
            "install a JRE (apt-get install default-jre-headless) and put `java` on PATH"
        )


def ptb_tokenize(captions: dict[str, list[str]]) -> dict[str, list[str]]:
    """pycocoevalcap's PTBTokenizer over ``{image_id: [caption, ...]}`` (lower-cased, punctuation dropped)."""
    _pycocoevalcap()
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    _java()
    return PTBTokenizer().tokenize({k: [{"caption": c} for c in caps] for k, caps in captions.items()})


def cider(predictions: list[str], references: list[list[str]], lang: str) -> float:
    """Corpus CIDEr-D x 100 of one language's captions, one prediction per image."""
    _pycocoevalcap()
    from pycocoevalcap.cider.cider import Cider

    if not predictions:
        return 0.0
    keys = [str(i) for i in range(len(predictions))]
    gts = {k: segment(list(refs), lang) for k, refs in zip(keys, references)}
    res = {k: segment([p], lang) for k, p in zip(keys, predictions)}
    score, _ = Cider().compute_score(ptb_tokenize(gts), ptb_tokenize(res))
    return 100.0 * float(score)


def classification_accuracy(predictions: list[str], labels: list[str], clean: bool = True) -> float:
    """Share (x100) of predictions equal to their label after mBLIP's cleaning."""
    if not predictions:
        return 0.0
    preds = [vqa_clean(p) for p in predictions] if clean else predictions
    hits = sum(p.strip().lower() == label.strip().lower() for p, label in zip(preds, labels))
    return 100.0 * hits / len(predictions)


def maxm_accuracy(predictions: list[str], answers: list[list[str]]) -> float:
    """Share (x100) of predictions equal to one of their processed answers."""
    if not predictions:
        return 0.0
    hits = sum(p.strip().lower() in {a.strip().lower() for a in refs} for p, refs in zip(predictions, answers))
    return 100.0 * hits / len(predictions)
