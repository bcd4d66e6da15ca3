"""The ``translate`` stage: an English mix -> a mix partitioned by target language.

    polymix translate --in out/english --out out/mix --langs all
    make translate LANGS=all IN=out/english OUT=out/mix

The stage is three plain steps, which the Prefect flows (``flows/``) run as tasks:

1. :func:`plan` assigns every English example its target language(s) and writes the plan to
   ``OUT/_manifest/plan.arrow``, so workers on other processes or machines read the same one;
2. :func:`run_chunk` turns one English chunk into one output chunk with the same id: template
   pieces and slot values go through :class:`~polymix.translate.service.TranslationService`
   (each distinct string once, cached across runs), rows get ``mt_model``, and the chunk is
   written atomically with its counts;
3. :func:`finish` writes the manifest and checks the accounting.

Finished chunks are recorded in the output's manifest: a run that is killed and started again
skips them, and strings translated before the kill come back from the cache.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.feather as feather
from tqdm.auto import tqdm

from polymix import locks, shards, stats as run_stats
from polymix.schema import ENGLISH, Example, from_table, to_table
from polymix.errors import ConfigError
from polymix.translate import assign
from polymix.translate.device import conversion_quantization, lid_processes, probe
from polymix.translate.model import ModelUnavailableError, ResolvedModel, cache_root, resolve
from polymix.translate.nllb import NllbTranslator
from polymix.translate.render import render_translated, strings_needed
from polymix.translate.lid import accounting as lid_accounting
from polymix.translate.lid.scoring import shared_pool
from polymix.translate.lid.filter import filter_rows
from polymix.translate.service import TranslationService
from polymix.translate.settings import TranslateOptions, TranslateSettings  # noqa: F401  (re-exported)
from polymix.translate.toy import TOY_NAME, check_toy_request, toy_model

log = logging.getLogger(__name__)
PLAN = Path("_manifest") / "plan.arrow"  # not .parquet: OUT/**/*.parquet must match rows only
SETTINGS = Path("_manifest") / "translate.json"


# -- models load lazily, once per worker process ---------------------------------------------
_SERVICES: dict[str, TranslationService] = {}
_SERVICES_LOCK = threading.Lock()


def get_service(settings: TranslateSettings) -> TranslationService:
    """The process's translation service for these settings (created once, also under threads)."""
    key = settings.service_key()
    with _SERVICES_LOCK:
        if key not in _SERVICES:
            _SERVICES[key] = _new_service(settings)
        return _SERVICES[key]


def _new_service(settings: TranslateSettings) -> TranslationService:
    hardware = probe(settings.runtime.device)
    quantization, why = conversion_quantization(
        hardware.device if settings.runtime.device == "auto" else settings.runtime.device, settings.quantization
    )
    if settings.quantization == "auto":
        log.info("conversion quantization: %s (%s)", quantization, why)
    model = resolve_model(settings.model, quantization, settings.revision, settings.fallback_to_toy)
    translator = NllbTranslator(model, settings.decode, settings.runtime)
    cache = None if (settings.cache or "").lower() == "none" else Path(settings.cache or cache_root() / "translations.sqlite")
    return TranslationService(translator, cache)


def resolve_model(name: str, quantization: str, revision: str | None = None, fallback_to_toy: bool = False) -> ResolvedModel:
    """``--model``: ``toy`` (the offline demo model), else a hub id or folder (translate/model.py); a model that
    cannot be reached is an error, or the toy model with a loud warning where ``fallback_to_toy`` asks for it."""
    if name == TOY_NAME:
        return toy_model()
    try:
        return resolve(name, quantization, revision)
    except ModelUnavailableError as err:
        if not fallback_to_toy:
            raise
        log.warning(
            "%s\n%s\nFALLING BACK TO THE OFFLINE TOY MODEL (shapes domain only, 7 languages): the rows are NOT "
            "real NLLB translations\n%s",
            "=" * 78,
            err,
            "=" * 78,
        )
        return toy_model()


def runtime_line(settings: TranslateSettings, service: TranslationService) -> str:
    """What the translation runs with and why, for the run log (printed once by the CLI and the flows)."""
    choice = service.translator.choice
    line = f"translation runtime: {choice.describe()}"
    if settings.quantization == "auto" and not service.model_key.startswith("toy@"):
        line += f"; weights: {conversion_quantization(choice.device, 'auto')[1]}"
    return line


# -- 1. plan ---------------------------------------------------------------------------------
def _english_files(input_root: Path, record: dict[str, Any]) -> list[Path]:
    return [input_root / f["path"] for f in record["files"] if f.get("lang") == ENGLISH]


