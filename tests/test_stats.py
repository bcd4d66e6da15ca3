"""Run statistics (polymix/stats.py): the flat keys are built and read in one place, typed, and
stats written before the module existed (tests/data/stats-498a45c.json) still load and resume."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from polymix import shards
from polymix.stats import LangCounts, Outcome, Stats, count_rejected, lang_keys, merge, planned_keys

OLD = json.loads((Path(__file__).parent / "data" / "stats-498a45c.json").read_text(encoding="utf-8"))


def test_keys_are_built_and_read_back_into_typed_records():
    flat = {
        "in": 5,
        "out": 3,
        "lid_kept": 3,
        **count_rejected(["wrong_language", "untranslated", "wrong_language"]),
        **planned_keys([("coco", "deu_Latn"), ("coco", "deu_Latn"), ("hf:my/set", "fra_Latn")]),
        **lang_keys({"deu_Latn": Counter(translated=4, hits=2, requests=9, seconds=0.123456)}),
    }
    s = Stats.parse(flat)
    assert s.counts == {"in": 5, "out": 3, "lid_kept": 3}
    assert s.rejected == {"wrong_language": 2, "untranslated": 1} and s.rejected_total == 3
    # a source name with ':' and '/' is still a source, not a language (the old parsers split on ':')
    assert s.planned == {("coco", "deu_Latn"): 2, ("hf:my/set", "fra_Latn"): 1}
    assert s.per_lang == {"deu_Latn": LangCounts(translated=4, hits=2, passthrough=0, seconds=0.1235)}
    assert s.strings() == {"hits": 2, "translated": 4}
    assert s.flat() == dict(sorted(flat.items()))


def test_merge_sums_chunks_key_by_key_and_skips_non_numbers():
    assert merge([{"in": 2, "rejected_x": 1, "note": "a"}, {"in": 3, "hits:deu_Latn": 1}]) == {
        "hits:deu_Latn": 1,
        "in": 5,
        "rejected_x": 1,
    }


def test_outcome_counts_kept_and_rejected_rows():
    a = Outcome()
    for reason in (None, None, "empty_translation", "wrong_language", "wrong_language"):
        a.add(reason)
    a += Outcome(kept=1, rejected=Counter(round_trip=1))
    assert (a.kept, a.rejected_total, a.total) == (3, 4, 7)
    assert a.rejected == {"wrong_language": 2, "empty_translation": 1, "round_trip": 1}


@pytest.mark.parametrize("run", ["translate_toy", "filtered"])
def test_stats_written_by_an_earlier_version_read_back_unchanged(run):
    for record in OLD[run].values():
        assert Stats.parse(record).flat() == record
    total = Stats.parse(merge(OLD[run].values()))
    assert sum(total.planned.values()) == total.counts["in"] == total.counts["out"] + total.rejected_total
    if run == "filtered":
        assert total.rejected == {"empty_translation": 1, "untranslated": 1, "wrong_language": 1}
        assert total.planned[("vqav2", "fra_Latn")] == 2
    else:
        assert total.per_lang["spa_Latn"].translated > 0 and total.per_lang["spa_Latn"].seconds > 0


@pytest.mark.slow
def test_a_translation_interrupted_before_the_upgrade_resumes_and_keeps_its_counts(tmp_path, monkeypatch):
    """Chunk 0 finished under 498a45c (its record's stats from the fixture), chunk 1 runs now."""
    from polymix.data_cards.card import write_card
    from polymix.mix.prepare import PrepareSettings, prepare
    from polymix.translate import stage
    from polymix.translate.nllb import RuntimeSettings
    from polymix.translate.toy import TOY_LANGUAGES

    # the fixture's run: see its "_about"
    prepare(PrepareSettings(source="shapes", out=tmp_path / "english", chunk_size=20, options={"count": 12}), progress=False)
    settings = stage.TranslateSettings(
        input=tmp_path / "english",
        out=tmp_path / "mix",
        langs=",".join(TOY_LANGUAGES),
        distribution="uniform",
        english_share=0.2,
        cache="none",
        model="toy",
        runtime=RuntimeSettings(device="cpu"),
        lid_processes=1,
    )
    real, calls = stage.translate_examples, []

    def dies_in_the_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(stage, "translate_examples", dies_in_the_second_chunk)
    with pytest.raises(KeyboardInterrupt):
        stage.translate_mix(settings, progress=False)
    monkeypatch.setattr(stage, "translate_examples", real)
    before = OLD["translate_toy"]
    old = before["shapes-000000"]

    def untimed(stats):  # model seconds differ between runs
        return {k: v for k, v in stats.items() if not k.startswith("seconds:")}

    path = tmp_path / "mix" / shards.CHUNKS_DIR / "shapes-000000.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    assert untimed(record["stats"]) == untimed(old) and set(record["stats"]) == set(old)  # today's code writes 498a45c's keys
    shards.atomic_write_json(path, {**record, "stats": old})

    manifest = stage.translate_mix(settings, progress=False)
    assert manifest["run"] == {**manifest["run"], "chunks_skipped": 1, "chunks_written": len(before) - 1}
    records = {r["chunk"]: r["stats"] for r in shards.read_records(tmp_path / "mix")}
    assert records["shapes-000000"] == old and {c: untimed(s) for c, s in records.items()} == {
        c: untimed(s) for c, s in before.items()
    }
    assert manifest["stats"] == merge(records.values())
    summary = {row["lang"]: row for row in manifest["summary"]}
    assert summary["fra_Latn"]["seconds"] == pytest.approx(sum(s.get("seconds:fra_Latn", 0) for s in records.values()))
    assert summary["fra_Latn"]["translated"] == sum(s.get("translated:fra_Latn", 0) for s in before.values()) > 0
    card = write_card(tmp_path / "mix").read_text(encoding="utf-8")
    assert (
        f"Accounting: {manifest['stats']['in']} rows planned = {manifest['rows']} kept + {manifest['rejected']} rejected." in card
    )
