"""Typed, validated training settings and the YAML presets under ``training/configs/``.

A run is described by one :class:`RunConfig`: model sources, LoRA, data filters, the training
stages (mBLIP's projection warm-up, then the instruction stage), the loop and evaluation.
Presets are small YAML files; ``load_config("tiny", ["train.batch_size=4"])`` reads a preset by
name (or a path) and applies dotted ``KEY=VALUE`` overrides (values are parsed as YAML).
Every field carries its help text in ``metadata["help"]``; ``settings_help()`` lists them for
``--help``. Problems are collected and raised together as one :class:`ConfigError`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from polymix.errors import ConfigError
from polymix.training.config_io import build, parse_size, settings_help  # noqa: F401  (re-exported)

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_PRESET = "mblip-mt0-xl"
GROUPS = ("qformer", "query_tokens", "projection", "lora")
PRECISIONS = ("no", "fp16", "bf16", "auto")
PLANS = ("fixed", "auto")
QUANTIZATIONS = ("none", "8bit", "4bit")
SCHEDULES = ("cosine", "linear", "constant")
DTYPES = ("float32", "float16", "bfloat16")


def _f(default: Any, help: str, factory: Any = None) -> Any:
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class ModelSettings:
    blip2: str = _f(
        "Salesforce/blip2-flan-t5-xl",
        "BLIP-2 checkpoint (hub id or folder; a released mBLIP checkpoint works too) giving the frozen ViT, "
        "the Q-Former and the query tokens; 'tiny:blip2' builds a random tiny one",
    )
    llm: str = _f(
        "bigscience/mt0-xl",
        "the LLM: hub id or folder of a seq2seq (mT0/mT5) or decoder-only (BLOOMZ, Llama-style) model, or a "
        "Blip2ForConditionalGeneration checkpoint (its language model is used); 'tiny:mt5', 'tiny:bloom', "
        "'tiny:llama' build random tiny ones",
    )
    projection: str = _f(
        "auto",
        "'new': a fresh linear projection; 'checkpoint': the one in `blip2`; 'auto': "
        "'checkpoint' when blip2 and llm are the same checkpoint, else 'new'",
    )
    quantization: str = _f("8bit", "LLM weights: '8bit' or '4bit' (nf4) with bitsandbytes on CUDA, or 'none'")
    quantize_on_cpu: bool = _f(
        False, "on CPU, load the LLM with bitsandbytes too (slow; for tests) instead of falling back to full precision"
    )
    llm_dtype: str = _f("bfloat16", "dtype of the LLM's non-quantized weights on CUDA (CPU uses float32)")
    vision_dtype: str = _f("bfloat16", "dtype of the frozen ViT on CUDA (CPU uses float32)")
    gradient_checkpointing: bool = _f(True, "recompute Q-Former and LLM activations in the backward pass to save memory")
    init_weights: str | None = _f(
        None, "start from the trainable weights of an earlier run (a checkpoint folder or its trainable.safetensors)"
    )


@dataclass
class LoraSettings:
    r: int = _f(8, "LoRA rank")
    alpha: int = _f(16, "LoRA alpha (scale = alpha / r)")
    dropout: float = _f(0.05, "dropout on the LoRA input")
    target_modules: list[str] | None = _f(
        None,
        "modules that get LoRA; default by architecture: T5 q,k,v,o,wi_0,wi_1,wo; "
        "BLOOM query_key_value,dense,dense_h_to_4h,dense_4h_to_h; "
        "Llama q/k/v/o/gate/up/down_proj",
    )


@dataclass
class DataSettings:
    langs: list[str] | None = _f(None, "NLLB codes to train on (null: every language of the mix)")
    tasks: list[str] | None = _f(None, "tasks to train on (null: all)")
    splits: list[str] = _f(None, "source splits to train on", factory=lambda: ["train"])
    image_size: int = _f(224, "image side in pixels (must match the ViT)")
    max_text_tokens: int = _f(128, "instruction and target are each cut to this many tokens")
    shuffle_buffer: int = _f(10_000, "rows held for shuffling (memory bound of the streaming reader)")
    interleave: int = _f(16, "Parquet row groups read at once and interleaved (mixes languages)")
    workers: int = _f(4, "DataLoader worker processes that read and decode images (0: in the main process)")
    answer_prefix: str = _f(" ", "decoder-only LLMs: text between the prompt and the target")
    image_processor: str | None = _f(
        None, "image processor source (default: the blip2 checkpoint's, or BLIP-2's CLIP normalisation)"
    )
    max_bad_images: float = _f(
        0.05,
        "stop with an error naming the paths tried when more than this share of the images "
        "read so far is unreadable (checked from 100 images on; all unreadable: always stops)",
    )


@dataclass
class StageSettings:
    name: str = _f("instruct", "stage name (used in logs and checkpoints)")
    train: list[str] = _f(None, f"parameter groups trained in this stage, of {', '.join(GROUPS)}", factory=lambda: list(GROUPS))
    lr: dict[str, float] = _f(None, "learning rate per trained group", factory=dict)
    steps: int = _f(0, "optimizer steps of the stage (0: use epochs)")
    epochs: float = _f(0.0, "passes over the filtered training rows (when steps is 0)")
    warmup_steps: int = _f(0, "linear learning-rate warm-up steps, from 0 (transformers' get_scheduler, as mBLIP)")
    schedule: str = _f("cosine", "learning-rate decay after warm-up: cosine, linear or constant")


@dataclass
class TrainSettings:
    output_dir: str = _f("out/train", "where checkpoints, metrics.jsonl and evaluation outputs go")
    batch_size: int = _f(8, "samples per device per micro-batch")
    effective_batch_size: int = _f(128, "samples per optimizer step over all devices (sets gradient accumulation)")
    weight_decay: float = _f(0.1, "AdamW weight decay (not on biases, norms and query tokens)")
    grad_clip: float = _f(1.0, "gradient-norm clipping (0: off)")
    precision: str = _f("bf16", "autocast: bf16, fp16, no, or auto (bf16 where the GPU has it, else fp16; none on CPU)")
    plan: str = _f(
        "fixed",
        "auto: before training, probe the LLM's precision (bf16/8-bit/4-bit), gradient checkpointing and "
        "the largest micro-batch that fit the memory budget and keep the fastest (effective batch kept "
        "by accumulation; cached, recorded in the run folder); fixed: the settings as written",
    )
    memory_budget: str | None = _f(
        None,
        "plan: auto for this much device memory (e.g. 24GiB, 16GB) instead of the whole GPU "
        "(CPU: the machine's RAM); enforced on the GPU during the run",
    )
    memory_margin: float = _f(0.1, "plan: auto keeps this fraction of the budget free (fragmentation, longer batches)")
    probe_steps: int = _f(3, "plan: auto times this many steps per candidate (after one untimed step)")
    require_cuda: bool = _f(True, "stop with a clear error when no CUDA GPU is present")
    seed: int = _f(42, "seed of weights init, dropout and data order")
    deterministic: bool = _f(
        False,
        "bit-for-bit repeatable runs from the seed on CPU: torch.use_deterministic_algorithms "
        "during fit (on a GPU it also needs CUBLAS_WORKSPACE_CONFIG=:4096:8)",
    )
    threads: int = _f(0, "torch CPU threads during fit (0: torch's default); a fixed count fixes the order of sums")
    log_every: int = _f(10, "optimizer steps between metric lines")
    save_every: int = _f(1000, "optimizer steps between checkpoints (0: only at the end)")
    keep_checkpoints: int = _f(3, "how many step checkpoints to keep (0: all)")
    eval_every: int = _f(0, "optimizer steps between evaluations (0: only at the end; -1: never)")
    report_to: list[str] = _f(
        None,
        "experiment trackers that get the metrics too, by accelerate's names (tensorboard, wandb, "
        "mlflow, comet_ml, aim, clearml, dvclive, swanlab, trackio; all: every one installed); "
        "OUT/metrics.jsonl is written either way",
        factory=list,
    )


@dataclass
class EvalSettings:
    data: str | None = _f(None, "mix folder to evaluate on (default: the training mix)")
    split: str = _f("val", "held-out split")
    langs: list[str] | None = _f(None, "languages to evaluate (null: the training languages)")
    max_rows_per_lang: int = _f(200, "rows per language and task")
    batch_size: int = _f(8, "generation batch size")
    num_beams: int = _f(5, "beam size")
    max_new_tokens: dict[str, int] = _f(
        None, "new-token limit per task ('default' for the others)", factory=lambda: {"caption": 50, "default": 10}
    )


@dataclass
class RunConfig:
    name: str = _f("run", "run name")
    model: ModelSettings = _f(None, "model assembly", factory=ModelSettings)
    lora: LoraSettings = _f(None, "LoRA on the LLM", factory=LoraSettings)
    data: DataSettings = _f(None, "training data", factory=DataSettings)
    stages: list[StageSettings] = _f(None, "training stages, run in order", factory=lambda: [StageSettings()])
    train: TrainSettings = _f(None, "the loop", factory=TrainSettings)
    eval: EvalSettings = _f(None, "evaluation", factory=EvalSettings)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replaced(self, **dotted: Any) -> "RunConfig":
        """A copy with ``section.key`` settings replaced: ``replaced(**{"train.batch_size": 4})``."""
        new = copy.deepcopy(self)
        for key, value in dotted.items():
            section, name = key.split(".")
            setattr(getattr(new, section), name, value)
        return new


def preset_path(name: str | Path) -> Path:
    """A preset by name (``tiny``, ``mblip-mt0-xl``) or a path to a YAML file."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    candidate = CONFIG_DIR / f"{name}.yaml"
    if candidate.exists():
        return candidate
    raise ConfigError(f"config {str(name)!r} not found: give a YAML file or one of {', '.join(presets())}")


