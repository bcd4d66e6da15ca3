"""The shard-backed stream and the collator: filters, disjoint shares, exact resume, bad images."""

from __future__ import annotations

import shutil
import pytest
import torch

from polymix.training.collate import Collator
from polymix.training.data import ShardStream, count_rows
from polymix.training.model import IGNORE
from training_fixtures import *  # noqa: F401,F403  (fixtures)


@pytest.fixture(scope="module")
def processor():
    from transformers import BlipImageProcessorPil

    return BlipImageProcessorPil(size={"height": 32, "width": 32})


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from polymix.training.random_models import build_tokenizer

    return build_tokenizer(tmp_path_factory.mktemp("tok"))


def _ids(rows):
    return [r["id"] for r in rows]


def _no_image(source, image):
    return None


def test_filters_and_counts(shapes_mix, processor):
    s = ShardStream(shapes_mix, processor, langs=["deu_Latn"], tasks=["caption"], splits=["val"], shuffle=False, repeat=False)
    rows = list(s.text_rows())
    assert rows and {(r["lang"], r["task"], r["split"]) for r in rows} == {("deu_Latn", "caption", "val")}
    assert len(rows) == s.rows == count_rows(shapes_mix, ["deu_Latn"], ["caption"], ["val"])
    assert count_rows(shapes_mix) == 2 * count_rows(shapes_mix, ["eng_Latn"])


def test_consumers_get_disjoint_shares_of_one_shuffled_epoch(shapes_mix, processor):
    kw = dict(splits=["train"], shuffle=True, repeat=False, shuffle_buffer=50, interleave=2, seed=3)
    whole = _ids(ShardStream(shapes_mix, processor, **kw).text_rows())
    shares = [_ids(ShardStream(shapes_mix, processor, rank=r, world=3, **kw).text_rows()) for r in range(3)]
    assert sorted(sum(shares, [])) == sorted(whole) and len(set(whole)) == len(whole)
    first_100 = [r["lang"] for _, r in zip(range(100), ShardStream(shapes_mix, processor, **kw).text_rows())]
    assert len(set(first_100)) == 2  # interleaved row groups: both languages early on
    other_seed = _ids(ShardStream(shapes_mix, processor, **{**kw, "seed": 4}).text_rows())
    assert other_seed != whole and sorted(other_seed) == sorted(whole)


def test_start_batch_resumes_the_stream_exactly(shapes_mix, processor):
    kw = dict(splits=["train"], shuffle_buffer=40, interleave=2, batch_size=4, rank=1, world=2)
    full = [r["id"] for _, r in zip(range(500), ShardStream(shapes_mix, processor, **kw).text_rows())]
    for start in (3, 77):  # inside the first epoch, and in a later one (the stream repeats)
        resumed = [r["id"] for _, r in zip(range(40), ShardStream(shapes_mix, processor, start_batch=start, **kw).text_rows())]
        assert resumed == full[start * 4 : start * 4 + 40]


def test_dataloader_workers_resume_in_the_same_order(shapes_mix, processor, tokenizer):
    def batches(start, n):
        # One pass (repeat=False), read to its end. Workers come from a forkserver: forked from this
        # pytest process after the Prefect flow tests, a worker exited with code 1 at shutdown.
        s = ShardStream(shapes_mix, processor, splits=["train"], batch_size=4, start_batch=start, shuffle_buffer=40, repeat=False)
        s.images = _no_image  # text only: fast
        loader = torch.utils.data.DataLoader(
            s, batch_size=4, num_workers=2, collate_fn=_ids, multiprocessing_context="forkserver"
        )
        return list(loader)[:n]

    full = batches(0, 7)
    assert len(full) == 7
    assert batches(3, 4) == full[3:7]  # the resumed loader starts at an odd batch: workers are rotated


