"""The translation path on a tiny NLLB-shaped model: reference check against transformers, batching,
cache, long inputs, model resolution, and the stage end to end with resume."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import polars as pl
import pytest

from polymix.mix.prepare import PrepareSettings, prepare
from polymix.translate import model as M
from polymix.translate.nllb import DecodeSettings, NllbTranslator, RuntimeSettings
from polymix.translate.service import TranslationService
from polymix.translate.stage import TranslateSettings, translate_mix

TEXTS = [
    "The man sits on a red chair.",
    "Two dogs are playing in the water near the house.",
    "What is the small bird holding?",
    "A cat.",
    "The old woman looks at the blue train and the young child holds a picture of two horses.",
]


def _resolved(folder, quantization="float32"):
    return M.ResolvedModel(folder, str(folder), M.fingerprint(folder), quantization)


@pytest.fixture(scope="module")
def translator(random_nllb_ct2):
    return NllbTranslator(_resolved(random_nllb_ct2), DecodeSettings(), RuntimeSettings(device="cpu"))


def test_translation_equals_transformers_generate_token_for_token(translator, random_nllb, tok):
    """The reference check for prefix and special-token handling: [eng_Latn] ... </s> in,
    [deu_Latn] prefix stripped, detokenized by the model's tokenizer."""
    import torch
    from transformers import AutoModelForSeq2SeqLM

    model = AutoModelForSeq2SeqLM.from_pretrained(str(random_nllb)).eval()
    tok.src_lang = "eng_Latn"
    d = translator.decode
    ours = translator.translate(TEXTS, "deu_Latn")
    for text, got in zip(TEXTS, ours):
        inputs = tok(text, return_tensors="pt")
        n = inputs["input_ids"].shape[1]
        assert inputs["input_ids"][0, 0].item() == tok.convert_tokens_to_ids("eng_Latn")
        assert inputs["input_ids"][0, -1].item() == tok.eos_token_id
        with torch.no_grad():
            out = model.generate(
                **inputs,
                forced_bos_token_id=tok.convert_tokens_to_ids("deu_Latn"),
                num_beams=1,
                do_sample=False,
                no_repeat_ngram_size=d.no_repeat_ngram_size,
                max_new_tokens=math.ceil(d.length_ratio * n + d.length_extra) + 1,
            )
        ids = out[0].tolist()
        assert ids[:2] == [2, tok.convert_tokens_to_ids("deu_Latn")]
        assert got == tok.decode(ids[2:], skip_special_tokens=True).strip()
        assert got  # the tiny model's noise is never empty


def test_results_do_not_depend_on_batch_size_order_or_mixed_languages(random_nllb_ct2):
    def run(texts, langs, budget):
        t = NllbTranslator(_resolved(random_nllb_ct2), DecodeSettings(), RuntimeSettings(device="cpu", max_batch_tokens=budget))
        return t.translate(texts, langs)

    langs = ["deu_Latn", "fra_Latn", "deu_Latn", "zho_Hans", "fra_Latn"]
    one_by_one = [run([t], [lang], 32)[0] for t, lang in zip(TEXTS, langs)]
    assert run(TEXTS, langs, 4096) == one_by_one
    assert run(TEXTS[::-1], langs[::-1], 64)[::-1] == one_by_one
    # several replicas: the batches are cut differently (whole rounds, costliest first)
    t = NllbTranslator(_resolved(random_nllb_ct2), DecodeSettings(), RuntimeSettings(device="cpu", threads=2, intra_threads=1))
    assert t.translate(TEXTS * 3, langs * 3) == one_by_one * 3
    assert t.replicas == 2


@pytest.mark.parametrize("replicas", [1, 2, 3, 4])
def test_batches_cover_every_input_once_within_the_budget_in_whole_rounds(replicas):
    import random

    rng = random.Random(replicas)
    lengths = [rng.randint(3, 60) for _ in range(700)]
    t = NllbTranslator(M.ResolvedModel(Path("."), "unused", "unused", "int8"), runtime=RuntimeSettings(max_batch_tokens=2048))
    batches = t._batches(lengths, replicas)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    cost = [len(b) * max(lengths[i] for i in b) for b in batches]
    assert max(cost) <= 2048
    assert cost == sorted(cost, reverse=True)  # costliest first: the last round is the cheapest
    if replicas == 1:
        assert len(batches) <= 1.1 * sum(lengths) / 2048 + 1  # filled up to the budget
    else:
        assert len(batches) % replicas == 0
        assert max(cost) / min(cost) < 1.5  # about equal work per batch
    # a handful of inputs still goes to every replica
    assert len(t._batches(lengths[: 2 * replicas], replicas)) == replicas
    # a budget below the longest input: that input alone, nothing else over the budget
    t.runtime.max_batch_tokens = 40
    small = t._batches(lengths[:50], replicas)
    assert all(len(b) == 1 or len(b) * max(lengths[i] for i in b) <= 40 for b in small)


