import json

import polars as pl
import pyarrow.parquet as pq
import pytest

from polymix import integrity, schema, shards


def _rows(n, langs=("eng_Latn", "deu_Latn"), source="s"):
    return [
        schema.Example(
            source=source,
            source_id=str(i),
            split="train",
            image=f"{i}.png",
            task="caption",
            lang=lang,
            instruction=f"instruction {i}",
            target=f"target {i} {lang}",
            answers_en=[f"t{i}"],
        )
        for i in range(n)
        for lang in langs
    ]


def test_hive_partitioned_shards_read_back_in_polars_and_datasets(tmp_path):
    import datasets

    writer = shards.ShardWriter(tmp_path)
    writer.write_chunk("s-000000", schema.to_table(_rows(3)))
    writer.write_chunk(
        "s-000001",
        schema.to_table(_rows(2, langs=("fra_Latn",))),
        rejected=schema.to_table(_rows(1, langs=("fra_Latn",), source="r"), reasons=["empty_text"]),
    )
    manifest = writer.finalize()
    assert manifest["rows_per_lang"] == {"deu_Latn": 3, "eng_Latn": 3, "fra_Latn": 2}
    assert manifest["rows"] == 8 and manifest["rejected"] == 1

    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert files == [
        "lang=deu_Latn/part-s-000000.parquet",
        "lang=eng_Latn/part-s-000000.parquet",
        "lang=fra_Latn/part-s-000001.parquet",
    ]
    meta = pq.ParquetFile(tmp_path / files[0]).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"

    frame = pl.scan_parquet(f"{tmp_path}/**/*.parquet", hive_partitioning=True).collect()
    assert frame.height == 8
    assert dict(frame.group_by("lang").len().iter_rows()) == {"eng_Latn": 3, "deu_Latn": 3, "fra_Latn": 2}
    assert set(frame.columns) == set(schema.COLUMNS)

    ds = datasets.load_dataset("parquet", data_files=f"{tmp_path}/lang=*/*.parquet", split="train")
    assert ds.num_rows == 8 and set(ds.column_names) == set(schema.COLUMNS)
    assert sorted(ds["id"]) == sorted(frame["id"].to_list())

    rejected = shards.scan(tmp_path, rejected=True).collect()
    assert rejected["reason"].to_list() == ["empty_text"]


def test_exception_mid_write_leaves_no_partial_file_and_no_record(tmp_path, monkeypatch):
    writer = shards.ShardWriter(tmp_path)
    real_write = pq.write_table
    calls = {"n": 0}

    def flaky_write(table, where, **kw):
        calls["n"] += 1
        if calls["n"] == 2:  # second language file of the chunk: write half a file, then die
            with open(where, "wb") as fh:
                fh.write(b"PAR1 half a file")
            raise OSError("disk full")
        return real_write(table, where, **kw)

    monkeypatch.setattr(shards.pq, "write_table", flaky_write)
    with pytest.raises(OSError, match="disk full"):
        writer.write_chunk("s-000000", schema.to_table(_rows(2)))
    monkeypatch.setattr(shards.pq, "write_table", real_write)

    visible = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert [p.name for p in visible if p.suffix == ".parquet"] == ["part-s-000000.parquet"]  # the first, complete file
    assert not list(tmp_path.rglob("*.tmp")), "temporary files must be cleaned up"
    assert not writer.is_done("s-000000") and writer.record("s-000000") is None
    # every visible parquet file is complete and readable
    for p in tmp_path.rglob("*.parquet"):
        pq.read_table(p)

    # the re-run writes the chunk completely, without duplicating rows
    writer.write_chunk("s-000000", schema.to_table(_rows(2)))
    assert writer.is_done("s-000000")
    assert shards.scan(tmp_path).collect().height == 4


def test_rewriting_a_chunk_removes_files_of_languages_it_no_longer_has(tmp_path):
    writer = shards.ShardWriter(tmp_path)
    writer.write_chunk("s-000000", schema.to_table(_rows(2, langs=("deu_Latn", "fra_Latn"))))
    writer.write_chunk("s-000000", schema.to_table(_rows(2, langs=("deu_Latn",))))
    assert shards.scan(tmp_path).collect()["lang"].unique().to_list() == ["deu_Latn"]