def presets() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def validate(config: RunConfig, problems: list[str]) -> None:
    """Checks across fields (types were checked by :func:`build`); appends to ``problems``."""
    m, t, d = config.model, config.train, config.data
    checks = [
        (m.projection in ("auto", "new", "checkpoint"), f"model.projection {m.projection!r}: use auto, new or checkpoint"),
        (m.quantization in QUANTIZATIONS, f"model.quantization {m.quantization!r}: use one of {QUANTIZATIONS}"),
        (m.llm_dtype in DTYPES and m.vision_dtype in DTYPES, f"model.llm_dtype/vision_dtype: use one of {DTYPES}"),
        (t.precision in PRECISIONS, f"train.precision {t.precision!r}: use one of {PRECISIONS}"),
        (t.plan in PLANS, f"train.plan {t.plan!r}: use auto or fixed"),
        (0 <= t.memory_margin < 1 and t.probe_steps > 0, "train.memory_margin must be in [0, 1) and train.probe_steps > 0"),
        (
            t.batch_size > 0 and t.effective_batch_size >= t.batch_size,
            "train.batch_size must be > 0 and <= train.effective_batch_size",
        ),
        (
            t.effective_batch_size % t.batch_size == 0,
            f"train.effective_batch_size {t.effective_batch_size} is not a multiple of train.batch_size {t.batch_size}",
        ),
        (d.image_size > 0 and d.max_text_tokens > 0, "data.image_size and data.max_text_tokens must be > 0"),
        (
            d.shuffle_buffer > 0 and d.interleave > 0 and d.workers >= 0,
            "data.shuffle_buffer, data.interleave must be > 0, data.workers >= 0",
        ),
        (0 <= d.max_bad_images <= 1, f"data.max_bad_images {d.max_bad_images}: a share between 0 and 1"),
        (config.lora.r > 0, "lora.r must be > 0"),
        (bool(config.stages), "stages: give at least one stage"),
        (
            config.eval.num_beams > 0 and config.eval.max_rows_per_lang > 0,
            "eval.num_beams and eval.max_rows_per_lang must be > 0",
        ),
    ]
    problems.extend(msg for ok, msg in checks if not ok)
    for i, stage in enumerate(config.stages):
        where = f"stages[{i}] ({stage.name})"
        unknown = [g for g in stage.train if g not in GROUPS]
        if unknown or not stage.train:
            problems.append(f"{where}.train {stage.train}: name groups of {', '.join(GROUPS)}")
        missing = [g for g in stage.train if g in GROUPS and not stage.lr.get(g)]
        if missing:
            problems.append(f"{where}.lr: no learning rate for {', '.join(missing)}")
        if (stage.steps > 0) == (stage.epochs > 0):
            problems.append(f"{where}: give exactly one of steps (> 0) or epochs (> 0)")
        if stage.schedule not in SCHEDULES:
            problems.append(f"{where}.schedule {stage.schedule!r}: use one of {SCHEDULES}")
    if t.report_to:
        from polymix.training.metrics_log import tracker_problems

        problems.extend(tracker_problems(t.report_to))
    if t.memory_budget is not None:
        try:
            parse_size(t.memory_budget)
        except ValueError as err:
            problems.append(f"train.memory_budget: {err}")
    if d.langs:
        from polymix.languages import UnknownLanguageError, resolve

        try:
            d.langs = resolve(d.langs, include_english=True)
        except UnknownLanguageError as err:
            problems.append(f"data.langs: {err}")


def _set(data: Any, dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ConfigError(f"override {dotted!r}: {part!r} is not a section")
    if isinstance(node, list) and leaf.isdigit() and int(leaf) < len(node):
        node[int(leaf)] = value
    elif isinstance(node, dict):
        node[leaf] = value
    else:
        raise ConfigError(f"override {dotted!r}: cannot set {leaf!r}")


def load_config(name: str | Path = DEFAULT_PRESET, overrides: list[str] | None = None) -> RunConfig:
    """Read a preset, apply ``KEY=VALUE`` overrides (``stages.1.steps=10`` indexes a list), then
    build and validate the typed config; every problem is reported in one :class:`ConfigError`."""
    data = yaml.safe_load(preset_path(name).read_text(encoding="utf-8")) or {}
    problems: list[str] = []
    for item in overrides or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            problems.append(f"override {item!r}: expected KEY=VALUE such as train.batch_size=4")
            continue
        try:
            _set(data, key.strip(), yaml.safe_load(value) if value.strip() else None)
        except ConfigError as err:
            problems.append(str(err))
    config = build(RunConfig, data, "", problems)
    if not problems:
        validate(config, problems)
    if problems:
        raise ConfigError("bad training config:\n  - " + "\n  - ".join(problems))
    return config
