"""Checkpoints of a run: the trainable weights only, plus everything ``--resume`` needs.

    OUT/checkpoints/step-000100/
      trainable.safetensors     Q-Former, query tokens, projection, LoRA (model state-dict names)
      lora/                     the LoRA adapter in peft's format (adapter_config.json + weights)
      optimizer.pt scheduler.pt scaler.pt (fp16 only)
      rng-rank<R>.pt            Python, NumPy, torch and CUDA RNG states of each process
      state.json                stage, step, micro-batches consumed (data position), counters
      config.yaml               the run's settings
      plan.json                 the plan of a ``train.plan: auto`` run (a resumed run keeps it)

A checkpoint is written into a hidden folder and renamed into place, so a crash leaves either a
complete checkpoint or none; :func:`latest` finds the newest complete one.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from polymix import faults

PREFIX = "step-"


def _step_dirs(root: Path) -> list[Path]:
    folder = Path(root) / "checkpoints"
    dirs = [p for p in folder.glob(f"{PREFIX}*") if p.is_dir() and (p / "state.json").exists()]
    return sorted(dirs, key=lambda p: int(p.name[len(PREFIX) :]))


def latest(root: str | Path) -> Path | None:
    dirs = _step_dirs(Path(root))
    return dirs[-1] if dirs else None


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(
    root: str | Path,
    step: int,
    *,
    accelerator,
    model,
    optimizer,
    scheduler,
    state: dict[str, Any],
    config: dict[str, Any],
    keep: int = 0,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write checkpoint ``step`` (every rank saves its RNG; the main process the rest, and each
    ``extra`` item as a JSON file of that name)."""
    from safetensors.torch import save_file

    from polymix.training.model import trainable_state

    final = Path(root) / "checkpoints" / f"{PREFIX}{step:06d}"
    tmp = final.with_name(f".{final.name}.tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    torch.save(rng_state(), tmp / f"rng-rank{accelerator.process_index}.pt")
    if accelerator.is_main_process:
        weights = {k: v.detach().to("cpu").contiguous() for k, v in trainable_state(model).items()}
        save_file(weights, str(tmp / "trainable.safetensors"), metadata={"format": "pt", "step": str(step)})
        model.language_model.save_pretrained(str(tmp / "lora"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        if accelerator.scaler is not None:
            torch.save(accelerator.scaler.state_dict(), tmp / "scaler.pt")
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        (tmp / "state.json").write_text(json.dumps({**state, "step": step}, indent=2), encoding="utf-8")
        for name, value in (extra or {}).items():
            (tmp / name).write_text(json.dumps(value, indent=2), encoding="utf-8")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        faults.point()
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        faults.point()
        if keep > 0:
            for old in _step_dirs(Path(root))[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_state(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not (path / "state.json").exists():
        raise FileNotFoundError(f"{path} is not a checkpoint (no state.json)")
    return json.loads((path / "state.json").read_text(encoding="utf-8"))


def restore(path: str | Path, *, accelerator, optimizer, scheduler) -> None:
    """Load optimizer, scheduler, scaler and this process's RNG from checkpoint ``path``.

    ``optimizer=None`` (the checkpoint ended a stage; the next starts afresh) restores the RNG and
    scaler only. Call after the model is built and its trainable weights are loaded (building
    consumes RNG)."""
    path = Path(path)
    if optimizer is not None:
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False))
        scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    if accelerator.scaler is not None and (path / "scaler.pt").exists():
        accelerator.scaler.load_state_dict(torch.load(path / "scaler.pt", weights_only=False))
    rng_file = path / f"rng-rank{accelerator.process_index}.pt"
    if not rng_file.exists():
        raise FileNotFoundError(f"{rng_file} missing: resume with the same number of processes as the run")
    set_rng_state(torch.load(rng_file, weights_only=False))
