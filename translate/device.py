"""Defaults by device: what NLLB runs with when a runtime setting is left on ``auto``.

:func:`choose` is a plain function from what the machine has (:class:`Hardware`: the device,
the GPUs and their free memory, the CPU cores) and what the user asked for
(:class:`~polymix.translate.nllb.RuntimeSettings`, the conversion quantization) to a
:class:`Choice` with a reason per setting; an explicit value always wins. :func:`probe` reads the
hardware. The translator logs ``Choice.describe()`` once, when it loads the model.

The GPU figures behind the choices (``../shared/notes/GPU.md``: H200, NLLB-1.3B shape,
``bench/translate_throughput.py``): float16 compute ran 1.12x int8_float16 at equal batches;
16384-token batches ran 1.28x 4096-token ones; plain CTranslate2 ran 2166 / 2405 / 2507
sentences/s with 1 / 2 / 4 replicas on one GPU. On CPU the defaults are the ones measured on
2 cores (int8, 4096-token batches, replicas of up to 4 threads).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:
    from polymix.translate.nllb import RuntimeSettings

MIB = 1 << 20
CPU_BATCH_TOKENS = 4096
GPU_BATCH_TOKENS = 16384  # the measured best on an H200; smaller GPUs get less (see gpu_budget)
MIN_GPU_BATCH_TOKENS = 1024
# Memory one padded source token costs while its batch decodes, for NLLB-1.3B in float16: cross-
# and self-attention caches of 24 layers (~100 KiB each per token, the target up to 2x the
# source), plus float32 logits over 256k entries per sentence (~1 MiB per sentence of ~10
# tokens), rounded up for the allocator's slack. Smaller NLLBs need less: this only errs safe.
GPU_BYTES_PER_TOKEN = 1 * MIB
GPU_MEMORY_SHARE = 0.8  # of the free memory, for weights + batches: the CUDA context and caches need the rest
DEFAULT_WEIGHTS_BYTES = 2_740 * MIB  # NLLB-1.3B in float16, when the model is not converted yet
GPU_REPLICA_CHOICES = (2, 1)  # 2 replicas: +11% over 1 (GPU.md); 4 added 4% more at twice the memory


@dataclasses.dataclass(frozen=True)
class Hardware:
    device: str
    """cpu or cuda"""
    gpus: int = 0
    """CUDA devices CTranslate2 sees"""
    free_bytes: tuple[int, ...] = ()
    """free memory per GPU id (empty: unknown)"""
    cores: int = 1
    """CPU cores this process may use"""


@dataclasses.dataclass(frozen=True)
class Choice:
    device: str
    device_index: tuple[int, ...]
    compute_type: str
    quantization: str
    """weights of a model converted from transformers (a CTranslate2 folder keeps its own)"""
    max_batch_tokens: int
    replicas: int
    """model replicas per device (CTranslate2's inter_threads)"""
    threads: int
    """CPU threads per replica (CTranslate2's intra_threads)"""
    reasons: tuple[str, ...]

    @property
    def workers(self) -> int:
        """Replicas in all: batches that decode at once."""
        return self.replicas * (len(self.device_index) if self.device == "cuda" else 1)

    def describe(self) -> str:
        where = f"cuda:{','.join(map(str, self.device_index))}" if self.device == "cuda" else "cpu"
        return (
            f"{where}, {self.compute_type} compute ({self.quantization} weights), {self.max_batch_tokens}-token batches, "
            f"{self.replicas} replica(s) per device x {self.threads} thread(s); why: {'; '.join(self.reasons)}"
        )


def probe(device: str = "auto") -> Hardware:
    """What this machine has. Free GPU memory comes from nvidia-smi (or torch) when either works."""
    import ctranslate2

    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device {device!r}: valid values are auto, cpu, cuda")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    gpus = ctranslate2.get_cuda_device_count() if device != "cpu" else 0
    if device == "cuda" and gpus == 0:
        raise ValueError("device 'cuda': CTranslate2 sees no CUDA device; use --device cpu (or auto)")
    if gpus == 0:
        return Hardware("cpu", 0, (), cores)
    return Hardware("cuda", gpus, _free_gpu_memory(gpus), cores)


def _free_gpu_memory(gpus: int) -> tuple[int, ...]:
    """Free bytes per visible GPU: from nvidia-smi (no CUDA context in this process), else torch."""
    smi = _nvidia_smi_free()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        ids = list(range(len(smi))) if visible is None else [int(x) for x in visible.split(",") if x.strip()]
    except ValueError:  # GPU UUIDs: leave the mapping to torch
        ids = []
    if smi and len(ids) == gpus and all(0 <= i < len(smi) for i in ids):
        return tuple(smi[i] for i in ids)
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.device_count() == gpus:
            return tuple(torch.cuda.mem_get_info(i)[0] for i in range(gpus))
    except Exception:  # noqa: BLE001 - a CPU build of torch, a driver mismatch: unknown then
        pass
    return ()


def _nvidia_smi_free() -> list[int]:
    """Free bytes of every GPU nvidia-smi lists (all of them, whatever CUDA_VISIBLE_DEVICES says)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.split()
        return [int(x) * MIB for x in out]
    except (OSError, subprocess.SubprocessError, ValueError):
        return []


def conversion_quantization(device: str, requested: str) -> tuple[str, str]:
    """(weights to convert a transformers model to, why)."""
    if requested != "auto":
        return requested, f"{requested} weights"
    if device == "cuda":
        return "float16", "float16 weights on CUDA (float16 compute ran 1.12x int8_float16)"
    return "int8", "int8 weights on CPU (1.6-1.8x float32 on 2 cores)"


def compute_type(device: str, quantization: str, requested: str, supported: Iterable[str]) -> tuple[str, str]:
    supported = set(supported)
    if requested != "auto":
        if requested not in supported:
            raise ValueError(f"compute_type {requested!r} not supported on {device}: {sorted(supported)}")
        return requested, f"compute {requested} as asked"
    if device == "cuda":
        wanted = "int8_float16" if quantization.startswith("int8") else "bfloat16" if quantization == "bfloat16" else "float16"
    else:
        wanted = "int8" if quantization.startswith("int8") else "float32"
    if wanted not in supported:
        return "default", f"{wanted} is not supported here: CTranslate2's default for the weights"
    return wanted, f"compute {wanted} for {quantization} weights on {device}"


def gpu_budget(free: int, replicas: int, weights_bytes: int) -> int:
    """The largest power-of-two token budget up to GPU_BATCH_TOKENS whose batches fit ``replicas``
    copies of the model in GPU_MEMORY_SHARE of ``free`` bytes (0 when not even 1024 fit)."""
    per_replica = GPU_MEMORY_SHARE * free / replicas - weights_bytes
    budget = GPU_BATCH_TOKENS
    while budget >= MIN_GPU_BATCH_TOKENS and budget * GPU_BYTES_PER_TOKEN > per_replica:
        budget //= 2
    return budget if budget >= MIN_GPU_BATCH_TOKENS else 0


def choose(
    hw: Hardware,
    runtime: "RuntimeSettings",
    quantization: str = "auto",
    weights_bytes: int | None = None,
    supported: Iterable[str] | None = None,
) -> Choice:
    """Every runtime setting, resolved for ``hw``: explicit values as given, ``auto`` (0, empty)
    ones chosen, each with its reason. ``supported``: the compute types CTranslate2 offers on the
    device (asked from CTranslate2 when None)."""
    device = hw.device if runtime.device == "auto" else runtime.device
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device {runtime.device!r}: valid values are auto, cpu, cuda")
    if supported is None:
        import ctranslate2

        supported = ctranslate2.get_supported_compute_types(device)
    quant, why_quant = conversion_quantization(device, quantization)
    compute, why_compute = compute_type(device, quant, runtime.compute_type, supported)
    reasons = [why_quant, why_compute]
    if device == "cpu":
        total = runtime.threads or hw.cores
        intra = runtime.intra_threads or min(4, max(1, total // 2))
        replicas = runtime.inter_threads or max(1, total // intra)
        budget = runtime.max_batch_tokens or CPU_BATCH_TOKENS
        reasons.append(f"{replicas} replica(s) of {intra} thread(s) on {total} core(s) (ran 1.4x one replica on every core)")
        return Choice("cpu", (), compute, quant, budget, replicas, intra, tuple(reasons))

    index = tuple(runtime.device_index) or tuple(range(hw.gpus))
    bad = [i for i in index if hw.gpus and not 0 <= i < hw.gpus]
    if bad or not index:
        raise ValueError(
            f"device_index {','.join(map(str, bad or index))}: this machine has {hw.gpus} GPU(s) "
            f"(ids 0-{max(hw.gpus - 1, 0)}); pass ids among them"
        )
    reasons.append(f"GPUs {','.join(map(str, index))} as asked" if runtime.device_index else f"all {len(index)} GPU(s)")
    weights = weights_bytes or DEFAULT_WEIGHTS_BYTES
    free = min(hw.free_bytes[i] for i in index) if len(hw.free_bytes) == hw.gpus and hw.free_bytes else None
    replicas, budget = _gpu_layout(runtime, free, weights, reasons)
    threads = runtime.intra_threads or max(1, min(4, hw.cores // (replicas * len(index))))
    return Choice("cuda", index, compute, quant, budget, replicas, threads, tuple(reasons))


def _gpu_layout(runtime: "RuntimeSettings", free: int | None, weights: int, reasons: list[str]) -> tuple[int, int]:
    """(replicas per GPU, token budget): the most replicas of GPU_REPLICA_CHOICES whose batches
    keep at least half the measured best budget, then the largest budget that fits."""
    if free is None:
        replicas = runtime.inter_threads or 1
        budget = runtime.max_batch_tokens or GPU_BATCH_TOKENS
        reasons.append(f"free GPU memory unknown: {replicas} replica(s), {budget}-token batches")
        return replicas, budget
    gib = free / (1 << 30)
    for replicas in (runtime.inter_threads,) if runtime.inter_threads else GPU_REPLICA_CHOICES:
        fits = gpu_budget(free, replicas, weights)
        if runtime.max_batch_tokens:
            if runtime.inter_threads or replicas == 1 or runtime.max_batch_tokens <= fits:
                reasons.append(f"{replicas} replica(s) per GPU with {gib:.1f} GiB free")
                return replicas, runtime.max_batch_tokens
        elif runtime.inter_threads or replicas == 1 or fits >= GPU_BATCH_TOKENS // 2:
            budget = fits or MIN_GPU_BATCH_TOKENS
            reasons.append(
                f"{replicas} replica(s) per GPU and {budget}-token batches fit {GPU_MEMORY_SHARE:.0%} of "
                f"{gib:.1f} GiB free ({weights / (1 << 30):.1f} GiB weights each)"
            )
            return replicas, budget
    raise AssertionError("unreachable: GPU_REPLICA_CHOICES ends with 1")


def lid_processes(choice: Choice, cores: int) -> int:
    """Language-ID worker processes next to the translator. On CPU the translator already uses
    every core: 2, as before. On a GPU its replicas need little CPU, so the filter gets the cores
    they leave (at least 2): at GPU speed one chunk's scoring must keep up with the next chunk's
    decoding."""
    if choice.device == "cpu":
        return min(2, cores)
    return max(2, min(16, cores - choice.workers))
