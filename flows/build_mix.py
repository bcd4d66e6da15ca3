"""Prefect flows: ``build-mix`` (sources -> translated, filtered shards + card) and ``translate``.

The flows hold orchestration only; every step is a plain function of ``polymix.mix`` or
``polymix.translate``:

    build-mix:  prepare each source (English shards)  -> plan languages
                -> translate-chunks (one task per chunk, on a thread pool or a Dask cluster)
                -> finish (manifest, accounting check) -> data card, artifacts
    translate:  plan -> translate-chunks -> finish        (an English mix already exists)

Run without a server: ``make build-mix`` (``python -m polymix.flows.build_mix``). With a server:
``make server``, ``make deploy``, then ``prefect deployment run build-mix/default``.

Re-running with the same parameters skips finished chunks; a chunk that fails does not stop
the others (the flow fails at the end and names it; run again to redo just that chunk); the
output folder is locked while a build writes it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, create_table_artifact, update_progress_artifact
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from tqdm.auto import tqdm

from polymix.data_cards.card import write_card
from polymix import shards
from polymix.stats import Stats
from polymix.mix.prepare import PrepareSettings, prepare
from polymix.translate import stage
from polymix.translate.settings import TranslateOptions, TranslateSettings

# Errors worth a retry: I/O and network hiccups. Everything else (bad settings, bad data, bugs)
# fails at once: retrying would only repeat it.
TRANSIENT = (OSError, TimeoutError, ConnectionError)


def is_transient(task_, task_run, state) -> bool:
    return isinstance(state.data, TRANSIENT) and not isinstance(state.data, (FileNotFoundError, PermissionError))


# Our own manifest decides what is done; Prefect's result caching would only get in the way.
RETRY = dict(
    retries=3, retry_delay_seconds=[2, 10, 30], retry_condition_fn=is_transient, cache_policy=NO_CACHE, persist_result=False
)


def send_polymix_logs_to_prefect() -> None:
    """polymix's own log records (the toy-model fallback, model conversions, every warning) reach
    the run's logs in the Prefect UI: the "polymix" logger gets the handlers Prefect gives its
    extra loggers (``PREFECT_LOGGING_EXTRA_LOGGERS``), which send a record to the API with the run
    it was logged in. Done at import, so Dask workers that import the flows get it too."""
    target = logging.getLogger("polymix")
    for handler in logging.getLogger("prefect.extra").handlers:
        if handler not in target.handlers:
            target.addHandler(handler)


send_polymix_logs_to_prefect()


def english_folder(out: str | Path) -> Path:
    """Where build-mix keeps the English mix: beside OUT, so OUT/**/*.parquet is the mix alone."""
    out = Path(out)
    return out.with_name(out.name + ".english")


@task(name="prepare-source", **RETRY)
def prepare_source(spec: dict[str, Any], english: str, chunk_size: int, seed: int) -> dict[str, Any]:
    settings = PrepareSettings(
        source=spec["name"],
        out=Path(english),
        options=dict(spec.get("options", {})),
        image_root=spec.get("image_root"),
        tasks=tuple(spec.get("tasks", ())),
        chunk_size=chunk_size,
        limit=spec.get("limit"),
        seed=seed,
        image_check=spec.get("image_check", "header"),
    )
    manifest = prepare(settings, progress=False)
    get_run_logger().info("prepared %s: %d English rows, %d rejected", spec["name"], manifest["rows"], manifest["rejected"])
    return {"rows": manifest["rows"], "rejected": manifest["rejected"]}


@task(name="plan-languages", **RETRY)
def plan_task(settings: stage.TranslateSettings) -> dict[str, int]:
    service = stage.get_service(settings)
    get_run_logger().info(stage.runtime_line(settings, service))  # the device choice, once per run
    return stage.plan(settings, service.model_key)


@task(name="translate-chunk", task_run_name="translate-{chunk_id}", **RETRY)
def translate_chunk(settings: stage.TranslateSettings, chunk_id: str) -> dict[str, Any]:
    started = time.perf_counter()
    record = stage.run_chunk(settings, chunk_id)
    if not record.get("skipped"):
        elapsed = time.perf_counter() - started
        t = stage.get_service(settings).translator.stats
        counts = Stats.parse(record.get("stats", {})).strings()
        model = f" at {t['sentences'] / t['seconds']:.0f} sentences/s" if counts["translated"] and t["seconds"] else ""
        get_run_logger().info(
            "chunk %s: %d rows in %.1f s (%.0f rows/s); strings: %d from the translation cache, %d translated by the model%s",
            chunk_id,
            record["rows"],
            elapsed,
            record["rows"] / max(elapsed, 1e-9),
            counts["hits"],
            counts["translated"],
            model,
        )
    return {k: record[k] for k in ("chunk", "rows", "rejected")} | {"skipped": bool(record.get("skipped"))}


def _runner(task_runner: str, scheduler_address: str | None, max_workers: int):
    if task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=max_workers)
    if task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        return (
            DaskTaskRunner(address=scheduler_address)
            if scheduler_address
            else DaskTaskRunner(cluster_kwargs={"n_workers": max_workers, "threads_per_worker": 1, "processes": True})
        )
    raise ValueError(f"task_runner {task_runner!r}: valid values are threads, dask")


@flow(name="translate-chunks")
def translate_chunks(settings: stage.TranslateSettings, chunk_ids: list[str], gpu_per_task: bool = False) -> list[dict[str, Any]]:
    """Translate chunks concurrently on the flow's task runner; failures are collected, not fatal here."""
    logger = get_run_logger()
    progress = create_progress_artifact(0.0, key="translate-progress", description="chunks translated")
    annotate = contextlib.nullcontext()
    if gpu_per_task:  # Dask workers started with --resources GPU=1 each run one translation at a time
        import dask

        annotate = dask.annotate(resources={"GPU": 1})
    with annotate:
        futures = {translate_chunk.submit(settings, chunk_id): chunk_id for chunk_id in chunk_ids}
    done: list[dict[str, Any]] = []
    failed: list[str] = []
    bar = tqdm(total=len(futures), desc="chunks", unit=" chunk", disable=not sys.stderr.isatty())  # terminal runs
    for k, future in enumerate(as_completed(list(futures)), start=1):
        future.wait()
        if future.state.is_completed():
            done.append(future.result())
        else:
            failed.append(futures[future])
            logger.error("chunk %s failed: %s", futures[future], future.state.message)
        update_progress_artifact(progress, 100.0 * k / max(len(futures), 1))
        bar.update(1)
    bar.close()
    if failed:
        raise RuntimeError(
            f"{len(failed)} of {len(chunk_ids)} chunks failed ({', '.join(sorted(failed))}); "
            "the others are written; run the build again to redo the failed ones"
        )
    return done


