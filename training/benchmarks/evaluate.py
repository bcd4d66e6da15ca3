"""One benchmark, language by language: prompts -> generation -> predictions file -> score.

Each language's predictions go to ``OUT/predictions/<lang>.jsonl`` as soon as they are made
(written whole, then renamed), with ``OUT/run.json`` recording what made them (model, prompt,
generation, limit). A re-run with the same settings scores the finished languages from their
files and generates only the rest, so a crash costs at most one language.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from polymix.training.benchmarks import get, load, prompts as P, report
from polymix.training.benchmarks.base import BenchmarkError, Item

log = logging.getLogger(__name__)


def _fingerprint(loaded, bench, prompt, limit) -> dict[str, Any]:
    return {
        "benchmark": bench.name,
        "model": str(loaded.config.model.init_weights or loaded.config.model.llm),
        "model_kind": loaded.kind,
        "prompt": prompt.versioned_id,
        "generation": bench.generation.kwargs(),
        "limit": limit,
    }


def _prepare(out: Path, fingerprint: dict[str, Any], fresh: bool) -> Path:
    from polymix.shards import atomic_write_json

    preds = out / "predictions"
    run_file = out / "run.json"
    if run_file.exists() and any(preds.glob("*.jsonl")):
        before = json.loads(run_file.read_text(encoding="utf-8"))
        if before != fingerprint and not fresh:
            changed = sorted(k for k in fingerprint if before.get(k) != fingerprint[k])
            raise BenchmarkError(
                f"--out {out} holds predictions made with other settings ({', '.join(changed)}); "
                "give another --out, or --fresh to replace them"
            )
        if fresh:
            for f in preds.glob("*.jsonl"):
                f.unlink()
    preds.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_file, fingerprint)
    return preds


def _predict(loaded, bench, prompt, lang: str, items: list[Item], path: Path, batch_size: int | None) -> list[str]:
    from polymix.shards import atomic_write_bytes
    from polymix.training.benchmarks.runner import generate

    if path.exists():
        done = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        if [d["id"] for d in done] == [i.id for i in items]:
            log.info("%s %s: %d predictions from %s", bench.name, lang, len(done), path)
            return [d["prediction"] for d in done]
    texts = [prompt.render(i.slots) for i in items]
    preds = generate(loaded, texts, items, bench.generation, batch_size, desc=f"{bench.name} {lang}")
    lines = [
        json.dumps(
            {"id": i.id, "lang": lang, "images": list(i.images), "prompt": t, "prediction": p, "references": list(i.references)},
            ensure_ascii=False,
        )
        for i, t, p in zip(items, texts, preds)
    ]
    atomic_write_bytes(path, ("\n".join(lines) + "\n").encode("utf-8"))
    return preds


def run(
    loaded,
    name: str,
    data,
    images,
    out: Path,
    *,
    langs=None,
    limit: int | None = None,
    prompt: str | None = None,
    batch_size: int | None = None,
    fresh: bool = False,
    compare: str = "mblip-mt0-xl",
) -> dict[str, Any]:
    """Evaluate ``loaded`` on benchmark ``name``; writes predictions and the report to ``out``."""
    bench = get(name)
    chosen = P.get(prompt or bench.name)
    per_lang_items = load(name, data, images, langs, limit)  # every file and image checked before generating
    fingerprint = _fingerprint(loaded, bench, chosen, limit)
    preds_dir = _prepare(Path(out), fingerprint, fresh)
    per_lang = {}
    for lang, items in per_lang_items.items():
        preds = _predict(loaded, bench, chosen, lang, items, preds_dir / f"{lang}.jsonl", batch_size)
        per_lang[lang] = (len(items), bench.score(preds, items))
        tqdm.write(f"{name} {lang}: {bench.metric} {per_lang[lang][1]:.2f} ({len(items)} items)")
    results = {
        **fingerprint,
        "model": loaded.name,
        "tables": [report.table(name, bench.metric, per_lang, compare)],
        "compare": report.about(compare),
    }
    report.write(results, Path(out))
    return results


def run_mix(loaded, data, out: Path, compare: str = "mblip-mt0-xl") -> dict[str, Any]:
    """``train eval``'s held-out-rows evaluation, reported like a benchmark (one table per task and metric)."""
    from polymix.training.evaluate import evaluate

    out = Path(out)
    scores = evaluate(loaded.built, loaded.config, data, out_file=out / "predictions" / "mix.jsonl")
    tables = []
    for task in sorted({k.split("/", 1)[1] for k in scores if "/" in k}):
        rows = {k.split("/", 1)[0]: v for k, v in scores.items() if k.endswith(f"/{task}")}
        for metric in [m for m in next(iter(rows.values())) if m != "n"]:
            tables.append(report.table(f"{task}", metric, {lang: (r["n"], r[metric]) for lang, r in rows.items()}, compare))
    e = loaded.config.eval
    results = {
        "benchmark": "mix",
        "model": loaded.name,
        "model_kind": loaded.kind,
        "prompt": None,
        "limit": e.max_rows_per_lang,
        "generation": {"num_beams": e.num_beams, "max_new_tokens": e.max_new_tokens},
        "tables": tables,
        "rows": scores["rows"],
        "bad_images": scores["bad_images"],
        "compare": report.about(compare),
    }
    report.write(results, out)
    return results