def test_long_inputs_are_split_into_sentences_and_joined(random_nllb_ct2):
    t = NllbTranslator(_resolved(random_nllb_ct2), DecodeSettings(max_input_tokens=18), RuntimeSettings(device="cpu"))
    long_text = " ".join(TEXTS[:3])
    assert max(len(t.tokenizer(s)["input_ids"]) for s in TEXTS[:3]) <= 18 < len(t.tokenizer(long_text)["input_ids"])
    whole = t.translate([long_text], "deu_Latn")[0]
    assert t.stats["split_texts"] == 1 and t.stats["pieces"] == 3
    pieces = t.translate(TEXTS[:3], "deu_Latn")
    assert whole == " ".join(pieces)
    assert t.translate([long_text], "zho_Hans")[0] == "".join(t.translate(TEXTS[:3], "zho_Hans"))
    # a sentence longer than the limit is cut into runs of words; no word is lost
    t.decode.max_input_tokens = 8
    t.translate([TEXTS[4]], "deu_Latn")
    assert t.stats["pieces"] > 3 + 3 + 3 + 1


def test_service_translates_each_distinct_string_once_and_caches_it(random_nllb_ct2, tmp_path):
    t = NllbTranslator(_resolved(random_nllb_ct2), DecodeSettings(), RuntimeSettings(device="cpu"))
    service = TranslationService(t, tmp_path / "cache.sqlite")
    texts = ["A cat.", "two", "A cat.", "", "42", "two", "A dog."]
    first = service.translate(texts, "deu_Latn")
    assert first[3] == "" and first[4] == "42"  # passed through
    assert first[0] == first[2] and first[1] == first[5]
    assert service.counts["deu_Latn"]["translated"] == 3 and t.stats["sentences"] == 3
    assert service.counts["deu_Latn"]["passthrough"] == 2
    # a new service on the same cache file: all hits, identical results, nothing sent to the model
    t2 = NllbTranslator(_resolved(random_nllb_ct2), DecodeSettings(), RuntimeSettings(device="cpu"))
    again = TranslationService(t2, tmp_path / "cache.sqlite")
    assert again.translate(texts, "deu_Latn") == first
    assert again.counts["deu_Latn"]["hits"] == 3 and again.counts["deu_Latn"]["translated"] == 0
    assert t2.stats["sentences"] == 0
    # other decoding settings are another namespace: no stale hits
    t3 = NllbTranslator(_resolved(random_nllb_ct2), DecodeSettings(no_repeat_ngram_size=0), RuntimeSettings(device="cpu"))
    other = TranslationService(t3, tmp_path / "cache.sqlite")
    other.translate(["A cat."], "deu_Latn")
    assert other.counts["deu_Latn"]["hits"] == 0 and other.counts["deu_Latn"]["translated"] == 1


def test_resolve_converts_a_transformers_folder_once_into_the_cache(random_nllb, tmp_path):
    first = M.resolve(str(random_nllb), "int8", cache_dir=tmp_path)
    assert M.is_ct2_folder(first.path) and (first.path / "tokenizer.json").exists()
    assert first.path.is_relative_to(tmp_path / "ct2")
    stamp = (first.path / "model.bin").stat().st_mtime_ns
    second = M.resolve(str(random_nllb), "int8", cache_dir=tmp_path)
    assert second == first and (second.path / "model.bin").stat().st_mtime_ns == stamp
    assert M.resolve(str(first.path)).path == first.path.resolve()  # a CTranslate2 folder is used as is
    t = NllbTranslator(first, runtime=RuntimeSettings(device="cpu"))
    assert t.translate(["A cat."], "fra_Latn")[0]


def test_an_offline_hub_id_fails_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(M.ModelUnavailableError) as err:
        M.resolve("facebook/nllb-200-distilled-600M", cache_dir=tmp_path)
    message = str(err.value)
    assert "cannot be reached" in message and "--model /path/to/" in message
    with pytest.raises(M.ModelUnavailableError, match="no such folder"):
        M.resolve("./missing/model")
    with pytest.raises(ValueError, match="quantization"):
        M.resolve("x/y", quantization="int3")


@pytest.fixture()
def english_mix(tmp_path):
    out = tmp_path / "english"
    prepare(PrepareSettings(source="shapes", out=out, options={"count": 6}, chunk_size=12), progress=False)
    return out


def _settings(english_mix, out, model, **kw):
    base = dict(
        input=english_mix,
        out=out,
        langs="de,fr,zh",
        distribution="uniform",
        english_share=0.25,
        model=str(model),
        quantization="float32",
        cache=str(out.parent / "cache.sqlite"),
        runtime=RuntimeSettings(device="cpu"),
    )
    base.update(kw)
    return TranslateSettings(**base)


def _frame(path):
    return pl.scan_parquet(f"{path}/**/*.parquet", hive_partitioning=True).collect().sort("id")


def _rejected(path):
    from polymix import shards

    return shards.scan(path, rejected=True).collect().sort("id")


def _everything(path):
    """Kept and rejected rows together: the tiny model's output is noise, which the filter rejects."""
    return pl.concat([_frame(path).with_columns(pl.lit(None, pl.String).alias("reason")), _rejected(path)]).sort("id")