def _model_line(manifest: dict[str, Any]) -> str:
    model, asked = str(manifest.get("mt_model") or "-"), manifest.get("mt_model_requested")
    if model.startswith("toy@"):
        why = f"`{asked}` could not be reached; " if asked and asked != "toy" else ""
        return f"**offline TOY model** `{model}` ({why}shapes domain only: not real NLLB translations)"
    return f"`{model}`"


def summary_table(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The build summary as rows of (what, value), numbers rounded for reading."""
    rejected = {reason: n for reason, n in Stats.parse(manifest["stats"]).rejected.items() if n}
    rows = [
        ("rows", f"{manifest['rows']:,}"),
        ("languages", len(manifest["rows_per_lang"])),
        ("rejected", f"{manifest['rejected']:,}"),
    ]
    rows += [(f"rejected: {reason}", f"{n:,}") for reason, n in sorted(rejected.items())]
    rows += [("translation model", _model_line(manifest)), ("chunks", len(manifest["chunks"]))]
    return [{"what": what, "value": value} for what, value in rows]


def _report(manifest: dict[str, Any], title: str) -> None:
    per_lang = [{k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()} for row in manifest["summary"]]
    create_table_artifact(
        key="rows-per-language",
        table=per_lang,
        description=f"{title}: rows per language, strings translated, cache hits, model seconds",
    )
    lines = [f"# {title}", "", "| what | value |", "|---|---|"]
    lines += [f"| {row['what']} | {row['value']} |" for row in summary_table(manifest)]
    create_markdown_artifact(key="build-summary", markdown="\n".join(lines), description=title)


def _translate(
    settings: stage.TranslateSettings, task_runner: str, scheduler_address: str | None, max_workers: int, gpu_per_task: bool
) -> dict[str, Any]:
    with shards.ReadLock(settings.input, f"translate flow -> {settings.out}"):  # no prepare --overwrite meanwhile
        planned = plan_task(settings)
        runner = _runner(task_runner, scheduler_address, max_workers)
        translate_chunks.with_options(task_runner=runner)(settings, list(planned), gpu_per_task)
        manifest = stage.finish(settings, stage.get_service(settings).model_key)
    write_card(settings.out)
    _report(manifest, f"mix {settings.out}")
    return manifest


@flow(name="build-mix", log_prints=True)
def build_mix(
    sources: list[dict[str, Any]] = [{"name": "shapes", "options": {"count": 100}}],  # noqa: B006
    out: str = "out/mix",
    translate: TranslateOptions = TranslateOptions(),  # noqa: B008  (read only)
    chunk_size: int = 2000,
    task_runner: str = "threads",
    scheduler_address: str | None = None,
    max_workers: int = 2,
    gpu_per_task: bool = False,
) -> dict[str, Any]:
    """Build a mix: English sources -> templates -> languages -> NLLB translation -> shards.

    Args:
        sources: [{name, options, image_root, tasks, limit}] (`polymix sources` lists them)
        out: the mix folder; the English mix goes beside it (OUT.english)
        translate: how to translate, the settings of `polymix translate` (translate/settings.py):
            langs, distribution, model, decode, runtime, ...; its seed also seeds the template choice
        chunk_size: English examples per chunk (the unit of resuming and of one translation task)
        task_runner: threads, or dask (scheduler_address of an existing cluster, else a local one)
        scheduler_address: the Dask scheduler of an existing cluster (tcp://host:8786)
        max_workers: chunks translated at once (threads, or local Dask worker processes)
        gpu_per_task: on Dask, run one translation task per GPU resource of a worker
    """
    english = english_folder(out)
    with shards.BuildLock(out, f"build-mix flow ({', '.join(s['name'] for s in sources)})"):
        for spec in sources:
            prepare_source(spec, str(english), chunk_size, translate.seed)
        settings = TranslateSettings.of(translate, english, out)
        manifest = _translate(settings, task_runner, scheduler_address, max_workers, gpu_per_task)
    print(f"built {out}: {manifest['rows']} rows in {len(manifest['rows_per_lang'])} languages, {manifest['rejected']} rejected")
    return {k: manifest[k] for k in ("rows", "rejected", "rows_per_lang")}


@flow(name="translate", log_prints=True)
def translate_flow(
    input: str,
    out: str,
    translate: TranslateOptions = TranslateOptions(),  # noqa: B008  (read only)
    task_runner: str = "threads",
    scheduler_address: str | None = None,
    max_workers: int = 2,
    gpu_per_task: bool = False,
) -> dict[str, Any]:
    """Translate an existing English mix (the translation stage of build-mix alone).

    Args:
        input: the English mix folder (from `polymix prepare`)
        out: the output mix folder
        translate: how to translate, the settings of `polymix translate` (translate/settings.py)
        task_runner: threads, or dask (scheduler_address of an existing cluster, else a local one)
        scheduler_address: the Dask scheduler of an existing cluster (tcp://host:8786)
        max_workers: chunks translated at once (threads, or local Dask worker processes)
        gpu_per_task: on Dask, run one translation task per GPU resource of a worker
    """
    settings = TranslateSettings.of(translate, input, out)
    with shards.BuildLock(out, "translate flow"):
        manifest = _translate(settings, task_runner, scheduler_address, max_workers, gpu_per_task)
    print(f"translated {input} -> {out}: {manifest['rows']} rows")
    return {k: manifest[k] for k in ("rows", "rejected", "rows_per_lang")}
