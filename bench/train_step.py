"""Training-step throughput and peak memory of a preset, with the LLM quantized vs in bf16/fp32.

    python bench/train_step.py --config tiny                          # CPU: tiny models, seconds
    python bench/train_step.py --config mblip-mt0-xl --shapes mblip   # GPU: ViT-g + Q-Former + mT0-XL shapes

One instruction-stage optimizer step (Q-Former, query tokens, projection and LoRA trained; AdamW;
the preset's autocast and gradient checkpointing) on synthetic batches: random images and
``--text-tokens`` instruction and target tokens (128 each: the preset's cap, the worst case).
``--shapes mblip`` writes random-weight checkpoints with mBLIP's shapes (BLIP-2 ViT-g/14 at
224 px, its Q-Former with 32 queries; mT0-XL: d_model 2048, 24+24 layers, 250k vocabulary) once
under ``--cache``; weights are random, so only speed and memory mean anything. Each variant runs
in its own process (clean peak memory); the table prints samples/s, peak memory and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def random_mblip(cache: Path) -> tuple[Path, Path]:
    """(BLIP-2 folder with ViT-g + Q-Former, mT0-XL-shaped folder), random weights, bf16."""
    import torch
    from transformers import Blip2Config, Blip2ForConditionalGeneration, BlipImageProcessorPil, MT5Config, MT5ForConditionalGeneration

    from polymix.training import tiny

    blip2, llm = cache / "blip2-vitg-random", cache / "mt0-xl-random"
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if not (blip2 / "config.json").exists():
        config = Blip2Config(text_config=tiny.llm_config("mt5", 400).to_dict(), num_query_tokens=32)  # ViT-g/Q-Former defaults
        with torch.device(device):
            Blip2ForConditionalGeneration(config).to(torch.bfloat16).save_pretrained(str(blip2))
        BlipImageProcessorPil(size={"height": 224, "width": 224}).save_pretrained(str(blip2))
    if not (llm / "config.json").exists():
        config = MT5Config(vocab_size=250112, d_model=2048, d_kv=64, d_ff=5120, num_layers=24, num_decoder_layers=24,
                           num_heads=32, feed_forward_proj="gated-gelu", decoder_start_token_id=0)  # fmt: skip
        with torch.device(device):
            MT5ForConditionalGeneration(config).to(torch.bfloat16).save_pretrained(str(llm))
        tiny.build_tokenizer(llm)  # ids < 400 are all the synthetic batches need
    return blip2, llm


def one_variant(args) -> dict:
    import torch

    from polymix.training.assemble import build_model
    from polymix.training.config import load_config
    from polymix.training.model import IGNORE, param_counts, set_trainable
    from polymix.training.optim import make_optimizer

    config = load_config(args.config, args.overrides)
    built = build_model(config)
    model, device, stage = built.model, built.device, config.stages[-1]
    set_trainable(model, stage.train)
    optimizer = make_optimizer(model, stage, config.train.weight_decay)
    b, n, size = args.batch, args.text_tokens or config.data.max_text_tokens, config.data.image_size
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 300, (b, n), generator=gen)
    batch = {"pixel_values": torch.randn(b, 3, size, size, generator=gen), "attention_mask": torch.ones(b, n, dtype=torch.long)}
    if model.decoder_only:
        batch.update(input_ids=torch.cat([ids, ids], 1), attention_mask=torch.ones(b, 2 * n, dtype=torch.long),
                     labels=torch.cat([torch.full_like(ids, IGNORE), ids], 1))  # fmt: skip
    else:
        batch.update(input_ids=ids, labels=ids.clone())
    batch = {k: v.to(device) for k, v in batch.items()}
    precision = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.train.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == torch.float16)
    model.train()

    def step():
        with torch.autocast(device.type, dtype=precision or torch.float32, enabled=precision is not None):
            loss = model(**batch)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        return loss

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    float(loss)  # waits for the device
    seconds = time.perf_counter() - start
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB (process RSS)
    counts = param_counts(model)
    return {"variant": args.label, "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
            "llm": built.quantization if built.quantization != "none" else str(next(model.language_model.parameters()).dtype).removeprefix("torch."),
            "samples_per_s": args.steps * b / seconds, "step_s": seconds / args.steps, "peak_gib": peak,
            "trainable": counts["total"]["trainable"], "params": counts["total"]["params"]}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="tiny", help="preset name or YAML (default: tiny)")
    p.add_argument("--shapes", choices=("preset", "mblip"), default="preset", help="the preset's models, or random mBLIP-shaped ones")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "polymix" / "bench", help="where --shapes mblip writes its weights")
    p.add_argument("--batch", type=int, default=8, help="samples per step (default 8, mBLIP's per-GPU batch)")
    p.add_argument("--text-tokens", type=int, default=None, help="instruction and target length (default: the preset's data.max_text_tokens)")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--no-compare", action="store_true", help="time the preset only, not also with the LLM unquantized")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="setting override (repeatable)")
    p.add_argument("--one", dest="label", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.label:  # a child process: one variant, one JSON line
        print(json.dumps(one_variant(args)))
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
    extra = ["train.require_cuda=false", *(["model.quantize_on_cpu=true"] if cpu else [])]
    variants = [(f"LLM {quantized}", base + extra)]
    if not args.no_compare:
        unquantized = "float32" if cpu else "bfloat16"
        other = ["model.quantization=8bit"] if quantized == "none" else ["model.quantization=none", f"model.llm_dtype={unquantized}"]
        variants.append((f"LLM {'8bit' if quantized == 'none' else unquantized}", base + extra + other))
    results = []
    for label, overrides in variants:
        cmd = [sys.executable, __file__, "--one", label, "--config", args.config, "--batch", str(args.batch), "--steps", str(args.steps),
               "--warmup", str(args.warmup), *(["--text-tokens", str(args.text_tokens)] if args.text_tokens else []),
               *sum((["--set", o] for o in overrides), [])]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        if proc.returncode:
            sys.exit(f"{label} failed:\n{proc.stderr[-4000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"\n{args.config} ({args.shapes} shapes), batch {args.batch}, device {results[0]['device']}")
    print(f"{'variant':<16}{'LLM':>10}{'samples/s':>12}{'s/step':>10}{'peak GiB':>10}{'trainable':>14}")
    for r in results:
        print(f"{r['variant']:<16}{r['llm']:>10}{r['samples_per_s']:>12.2f}{r['step_s']:>10.3f}{r['peak_gib']:>10.2f}{r['trainable']:>14,}")
    if len(results) == 2:
        print(f"ratio {results[0]['variant']} / {results[1]['variant']}: samples/s x{results[0]['samples_per_s'] / results[1]['samples_per_s']:.2f}, "
              f"peak memory x{results[0]['peak_gib'] / results[1]['peak_gib']:.2f}")  # fmt: skip
    print("peak: torch.cuda.max_memory_allocated on GPU; process max RSS on CPU")


if __name__ == "__main__":
    main()