@pytest.mark.slow
def test_translate_stage_writes_language_partitions_and_resumes_after_a_crash(
    english_mix, random_nllb_ct2, tmp_path, monkeypatch
):
    from polymix.translate import stage

    reference = translate_mix(_settings(english_mix, tmp_path / "ref" / "mix", random_nllb_ct2), progress=False)
    ref = _everything(tmp_path / "ref" / "mix")
    english = _frame(english_mix)
    assert ref.height == english.height == reference["rows"] + reference["rejected"]
    assert set(ref["lang"].unique()) == {"eng_Latn", "deu_Latn", "fra_Latn", "zho_Hans"}
    translated = ref.filter(pl.col("lang") != "eng_Latn")
    assert translated["mt_model"].str.contains("float32").all()
    assert (translated["instruction"] != translated["instruction_en"]).all()
    assert translated["lid_label"].is_not_null().all() and translated["lid_score"].is_not_null().all()
    # the random model's noise is rejected, each row with a reason; English rows are kept unchecked
    assert translated["reason"].is_not_null().all()
    assert set(translated["reason"]) <= {"wrong_language", "repetition", "length_ratio", "untranslated", "empty_translation"}
    kept = _frame(tmp_path / "ref" / "mix")
    assert set(kept["lang"]) == {"eng_Latn"} and kept["mt_model"].is_null().all()
    summary = {row["lang"]: row for row in reference["summary"]}
    assert summary["eng_Latn"]["rows"] == kept.height
    assert sum(r["translated"] for r in reference["summary"]) > 0
    card = tmp_path / "ref" / "mix" / "README.md"
    assert not card.exists()  # the stage function writes no card; the CLI and the flows do

    # crash in the third chunk, then run again: same rows, finished chunks not redone
    calls = {"n": 0}
    real = stage.translate_examples

    def crashing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(stage, "translate_examples", crashing)
    out = tmp_path / "run" / "mix"
    with pytest.raises(KeyboardInterrupt):
        translate_mix(_settings(english_mix, out, random_nllb_ct2, cache="none"), progress=False)
    monkeypatch.setattr(stage, "translate_examples", real)
    resumed = translate_mix(_settings(english_mix, out, random_nllb_ct2, cache="none"), progress=False)
    assert resumed["run"]["chunks_skipped"] == 2
    assert _everything(out).equals(ref)

    # other settings on the same output are refused
    with pytest.raises(Exception, match="other settings"):
        translate_mix(_settings(english_mix, out, random_nllb_ct2, langs="de"), progress=False)


@pytest.mark.slow
def test_replicate_puts_every_example_in_every_language_and_reuses_the_cache(english_mix, random_nllb_ct2, tmp_path):
    out = tmp_path / "rep" / "mix"
    first = translate_mix(_settings(english_mix, out, random_nllb_ct2, distribution="replicate", langs="de,fr"), progress=False)
    english = _frame(english_mix)
    frame = _everything(out)
    assert frame.height == 2 * english.height
    assert frame.group_by("lang").len().sort("lang")["len"].to_list() == [english.height] * 2
    # the same template text and the same answers repeat: far fewer strings than rows
    assert sum(r["translated"] for r in first["summary"]) < frame.height
    shutil.rmtree(out)
    again = translate_mix(_settings(english_mix, out, random_nllb_ct2, distribution="replicate", langs="de,fr"), progress=False)
    assert sum(r["translated"] for r in again["summary"]) == 0
    assert _everything(out).equals(frame)


def test_back_translation_uses_the_source_language_code_and_its_own_cache_namespace(random_nllb_ct2, tmp_path, tok):
    t = NllbTranslator(_resolved(random_nllb_ct2), DecodeSettings(), RuntimeSettings(device="cpu"))
    assert t.source_tokens(["A cat."], ["deu_Latn"])[0][0] == "deu_Latn"
    assert t.source_tokens(["A cat."])[0] == tok.convert_ids_to_tokens(tok("A cat.").input_ids)
    service = TranslationService(t, tmp_path / "cache.sqlite")
    forward = service.translate(["Die Katze."], "fra_Latn")
    back = service.back_translate(["Die Katze."], "deu_Latn")
    assert t.translate(["Die Katze."], "eng_Latn", "deu_Latn") == back
    assert back != service.translate(["Die Katze."], "eng_Latn")  # English source code: another input
    assert forward and service.counts["eng_Latn"]["hits"] == 0


def test_a_changed_input_mix_is_refused_instead_of_mixing_two_plans(english_mix, random_nllb_ct2, tmp_path):
    from polymix.errors import ConfigError

    out = tmp_path / "mix"
    translate_mix(_settings(english_mix, out, random_nllb_ct2, cache="none"), progress=False)
    data = tmp_path / "caps.jsonl"
    data.write_text('{"id": "a", "image": "https://example.org/a.jpg", "caption": "A cat."}\n')
    prepare(PrepareSettings(source="generic", out=english_mix, options={"path": str(data)}), progress=False)
    with pytest.raises(ConfigError, match="input_digest"):
        translate_mix(_settings(english_mix, out, random_nllb_ct2, cache="none"), progress=False)
