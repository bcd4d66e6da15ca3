"""``train.plan: auto``: the fastest LLM precision, gradient checkpointing and micro-batch that fit.

    plan = make_plan(config, device)          # probes (or reads the cache), prints nothing
    print(format_plan(plan)); config = apply(config, plan)

mBLIP loaded its LLM in 8-bit with gradient checkpointing at batch 8 so that training fits a
24 GB card; on a bigger card that wastes most of it. The plan measures instead of guessing: for
each variant (LLM in the configured half type / 8-bit / 4-bit, checkpointing off / on, fastest
expected first) it times a few steps per micro-batch (powers of two dividing the per-process
effective batch, from ``train.batch_size`` up while the batch fits the budget and still gains
speed, or down until one fits), drops the candidates that run out of memory or exceed the budget
less ``train.memory_margin``, and keeps the fastest in samples/s (a variant within ``SPEED_TIE``
of the fastest with a more precise LLM wins: see ``choose``). Only the micro-batch changes
what an optimizer step sees, and gradient accumulation keeps ``train.effective_batch_size``, so
steps, learning rates and schedule stay those of the config. Quantization and checkpointing only
trade speed for memory, so a variant is not probed once a variant at least as fast in both
already reached the largest micro-batch or stopped gaining. The result is cached under
``$POLYMIX_PLAN_CACHE`` (default ``~/.cache/polymix/plans``) by a key of the model shapes, the
device, the budget and the settings that shape a step, and is recorded in the run folder.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from polymix.errors import ConfigError
from polymix.training.config_io import parse_size  # noqa: F401  (re-exported: the planner's sizes)
from polymix.training.probe import is_oom

QUANTIZATIONS = ("none", "8bit", "4bit")  # fastest expected first: dequantizing costs time
MIN_GAIN = 0.03  # a doubling of the micro-batch that gains less speed is not worth its memory
VERSION = 1  # bump when the probe changes what it measures, so cached plans are re-probed


@dataclass(frozen=True)
class Candidate:
    quantization: str
    checkpointing: bool
    batch_size: int


@dataclass
class Probe:
    quantization: str
    checkpointing: bool
    batch_size: int
    status: str  # ok, oom, over budget
    samples_per_s: float = 0.0
    step_s: float = 0.0
    peak_bytes: int = 0


@dataclass
class Plan:
    quantization: str
    checkpointing: bool
    batch_size: int
    accumulation: int
    world: int
    precision: str
    device: str
    budget_bytes: int
    usable_bytes: int
    samples_per_s: float
    peak_bytes: int
    key: str
    source: str = "probe"  # probe, cache or checkpoint (a resumed run)
    probes: list[Probe] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Plan":
        return cls(**{**data, "probes": [Probe(**p) for p in data.get("probes", [])]})


def gib(n: int) -> str:
    return f"{n / 2**30:.2f}"


def variants(device: torch.device, quantize_on_cpu: bool = False) -> list[tuple[str, bool]]:
    """(quantization, checkpointing) pairs, fastest expected first; bitsandbytes only on CUDA and installed."""
    bnb = importlib.util.find_spec("bitsandbytes") is not None
    quants = QUANTIZATIONS if bnb and (device.type == "cuda" or quantize_on_cpu) else ("none",)
    return [(q, ckpt) for q in quants for ckpt in (False, True)]


def ladder(effective: int, world: int = 1) -> list[int]:
    """Micro-batch sizes to try: the powers of two that divide the per-process effective batch."""
    per_process = effective // world
    return [b for b in (2**i for i in range(per_process.bit_length())) if per_process % b == 0]


def _dominates(fast: tuple[str, bool], slow: tuple[str, bool]) -> bool:
    return QUANTIZATIONS.index(fast[0]) <= QUANTIZATIONS.index(slow[0]) and (slow[1] or not fast[1])


def search(
    variant_list: list[tuple[str, bool]],
    sizes: list[int],
    start: int,
    measure: Callable[[Candidate], tuple],
    usable: int,
    report: Callable[[Probe], None] = lambda p: None,
) -> list[Probe]:
    """Probe the variants with ``measure(candidate) -> (samples/s, s/step, peak bytes)``, which
    raises an out-of-memory error for a candidate that does not fit; returns every probe."""
    probes: list[Probe] = []
    unbound: list[tuple[str, bool]] = []  # variants that fitted the top micro-batch or stopped gaining

    def attempt(variant, size) -> Probe:
        try:
            speed, step_s, peak = measure(Candidate(*variant, size))
        except Exception as err:  # noqa: BLE001  (anything but running out of memory is a real error)
            if not is_oom(err):
                raise
            probe = Probe(*variant, size, "oom")
        else:
            probe = Probe(*variant, size, "ok" if peak <= usable else "over budget", speed, step_s, peak)
        probes.append(probe)
        report(probe)
        return probe

    for variant in variant_list:
        if any(_dominates(done, variant) for done in unbound):
            continue
        i = max([k for k, size in enumerate(sizes) if size <= start] or [0])
        best = attempt(variant, sizes[i])
        if best.status != "ok":  # too big: halve until one fits; memory bounds this variant
            while best.status != "ok" and i > 0:
                i -= 1
                best = attempt(variant, sizes[i])
            continue
        while i + 1 < len(sizes):  # fits: double while it fits and gains speed
            i += 1
            bigger = attempt(variant, sizes[i])
            if bigger.status != "ok":
                break
            gain, best = bigger.samples_per_s / best.samples_per_s - 1, max(best, bigger, key=lambda p: p.samples_per_s)
            if gain < MIN_GAIN:
                unbound.append(variant)
                break
        else:
            unbound.append(variant)
    return probes


# Probes time a few steps each, so two variants within this share of the fastest are a tie; a tie
# goes to the more precise LLM (4-bit NF4 is lossier than 8-bit, which is lossier than bf16). On an
# H200 (mBLIP shapes) the probes put 4-bit at 50.4 samples/s and bf16 with checkpointing at 48.7:
# without this the plan traded the recipe's 8-bit LLM for 4-bit on noise.
SPEED_TIE = 0.10


def choose(probes: list[Probe], budget: int) -> Probe:
    """Among the probes that fitted and ran within ``SPEED_TIE`` of the fastest, the one with the
    most precise LLM, then the fastest, then the smaller peak."""
    fitted = [p for p in probes if p.status == "ok"]
    if not fitted:
        last = probes[-1] if probes else Probe("none", True, 1, "oom")  # the most frugal tried
        raise ConfigError(
            f"train.plan=auto: nothing fits in {gib(budget)} GiB, not even micro-batch {last.batch_size} with "
            f"the LLM in {last.quantization} and gradient checkpointing {'on' if last.checkpointing else 'off'}; "
            f"raise train.memory_budget (--memory-budget) or use a card with more memory"
        )
    fastest = max(p.samples_per_s for p in fitted)
    tied = [p for p in fitted if p.samples_per_s >= (1 - SPEED_TIE) * fastest]
    return max(tied, key=lambda p: (-QUANTIZATIONS.index(p.quantization), p.samples_per_s, -p.peak_bytes))


def apply(config, plan: Plan):
    """``config`` with the plan's LLM precision, checkpointing, micro-batch and autocast."""
    return config.replaced(
        **{
            "model.quantization": plan.quantization,
            "model.gradient_checkpointing": plan.checkpointing,
            "train.batch_size": plan.batch_size,
            "train.precision": plan.precision,
        }
    )


