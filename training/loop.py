"""The training loop on ``accelerate``: stages, gradient accumulation, logs, checkpoints, resume.

    trainer = Trainer(load_config("tiny"), data="out/demo")
    trainer.fit()                      # or fit(max_steps=10) to stop early; Trainer(..., resume=True)

One process per device (``accelerate launch`` / ``torchrun`` for several GPUs: DDP; plain
``python`` for one GPU or the CPU). Each stage (mBLIP: projection warm-up, then instruction
tuning) sets the trainable groups, then has accelerate wrap the model (DDP, autocast) and the
optimizer (fp16 loss scaling) afresh, because DDP must know which parameters train. One
optimizer step consumes ``accumulation`` micro-batches of ``train.batch_size`` per process; the
data position is the count of micro-batches consumed, which checkpoints store for ``--resume``.
With ``train.plan: auto`` the LLM's precision, checkpointing and micro-batch come from the plan
(:mod:`polymix.training.planner`), made before the model is built and kept by a resumed run.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from polymix import shards
from polymix.errors import ConfigError
from polymix.training import checkpoint, optim, planner
from polymix.training.assemble import build_model, check_device, default_device
from polymix.training.collate import Collator, to_device
from polymix.training.config import RunConfig
from polymix.training.data import BadImagesError, ShardStream, check_bad_images, count_rows
from polymix.training.metrics_log import MetricsLog
from polymix.training.model import format_counts, param_counts, set_trainable
from polymix.training.precision import resolve_precision


def _accelerator(precision: str):
    """An Accelerator; cpu=True without CUDA, which under torchrun / accelerate launch means DDP over gloo."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision", precision) != precision and not torch.distributed.is_initialized():
        AcceleratorState._reset_state()  # a second run in one process (tests, notebooks) with another precision
    return Accelerator(mixed_precision=precision, cpu=not torch.cuda.is_available())


@contextlib.contextmanager
def repeatable(threads: int = 0, deterministic: bool = False):
    """Fix torch's CPU thread count (the order of float sums) and ask for deterministic kernels;
    both are put back on exit, so one run does not change the rest of a process (tests, notebooks)."""
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    if threads:
        torch.set_num_threads(threads)
    if deterministic:
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])


