"""``polymix train``: train, evaluate and export the mBLIP-style model on a polymix mix.

    polymix train --config tiny --data out/demo                     # CPU, offline, about a minute
    polymix train --data out/mix                                    # mBLIP mT0-XL recipe (GPU, 8-bit)
    polymix train --config mblip-mt0-xl --data out/mix --resume     # continue the last checkpoint
    polymix train --data out/mix --memory-budget 24GiB              # plan for a 24 GB card (--plan fixed: as written)
    polymix train eval --checkpoint out/train/x/checkpoints/step-001000 --data out/mix
    polymix train export --checkpoint out/train/x/checkpoints/step-001000 --out out/model
    polymix train presets | settings                                # the presets; every setting for --set
    accelerate launch --num_processes 4 -m polymix.training --data out/mix    # 4 GPUs, DDP

``main(argv)`` returns the exit code: 0, or 2 with a one-line message for configuration errors.
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

app = typer_app(
    "train",
    "Train the mBLIP-style model (BLIP-2 ViT + Q-Former re-aligned to a multilingual LLM with LoRA) "
    "on a polymix mix. Subcommands evaluate, export and list presets and settings.",
)

ConfigOpt = Annotated[
    str,
    typer.Option("--config", help="preset name or YAML file (`polymix train presets`; default: mblip-mt0-xl, the mBLIP recipe)"),
]
SetOpt = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="override a setting, e.g. --set "
        "train.batch_size=4 --set stages.1.epochs=1 (repeatable; `polymix train settings` lists them)",
    ),
]


def _resume_alone(argv: list[str]) -> list[str]:
    """``--resume`` with no value means the newest checkpoint of the output dir."""
    return [
        "--resume=auto" if a == "--resume" and (i + 1 == len(argv) or argv[i + 1].startswith("-")) else a
        for i, a in enumerate(argv)
    ]


@app.callback(invoke_without_command=True)
def train(
    ctx: typer.Context,
    config: ConfigOpt = "mblip-mt0-xl",
    overrides: SetOpt = None,
    data: Annotated[
        Optional[Path], typer.Option(help="the mix folder to train on (written by `polymix prepare` / `translate`)")
    ] = None,
    output_dir: Annotated[
        Optional[Path], typer.Option(help="where checkpoints, metrics.jsonl and eval outputs go (default: train.output_dir)")
    ] = None,
    resume: Annotated[
        Optional[str],
        typer.Option(
            metavar="[CHECKPOINT]",
            help="continue exactly from a checkpoint folder, or (no value) from the newest in the output dir",
        ),
    ] = None,
    max_steps: Annotated[
        Optional[int], typer.Option(help="stop after this many optimizer steps in this call (checkpoint saved; --resume goes on)")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="validate the config, print it, count the rows, and stop")] = False,
    plan: Annotated[
        Optional[str],
        typer.Option(
            help="auto: measure and pick the fastest LLM precision, gradient checkpointing "
            "and micro-batch that fit the memory (effective batch kept; cached; written to "
            "OUT/plan.json); fixed: the config as written (default: train.plan, auto in "
            "the GPU presets)"
        ),
    ] = None,
    memory_budget: Annotated[
        Optional[str],
        typer.Option(
            metavar="SIZE",
            help="plan for a card with this much memory, e.g. 24GiB (default: the GPU's own); the run is then held to it",
        ),
    ] = None,
) -> None:
    """Train on a mix: `polymix train --config tiny --data out/demo`."""
    if ctx.invoked_subcommand is not None:
        return
    if data is None:
        raise ConfigError("--data is required: the mix folder to train on (`polymix train --help` for the options)")
    if plan is not None and plan not in ("auto", "fixed"):
        raise ConfigError(f"--plan {plan!r}: valid values are auto, fixed")
    _train(
        SimpleNamespace(
            config=config,
            overrides=overrides or [],
            data=str(data),
            output_dir=output_dir,
            resume=resume,
            max_steps=max_steps,
            dry_run=dry_run,
            plan=plan,
            memory_budget=memory_budget,
        )
    )


@app.command("eval")
def eval_(
    data: Annotated[Path, typer.Option(help="mix folder holding the held-out split (eval.split, default 'val')")],
    config: ConfigOpt = "mblip-mt0-xl",
    overrides: SetOpt = None,
    checkpoint: Annotated[
        Optional[Path],
        typer.Option(help="checkpoint folder (its config.yaml replaces --config); without it the preset's model is evaluated"),
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option(help="write the predictions here as JSONL (default: print the scores only)")
    ] = None,
) -> None:
    """Generate on a held-out split and score it (beam 5; chrF/CIDEr for captions, exact match for short answers)."""
    _eval(
        SimpleNamespace(
            data=str(data),
            config=config,
            overrides=overrides or [],
            checkpoint=None if checkpoint is None else str(checkpoint),
            out=out,
        )
    )


@app.command("export")
def export_(
    checkpoint: Annotated[Path, typer.Option(help="checkpoint folder (OUT/checkpoints/step-N)")],
    out: Annotated[Path, typer.Option(help="folder to write the merged model to")],
    dtype: Annotated[str, typer.Option(help="dtype of the exported weights: float32, bfloat16 or float16")] = "float32",
) -> None:
    """Merge LoRA and write a Blip2ForConditionalGeneration folder (transformers alone can run it)."""
    if dtype not in ("float32", "bfloat16", "float16"):
        raise ConfigError(f"--dtype {dtype!r}: valid values are float32, bfloat16, float16")
    _export(SimpleNamespace(checkpoint=str(checkpoint), out=str(out), dtype=dtype))


@app.command("presets")
def presets_() -> None:
    """List the presets (training/configs/*.yaml) with their models."""
    _presets()


@app.command("settings")
def settings_() -> None:
    """List every setting: its YAML key (for --set KEY=VALUE and presets), type, default and meaning."""
    from polymix.training.config import RunConfig, settings_help

    print("settings (YAML keys; override any with --set KEY=VALUE, lists as a,b or [a, b]):")
    print("\n".join(settings_help(RunConfig)))


def _train(args) -> int:
    from polymix.training.config import load_config

    overrides = list(args.overrides) + ([f"train.output_dir={args.output_dir}"] if args.output_dir else [])
    overrides += [f"train.plan={args.plan}"] * bool(args.plan) + [f"train.memory_budget={args.memory_budget}"] * bool(
        args.memory_budget
    )
    config = load_config(args.config, overrides)
    if not Path(args.data).is_dir():
        raise ConfigError(f"--data {args.data}: no such mix folder (build one with `polymix prepare`)")
    if args.dry_run:
        import yaml

        from polymix.training.data import count_rows

        d = config.data
        print(yaml.safe_dump(config.to_dict(), sort_keys=False))
        print(f"training rows: {count_rows(args.data, d.langs, d.tasks, d.splits)}")
        return 0
    from polymix.training.loop import Trainer

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenizers in DataLoader workers
    trainer = Trainer(config, args.data, resume=args.resume or False)
    result = trainer.fit(max_steps=args.max_steps)
    if trainer.accelerator.is_main_process:
        print(json.dumps(result))
    return 0


def _eval(args) -> int:
    from polymix.training.assemble import build_model
    from polymix.training.config import load_config
    from polymix.training.evaluate import evaluate
    from polymix.training.export import config_of

    config = config_of(args.checkpoint) if args.checkpoint else load_config(args.config, args.overrides)
    if args.checkpoint:
        config.model.init_weights = args.checkpoint
    result = evaluate(build_model(config), config, args.data, out_file=args.out)
    print(json.dumps(result, indent=2))
    return 0


def _export(args) -> int:
    from polymix.training.export import export

    print(export(args.checkpoint, args.out, dtype=args.dtype))
    return 0


def _presets() -> int:
    from polymix.training.config import load_config, presets, preset_path

    for name in presets():
        config = load_config(name)
        print(f"{name:<18} {config.model.blip2} + {config.model.llm} ({config.model.quantization})  {preset_path(name)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``polymix train ARGS`` (also ``python -m polymix.training ARGS``); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return run(app, _resume_alone(argv), "polymix train")


if __name__ == "__main__":
    sys.exit(main())