def plan(settings: TranslateSettings, model_key: str) -> dict[str, int]:
    """Check settings against an earlier run, write the language plan; return rows planned per chunk."""
    in_manifest = shards.load_manifest(settings.input)  # the input must be a finished mix
    if model_key.startswith("toy@"):  # the toy model knows one domain: refuse the rest rather than make noise
        check_toy_request(in_manifest.get("prepared", []), settings.lang_list)
    records = shards.read_records(settings.input)
    damaged = [
        f"{settings.input / f['path']}: {problem}"
        for r in records
        for f in r["files"]
        if (problem := shards.file_problem(settings.input, f)) is not None
    ]
    if damaged:
        raise shards.CorruptShardError(
            f"{damaged[0]}{f' (and {len(damaged) - 1} more)' if len(damaged) > 1 else ''}; re-run "
            f"the prepare that built {settings.input}: it redoes chunks whose files differ from their records"
        )
    fingerprint = settings.fingerprint(model_key, records)
    settings_file = settings.out / SETTINGS
    before = json.loads(settings_file.read_text(encoding="utf-8")) if settings_file.exists() else fingerprint
    changed = sorted(k for k in fingerprint if before.get(k) != fingerprint[k])  # keys of older versions do not count
    if changed:
        raise ConfigError(
            f"{settings.out} was translated from other input or with other settings (changed: {', '.join(changed)}; "
            f"see {settings_file}); use the same settings to resume, or another --out"
        )
    ids_by_chunk = {
        r["chunk"]: [i for p in _english_files(settings.input, r) for i in shards.read_table(p, columns=["id"])["id"].to_pylist()]
        for r in records
    }
    ids = [i for chunk_ids in ids_by_chunk.values() for i in chunk_ids]
    langs = assign.expand(ids, settings.lang_list, settings.distribution, settings.english_share, settings.seed)
    locks.mark_incomplete(settings.out, "polymix translate")  # removed by finish() once the manifest checks out
    path = settings.out / PLAN
    if not path.exists():  # the plan is a pure function of the fingerprint: keep the first one
        path.parent.mkdir(parents=True, exist_ok=True)
        table = pa.table({"id": ids, "langs": langs}, schema=pa.schema([("id", pa.string()), ("langs", pa.list_(pa.string()))]))
        shards.write_table_atomic(table, path)
        shards.atomic_write_json(settings_file, fingerprint)
    per_id = dict(zip(ids, langs))
    return {c: sum(len(per_id[i]) for i in chunk_ids) for c, chunk_ids in ids_by_chunk.items()}


@functools.lru_cache(maxsize=4)
def _load_plan(path: str, mtime_ns: int) -> dict[str, list[str]]:
    table = feather.read_table(path)
    return dict(zip(table["id"].to_pylist(), table["langs"].to_pylist()))


def load_plan(out: Path) -> dict[str, list[str]]:
    path = out / PLAN
    return _load_plan(str(path), path.stat().st_mtime_ns)


# -- 2. one chunk ----------------------------------------------------------------------------
def translate_examples(
    examples: list[Example], plan: dict[str, list[str]], service: TranslationService, stats: dict[str, Counter] | None = None
) -> list[Example]:
    """The output rows of English examples (all their target languages, translated)."""
    requests: list[tuple[str, str]] = []
    for ex in examples:
        for lang in plan[ex.id]:
            if lang != ENGLISH:
                requests += [(s, lang) for s in strings_needed(ex)]
    translated = service.translate([t for t, _ in requests], [lang for _, lang in requests], stats=stats)
    table = dict(zip(requests, translated))
    rows: list[Example] = []
    for ex in examples:
        for lang in plan[ex.id]:
            if lang == ENGLISH:
                rows.append(ex)
                continue
            instruction, target = render_translated(ex, lambda s, lang=lang: table[(s, lang)])
            rows.append(
                ex.with_lang(
                    lang, instruction=instruction, target=target, mt_model=service.model_key, lid_label=None, lid_score=None
                )
            )
    return rows


