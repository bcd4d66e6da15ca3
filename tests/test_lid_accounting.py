"""Accounting of a built mix: rows planned per source and language = kept + rejected, or the build fails."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from polymix import shards
from polymix.schema import ENGLISH, Example, to_table
from polymix.stats import Outcome, Stats, planned_keys
from polymix.translate.lid import accounting as A
from polymix.translate.lid.filter import filter_rows
from polymix.translate.lid.settings import default_settings

ENGLISH_ROWS = [
    ("coco", "caption", "Describe the image.", "A man riding a horse on a sandy beach next to the ocean."),
    ("coco", "caption", "Describe the image.", "Two dogs play with a frisbee in a green park."),
    ("vqav2", "vqa", "Question: What color is the bus? Answer briefly.", "red"),
    ("vqav2", "vqa", "Question: How many people are on the bench? Answer briefly.", "two"),
]
TRANSLATIONS = {
    "deu_Latn": [
        ("Beschreibe das Bild.", "Ein Mann reitet auf einem Pferd an einem Sandstrand neben dem Meer."),
        ("Beschreibe das Bild.", "Two dogs play with a frisbee in a green park."),  # untranslated
        ("Frage: Welche Farbe hat der Bus? Antworte kurz.", "rot"),
        ("Frage: Wie viele Personen sitzen auf der Bank? Antworte kurz.", "zwei"),
    ],
    "fra_Latn": [
        ("Décrivez l'image.", "Un homme monte un cheval sur une plage de sable au bord de la mer."),
        ("Décrivez l'image.", "Deux chiens jouent avec un frisbee dans un parc verdoyant."),
        ("Question : De quelle couleur est le bus ? Répondez brièvement.", ""),  # empty
        ("Beschreibe das Bild, bitte, ganz genau und ausführlich.", "Zwei Personen sitzen auf einer Bank."),
    ],  # German
}


def build_mix(root: Path, lose: int = 0) -> dict:
    """A small translated mix written like the translate stage will: filter, then write kept + rejected rows.

    ``lose`` rows are dropped between the filter and the writer (the bug the accounting must catch).
    """
    english = [
        Example(
            source=src,
            source_id=str(i),
            split="train",
            image=f"{i}.jpg",
            task=task,
            instruction_en=ins,
            target_en=tgt,
            instruction=ins,
            target=tgt,
            answers_en=[tgt],
        )
        for i, (src, task, ins, tgt) in enumerate(ENGLISH_ROWS)
    ]
    rows = list(english)
    for lang, pairs in TRANSLATIONS.items():
        rows += [ex.with_lang(lang, instruction=ins, target=tgt, mt_model="nllb-test") for ex, (ins, tgt) in zip(english, pairs)]
    planned = planned_keys((r.source, r.lang) for r in rows)
    kept, rejected, stats = filter_rows(rows)
    kept = kept[lose:]
    writer = shards.ShardWriter(root)
    writer.write_chunk(
        "test-000000",
        to_table(kept),
        to_table([r for r, _ in rejected], reasons=[w for _, w in rejected]),
        stats={**stats, **planned, "in": len(rows), "out": len(kept)},
    )
    shards.atomic_write_json(root / "_manifest" / "lid.json", default_settings().to_dict())
    return writer.finalize(
        {
            "mt_model": "nllb-test",
            "langs": list(TRANSLATIONS),
            "distribution": "replicate",
            "decode": {"beam_size": 1, "no_repeat_ngram_size": 4},
            "image_roots": {"coco": "/data/coco"},
        }
    )


def test_a_complete_build_balances(tmp_path):
    manifest = build_mix(tmp_path)
    assert A.check_accounting(tmp_path) == []
    A.require_accounting(tmp_path, manifest)
    counted = A.counted(tmp_path)
    assert counted[("coco", "deu_Latn")] == Outcome(kept=1, rejected=Counter(untranslated=1))
    assert counted[("vqav2", "fra_Latn")] == Outcome(kept=0, rejected=Counter(empty_translation=1, wrong_language=1))
    assert counted[("coco", ENGLISH)] == Outcome(kept=2)
    assert Stats.parse(manifest["stats"]).planned[("vqav2", "deu_Latn")] == 2


def test_a_row_lost_before_writing_fails_the_check(tmp_path):
    manifest = build_mix(tmp_path, lose=1)
    problems = A.check_accounting(tmp_path, manifest)
    assert problems == [f"coco/{ENGLISH}: planned 2, found 1 kept + 0 rejected"]
    with pytest.raises(A.AccountingError, match="planned 2, found 1"):
        A.require_accounting(tmp_path)


def test_a_row_lost_on_disk_fails_the_check(tmp_path):
    build_mix(tmp_path)
    path = next((tmp_path / "lang=deu_Latn").glob("*.parquet"))
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path)
    assert len(A.check_accounting(tmp_path)) == 1


def test_a_mix_without_counts_is_reported(tmp_path):
    writer = shards.ShardWriter(tmp_path)
    writer.write_chunk("x-000000", to_table([Example(source="coco", source_id="1", split="train", image="a", task="caption")]))
    writer.finalize()
    assert "no per-source/language counts" in A.check_accounting(tmp_path)[0]
