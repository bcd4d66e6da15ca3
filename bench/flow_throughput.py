"""End to end: the real ``build-mix`` Prefect flow against the translator alone on the same strings.

    .venv/bin/python bench/flow_throughput.py                    # CPU: small NLLB shape, a few minutes
    python3 bench/flow_throughput.py --shape 1.3B --rows 5000000 # on a GPU: mBLIP's NLLB-1.3B shape
    .venv/bin/python bench/flow_throughput.py --help

A benchmark, not a test. It writes a JSON Lines file of COCO/VQAv2-like English rows (each with a
caption, a question and an answer: tasks caption + vqa), and runs ``flows.build_mix.build_mix``
on it -- prepare -> templates -> languages (all 95, mBLIP's mC4 shares) -> translation -> the
language-ID filter -> Parquet shards -> data card -- with a random-weight NLLB-shaped model
(``translate_throughput.build_model``; polymix's resolver converts it, as for a real model).
A first, small flow run loads the model and starts Prefect; the timed run uses a fresh output
folder and translation cache, so it translates every string again.

Then the translator alone translates the same strings in one call: the distinct (string,
language) pairs the flow needed from the model (recomputed from the flow's plan with the stage's
own ``strings_needed`` and pass-through rule). Printed:

* rows/s of the flow and of the translator alone, on the same rows (output rows planned: kept +
  rejected; random weights make the language-ID filter reject nearly all of them) and their
  ratio (target >= 80%: language ID, shard writing and Prefect together under 20%);
* how busy the model replicas were during the flow (translate/pipeline.py's timing);
* the hours to translate ``--rows`` output rows (default 5 million, mBLIP's scale) on this
  machine: polymix's flow at its measured rate, against mBLIP's path (transformers ``generate``,
  batch 256, 2 strings per translated row) at the rate ``--transformers-sps`` gives or, without
  it, measured here on a sample of the same strings at the flow's mean output length.

Last line: ``flow_rows_s=... translator_rows_s=... ratio=... polymix_hours=... mblip_hours=...``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
import translate_throughput as tt  # noqa: E402  (sets the offline variables first)

log = tt.log


def write_rows(path: Path, n: int, seed: int) -> Path:
    """``n`` image rows, each with a caption, a question and a short answer (the bench's generators)."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(
                json.dumps(
                    {
                        "id": f"img{i:07d}",
                        "image": f"{i:07d}.jpg",
                        "caption": tt.caption(rng),
                        "question": tt.question(rng),
                        "answer": tt.answer(rng),
                    }
                )
                + "\n"
            )
    return path


def flow_params(rows_file: Path, out: Path, model: Path, cache: Path, chunk_size: int, workers: int, device: str) -> dict:
    spec = {"name": "generic", "options": {"path": str(rows_file)}, "tasks": ["caption", "vqa"], "image_check": "off"}
    translate = dict(langs="all", distribution="mc4", model=str(model), cache=str(cache), runtime={"device": device})
    return dict(sources=[spec], out=str(out), translate=translate, chunk_size=chunk_size, max_workers=workers)


