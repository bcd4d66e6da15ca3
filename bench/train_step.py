"""Training-step throughput and peak memory of a preset: as written, with the LLM unquantized, and as planned.

    python bench/train_step.py --config tiny                          # CPU: tiny models, seconds
    python bench/train_step.py --config tiny --plan auto              # CPU: also the plan's choice
    python bench/train_step.py --config mblip-mt0-xl --shapes mblip --plan auto                      # GPU
    python bench/train_step.py --config mblip-mt0-xl --shapes mblip --plan auto --memory-budget 24GiB

One instruction-stage optimizer step (Q-Former, query tokens, projection and LoRA trained; AdamW;
the preset's autocast and gradient checkpointing) on synthetic batches: random images and
``--text-tokens`` instruction and target tokens (128 each: the preset's cap, the worst case),
timed by the same probe (``training/probe.py``) that ``train.plan: auto`` uses.
``--shapes mblip`` writes random-weight checkpoints with mBLIP's shapes (BLIP-2 ViT-g/14 at
224 px, its Q-Former with 32 queries; mT0-XL: d_model 2048, 24+24 layers, 250k vocabulary) once
under ``--cache``; weights are random, so only speed and memory mean anything. ``--plan auto``
first lets the planner choose (its probe table is printed), then times its choice like the other
variants. Each variant runs in its own process (clean peak memory); the table prints samples/s,
peak memory, the ratio to the preset, and the wall-clock of the preset's stages on a mix of
``--rows`` rows at that rate (the warm-up stage, which trains the projection only, is counted at
the instruction stage's rate, so the figure is an upper bound; data loading is not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def random_mblip(cache: Path) -> tuple[Path, Path]:
    """(BLIP-2 folder with ViT-g + Q-Former, mT0-XL-shaped folder), random weights, bf16."""
    import torch
    from transformers import (
        Blip2Config,
        Blip2ForConditionalGeneration,
        BlipImageProcessorPil,
        MT5Config,
        MT5ForConditionalGeneration,
    )

    from polymix.training import random_models

    blip2, llm = cache / "blip2-vitg-random", cache / "mt0-xl-random"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if not (blip2 / "config.json").exists():
        config = Blip2Config(
            text_config=random_models.llm_config("mt5", 400).to_dict(), num_query_tokens=32
        )  # ViT-g/Q-Former defaults
        with torch.device(device):
            Blip2ForConditionalGeneration(config).to(torch.bfloat16).save_pretrained(str(blip2))
        BlipImageProcessorPil(size={"height": 224, "width": 224}).save_pretrained(str(blip2))
    if not (llm / "config.json").exists():
        config = MT5Config(
            vocab_size=250112,
            d_model=2048,
            d_kv=64,
            d_ff=5120,
            num_layers=24,
            num_decoder_layers=24,
            num_heads=32,
            feed_forward_proj="gated-gelu",
            decoder_start_token_id=0,
        )
        with torch.device(device):
            MT5ForConditionalGeneration(config).to(torch.bfloat16).save_pretrained(str(llm))
        random_models.build_tokenizer(llm)  # ids < 400 are all the synthetic batches need
    return blip2, llm


def one_variant(args) -> dict:
    """Samples/s and peak memory of the preset (with ``--set`` overrides) at ``--batch``."""
    import torch

    from polymix.training.assemble import default_device
    from polymix.training.config import load_config
    from polymix.training.plan import Candidate
    from polymix.training.probe import ModelProbe

    config = load_config(args.config, args.overrides)
    device = default_device()
    probe = ModelProbe(config, device, text_tokens=args.text_tokens, steps=args.steps, warmup=args.warmup)
    batch = args.batch or config.train.batch_size
    speed, step_s, peak = probe.measure(Candidate(config.model.quantization, config.model.gradient_checkpointing, batch))
    built = probe.built
    llm = built.quantization if built.quantization != "none" else str(next(built.model.language_model.parameters()).dtype)
    return {
        "variant": args.label,
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "llm": llm.removeprefix("torch."),
        "ckpt": config.model.gradient_checkpointing,
        "batch": batch,
        "samples_per_s": speed,
        "step_s": step_s,
        "peak_gib": peak / 2**30,
    }


def make_plan(args) -> dict:
    """The planner's choice for the preset (a child process, so its models are gone afterwards)."""
    from polymix.training.assemble import default_device
    from polymix.training.config import load_config
    from polymix.training.plan import format_plan
    from polymix.training.planner import make_plan as plan_for

    plan = plan_for(load_config(args.config, args.overrides), default_device())
    print(format_plan(plan), file=sys.stderr)
    return plan.to_dict()