class Trainer:
    def __init__(self, config: RunConfig, data: str | Path, *, resume: bool | str | Path = False, accelerator=None):
        self.data = Path(data)
        device = default_device()
        check_device(config, device)  # before accelerate sets up processes and precision
        config = config.replaced(**{"train.precision": resolve_precision(config.train.precision, device)})
        self.accelerator = accelerator or _accelerator(config.train.precision)
        self.out = Path(config.train.output_dir)
        self.config, self.plan = config, None
        self.data_digest = shards.content_digest(shards.read_records(self.data))
        self.rows = count_rows(self.data, config.data.langs, config.data.tasks, config.data.splits)
        self._check_rows()  # before the model is built (or probed): a wrong filter costs no load time
        self.resume_from = self._find_checkpoint(resume)
        saved = checkpoint.load_state(self.resume_from) if self.resume_from is not None else {}
        self.log = MetricsLog(
            self.out, enabled=self.accelerator.is_main_process, resume_step=saved.get("step", 0)
        )  # a fresh run (step 0) starts the file afresh
        if config.train.plan == "auto":  # before the model is built: the plan decides how
            self.config, self.plan = planner.for_run(config, self.accelerator, self.out, self.resume_from, self.log.info)
        if self.resume_from is not None:
            self._check_resume(self.resume_from, saved)  # against the planned settings a resumed run keeps
        self.log.track(self.config.train.report_to, self.config.name, self.config.to_dict())
        t = self.config.train
        from accelerate.utils import set_seed

        set_seed(t.seed + self.accelerator.process_index)  # dropout differs per rank, repeats per run
        self.built = build_model(self.config, self.accelerator.device)
        self.model = self.built.model
        if self.resume_from is not None:
            from polymix.training.assemble import load_trainable

            load_trainable(self.model, self.resume_from)
        world = self.accelerator.num_processes
        self.accum = optim.accumulation(t.effective_batch_size, t.batch_size, world)
        self.steps = [optim.stage_steps(s, self.rows, t.effective_batch_size) for s in self.config.stages]
        self.state: dict[str, Any] = {
            "stage": 0,
            "stage_step": 0,
            "batches": 0,
            "samples": 0,
            "bad_images": 0,
            "data_digest": self.data_digest,
        }
        self.bad_seen: list[str] = []
        self.state.update(saved)
        self.log.info(
            f"{self.rows} training rows in {self.data}; stages "
            + ", ".join(f"{s.name}: {n} steps" for s, n in zip(self.config.stages, self.steps))
            + f"; {t.batch_size} x {world} process(es) x {self.accum} accumulation = {t.effective_batch_size} per step"
        )

    def _check_rows(self) -> None:
        """No rows to train on is an error; a requested language without rows, a warning (not silence)."""
        d = self.config.data
        mix_langs = set(shards.load_manifest(self.data).get("rows_per_lang", {}))
        if self.rows == 0:
            raise ConfigError(
                f"--data {self.data}: no rows with data.langs={d.langs}, data.tasks={d.tasks}, data.splits={d.splits} "
                f"(the mix has languages {', '.join(sorted(mix_langs)) or 'none'}); change those settings or the mix"
            )
        empty = [lang for lang in d.langs or () if lang not in mix_langs]
        if empty:
            tqdm.write(f"warning: data.langs names {', '.join(empty)}, which {self.data} has no rows in; training on the others")

    def _find_checkpoint(self, resume) -> Path | None:
        if not resume:
            return None
        path = checkpoint.latest(self.out) if resume is True or resume == "auto" else Path(resume)
        if path is None:
            raise FileNotFoundError(f"--resume: no checkpoint in {self.out / 'checkpoints'}")
        return Path(path)

    def _check_resume(self, path: Path, saved_state: dict[str, Any]) -> None:
        """Refuse a checkpoint whose model, data stream or mix (by content, so a moved mix resumes) differ."""
        saved = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8"))
        now = self.config.to_dict()
        # what decides the data stream and the model: another value would silently continue a different run
        changed = [k for k in ("model", "lora", "data", "stages") if saved.get(k) != now[k]]
        changed += [f"train.{k}" for k in ("batch_size", "effective_batch_size", "seed") if saved["train"][k] != now["train"][k]]
        saved_mix = saved_state.get("data_digest")
        if saved_mix is not None and saved_mix != self.data_digest:
            changed.append(f"--data (not the mix {path.name} was trained on)")
        if changed:
            raise ConfigError(
                f"--resume {path}: changed since that checkpoint: {', '.join(changed)}; resume with the same "
                "--data and settings, or train into another train.output_dir"
            )

    # -- data ------------------------------------------------------------------------------------
    def loader(self) -> torch.utils.data.DataLoader:
        c, acc = self.config, self.accelerator
        d = c.data
        stream = ShardStream(
            self.data,
            self.built.image_processor,
            langs=d.langs,
            tasks=d.tasks,
            splits=d.splits,
            seed=c.train.seed,
            shuffle_buffer=d.shuffle_buffer,
            interleave=d.interleave,
            rank=acc.process_index,
            world=acc.num_processes,
            batch_size=c.train.batch_size,
            start_batch=self.state["batches"],
            rows=self.rows,
        )
        collate = Collator(
            self.built.tokenizer,
            decoder_only=self.model.decoder_only,
            max_text_tokens=d.max_text_tokens,
            answer_prefix=d.answer_prefix,
        )
        return torch.utils.data.DataLoader(
            stream,
            batch_size=c.train.batch_size,
            collate_fn=collate,
            num_workers=d.workers,
            pin_memory=acc.device.type == "cuda",
            persistent_workers=d.workers > 0,
            prefetch_factor=4 if d.workers else None,
            generator=torch.Generator().manual_seed(c.train.seed),  # keeps the global RNG (dropout) untouched
        )

    # -- one stage's wrapping ----------------------------------------------------------------------
    def _prepare_stage(self, index: int):
        stage, acc = self.config.stages[index], self.accelerator
        acc.free_memory()
        self.model.__dict__.pop("forward", None)  # undo the previous stage's autocast wrapper
        set_trainable(self.model, stage.train)
        raw = optim.make_optimizer(self.model, stage, self.config.train.weight_decay)
        scheduler = optim.make_scheduler(raw, stage, self.steps[index])
        wrapped = acc.prepare_model(self.model, device_placement=False)
        optimizer = acc.prepare_optimizer(raw)
        self.log.info(
            f"stage {index + 1}/{len(self.config.stages)} '{stage.name}': training {', '.join(stage.train)}\n"
            + format_counts(param_counts(self.model))
        )
        return wrapped, optimizer, scheduler

    def _micro_step(self, wrapped, batch, scale: float) -> torch.Tensor | None:
        acc = self.accelerator
        if batch["size"]:
            loss = wrapped(**to_device(batch, acc.device))
        else:  # every image of the micro-batch was unreadable: contribute zero (DDP still syncs)
            loss = sum((p * 0).sum() for p in self.model.parameters() if p.requires_grad)
        acc.backward(loss * scale)
        return loss.detach() if batch["size"] else None

    def train_step(self, wrapped, optimizer, scheduler, batches) -> dict[str, float]:
        """One optimizer step over ``len(batches)`` micro-batches; returns loss and grad norm."""
        acc, losses = self.accelerator, []
        for i, batch in enumerate(batches):
            sync = i == len(batches) - 1
            with contextlib.nullcontext() if sync else acc.no_sync(wrapped):
                losses.append(self._micro_step(wrapped, batch, 1.0 / len(batches)))
        params = [p for p in self.model.parameters() if p.requires_grad]
        clip = self.config.train.grad_clip
        norm = (
            acc.clip_grad_norm_(params, clip)
            if clip > 0
            else torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        )
        optimizer.step()
        if not getattr(optimizer, "step_was_skipped", False):
            scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses = [x for x in losses if x is not None]  # one device sync per step, here
        return {"loss": float(torch.stack(losses).mean()) if losses else float("nan"), "grad_norm": float(norm)}

    # -- the run -----------------------------------------------------------------------------------
    def fit(self, max_steps: int | None = None) -> dict[str, Any]:
        """Train every stage to its end (or stop after ``max_steps`` optimizer steps in this call)."""
        t = self.config.train
        with (
            shards.ReadLock(self.data, "polymix train"),
            repeatable(t.threads, t.deterministic),
        ):  # no prepare --overwrite under it
            return self._fit(max_steps)

    def _fit(self, max_steps: int | None) -> dict[str, Any]:
        c, acc, state = self.config, self.accelerator, self.state
        total = sum(self.steps)
        done_before = sum(self.steps[: state["stage"]]) + state["stage_step"]
        bar = tqdm(
            total=total, initial=done_before, desc="train", unit="step", disable=not acc.is_main_process, dynamic_ncols=True
        )
        batches = iter(self.loader())
        ran, last = 0, {}
        window = {"samples": 0, "time": time.perf_counter(), "losses": [], "wait": 0.0}
        while state["stage"] < len(c.stages) and (max_steps is None or ran < max_steps):
            index = state["stage"]
            wrapped, optimizer, scheduler = self._prepare_stage(index)
            if self.resume_from is not None and not ran:  # the RNG last: building the model consumed some
                checkpoint.restore(
                    self.resume_from, accelerator=acc, optimizer=optimizer if state["stage_step"] else None, scheduler=scheduler
                )
            self.model.train()
            while state["stage_step"] < self.steps[index] and (max_steps is None or ran < max_steps):
                waited = time.perf_counter()
                micro = [next(batches) for _ in range(self.accum)]
                window["wait"] += time.perf_counter() - waited  # the device idles while the loader catches up
                state["batches"] += len(micro)
                samples = sum(b["size"] for b in micro)
                state["samples"] += samples
                state["bad_images"] += sum(b["bad_images"] for b in micro)
                self._check_images(micro)
                last = self.train_step(wrapped, optimizer, scheduler, micro)
                state["stage_step"] += 1
                ran += 1
                step = done_before + ran
                window["samples"] += samples * acc.num_processes
                window["losses"].append(last["loss"])
                bar.update(1)
                if step % c.train.log_every == 0 or state["stage_step"] == self.steps[index]:
                    self._log(step, index, optimizer, window, last, micro, bar)
                if c.train.save_every and step % c.train.save_every == 0:
                    self.save(step, optimizer, scheduler)
                if c.train.eval_every > 0 and step % c.train.eval_every == 0:
                    self.evaluate(step)
            if state["stage_step"] >= self.steps[index]:
                state["stage"], state["stage_step"] = index + 1, 0
        bar.close()
        step = done_before + ran
        if ran and not (c.train.save_every and step % c.train.save_every == 0):
            self.save(step, optimizer, scheduler)
        finished = state["stage"] >= len(c.stages)
        if finished and c.train.eval_every >= 0:
            self.evaluate(step)
        self.log.close()
        totals = acc.reduce(torch.tensor([state["samples"], state["bad_images"]], device=acc.device), "sum").tolist()
        return {"step": step, "finished": finished, **last, "samples": totals[0], "bad_images": totals[1]}

    def _check_images(self, micro) -> None:
        acc = self.accelerator
        self.bad_seen = (self.bad_seen + [p for b in micro for p in b.get("bad_paths", [])])[:10]  # for the message
        bad, good = self.state["bad_images"], self.state["samples"]
        if acc.num_processes > 1:  # every rank decides on the same totals: one rank stopping alone would hang the others
            bad, good = acc.reduce(torch.tensor([bad, good], device=acc.device), "sum").tolist()
        try:
            check_bad_images(bad, good, self.config.data.max_bad_images, self.bad_seen, self.out, self.data)
        except BadImagesError:
            for b in micro:
                self.log.bad_paths(b.get("bad_paths", []))
            self.log.close()
            raise

    def _log(self, step, index, optimizer, window, last, micro, bar) -> None:
        acc = self.accelerator
        elapsed = max(time.perf_counter() - window["time"], 1e-9)
        losses = [x for x in window["losses"] if x == x]
        loss = torch.tensor(sum(losses) / max(1, len(losses)), device=acc.device)
        row = {
            "step": step,
            "stage": self.config.stages[index].name,
            "loss": float(acc.reduce(loss, "mean")),
            "grad_norm": last["grad_norm"],
            "lr": optim.current_lrs(optimizer),
            "samples_per_s": window["samples"] / elapsed,
            "data_wait_share": window["wait"] / elapsed,
            "epoch": max(b["epoch"] for b in micro),
            "bad_images": self.state["bad_images"],
            "samples": self.state["samples"] * acc.num_processes,
        }
        for b in micro:
            self.log.bad_paths(b.get("bad_paths", []))
        self.log.write(row)
        bar.set_postfix(
            loss=f"{row['loss']:.4f}",
            lr=f"{max(row['lr'].values()):.2e}",
            sps=f"{row['samples_per_s']:.1f}",
            wait=f"{row['data_wait_share']:.0%}",
        )
        window.update(samples=0, time=time.perf_counter(), losses=[], wait=0.0)

    def save(self, step: int, optimizer, scheduler) -> Path:
        path = checkpoint.save(
            self.out,
            step,
            accelerator=self.accelerator,
            model=self.model,
            optimizer=optimizer,
            scheduler=scheduler,
            state=dict(self.state),
            config=self.config.to_dict(),
            keep=self.config.train.keep_checkpoints,
            extra={planner.FILE: self.plan.to_dict()} if self.plan else None,
        )
        self.log.info(f"checkpoint {path}")
        return path

    def evaluate(self, step: int) -> dict[str, Any]:
        from polymix.training.evaluate import evaluate

        result = evaluate(
            self.built,
            self.config,
            self.config.eval.data or self.data,
            accelerator=self.accelerator,
            out_file=self.out / "eval" / f"step-{step:06d}.jsonl",
        )
        self.log.write({"step": step, "eval": result})  # generate_predictions put the model back in training mode
        return result