def format_plan(plan: Plan) -> str:
    """The plan as a table: every probe, the chosen one starred, and the resulting setting."""
    lines = [
        f"plan ({plan.source}) on {plan.device}: budget {gib(plan.budget_bytes)} GiB, usable {gib(plan.usable_bytes)} GiB",
        f"   {'quant':<6}{'ckpt':>6}{'batch':>7}{'samples/s':>11}{'s/step':>9}{'peak GiB':>10}  status",
    ]
    for p in plan.probes:
        chosen = (p.quantization, p.checkpointing, p.batch_size) == (plan.quantization, plan.checkpointing, plan.batch_size)
        speed = (
            f"{p.samples_per_s:>11.2f}{p.step_s:>9.3f}{gib(p.peak_bytes):>10}"
            if p.status != "oom"
            else f"{'-':>11}{'-':>9}{'-':>10}"
        )
        lines.append(
            f"{'*' if chosen else ' '}  {p.quantization:<6}{'on' if p.checkpointing else 'off':>6}"
            f"{p.batch_size:>7}{speed}  {p.status}"
        )
    lines.append(
        f"-> model.quantization={plan.quantization}"
        f", gradient checkpointing {'on' if plan.checkpointing else 'off'}, {plan.precision} "
        f"autocast, micro-batch {plan.batch_size} x {plan.accumulation} accumulation x {plan.world} process(es) = "
        f"{plan.batch_size * plan.accumulation * plan.world} per optimizer step"
    )
    return "\n".join(lines)
