"""What ``make demo-train`` prints at the end: per-language figures, the export's German answer, one line.

    python -m polymix.training.demo_report --run out/train/demo --export out/demo-model --data out/demo-train

Reads the held-out evaluation the run wrote at its end (``RUN/metrics.jsonl``), prints exact
match on short answers and chrF on captions per language, asks the exported
``Blip2ForConditionalGeneration`` (plain transformers, no polymix code) German questions about
a shapes image that no split of the mix holds, and ends with the line

    exact_match_min=<min over languages, 0-1> chrf_min=<min over languages, 0-100> langs=<n>

Exit code 2 with a one-line message when the run has no evaluation yet.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from polymix.errors import ConfigError

GERMAN = "deu_Latn"


def last_eval(run: str | Path) -> dict:
    """The newest evaluation row of a run's metrics.jsonl."""
    path = Path(run) / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    evals = [r["eval"] for r in rows if "eval" in r]
    if not evals:
        raise ConfigError(f"{path}: no evaluation yet; train first (`make demo-train`) or set train.eval_every >= 0")
    return evals[-1]


def per_language(result: dict) -> dict[str, dict[str, float]]:
    """{lang: {"exact_match": 0-1, "chrf": 0-100}} from an evaluation's "<lang>/<task>" entries."""
    table: dict[str, dict[str, float]] = {}
    for key, value in result.items():
        if "/" not in key:
            continue
        lang, task = key.split("/", 1)
        if task == "vqa":
            table.setdefault(lang, {})["exact_match"] = value["exact_match"] / 100.0
        elif task == "caption":
            table.setdefault(lang, {})["chrf"] = value["chrf"]
    return table


def summary_line(table: dict[str, dict[str, float]]) -> str:
    em = min((row.get("exact_match", 0.0) for row in table.values()), default=0.0)
    chrf = min((row.get("chrf", 0.0) for row in table.values()), default=0.0)
    return f"exact_match_min={em:.3f} chrf_min={chrf:.1f} langs={len(table)}"


def new_scene(data: str | Path, seed: int = 7):
    """A shapes scene (and its image at 224 px) that no split of the mix ``data`` holds."""
    from polymix.mix.sources.shapes import draw, make_scene
    from polymix.training.demo import mix_rows

    names = {r["image"] for r in mix_rows(Path(data), split=None)}
    taken = {make_scene(int(m[1]), int(m[2])) for m in (re.fullmatch(r"shapes-(\d+)-(\d+)\.png", n) for n in names) if m}
    index = 0
    while (scene := make_scene(seed, index)) in taken or len({shape for _, shape in scene.objects}) < 2:
        index += 1
    return scene, draw(scene, 224)


def ask_export(export: str | Path, image, questions: list[str]) -> list[str]:
    """Answers of the exported model through plain transformers (greedy, as the README shows)."""
    from transformers import Blip2ForConditionalGeneration, Blip2Processor

    processor = Blip2Processor.from_pretrained(str(export))
    model = Blip2ForConditionalGeneration.from_pretrained(str(export)).eval()
    answers = []
    for question in questions:
        inputs = processor(images=image, text=question, return_tensors="pt")
        answers.append(processor.batch_decode(model.generate(**inputs, max_new_tokens=40), skip_special_tokens=True)[0].strip())
    return answers


def german_check(export: str | Path, data: str | Path) -> list[tuple[str, str, str]]:
    """(German question, the export's answer, the true answer in the mix's German) for a new scene."""
    from polymix.mix.sources.shapes import caption, questions
    from polymix.training.demo import mix_rows

    rows = [r for r in mix_rows(Path(data), split=None) if r["task"] == "vqa"]
    # The mix's own German for each English question and answer (the toy translator made them).
    german = {r["instruction_en"]: r["instruction"] for r in rows if r["lang"] == GERMAN}
    words = {r["target_en"]: r["target"] for r in rows if r["lang"] == GERMAN}
    scene, image = new_scene(data)
    kinds = ("How many", "What color is the background", "What color", "What shape", "Is there")
    picked = {next(k for k in kinds if q.startswith(k)): (q, a) for q, a in reversed(questions(scene))}  # first of each kind
    asked = [
        (german[f"{q} Answer in a few words."], words.get(a, a))
        for q, a in picked.values()
        if f"{q} Answer in a few words." in german
    ]
    answers = ask_export(export, image, [q for q, _ in asked])
    print(f"a new image: {caption(scene)}")
    return [(q, got, want) for (q, want), got in zip(asked, answers)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m polymix.training.demo_report", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="the run folder of `polymix train` (holds metrics.jsonl)")
    p.add_argument("--export", help="a `polymix train export` folder to ask German questions (skipped when absent)")
    p.add_argument("--data", required=True, help="the mix the run trained on (for German wording and a new image)")
    args = p.parse_args(argv)
    try:
        table = per_language(last_eval(args.run))
        print(f"{'language':<10}{'VQA exact match':>17}{'caption chrF':>14}")
        for lang, row in sorted(table.items()):
            print(f"{lang:<10}{row.get('exact_match', float('nan')):>17.3f}{row.get('chrf', float('nan')):>14.1f}")
        if args.export:
            for question, got, want in german_check(args.export, args.data):
                print(f"  {question} -> {got!r} (true: {want!r})")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(summary_line(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