def sent_pairs(out: Path, english: Path) -> list[list[tuple[str, str]]]:
    """Per English chunk, the distinct (string, language) pairs first needed there: what the flow's
    model translated (later chunks found the earlier ones in the cache)."""
    import pyarrow.parquet as pq

    from polymix import shards
    from polymix.schema import ENGLISH, from_table
    from polymix.translate.render import strings_needed
    from polymix.translate.stage import _english_files, load_plan
    from polymix.translate.text import passthrough

    plan = load_plan(out)
    seen: set[tuple[str, str]] = set()
    chunks = []
    for record in shards.read_records(english):
        pairs = []
        for path in _english_files(english, record):
            for ex in from_table(pq.read_table(path)):
                for lang in plan[ex.id]:
                    for text in strings_needed(ex) if lang != ENGLISH else ():
                        if not passthrough(text) and (text, lang) not in seen:
                            seen.add((text, lang))
                            pairs.append((text, lang))
        chunks.append(pairs)
    return chunks


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="flow_throughput.py", description=__doc__.split("\n\n")[2], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--shape", choices=list(tt.SHAPES), default=None, help="model shape (default: 1.3B on CUDA, small on CPU)")
    p.add_argument(
        "--english-rows",
        type=int,
        default=None,
        help="image rows in the English file, each giving a caption and a VQA example (default: 8000 on CUDA, 150 on CPU)",
    )
    p.add_argument(
        "--chunk-size",
        type=int,
        default=None,
        help="English examples per chunk (default: half the image rows: the 2 x rows examples make four chunks, two at a time)",
    )
    p.add_argument("--workers", type=int, default=2, help="chunks translated at once (the flow's max_workers)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where the translator runs")
    p.add_argument("--rows", type=float, default=5e6, help="output rows of the mix whose translation time is estimated")
    p.add_argument(
        "--transformers-sps",
        type=float,
        default=None,
        help="transformers sentences/s to estimate mBLIP's path with (e.g. translate_throughput.py's "
        "transformers_sps=); default: measured here on --hf-sample strings",
    )
    p.add_argument("--hf-sample", type=int, default=512, help="strings transformers translates for that measurement (0: skip)")
    p.add_argument("--workdir", type=Path, default=None, help="keep models here and reuse them (default: a temporary folder)")
    p.add_argument("--seed", type=int, default=0, help="seed of the rows and the weights")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")  # the flow's own log lines would drown the figures
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    import importlib.util

    missing = [m for m in ("prefect", "polars", "langid", "py3langid", "pycld2") if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"flow_throughput.py: {', '.join(missing)} not installed here; the build-mix flow needs them "
            "(install polymix with its dependencies, `make install`)",
            file=sys.stderr,
        )
        return 2
    import ctranslate2
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    device = args.device if args.device != "auto" else ("cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu")
    shape_name = args.shape or ("1.3B" if device == "cuda" else "small")
    english_rows = args.english_rows or (8000 if device == "cuda" else 150)
    chunk_size = args.chunk_size or max(1, english_rows // 2)  # 2 examples per row: four chunks, two at a time
    temp = tempfile.TemporaryDirectory(prefix="polymix-flow-bench-") if args.workdir is None else None
    workdir = Path(temp.name) if temp else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ["POLYMIX_CACHE"] = str(workdir / "polymix-cache")  # the conversion translate_throughput.py made, if any
    for old in ("warm", "run"):  # mixes of an earlier run: every run starts from the English rows
        shutil.rmtree(workdir / old, ignore_errors=True)
    (workdir / "translations.sqlite").unlink(missing_ok=True)
    try:
        from polymix.flows.build_mix import build_mix
        from polymix.translate import stage

        shape = tt.SHAPES[shape_name]
        hf_dir = tt.build_model(
            shape_name, shape, workdir / f"hf-{shape_name}-v{shape.vocab or 0}-s{args.seed}-p1000", args.seed, 1000
        )
        log(
            f"[setup] device={device} shape={shape_name} english_rows={english_rows} ({2 * english_rows} examples) "
            f"chunk_size={chunk_size} workers={args.workers} langs=all (mc4) cores={len(os.sched_getaffinity(0))}"
        )
        started = time.perf_counter()
        warm = flow_params(
            write_rows(workdir / "warm.jsonl", 20, args.seed + 1),
            workdir / "warm" / "mix",
            hf_dir,
            workdir / "translations.sqlite",
            chunk_size,
            args.workers,
            device,
        )
        build_mix(**warm)
        (service,) = stage._SERVICES.values()  # the flow's translator, loaded by the warm-up run
        service.cache._db.execute("DELETE FROM translations")  # the timed run translates every string again
        t = service.translator
        log(
            f"[warm-up] model converted and loaded, Prefect started: {time.perf_counter() - started:.1f} s; "
            f"translator: {t.choice.describe()}"
        )

        rows_file = write_rows(workdir / "rows.jsonl", english_rows, args.seed)
        params = {
            **warm,
            "sources": flow_params(rows_file, workdir, hf_dir, workdir, 0, 0, device)["sources"],
            "out": str(workdir / "run" / "mix"),
        }
        before = dict(t.stats)
        spans = timed_chunks(stage)
        started = time.perf_counter()
        result = build_mix(**params)
        flow_s = time.perf_counter() - started
        delta = {k: t.stats[k] - before[k] for k in before}
        planned = result["rows"] + result["rejected"]
        chunk_s = max(e for _, e in spans) - min(s for s, _ in spans)
        log(
            f"[flow] {planned} output rows ({result['rows']} kept, {result['rejected']} rejected by language ID) in "
            f"{flow_s:.1f} s; the model got {delta['sentences']} strings, {delta['tokens_out'] / max(delta['sentences'], 1):.1f} "
            f"tokens out each; replicas decoding {delta['decode_seconds'] / (t.replicas * flow_s):.0%} of the flow's time"
        )
        log(
            f"[flow] phases: {min(s for s, _ in spans) - started:.1f} s before the first chunk (Prefect, prepare, plan), "
            f"{chunk_s:.1f} s of chunks ({len(spans)}, {args.workers} at a time: translation, language ID, shards), "
            f"{started + flow_s - max(e for _, e in spans):.1f} s after the last (finish, data card, Prefect)"
        )

        chunks = sent_pairs(workdir / "run" / "mix", workdir / "run" / "mix.english")
        pairs = [p for c in chunks for p in c]
        strings = len(pairs)
        started = time.perf_counter()
        t.translate([s for s, _ in pairs], [lang for _, lang in pairs])  # one call: the translator at its best
        alone_s = time.perf_counter() - started
        log(
            f"[translator] the same {strings} distinct strings in one call: {alone_s:.1f} s (the flow sent the model "
            f"{delta['sentences']})"
        )

        flow_rps, alone_rps = planned / flow_s, planned / alone_s
        hf_sps = args.transformers_sps or measure_transformers(
            hf_dir, device, [s for s, _ in pairs], round(delta["tokens_out"] / max(delta["sentences"], 1)), args.hf_sample
        )
        translated_share = (planned - english_kept(workdir / "run" / "mix")) / planned
        hours = {"polymix flow": args.rows / flow_rps / 3600, "polymix translator alone": args.rows / alone_rps / 3600}
        if hf_sps:
            hours["mBLIP's path (transformers, 2 strings/row)"] = args.rows * translated_share * 2 / hf_sps / 3600
        log("")
        log(f"{'':<44}{'rows/s':>10}")
        log(f"{'build-mix flow (all stages, Prefect)':<44}{flow_rps:>10.1f}")
        log(f"{'translator alone, same strings':<44}{alone_rps:>10.1f}")
        log(f"{'chunks alone (translation, LID, shards)':<44}{planned / chunk_s:>10.1f}")
        log(
            f"flow / translator: {flow_rps / alone_rps:.0%} end to end, {planned / chunk_s / alone_rps:.0%} over the chunks "
            f"(what the fixed start and end costs tend to at scale); target >= 80%; strings per output row "
            f"{strings / planned:.3f}, {translated_share:.0%} of the rows translated (the rest stay English)"
        )
        log(
            f"estimate for {args.rows:,.0f} output rows on this {device.upper()} ({shape_name} shape; random weights decode to "
            f"the length bound, so real captions go faster):"
        )
        for label, h in hours.items():
            log(f"  {label:<44}{h:>8.1f} h")
        mblip = hours.get("mBLIP's path (transformers, 2 strings/row)", float("nan"))
        log(
            f"flow_rows_s={flow_rps:.1f} translator_rows_s={alone_rps:.1f} ratio={flow_rps / alone_rps:.3f} "
            f"chunks_ratio={planned / chunk_s / alone_rps:.3f} "
            f"polymix_hours={hours['polymix flow']:.2f} mblip_hours={mblip:.2f}"
        )
        return 0
    finally:
        if temp is not None:
            temp.cleanup()


def timed_chunks(stage) -> list[tuple[float, float]]:
    """Record (start, end) of every ``stage.run_chunk`` the flow's tasks call from now on."""
    spans: list[tuple[float, float]] = []
    run_chunk = stage.run_chunk

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return run_chunk(*args, **kwargs)
        finally:
            spans.append((started, time.perf_counter()))

    stage.run_chunk = timed
    return spans


def english_kept(out: Path) -> int:
    """Output rows planned in English (they need no translation)."""
    from polymix.schema import ENGLISH
    from polymix.translate.stage import load_plan

    return sum(1 for langs in load_plan(out).values() for lang in langs if lang == ENGLISH)


def measure_transformers(hf_dir: Path, device: str, texts: list[str], tokens: int, sample: int) -> float:
    """Sentences/s of transformers ``generate`` as mBLIP ran it, on ``sample`` of ``texts``, ``tokens`` decoded each."""
    if sample <= 0 or not texts:
        return 0.0
    threads = len(os.sched_getaffinity(0))
    model, tok, _ = tt.load_transformers(hf_dir, device, threads)
    picked = random.Random(0).sample(texts, min(sample, len(texts)))
    tt.run_transformers(model, tok, picked[:32], tt.TARGET_LANG, tokens, device)  # warm-up
    seconds, _, _ = tt.run_transformers(model, tok, picked, tt.TARGET_LANG, tokens, device)
    log(
        f"[transformers] {len(picked)} of the strings, {tokens} tokens each, batch {tt.MBLIP_BATCH}"
        f": {len(picked) / seconds:.1f} sentences/s"
    )
    return len(picked) / seconds


if __name__ == "__main__":
    sys.exit(main())
