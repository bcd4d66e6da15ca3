"""Making, caching and recording the plan of ``train.plan: auto`` (the choice is in :mod:`plan`).

    plan = make_plan(config, device, world=1)     # the cache, else a probe of the candidates
    record(plan, out_dir)                         # OUT/plan.json; a checkpoint keeps a copy
    plan = recorded(checkpoint_dir)               # a resumed run keeps the plan it started with
    config, plan = for_run(config, accelerator, out_dir, resume_from, log.info)   # what the Trainer calls

The cache key holds what decides the result: the BLIP-2 and LLM configs (their shapes, not
their paths), LoRA, image size and text length, the trained groups, the autocast and weight
dtypes, the effective batch per process, the device (name and memory), the budget and margin,
and the torch / transformers / bitsandbytes versions. A restart with the same key reads the
plan instead of probing again; delete the cache folder to force a new probe.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import time
from pathlib import Path
from typing import Callable

import torch
import yaml
from tqdm.auto import tqdm

from polymix.errors import ConfigError
from polymix.training import sources
from polymix.training.plan import VERSION, Plan, Probe, choose, gib, ladder, parse_size, search, variants
from polymix.training.precision import resolve_precision
from polymix.training.probe import ModelProbe, capacity_bytes, limit_memory

FILE = "plan.json"


def cache_dir() -> Path:
    return Path(os.environ.get("POLYMIX_PLAN_CACHE") or Path.home() / ".cache" / "polymix" / "plans")


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _shapes(source: str) -> dict:
    cfg = sources.load_config(sources.resolve(source)).to_dict()
    return {k: v for k, v in cfg.items() if k not in ("_name_or_path", "transformers_version")}


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def cache_key(config, device: torch.device, budget: int, world: int) -> str:
    m, t = config.model, config.train
    parts = {
        "version": VERSION,
        "blip2": _shapes(m.blip2),
        "llm": _shapes(m.llm),
        "lora": dataclasses.asdict(config.lora),
        "image_size": config.data.image_size,
        "text_tokens": config.data.max_text_tokens,
        "train": config.stages[-1].train,
        "dtypes": [t.precision, m.llm_dtype, m.vision_dtype, m.quantize_on_cpu],
        "per_process": t.effective_batch_size // world,
        "device": [device_name(device), capacity_bytes(device)],
        "budget": [budget, t.memory_margin, t.probe_steps],
        "versions": [_version(p) for p in ("torch", "transformers", "bitsandbytes", "peft")],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _write(path: Path, plan: Plan) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(plan.to_dict(), indent=2), encoding="utf-8")
    tmp.replace(path)  # a crash leaves the old file or the new one, never half of one


def _read(path: Path) -> Plan | None:
    try:
        return Plan.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):  # absent, or written by another version: probe again
        return None


def record(plan: Plan, folder: str | Path) -> Path:
    path = Path(folder) / FILE
    _write(path, plan)
    return path


def recorded(folder: str | Path, source: str = "checkpoint") -> Plan | None:
    """The plan recorded in a run or checkpoint folder (None if there is none), marked with ``source``."""
    plan = _read(Path(folder) / FILE)
    if plan is not None:
        plan.source = source
    return plan


def budget_of(config, device: torch.device) -> int:
    capacity = capacity_bytes(device)
    budget = parse_size(config.train.memory_budget) if config.train.memory_budget else capacity
    if budget > capacity:
        raise ConfigError(
            f"train.memory_budget {config.train.memory_budget} is more than the {gib(capacity)} GiB of "
            f"{device_name(device)}; give a smaller one or leave it out"
        )
    return budget


def _cached(config, device: torch.device, world: int):
    """(config with its precision resolved, budget, cache file, the cached plan or None)."""
    config = config.replaced(**{"train.precision": resolve_precision(config.train.precision, device)})
    budget = budget_of(config, device)
    path = cache_dir() / f"{cache_key(config, device, budget, world)}.json"
    cached = _read(path)
    if cached is not None:
        cached.source = "cache"
    return config, budget, path, cached


def make_plan(
    config,
    device: torch.device,
    *,
    world: int = 1,
    measure: Callable | None = None,
    report: Callable[[Probe], None] | None = None,
) -> Plan:
    """The cached plan of this (model shapes, device, settings), else a new probe, cached.

    ``measure`` replaces the real probe (tests simulate memory limits with it)."""
    config, budget, path, cached = _cached(config, device, world)
    if cached is not None:
        return cached
    t = config.train
    usable = int(budget * (1 - t.memory_margin))
    limit_memory(device, budget)
    probe = None if measure is not None else ModelProbe(config, device, steps=t.probe_steps)
    report = report or (
        lambda p: tqdm.write(
            f"plan probe: LLM {p.quantization}, checkpointing {'on' if p.checkpointing else 'off'}, micro-batch {p.batch_size}: "
            + (
                f"{p.samples_per_s:.2f} samples/s, peak {gib(p.peak_bytes)} GiB, {p.status}"
                if p.status != "oom"
                else "out of memory"
            )
        )
    )
    try:
        probes = search(
            variants(device, config.model.quantize_on_cpu),
            ladder(t.effective_batch_size, world),
            t.batch_size,
            measure or probe.measure,
            usable,
            report,
        )
    finally:
        if probe is not None:
            probe.close()  # the trainer builds its own model next
    best = choose(probes, budget)
    plan = Plan(
        quantization=best.quantization,
        checkpointing=best.checkpointing,
        batch_size=best.batch_size,
        accumulation=t.effective_batch_size // (best.batch_size * world),
        world=world,
        precision=config.train.precision,
        device=device_name(device),
        budget_bytes=budget,
        usable_bytes=usable,
        samples_per_s=best.samples_per_s,
        peak_bytes=best.peak_bytes,
        key=path.stem,
        probes=probes,
    )
    _write(path, plan)
    return plan


def wait_for_plan(config, device: torch.device, world: int, poll_s: float = 2.0) -> Plan:
    """The plan the main process is making, read from the cache once it is there. Polling a file
    rather than a collective barrier: a probe can outlast NCCL's timeout (10 minutes)."""
    while True:
        plan = _cached(config, device, world)[3]
        if plan is not None:
            return plan
        time.sleep(poll_s)


# What a resumed run keeps from a checkpoint that has no plan (a fixed run's, or one older than
# plans): the data position counts micro-batches, so the micro-batch must not change.
KEPT_ON_RESUME = (("model", "quantization"), ("model", "gradient_checkpointing"), ("train", "batch_size"), ("train", "precision"))


def for_run(config, accelerator, out: Path, resume_from: Path | None, info: Callable[[str], None]):
    """(``config`` with its plan applied, the plan) for a run: a resumed run's own plan, else the
    main process's cached or probed one (recorded in ``out``), which the other processes wait for."""
    from polymix.training.plan import apply, format_plan

    acc = accelerator
    if resume_from is not None:
        plan = recorded(resume_from, source="checkpoint")
        if plan is None:
            saved = yaml.safe_load((resume_from / "config.yaml").read_text(encoding="utf-8"))
            keep = {f"{k}.{n}": saved[k][n] for k, n in KEPT_ON_RESUME}
            info(f"plan: {resume_from} has no {FILE}; keeping the settings it trained with {keep}")
            return config.replaced(**keep), None
    elif acc.is_main_process:
        plan = make_plan(config, acc.device, world=acc.num_processes)
        record(plan, out)
    else:
        plan = wait_for_plan(config, acc.device, acc.num_processes)
    limit_memory(acc.device, plan.budget_bytes)  # the run stays within the budget it was planned for
    info(format_plan(plan))
    return apply(config, plan), plan