def run_child(args, label: str, overrides: list[str], *extra: str) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--one",
        label,
        "--config",
        args.config,
        "--steps",
        str(args.steps),
        "--warmup",
        str(args.warmup),
        *(["--text-tokens", str(args.text_tokens)] if args.text_tokens else []),
        *extra,
        *sum((["--set", o] for o in overrides), []),
    ]
    proc = subprocess.run(
        cmd,
        stdout=subprocess.PIPE,
        stderr=None if label == "plan" else subprocess.PIPE,
        text=True,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    if proc.returncode:
        sys.exit(f"{label} failed:\n{(proc.stderr or '')[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def wall_clock(config, rows: int, samples_per_s: float) -> str:
    """Every stage of ``config`` on ``rows`` rows at ``samples_per_s`` (data loading not counted), as 9s / 2.5h / 4.1d."""
    from polymix.training.optim import stage_steps

    effective = config.train.effective_batch_size
    seconds = sum(stage_steps(stage, rows, effective) * effective for stage in config.stages) / samples_per_s
    return f"{seconds:.0f}s" if seconds < 3600 else f"{seconds / 3600:.1f}h" if seconds < 86400 else f"{seconds / 86400:.1f}d"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tiny", help="preset name or YAML (default: tiny)")
    p.add_argument(
        "--shapes", choices=("preset", "mblip"), default="preset", help="the preset's models, or random mBLIP-shaped ones"
    )
    p.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "polymix" / "bench", help="where --shapes mblip writes its weights"
    )
    p.add_argument(
        "--batch",
        type=int,
        default=None,
        help="samples per step of the preset and unquantized rows (default: the preset's train.batch_size)",
    )
    p.add_argument(
        "--text-tokens", type=int, default=None, help="instruction and target length (default: the preset's data.max_text_tokens)"
    )
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--no-compare", action="store_true", help="time the preset only, not also with the LLM unquantized")
    p.add_argument(
        "--plan", choices=("auto", "none"), default="none", help="auto: also let train.plan=auto choose, and time its choice"
    )
    p.add_argument("--memory-budget", help="plan for this much memory (e.g. 24GiB) instead of the whole device")
    p.add_argument(
        "--rows", type=int, default=2_000_000, help="mix size for the wall-clock estimate of the preset's stages (default 2M)"
    )
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="setting override (repeatable)"
    )
    p.add_argument("--one", dest="label", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.label:  # a child process: one variant (or the plan), one JSON line
        print(json.dumps(make_plan(args) if args.label == "plan" else one_variant(args)))
        return
    import torch

    from polymix.training.config import load_config

    base = list(args.overrides)
    if args.shapes == "mblip":
        blip2, llm = random_mblip(args.cache)
        base += [f"model.blip2={blip2}", f"model.llm={llm}", "model.projection=new"]
    config = load_config(args.config, base)
    quantized = config.model.quantization
    cpu = not torch.cuda.is_available()
    extra = ["train.require_cuda=false", "train.plan=fixed", *(["model.quantize_on_cpu=true"] if cpu else [])]
    batch = ["--batch", str(args.batch)] if args.batch else []
    results = [run_child(args, f"preset ({quantized})", base + extra, *batch)]
    if not args.no_compare:
        unquantized = "float32" if cpu else "bfloat16"
        other = (
            ["model.quantization=8bit"] if quantized == "none" else ["model.quantization=none", f"model.llm_dtype={unquantized}"]
        )
        results.append(run_child(args, f"LLM {'8bit' if quantized == 'none' else unquantized}", base + extra + other, *batch))
    if args.plan == "auto":
        budget = [f"train.memory_budget={args.memory_budget}"] if args.memory_budget else []
        plan = run_child(args, "plan", base + extra[:1] + ["train.plan=auto", *budget])
        chosen = [
            f"model.quantization={plan['quantization']}",
            f"model.gradient_checkpointing={plan['checkpointing']}",
            f"train.precision={plan['precision']}",
        ]
        results.append(run_child(args, "plan auto", base + extra + chosen, "--batch", str(plan["batch_size"])))
    print(
        f"\n{args.config} ({args.shapes} shapes), device {results[0]['device']}"
        f", wall-clock of the preset's stages on {args.rows:,} rows"
    )
    print(
        f"{'variant':<16}{'LLM':>10}{'ckpt':>6}{'batch':>7}{'samples/s':>11}"
        f"{'s/step':>9}{'peak GiB':>10}{'x preset':>10}{'wall-clock':>12}"
    )
    for r in results:
        print(
            f"{r['variant']:<16}{r['llm']:>10}{'on' if r['ckpt'] else 'off':>6}{r['batch']:>7}{r['samples_per_s']:>11.2f}"
            f"{r['step_s']:>9.3f}{r['peak_gib']:>10.2f}{r['samples_per_s'] / results[0]['samples_per_s']:>10.2f}"
            f"{wall_clock(config, args.rows, r['samples_per_s']):>12}"
        )
    print("peak: the CUDA allocator's reserved memory on GPU; the process's peak RSS on CPU (Python and torch included)")


if __name__ == "__main__":
    main()
