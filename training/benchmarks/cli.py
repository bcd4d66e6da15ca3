"""``polymix eval``: score a trained model on one of mBLIP's benchmarks, or on a mix's held-out rows.

    polymix eval --benchmark xgqa --data iglue/datasets/xGQA/annotations/few_shot --images gqa/images --model out/train/x
    polymix eval --benchmark xm3600 --data Crossmodal3600/captions.jsonl --images Crossmodal3600/images \\
        --model out/model --langs en,de,zh --limit 200
    polymix eval --benchmark mix --data out/mix --model out/train/x/checkpoints/step-001000

Writes OUT/results.json, OUT/results.md (a table per language with mBLIP's numbers beside them),
OUT/results.png and OUT/predictions/<lang>.jsonl. ``main(argv)`` returns the exit code: 0, or 2
with a one-line message when an input is missing or wrong.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Optional

import typer

from polymix.cli_support import run, typer_app
from polymix.errors import ConfigError
from polymix.settings import comma_list

CHOICES = ("xm3600", "xgqa", "maxm", "xvnli", "marvl", "mix")


def _batch(value: str) -> int | None:
    if value == "auto":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"--batch-size {value!r}: a positive number or 'auto'")
    return int(value)


def _files_help() -> str:
    """The epilog of --help: each benchmark's files as released (one paragraph each)."""
    from polymix.training.benchmarks import BENCHMARKS

    return "Benchmark files, as released:\n\n" + "\n\n".join(
        f"{n}: --data {b.data_hint[5:]}; --images {b.images_hint[5:]}" for n, b in BENCHMARKS.items()
    )


app = typer_app(
    "eval",
    "Score a trained model on one of mBLIP's benchmarks (mBLIP's prompts, beam settings, normalisation "
    "and metrics), or on a mix's held-out rows. Writes OUT/results.json, results.md (mBLIP's numbers beside "
    "ours), results.png and predictions/<lang>.jsonl.",
)


@app.command(epilog=_files_help())
def evaluate_(
    benchmark: Annotated[
        str,
        typer.Option(
            help="which benchmark: " + ", ".join(CHOICES) + "; 'mix': the held-out split of a "
            "polymix mix (what `polymix train eval` scores)"
        ),
    ],
    data: Annotated[
        Path, typer.Option(help="the benchmark's annotation file or folder as released (below), or a mix folder for 'mix'")
    ],
    model: Annotated[
        str,
        typer.Option(
            help="a polymix run folder (its newest checkpoint), a checkpoint folder, or a BLIP-2 "
            "model folder / hub id (a `polymix train export`, or Gregor/mblip-mt0-xl)"
        ),
    ],
    images: Annotated[Optional[Path], typer.Option(help="the benchmark's image folder (not used by 'mix')")] = None,
    config: Annotated[
        str,
        typer.Option(
            help="preset for a BLIP-2 folder/hub id (its dtype, 8-bit, batch); runs and checkpoints use their own settings"
        ),
    ] = "mblip-mt0-xl",
    overrides: Annotated[
        Optional[list[str]],
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="override a model setting, e.g. --set train.require_cuda=false --set model.quantization=none (repeatable)",
        ),
    ] = None,
    langs: Annotated[
        Optional[str],
        typer.Option(help="comma list of the benchmark's language codes (default: all of them); for a mix, any codes"),
    ] = None,
    limit: Annotated[
        Optional[int],
        typer.Option(
            help="evaluate only the first N items of each language (quick checks); for "
            "a mix, rows per language and task (default: eval.max_rows_per_lang)"
        ),
    ] = None,
    prompt: Annotated[
        Optional[str],
        typer.Option(help="prompt id, e.g. xgqa.v1 (default: the benchmark's newest; see training/benchmarks/prompts.yaml)"),
    ] = None,
    batch_size: Annotated[
        str, typer.Option(metavar="N|auto", help="generation batch; auto: 64 on a GPU, halved whenever memory runs out; 8 on CPU")
    ] = "auto",
    out: Annotated[Optional[Path], typer.Option(help="output folder (default: out/eval/<benchmark>-<model name>)")] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="discard predictions in --out made with other settings instead of stopping")
    ] = False,
    compare: Annotated[
        str, typer.Option(help="published numbers to print beside ours (training/benchmarks/published.yaml)")
    ] = "mblip-mt0-xl",
) -> None:
    """Score a model; `--benchmark` names the benchmark, `--data`/`--images` its files as released."""
    if benchmark not in CHOICES:
        raise ConfigError(f"--benchmark {benchmark!r}: valid values are {', '.join(CHOICES)}")
    _run(
        SimpleNamespace(
            benchmark=benchmark,
            data=str(data),
            images=None if images is None else str(images),
            model=model,
            config=config,
            overrides=overrides or [],
            langs=langs,
            limit=limit,
            prompt=prompt,
            batch_size=_batch(batch_size),
            out=None if out is None else str(out),
            fresh=fresh,
            compare=compare,
        )
    )


def _benchmarks():
    from polymix.training.benchmarks import BENCHMARKS

    return BENCHMARKS


def _run(args) -> int:
    from polymix.training.benchmarks import evaluate
    from polymix.training.benchmarks.base import BenchmarkError
    from polymix.training.benchmarks.runner import load_model

    if args.benchmark != "mix" and not args.images:
        raise BenchmarkError(f"--images is required for {args.benchmark}: {_benchmarks()[args.benchmark].images_hint}")
    if args.benchmark == "mix" and not Path(args.data).is_dir():
        raise BenchmarkError(f"--data {args.data}: no such mix folder (build one with `polymix prepare`)")
    if args.benchmark != "mix":  # read every file and check every image before loading a model
        from polymix.training.benchmarks import load

        load(args.benchmark, args.data, args.images, _langs(args.langs), args.limit)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    loaded = load_model(args.model, args.config, args.overrides + (_mix_overrides(args) if args.benchmark == "mix" else []))
    out = Path(args.out or Path("out") / "eval" / f"{args.benchmark}-{loaded.name}")
    if args.benchmark == "mix":
        results = evaluate.run_mix(loaded, args.data, out, compare=args.compare)
    else:
        results = evaluate.run(
            loaded,
            args.benchmark,
            args.data,
            args.images,
            out,
            langs=_langs(args.langs),
            limit=args.limit,
            prompt=args.prompt,
            batch_size=args.batch_size,
            fresh=args.fresh,
            compare=args.compare,
        )
    for t in results["tables"]:
        avg = "n/a" if t["average"] is None else f"{t['average']:.2f}"
        print(
            f"{t['name']} {t['metric']}: average {avg} over {len(t['languages'])} languages  "
            + json.dumps({lang: round(r["score"], 2) for lang, r in t["languages"].items()})
        )
    print(f"wrote {out / 'results.md'}, results.json, results.png and predictions/")
    return 0


def _mix_overrides(args) -> list[str]:
    """--langs and --limit for a mix are train eval's eval.langs and eval.max_rows_per_lang."""
    from polymix.languages import resolve

    out = [f"eval.max_rows_per_lang={args.limit}"] if args.limit else []
    return out + (["eval.langs=[" + ",".join(resolve(args.langs, include_english=True)) + "]"] if args.langs else [])


def _langs(value: str | None) -> list[str] | None:
    return list(comma_list(value)) if value else None


def main(argv: list[str] | None = None) -> int:
    """``polymix eval ARGS``; returns the exit code (2 with one line for a missing or wrong input)."""
    return run(app, sys.argv[1:] if argv is None else argv, "polymix eval")


if __name__ == "__main__":
    sys.exit(main())