def test_bad_images_are_skipped_and_counted(shapes_mix, processor, tokenizer, tmp_path):
    mix = shutil.copytree(shapes_mix, tmp_path / "mix")
    images = sorted((mix / "images" / "shapes").glob("*.png"))
    images[0].write_bytes(b"not a png")
    images[1].unlink()
    s = ShardStream(mix, processor, langs=["eng_Latn"], shuffle=False, repeat=False)
    rows = list(s)
    bad = [r for r in rows if r["pixel_values"] is None]
    assert bad and {r["image"] for r in bad} == {images[0].name, images[1].name}
    batch = Collator(tokenizer, decoder_only=False)(rows[:30])
    assert batch["size"] + batch["bad_images"] == 30 and batch["bad_images"] == sum(r["pixel_values"] is None for r in rows[:30])
    assert batch["pixel_values"].shape == (batch["size"], 3, 32, 32) and batch["input_ids"].shape[0] == batch["size"]
    assert Collator(tokenizer, decoder_only=False)(bad[:2]) == {
        "bad_images": 2,
        "size": 0,
        "epoch": 0,
        "bad_paths": [str(mix / "images" / "shapes" / r["image"]) for r in bad[:2]],
    }


def _rows(n=2):
    import numpy as np

    texts = [("Caption the image.", "A red circle on a white background."), ("What color is the circle?", "red")]
    return [
        {
            "instruction": i,
            "target": t,
            "pixel_values": np.zeros((3, 32, 32), np.float32),
            "image": "x",
            "id": str(k),
            "lang": "eng_Latn",
            "task": "vqa",
            "answers_en": [t],
        }
        for k, (i, t) in enumerate(texts[:n])
    ]


def test_seq2seq_collation(tokenizer):
    b = Collator(tokenizer, decoder_only=False, max_text_tokens=6)(_rows())
    assert b["input_ids"].shape[1] <= 6 and b["labels"].shape[1] <= 6
    assert (b["labels"][1] == IGNORE).any()  # the short answer is padded with -100
    assert tokenizer.decode(b["labels"][1][b["labels"][1] != IGNORE], skip_special_tokens=True).strip() == "red"
    assert b["attention_mask"].sum(1).tolist() == [min(6, len(tokenizer("Caption the image.").input_ids)), 6]


def test_decoder_only_collation_masks_the_prompt(tokenizer):
    rows = _rows()
    b = Collator(tokenizer, decoder_only=True, max_text_tokens=32)(rows)
    for k, row in enumerate(rows):
        ids, labels, mask = b["input_ids"][k], b["labels"][k], b["attention_mask"][k].bool()
        target = labels[labels != IGNORE].tolist()
        assert target[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(target, skip_special_tokens=True).strip() == row["target"]
        assert (
            tokenizer.decode(ids[mask][: (labels[mask] == IGNORE).sum()], skip_special_tokens=True).strip() == row["instruction"]
        )
        assert (labels[~mask] == IGNORE).all()
    gen = Collator(tokenizer, decoder_only=True, train=False)(rows)
    assert "labels" not in gen and gen["rows"][1]["target"] == "red"


def test_the_stream_holds_a_bounded_number_of_rows(tmp_path, processor):
    """30k rows in 3 languages go through once each while at most ~2k are held (no full-mix load)."""
    from polymix.schema import Example, to_table
    from polymix.shards import ROW_GROUP_SIZE, ShardWriter
    from polymix.training import data

    writer = ShardWriter(tmp_path)
    for c, lang in enumerate(("eng_Latn", "deu_Latn", "fra_Latn")):
        rows = [Example("shapes", f"{c}-{i}", "train", "x.png", "vqa", lang, "q?", "a", "q?", "a") for i in range(10_000)]
        writer.write_chunk(f"c{c}", to_table(rows))
    writer.finalize({"image_roots": {"shapes": "images"}})
    assert ROW_GROUP_SIZE > 10_000
    s = ShardStream(tmp_path, processor, shuffle_buffer=1_000, interleave=4, repeat=False)
    ids = [r["id"] for r in s.text_rows()]
    assert len(ids) == len(set(ids)) == 30_000
    assert s.max_buffered <= 1_000 + 4 * data.READ_BATCH