def run_chunk(settings: TranslateSettings, chunk_id: str, service: TranslationService | None = None) -> dict[str, Any]:
    """Translate and write one chunk (skipped when already recorded); return its record."""
    writer = shards.ShardWriter(settings.out)
    done = writer.record(chunk_id)
    if done is not None and writer.is_done(chunk_id):
        return {**done, "skipped": True}
    service = service or get_service(settings)
    plan_ = load_plan(settings.out)
    # one chunk's record, not every record of the input: this runs once per chunk
    files = _english_files(settings.input, shards.read_record(settings.input, chunk_id))
    examples = [ex for path in files for ex in from_table(shards.read_table(path))]
    per_lang: dict[str, Counter] = {}
    rows = translate_examples(examples, plan_, service, stats=per_lang)
    # Score, then decide (settings in translate/lid/settings.yaml); English rows pass unchecked.
    back = service.back_translate if settings.round_trip else None
    processes = settings.lid_processes or lid_processes(service.translator.choice, len(os.sched_getaffinity(0)))
    kept, rejected, lid_stats = filter_rows(rows, settings.lid(), back_translate=back, pool=shared_pool(processes))
    stats: dict[str, float] = {
        "in": sum(len(plan_[e.id]) for e in examples),
        "out": len(kept),
        "english_in": len(examples),
        **lid_stats,
        **run_stats.planned_keys((e.source, lang) for e in examples for lang in plan_[e.id]),
        **run_stats.lang_keys(per_lang),
    }
    rejected_table = to_table([r for r, _ in rejected], reasons=[why for _, why in rejected]) if rejected else None
    return writer.write_chunk(chunk_id, to_table(kept), rejected_table, stats=stats)


# -- 3. finish -------------------------------------------------------------------------------
def finish(settings: TranslateSettings, model_key: str) -> dict[str, Any]:
    in_manifest = shards.load_manifest(settings.input)
    manifest = shards.ShardWriter(settings.out).finalize(
        {
            "image_roots": _rebase(in_manifest.get("image_roots", {}), settings.input, settings.out),
            "translated_from": os.path.relpath(settings.input.resolve(), settings.out.resolve()),
            "mt_model": model_key,
            "mt_model_requested": settings.model,
            "langs": settings.lang_list,
            "distribution": settings.distribution,
            "decode": settings.decode.cache_key(),
        }
    )
    planned = manifest["stats"].get("in", 0)
    if planned != manifest["rows"] + manifest["rejected"]:
        raise RuntimeError(
            f"accounting broken: planned {planned} rows, wrote {manifest['rows']} + {manifest['rejected']} rejected"
        )
    lid_accounting.require_accounting(settings.out, manifest)  # per source and language, counted from the files
    shards.atomic_write_json(settings.out / "_manifest" / "lid.json", settings.lid().to_dict())  # for the data card
    locks.mark_complete(settings.out)
    manifest["summary"] = summary(manifest)
    return manifest


def summary(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Per language: rows in the mix, strings translated, cache hits, pass-through, model seconds."""
    per_lang = run_stats.Stats.parse(manifest["stats"]).per_lang
    untranslated = run_stats.LangCounts(seconds=0)  # English: no counters (an int 0, shown as "0" in the flow's table)
    return [
        {"lang": lang, "rows": manifest["rows_per_lang"].get(lang, 0), **dataclasses.asdict(per_lang.get(lang, untranslated))}
        for lang in sorted(set(manifest["rows_per_lang"]) | set(per_lang))
    ]


def _rebase(image_roots: dict[str, str | None], input_root: Path, out: Path) -> dict[str, str | None]:
    """The input mix's image roots as the output mix records them (roots are relative to their mix)."""
    return {
        source: root
        if root is None or Path(root).is_absolute()
        else shards.root_record(out, input_root / root, near=[input_root])
        for source, root in image_roots.items()
    }


def translate_mix(
    settings: TranslateSettings,
    service: TranslationService | None = None,
    progress: bool = True,
    on_chunk: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run the whole stage in this process (see the module docstring); return the output manifest."""
    service = service or get_service(settings)
    for lang in settings.lang_list:
        if lang != ENGLISH:
            service.translator.check_language(lang)
    started = time.perf_counter()
    with shards.BuildLock(settings.out, "polymix translate"), shards.ReadLock(settings.input, "polymix translate"):
        planned = plan(settings, service.model_key)
        run: Counter[str] = Counter()
        bar = tqdm(total=sum(planned.values()), desc="translate", unit=" rows", disable=not progress, delay=0.5)
        for chunk_id, rows in planned.items():
            record = run_chunk(settings, chunk_id, service)
            run["chunks_skipped" if record.get("skipped") else "chunks_written"] += 1
            if not record.get("skipped"):
                run.update(run_stats.Stats.parse(record.get("stats", {})).strings())
            bar.update(rows)
            t = service.translator.stats
            # cache hits and model work apart: a warm cache must not read as a slow model
            model = (
                f"{run['translated']} ({t['sentences'] / t['seconds']:.0f} sent/s)" if t["seconds"] else str(run["translated"])
            )
            bar.set_postfix_str(f"strings: {run['hits']} cached, {model} by the model")
            if on_chunk:
                on_chunk(record)
        bar.close()
        manifest = finish(settings, service.model_key)
    manifest["run"] = {**run, "seconds": round(time.perf_counter() - started, 2)}
    return manifest
