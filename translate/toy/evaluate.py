"""How well the toy model translates: chrF against the references, exact matches, language ID.

Everything goes through polymix's own translation path (``resolve`` + ``NllbTranslator`` with
its default decoding settings), so the figures are those of a real ``polymix translate`` run.
chrF is sacrebleu's default (character 6-grams, beta 2, whitespace removed, precision and recall
averaged over the orders, corpus-level), computed by sacrebleu (:func:`polymix.metrics.chrf`).

    python -m polymix.translate.toy.evaluate [MODEL_DIR]     # held-out chrF and LID per language
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

CHRF_ORDER = 6
CHRF_BETA = 2.0
LID_TOOLS = ("langid", "py3langid", "cld2")


def chrf(hypotheses: Sequence[str], references: Sequence[str], beta: float = CHRF_BETA) -> float:
    """Corpus-level chrF (0-100): ``sacrebleu.corpus_chrf(hyps, [refs], beta=beta)``, through
    :func:`polymix.metrics.chrf` with one reference per hypothesis."""
    from polymix.metrics import chrf as corpus_chrf

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    return corpus_chrf(list(hypotheses), [[r] for r in references], order=CHRF_ORDER, beta=beta)


def identify(text: str) -> dict[str, str]:
    """The ISO 639-1 code each language-ID tool gives ``text`` ('un' when CLD2 does not know)."""
    import langid
    import py3langid
    import pycld2

    try:
        cld2 = pycld2.detect(text)[2][0][1]
    except pycld2.error:
        cld2 = "un"
    return {"langid": langid.classify(text)[0], "py3langid": py3langid.classify(text)[0], "cld2": cld2}


def translator(model_dir: Path | str, threads: int = 1):
    """polymix's translator on ``model_dir`` with its default decoding settings, on CPU."""
    from polymix.translate.model import resolve
    from polymix.translate.nllb import NllbTranslator, RuntimeSettings

    return NllbTranslator(resolve(str(model_dir)), runtime=RuntimeSettings(device="cpu", intra_threads=threads))


def evaluate(model_dir: Path | str, langs: Sequence[str] | None = None, threads: int = 1) -> dict[str, dict]:
    """Per language: held-out chrF and exact matches, LID agreement on the held-out outputs, and
    exact recall of the closed set (questions, answers, template pieces)."""
    from polymix.translate.toy.corpus import heldout_pairs, reference_table, short_strings, template_pieces
    from polymix.translate.toy.languages import LEXICONS

    langs = list(langs or LEXICONS)
    model = translator(model_dir, threads)
    held = heldout_pairs(langs)
    outputs = model.translate([e for _, e, _ in held], [lang for lang, _, _ in held])
    closed = [*short_strings(), *template_pieces()]
    recalled = model.translate(closed * len(langs), [lang for lang in langs for _ in closed])
    report: dict[str, dict] = {}
    for k, lang in enumerate(langs):
        rows = [(out, ref) for (lg, _, ref), out in zip(held, outputs) if lg == lang]
        hyps, refs = [h for h, _ in rows], [r for _, r in rows]
        iso = LEXICONS[lang].iso
        labels = [identify(h) for h in hyps]
        lid = Counter(tool for found in labels for tool, code in found.items() if code == iso)
        table = reference_table(lang)
        got = recalled[k * len(closed) : (k + 1) * len(closed)]
        report[lang] = {
            "heldout": len(rows),
            "chrf": round(chrf(hyps, refs), 2),
            "exact": sum(h == r for h, r in rows),
            "lid": {tool: lid[tool] for tool in LID_TOOLS},
            "cld2_abstained": sum(found["cld2"] == "un" for found in labels),
            "closed_set": len(closed),
            "closed_exact": sum(g == table[e] for g, e in zip(got, closed)),
            "errors": [(e, h, r) for (lg, e, r), h in zip(held, outputs) if lg == lang and h != r][:5],
        }
    return report


def table(report: dict[str, dict]) -> str:
    """The report as a Markdown table."""
    lines = [
        "| language | held-out chrF | exact | LID langid / py3langid / CLD2 (CLD2 abstained) | closed set exact |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for lang, r in report.items():
        lid = " / ".join(str(r["lid"][t]) for t in LID_TOOLS)
        lines.append(
            f"| {lang} | {r['chrf']:.2f} | {r['exact']}/{r['heldout']} | {lid} of {r['heldout']} ({r['cld2_abstained']}) "
            f"| {r['closed_exact']}/{r['closed_set']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    from polymix.translate.toy import TOY_MODEL_DIR

    args = sys.argv[1:] if argv is None else argv
    report = evaluate(args[0] if args else TOY_MODEL_DIR)
    print(table(report))
    for lang, r in report.items():
        for english, got, want in r["errors"]:
            print(f"  {lang}: {english!r}\n      got  {got!r}\n      want {want!r}")


if __name__ == "__main__":
    main()
