"""``polymix train``: train, evaluate and export the mBLIP-style model on a polymix mix.

    polymix train --config tiny --data out/demo                     # CPU, offline, about a minute
    polymix train --data out/mix                                    # mBLIP mT0-XL recipe (GPU, 8-bit)
    polymix train --config mblip-mt0-xl --data out/mix --resume     # continue the last checkpoint
    polymix train eval --checkpoint out/train/x/checkpoints/step-001000 --data out/mix
    polymix train export --checkpoint out/train/x/checkpoints/step-001000 --out out/model
    accelerate launch --num_processes 4 -m polymix.training --data out/mix    # 4 GPUs, DDP

``main(argv)`` returns the exit code: 0, or 2 with a one-line message for configuration errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from polymix.mix.locks import MixError
from polymix.mix.sources.base import ConfigError

SUBCOMMANDS = ("eval", "export", "presets")


def _settings_epilog() -> str:
    from polymix.training.config import RunConfig, presets, settings_help

    return ("presets: " + ", ".join(presets()) + " (training/configs/*.yaml)\n\n"
            "subcommands: polymix train eval --help | export --help | presets\n\n"
            "settings (YAML keys; override any with --set KEY=VALUE, lists as a,b or [a, b]):\n"
            + "\n".join(settings_help(RunConfig)))  # fmt: skip


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="mblip-mt0-xl", help="preset name or YAML file (default: mblip-mt0-xl, the mBLIP recipe)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set train.batch_size=4 --set stages.1.epochs=1 (repeatable)")  # fmt: skip


def train_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="polymix train", description="Train the mBLIP-style model (BLIP-2 ViT + Q-Former re-aligned to a multilingual LLM with LoRA) on a polymix mix.",
                                epilog=_settings_epilog(), formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    _common(p)
    p.add_argument("--data", required=True, help="the mix folder to train on (written by `polymix prepare` / `translate`)")
    p.add_argument("--output-dir", help="where checkpoints, metrics.jsonl and eval outputs go (default: train.output_dir)")
    p.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CHECKPOINT",
                   help="continue exactly from a checkpoint folder, or (no value) from the newest in the output dir")  # fmt: skip
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps in this call (checkpoint saved; --resume goes on)")
    p.add_argument("--dry-run", action="store_true", help="validate the config, print it, count the rows, and stop")
    return p


def eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="polymix train eval", description="Generate on a held-out split and score it "
                                "(beam 5; chrF/CIDEr for captions, exact match for short answers).")  # fmt: skip
    _common(p)
    p.add_argument("--checkpoint", help="checkpoint folder (its config.yaml replaces --config); without it the preset's model is evaluated")
    p.add_argument("--data", required=True, help="mix folder holding the held-out split (eval.split, default 'val')")
    p.add_argument("--out", help="write the predictions here as JSONL (default: print the scores only)")
    return p


def export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="polymix train export", description="Merge LoRA and write a Blip2ForConditionalGeneration folder.")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (OUT/checkpoints/step-N)")
    p.add_argument("--out", required=True, help="folder to write the merged model to")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"), help="dtype of the exported weights")
    return p


def _train(args) -> int:
    from polymix.training.config import load_config

    overrides = list(args.overrides) + ([f"train.output_dir={args.output_dir}"] if args.output_dir else [])
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
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in SUBCOMMANDS else "train"
    try:
        if command == "presets":
            return _presets()
        if command == "eval":
            return _eval(eval_parser().parse_args(argv[1:]))
        if command == "export":
            return _export(export_parser().parse_args(argv[1:]))
        return _train(train_parser().parse_args(argv))
    except (ConfigError, FileNotFoundError, MixError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (PermissionError, NotADirectoryError, IsADirectoryError, FileExistsError) as err:  # an unwritable --output-dir, ...
        print(f"error: {err.filename}: {err.strerror}; choose a folder you can write", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
