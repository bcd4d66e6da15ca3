import json

import polars as pl
import pytest
from PIL import Image

from polymix import integrity, shards
from polymix.mix.prepare import DuplicateIdError, PrepareSettings, prepare
from polymix.errors import ConfigError


def _rows(out):
    return pl.scan_parquet(f"{out}/**/*.parquet", hive_partitioning=True).collect().sort("id")


def test_shapes_prepare_writes_templated_english_shards(tmp_path):
    out = tmp_path / "mix"
    manifest = prepare(PrepareSettings(source="shapes", out=out, options={"count": 10}, chunk_size=25), progress=False)
    frame = _rows(out)
    assert frame.height == manifest["rows"] > 10
    assert frame["lang"].unique().to_list() == ["eng_Latn"]
    assert frame.filter(pl.col("instruction") == "").height == 0
    assert (frame["instruction"] == frame["instruction_en"]).all()
    assert manifest["image_roots"] == {"shapes": "images/shapes"}
    assert all((out / "images" / "shapes" / name).exists() for name in frame["image"].unique())
    assert len(manifest["chunks"]) == -(-manifest["stats"]["in"] // 25)
    assert integrity.verify(out) == []


def test_rerun_resumes_without_rewriting_or_duplicating(tmp_path):
    out = tmp_path / "mix"
    settings = dict(source="shapes", out=out, options={"count": 8}, chunk_size=10)
    first = prepare(PrepareSettings(**settings), progress=False)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    # simulate a crash that lost the last chunk's record: only that chunk is redone
    last = first["chunks"][-1]["chunk"]
    (out / "_manifest" / "chunks" / f"{last}.json").unlink()
    again = prepare(PrepareSettings(**settings), progress=False)
    assert again["run"]["chunks_skipped"] == len(first["chunks"]) - 1 and again["run"]["chunks_written"] == 1
    after = {p: p.stat().st_mtime_ns for p in out.rglob("*.parquet")}
    assert [p for p in before if before[p] != after[p]] == [out / "lang=eng_Latn" / f"part-{last}.parquet"]
    assert again["rows"] == first["rows"] == _rows(out)["id"].n_unique() == _rows(out).height


def test_rerun_with_other_settings_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "mix"
    prepare(PrepareSettings(source="shapes", out=out, options={"count": 3}), progress=False)
    with pytest.raises(ConfigError, match="other settings"):
        prepare(PrepareSettings(source="shapes", out=out, options={"count": 4}), progress=False)
    manifest = prepare(PrepareSettings(source="shapes", out=out, options={"count": 4}), overwrite=True, progress=False)
    assert _rows(out).height == manifest["rows"]
    assert _rows(out).filter(pl.col("task") == "caption").height == 4


def test_overwrite_refuses_a_folder_that_is_not_a_mix(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ConfigError, match="not a polymix mix"):
        prepare(PrepareSettings(source="shapes", out=tmp_path, options={"count": 2}), overwrite=True, progress=False)
    assert (tmp_path / "precious.txt").exists()


def test_bad_rows_are_rejected_with_reasons_and_accounted(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (8, 8)).save(images / "ok.png")
    (images / "broken.jpg").write_bytes(b"not an image")
    data = tmp_path / "caps.jsonl"
    rows = [
        {"id": "1", "image": "ok.png", "caption": "A black square."},
        {"id": "2", "image": "ok.png", "caption": "   "},
        {"id": "3", "image": "missing.png", "caption": "Gone."},
        {"id": "4", "image": "broken.jpg", "caption": "Broken."},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "mix"
    manifest = prepare(PrepareSettings(source="generic", out=out, options={"path": str(data)}, image_root=images), progress=False)
    assert manifest["rows"] == 1 and manifest["rejected"] == 3
    assert manifest["stats"]["in"] == 4
    rejected = shards.scan(out, rejected=True).collect()
    assert dict(zip(rejected["source_id"], rejected["reason"])) == {"2": "empty_text", "3": "missing_image", "4": "bad_image"}


def test_duplicate_ids_are_an_error_naming_the_item(tmp_path):
    data = tmp_path / "caps.jsonl"
    data.write_text(
        '{"id": "7", "image": "http://x/a.jpg", "caption": "A."}\n{"id": "7", "image": "http://x/b.jpg", "caption": "B."}\n'
    )
    with pytest.raises(DuplicateIdError, match="'7'"):
        prepare(PrepareSettings(source="generic", out=tmp_path / "mix", options={"path": str(data)}), progress=False)


def test_two_sources_in_one_mix(tmp_path):
    out = tmp_path / "mix"
    data = tmp_path / "caps.jsonl"
    data.write_text('{"id": "a", "image": "https://example.org/a.jpg", "caption": "A cat."}\n')
    prepare(PrepareSettings(source="shapes", out=out, options={"count": 2}), progress=False)
    manifest = prepare(PrepareSettings(source="generic", out=out, options={"path": str(data)}), progress=False)
    assert manifest["prepared"] == ["generic", "shapes"]
    assert set(manifest["image_roots"]) == {"shapes", "generic"}
    assert set(_rows(out)["source"].unique()) == {"shapes", "generic"}


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="chunk_size"):
        PrepareSettings(source="shapes", out="x", chunk_size=0)


def test_a_source_with_no_item_for_the_chosen_tasks_is_a_config_error(tmp_path):
    data = tmp_path / "caps.jsonl"
    data.write_text('{"id": "a", "image": "https://example.org/a.jpg", "caption": "A cat."}\n')
    with pytest.raises(ConfigError, match="none of its 1 items"):
        prepare(
            PrepareSettings(source="generic", out=tmp_path / "mix", options={"path": str(data)}, tasks=("vqa",)), progress=False
        )


def test_overwrite_with_fewer_rows_leaves_no_stale_split_files(tmp_path):
    """--overwrite builds aside: the old source's train *and* validation files must not come along."""
    out, fresh = tmp_path / "mix", tmp_path / "fresh"
    prepare(PrepareSettings(source="shapes", out=out, options={"count": 40}, chunk_size=40), progress=False)  # 9 chunks
    prepare(PrepareSettings(source="shapes", out=out, options={"count": 20}, chunk_size=40), overwrite=True, progress=False)
    prepare(PrepareSettings(source="shapes", out=fresh, options={"count": 20}, chunk_size=40), progress=False)
    got, want = (shards.scan(p).collect().sort("id") for p in (out, fresh))
    assert set(got["split"]) == {"train", "val"} and got["id"].to_list() == want["id"].to_list()
    assert integrity.verify(out) == []
