"""The ``translate`` stage: an English mix -> a mix partitioned by target language.

    polymix translate --in out/english --out out/mix --langs all
    make translate LANGS=all IN=out/english OUT=out/mix

Each English chunk of the input becomes one output chunk with the same id. Every example goes
to the language(s) :mod:`polymix.translate.assign` gives it; its template pieces and slot values
are translated through :class:`~polymix.translate.service.TranslationService` (each distinct
string once, cached across runs), and the row is written with ``mt_model`` set. Finished chunks
are recorded in the output's manifest: a run that is killed and started again skips them, and
the strings translated before the kill come back from the cache.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from tqdm.auto import tqdm

from polymix.mix import languages as L, shards
from polymix.mix.schema import ENGLISH, Example, from_table, to_table
from polymix.mix.sources.base import ConfigError
from polymix.translate import assign
from polymix.translate.model import DEFAULT_MODEL, cache_root, resolve
from polymix.translate.nllb import DecodeSettings, NllbTranslator, RuntimeSettings
from polymix.translate.render import render_translated, strings_needed
from polymix.translate.service import TranslationService


@dataclasses.dataclass
class TranslateSettings:
    input: Path
    """English mix folder (written by ``polymix prepare``)"""
    out: Path
    """output mix folder"""
    langs: str = "all"
    """'all' (mBLIP's 95), or a comma list of NLLB / ISO 639-1 codes"""
    distribution: str = "mc4"
    """mc4 (mBLIP's; English keeps 43.8%), uniform, or replicate (every example into every language)"""
    english_share: float | None = None
    """share of examples kept in English (default: 0.438 for mc4, 0 for uniform)"""
    seed: int = 0
    """seed of the language assignment"""
    model: str = DEFAULT_MODEL
    """hub id, local transformers folder, or local CTranslate2 folder"""
    quantization: str = "int8"
    """weights of the converted model: int8, int8_float16, float16, bfloat16, float32"""
    revision: str | None = None
    """hub revision (branch, tag or commit)"""
    cache: str | None = None
    """translation cache file (default ~/.cache/polymix/translations.sqlite); 'none' to disable"""
    decode: DecodeSettings = dataclasses.field(default_factory=DecodeSettings)
    runtime: RuntimeSettings = dataclasses.field(default_factory=RuntimeSettings)

    def __post_init__(self) -> None:
        self.input, self.out = Path(self.input), Path(self.out)
        if self.distribution not in assign.DISTRIBUTIONS:
            raise ConfigError(f"distribution {self.distribution!r}: valid values are {', '.join(assign.DISTRIBUTIONS)}")
        self.lang_list = L.resolve(self.langs, include_english=False) if self.langs.strip().lower() == "all" else L.resolve(self.langs)

    def fingerprint(self, model_key: str) -> dict[str, Any]:
        """What decides the output rows; a resumed run must match it."""
        return {
            "input": str(self.input.resolve()),
            "langs": self.lang_list,
            "distribution": self.distribution,
            "english_share": self.english_share,
            "seed": self.seed,
            "model": model_key,
            "decode": self.decode.cache_key(),
        }


def _ids(files: list[Path]) -> list[str]:
    return [i for path in files for i in pq.read_table(path, columns=["id"])["id"].to_pylist()]


def _rebase(image_roots: dict[str, str | None], input_root: Path, out: Path) -> dict[str, str | None]:
    rebased: dict[str, str | None] = {}
    for source, root in image_roots.items():
        if root is None or Path(root).is_absolute():
            rebased[source] = root
            continue
        absolute = (input_root / root).resolve()
        try:
            rebased[source] = absolute.relative_to(out.resolve()).as_posix()
        except ValueError:
            rebased[source] = str(absolute)
    return rebased


def translate_chunk(examples: list[Example], plan: dict[str, list[str]], service: TranslationService) -> list[Example]:
    """The output rows of one English chunk (all its target languages, translated)."""
    requests: list[tuple[str, str]] = []
    for ex in examples:
        for lang in plan[ex.id]:
            if lang != ENGLISH:
                requests += [(s, lang) for s in strings_needed(ex)]
    translated = service.translate([t for t, _ in requests], [lang for _, lang in requests])
    table = dict(zip(requests, translated))
    rows: list[Example] = []
    for ex in examples:
        for lang in plan[ex.id]:
            if lang == ENGLISH:
                rows.append(ex)
                continue
            instruction, target = render_translated(ex, lambda s, lang=lang: table[(s, lang)])
            rows.append(ex.with_lang(lang, instruction=instruction, target=target, mt_model=service.model_key,
                                     lid_label=None, lid_score=None))
    return rows


def build_service(settings: TranslateSettings) -> TranslationService:
    model = resolve(settings.model, settings.quantization, settings.revision)
    translator = NllbTranslator(model, settings.decode, settings.runtime)
    cache = None if (settings.cache or "").lower() == "none" else Path(settings.cache or cache_root() / "translations.sqlite")
    return TranslationService(translator, cache)


def translate_mix(settings: TranslateSettings, service: TranslationService | None = None, progress: bool = True,
                  on_chunk=None) -> dict[str, Any]:
    """Run the stage (see the module docstring); return the output manifest with a per-language summary."""
    in_manifest = shards.load_manifest(settings.input)
    service = service or build_service(settings)
    for lang in settings.lang_list:
        if lang != ENGLISH:
            service.translator.check_language(lang)

    out = settings.out
    if out.resolve() == settings.input.resolve():
        raise ConfigError("--out must differ from --in: the English mix is the input of every later run")
    writer = shards.ShardWriter(out)
    fingerprint = settings.fingerprint(service.model_key)
    settings_file = out / "_manifest" / "translate.json"
    if settings_file.exists() and json.loads(settings_file.read_text(encoding="utf-8")) != fingerprint:
        raise ConfigError(f"{out} was translated with other settings ({settings_file}); use the same settings to resume, or another --out")
    shards.atomic_write_json(settings_file, fingerprint)

    records = shards.read_records(settings.input)
    files_by_chunk = {r["chunk"]: [settings.input / f["path"] for f in r["files"] if f.get("lang") == ENGLISH] for r in records}
    ids_by_chunk = {chunk: _ids(files) for chunk, files in files_by_chunk.items()}
    ids = [i for chunk_ids in ids_by_chunk.values() for i in chunk_ids]
    langs_per_id = assign.expand(ids, settings.lang_list, settings.distribution, settings.english_share, settings.seed)
    plan = dict(zip(ids, langs_per_id))

    totals: Counter[str] = Counter()
    rows_per_lang: Counter[str] = Counter()
    started = time.perf_counter()
    bar = tqdm(total=sum(len(v) for v in langs_per_id), desc="translate", unit=" rows", disable=not progress)
    for chunk_id, files in files_by_chunk.items():
        expected = sum(len(plan[i]) for i in ids_by_chunk[chunk_id])
        if writer.is_done(chunk_id):
            totals["chunks_skipped"] += 1
            bar.update(expected)
            continue
        examples = [ex for path in files for ex in from_table(pq.read_table(path))]
        rows = translate_chunk(examples, plan, service)
        record = writer.write_chunk(chunk_id, to_table(rows), stats={"in": expected, "out": len(rows), "english_in": len(examples)})
        totals["chunks_written"] += 1
        rows_per_lang.update(r.lang for r in rows)
        bar.update(len(rows))
        stats = service.translator.stats
        if stats["seconds"]:
            bar.set_postfix(sent_s=f"{stats['sentences'] / stats['seconds']:.0f}", tok_s=f"{stats['tokens_out'] / stats['seconds']:.0f}")
        if on_chunk:
            on_chunk(record)
    bar.close()

    manifest = writer.finalize({
        "image_roots": _rebase(in_manifest.get("image_roots", {}), settings.input, out),
        "translated_from": str(settings.input.resolve()),
        "mt_model": service.model_key,
        "langs": settings.lang_list,
        "distribution": settings.distribution,
    })
    if manifest["stats"].get("in") != manifest["rows"] + manifest["rejected"]:
        raise RuntimeError(f"accounting broken: planned {manifest['stats'].get('in')} rows, wrote {manifest['rows']} + {manifest['rejected']} rejected")
    manifest["run"] = {**totals, "seconds": round(time.perf_counter() - started, 2)}
    manifest["summary"] = summary(service, rows_per_lang)
    return manifest


def summary(service: TranslationService, rows_per_lang: Counter[str]) -> list[dict[str, Any]]:
    """Per language: rows written this run, strings translated, cache hits, seconds."""
    langs = sorted(set(rows_per_lang) | set(service.counts))
    return [
        {
            "lang": lang,
            "rows": rows_per_lang.get(lang, 0),
            "translated": service.counts[lang]["translated"],
            "cache_hits": service.counts[lang]["hits"],
            "passthrough": service.counts[lang]["passthrough"],
            "seconds": round(service.seconds[lang], 2),
        }
        for lang in langs
    ]