def test_verify_detects_changed_and_missing_files(tmp_path):
    writer = shards.ShardWriter(tmp_path)
    writer.write_chunk("s-000000", schema.to_table(_rows(2)))
    writer.finalize()
    assert integrity.verify(tmp_path) == []
    target = tmp_path / "lang=deu_Latn" / "part-s-000000.parquet"
    pq.write_table(schema.to_table(_rows(1, langs=("deu_Latn",))), target)
    (tmp_path / "lang=eng_Latn" / "part-s-000000.parquet").unlink()
    problems = integrity.verify(tmp_path)
    assert any("deu_Latn" in p and "checksum" in p for p in problems)
    assert any("eng_Latn" in p and "missing" in p for p in problems)
    assert not writer.is_done("s-000000")


def test_manifest_records_checksums_and_bad_chunk_ids_are_refused(tmp_path):
    writer = shards.ShardWriter(tmp_path)
    record = writer.write_chunk("s-000000", schema.to_table(_rows(1)), stats={"in": 2, "out": 2})
    on_disk = json.loads((tmp_path / "_manifest" / "chunks" / "s-000000.json").read_text())
    assert on_disk["files"] == record["files"]
    assert all(len(f["sha256"]) == 64 and f["rows"] == 1 for f in record["files"])
    assert writer.finalize()["stats"] == {"in": 2, "out": 2}
    with pytest.raises(ValueError, match="chunk id"):
        writer.write_chunk("../escape", schema.to_table(_rows(1)))


def test_iter_batches_streams_every_row(tmp_path):
    writer = shards.ShardWriter(tmp_path)
    writer.write_chunk("s-000000", schema.to_table(_rows(50)))
    batches = list(shards.iter_batches(tmp_path, batch_size=16))
    assert sum(b.num_rows for b in batches) == 100 and max(b.num_rows for b in batches) <= 16
    assert sum(b.num_rows for b in shards.iter_batches(tmp_path, langs=["deu_Latn"])) == 50


def test_build_lock_refuses_a_second_build_and_is_released(tmp_path):
    with shards.BuildLock(tmp_path, "first build"):
        with pytest.raises(shards.BuildLockedError, match="first build"):
            with shards.BuildLock(tmp_path, "second build"):
                pass
    with shards.BuildLock(tmp_path, "third build"):  # released: a later build goes ahead
        pass


def test_prepare_refuses_a_folder_another_build_is_writing(tmp_path):
    from polymix.mix.prepare import PrepareSettings, prepare

    with shards.BuildLock(tmp_path / "mix", "polymix translate"):
        with pytest.raises(shards.BuildLockedError, match="another build"):
            prepare(PrepareSettings(source="shapes", out=tmp_path / "mix", options={"count": 2}), progress=False)


def test_rows_are_filed_by_hub_split_and_stale_split_files_removed(tmp_path):
    import dataclasses

    splits = ["train", "restval", "val", "test", "minival"]
    rows = [
        dataclasses.replace(r, split=splits[i % len(splits)], source_id=f"{i}")
        for i, r in enumerate(_rows(10, langs=("eng_Latn",)))
    ]
    writer = shards.ShardWriter(tmp_path)
    record = writer.write_chunk("s-000000", schema.to_table(rows))
    got = {f["path"]: (f["split"], f["rows"]) for f in record["files"]}
    assert got == {
        "lang=eng_Latn/part-s-000000.parquet": ("train", 4),  # train + restval
        "lang=eng_Latn/validation-s-000000.parquet": ("validation", 2),
        "lang=eng_Latn/test-s-000000.parquet": ("test", 2),
        "lang=eng_Latn/minival-s-000000.parquet": ("minival", 2),
    }
    for path, (split, _) in got.items():
        kept = {r["split"] for r in pq.read_table(tmp_path / path).to_pylist()}
        assert {shards.hub_split(s) for s in kept} == {split}
    assert [p.name for p in shards.shard_files(tmp_path, splits=["val"])] == ["validation-s-000000.parquet"]
    assert len(shards.shard_files(tmp_path)) == 4
    # a retry of the chunk with train rows only must not leave the other splits' files to be read as rows
    writer.write_chunk("s-000000", schema.to_table([r for r in rows if r.split == "train"]))
    assert sorted(p.name for p in tmp_path.rglob("*.parquet")) == ["part-s-000000.parquet"]
    writer.finalize()
    assert integrity.verify(tmp_path) == []
