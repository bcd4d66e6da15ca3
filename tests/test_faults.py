"""Fault probes: partial, corrupt, moved and locked mixes. Each probe is a failure a user once met.

The seeded kill -9 schedule over whole commands is in ``test_fault_schedule.py``.
"""

import json
import shutil

import polars as pl
import pytest
from PIL import Image
from typer.testing import CliRunner

from polymix import integrity, locks, shards
from polymix.cli import app
from polymix.mix.prepare import PrepareSettings, prepare
from polymix.mix.sources.base import ConfigError, SourceFormatError
from polymix.training import metrics_log
from training_fixtures import one_thread, tiny_models  # noqa: F401  (fixtures)

runner = CliRunner()


def _rows(out):
    return pl.scan_parquet(f"{out}/**/*.parquet", hive_partitioning=True).collect().sort("id")


def _generic(tmp_path, n, bad_line=None):
    """A JSONL caption file of ``n`` rows over one real image; ``bad_line`` (1-based) is not JSON."""
    images = tmp_path / "images"
    images.mkdir(exist_ok=True)
    Image.new("RGB", (8, 8), "red").save(images / "red.png")
    lines = [json.dumps({"id": str(i), "image": "red.png", "caption": f"A red square number {i}."}) for i in range(n)]
    if bad_line:
        lines[bad_line - 1] = "{not json"
    path = tmp_path / f"caps-{n}-{bad_line}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return PrepareSettings(source="generic", out=tmp_path / "mix", options={"path": str(path)}, image_root=images, chunk_size=100)


def test_failed_prepare_leaves_the_mix_visibly_incomplete(tmp_path):
    out = tmp_path / "mix"
    prepare(PrepareSettings(source="shapes", out=out, options={"count": 3}), progress=False)
    with pytest.raises(SourceFormatError, match="201"):  # a second source into the mix fails half-way
        prepare(_generic(tmp_path, 300, bad_line=201), progress=False)
    assert any("INCOMPLETE" in p for p in integrity.verify(out))
    with pytest.raises(shards.IncompleteMixError, match="re-run"):
        shards.load_manifest(out)


def test_prepare_killed_midway_is_incomplete_for_every_reader(tmp_path):
    out = tmp_path / "mix"
    prepare(_generic(tmp_path, 300), progress=False)
    locks.mark_incomplete(out, "polymix prepare --source generic")  # what a kill -9 mid-build leaves
    assert any("INCOMPLETE" in p for p in integrity.verify(out))
    shown = runner.invoke(app, ["inspect", str(out)])
    assert shown.exit_code == 2 and "not a finished mix" in shown.output and "re-run" in shown.output
    verified = runner.invoke(app, ["inspect", str(out), "--verify"])
    assert verified.exit_code == 1 and "INCOMPLETE" in verified.output
    translated = runner.invoke(
        app, ["translate", "--in", str(out), "--out", str(tmp_path / "t"), "--model", "toy", "--langs", "de"]
    )
    assert translated.exit_code == 2 and "not a finished mix" in translated.output, translated.output
    with pytest.raises(shards.IncompleteMixError):
        shards.shard_files(out)  # what training reads through
    prepare(_generic(tmp_path, 300), progress=False)  # the re-run finishes it
    assert integrity.verify(out) == [] and not (out / "INCOMPLETE").exists()


def test_failing_overwrite_keeps_the_old_mix_whole(tmp_path):
    out = tmp_path / "mix"
    before = prepare(_generic(tmp_path, 1000), progress=False)
    rows_before = _rows(out)
    with pytest.raises(SourceFormatError, match="701"):
        prepare(_generic(tmp_path, 1000, bad_line=701), overwrite=True, progress=False)
    assert _rows(out).equals(rows_before)
    assert shards.load_manifest(out)["rows"] == before["rows"] == 1000
    assert integrity.verify(out) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # nothing left aside


def test_overwrite_swaps_in_the_new_mix_and_keeps_other_sources(tmp_path):
    out = tmp_path / "mix"
    prepare(_generic(tmp_path, 300), progress=False)
    prepare(PrepareSettings(source="shapes", out=out, options={"count": 3}), progress=False)
    shapes_rows = _rows(out).filter(pl.col("source") == "shapes")
    manifest = prepare(_generic(tmp_path, 120), overwrite=True, progress=False)
    rows = _rows(out)
    assert rows.filter(pl.col("source") == "generic").height == 120
    assert rows.filter(pl.col("source") == "shapes").equals(shapes_rows)
    assert manifest["rows"] == rows.height == shards.load_manifest(out)["rows"]
    assert integrity.verify(out) == []
    assert (out / "images" / "shapes").is_dir() and shards.load_manifest(out)["image_roots"]["shapes"] == "images/shapes"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    # the shapes source resumes in the swapped-in mix: its settings did not record the aside folder
    again = prepare(PrepareSettings(source="shapes", out=out, options={"count": 3}), progress=False)
    assert again["run"].get("chunks_written", 0) == 0


def test_a_crash_between_the_swap_renames_is_undone(tmp_path):
    out = tmp_path / "mix"
    prepare(_generic(tmp_path, 50), progress=False)
    rows = _rows(out)
    out.rename(tmp_path / ".mix.polymix-old")  # killed after the first rename of swap_in
    prepare(_generic(tmp_path, 50), progress=False)  # the next run puts the old mix back, then resumes
    assert _rows(out).equals(rows) and integrity.verify(out) == []


def test_inputs_are_locked_for_reading(tmp_path):
    out = tmp_path / "mix"
    prepare(_generic(tmp_path, 50), progress=False)
    with shards.ReadLock(out, "polymix translate"):
        with pytest.raises(shards.BuildLockedError, match="being read"):
            prepare(_generic(tmp_path, 40), overwrite=True, progress=False)
        with shards.ReadLock(out, "another reader"):  # readers share
            pass
    with shards.BuildLock(out, "polymix prepare"):
        with pytest.raises(shards.BuildLockedError, match="polymix prepare"):
            with shards.ReadLock(out, "polymix translate"):
                pass
    assert _rows(out).height == 50


# -- corrupt shards, strays, edited records: verify sees them, a re-run repairs them ---------------
@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """An English shapes mix and its toy-model translation (de, fr), built once; tests copy them."""
    from polymix.translate.stage import translate_mix

    root = tmp_path_factory.mktemp("pair")
    prepare(PrepareSettings(source="shapes", out=root / "english", options={"count": 6}, chunk_size=10), progress=False)
    translate_mix(_toy(root / "english", root / "mix"), progress=False)
    return root


def _toy(english, out, **kw):
    from polymix.translate.stage import TranslateSettings

    return TranslateSettings(
        input=english,
        out=out,
        langs="de,fr",
        distribution="uniform",
        english_share=0.25,
        model="toy",
        cache=str(out.parent / "cache.sqlite"),
        lid_processes=1,
        **kw,
    )


def _copy(pair, tmp_path):
    for name in ("english", "mix"):
        shutil.copytree(pair / name, tmp_path / name)
    shutil.copy(pair / "cache.sqlite", tmp_path / "cache.sqlite")
    return tmp_path / "english", tmp_path / "mix"


def _shard(mix, lang="deu_Latn"):
    return sorted((mix / f"lang={lang}").glob("*.parquet"))[0]


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_shard_is_named_by_verify_and_redone_by_the_rerun(pair, tmp_path, damage):
    from polymix.translate.stage import translate_mix

    english, mix = _copy(pair, tmp_path)
    rows = _rows(mix)
    shard = _shard(mix)
    data = bytearray(shard.read_bytes())
    if damage == "flip":
        data[100] ^= 0xFF
        data[101] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    shard.write_bytes(bytes(data))
    problems = integrity.verify(mix)
    assert len(problems) == 1 and problems[0].startswith(shard.relative_to(mix).as_posix())
    assert ("checksum" if damage == "flip" else "truncated") in problems[0]
    shown = runner.invoke(app, ["inspect", str(mix), "--verify"])
    assert shown.exit_code == 1 and shard.name in shown.output and "Traceback" not in shown.output
    if damage == "truncate":  # without --verify, readers name the file in one line too
        for command in (["inspect", str(mix)], ["card", str(mix)]):
            _one_line_error(runner.invoke(app, command), shard.name, "unreadable")
    manifest = translate_mix(_toy(english, mix), progress=False)
    assert manifest["run"]["chunks_written"] == 1
    assert integrity.verify(mix) == [] and _rows(mix).equals(rows)


def test_a_damaged_input_shard_is_refused_by_translate_in_one_line(pair, tmp_path):
    english, mix = _copy(pair, tmp_path)
    shard = _shard(english, "eng_Latn")
    shard.write_bytes(shard.read_bytes()[:200])
    result = runner.invoke(
        app,
        [
            "translate",
            "--in",
            str(english),
            "--out",
            str(mix),
            "--model",
            "toy",
            "--langs",
            "de,fr",
            "--distribution",
            "uniform",
            "--english-share",
            "0.25",
            "--cache",
            str(tmp_path / "cache.sqlite"),
            "--lid-processes",
            "1",
            "-q",
        ],
    )
    assert result.exit_code == 2 and shard.name in result.output and "Traceback" not in result.output, result.output
    assert (
        prepare(PrepareSettings(source="shapes", out=english, options={"count": 6}, chunk_size=10), progress=False)["run"][
            "chunks_written"
        ]
        == 1
    )  # the prepare re-run redoes just that chunk
    assert integrity.verify(english) == []


def test_verify_finds_strays_lost_records_and_an_edited_manifest(pair, tmp_path):
    _, mix = _copy(pair, tmp_path)
    shard = _shard(mix)
    shutil.copy(shard, shard.with_name("part-copy.parquet"))  # a duplicate: every reader would see its rows twice
    record = sorted((mix / "_manifest" / "chunks").glob("*.json"))[-1]
    lost = json.loads(record.read_text())
    record.unlink()
    manifest = json.loads((mix / "manifest.json").read_text())
    manifest["rows"] += 1
    (mix / "manifest.json").write_text(json.dumps(manifest))
    problems = "\n".join(integrity.verify(mix))
    assert "part-copy.parquet: in no chunk record" in problems
    assert all(f"{f['path']}: in no chunk record" in problems for f in lost["files"])
    assert "'rows' differs" in problems and "'chunks' differs" in problems


def test_out_inside_in_is_refused(pair, tmp_path):
    english, _ = _copy(pair, tmp_path)
    for out in (english / "de", english):
        result = runner.invoke(app, ["translate", "--in", str(english), "--out", str(out), "--model", "toy", "--langs", "de"])
        assert result.exit_code == 2 and "overlap" in result.output, result.output
    assert not (english / "de").exists()


# -- moved and copied mixes; unreadable images ---------------------------------------------------
def _move_pair(pair, tmp_path):
    english, mix = _copy(pair, tmp_path / "a")
    moved = tmp_path / "b"
    (tmp_path / "a").rename(moved)
    return moved / "english", moved / "mix"


def test_image_roots_are_recorded_relative_to_the_mix(pair):
    assert shards.load_manifest(pair / "english")["image_roots"] == {"shapes": "images/shapes"}
    manifest = shards.load_manifest(pair / "mix")
    assert manifest["image_roots"] == {"shapes": "../english/images/shapes"} and manifest["translated_from"] == "../english"


def test_a_moved_pair_resumes_translation(pair, tmp_path):
    from polymix.translate.stage import translate_mix

    english, mix = _move_pair(pair, tmp_path)
    rows = _rows(mix)
    (mix / "_manifest" / "chunks" / sorted(p.name for p in (mix / "_manifest" / "chunks").iterdir())[0]).unlink()
    manifest = translate_mix(_toy(english, mix), progress=False)
    assert manifest["run"]["chunks_written"] == 1 and _rows(mix).equals(rows) and integrity.verify(mix) == []


@pytest.mark.slow
def test_a_moved_pair_trains_and_resumes_and_lost_images_stop_training(pair, tmp_path, tiny_models, capsys):
    from polymix.training import cli
    from polymix.training.loop import Trainer
    from training_fixtures import tiny_config

    english, mix = _move_pair(pair, tmp_path)
    config = tiny_config(tmp_path / "run", warmup=1, steps=1, batch=4)
    result = Trainer(config, mix).fit(max_steps=1)
    assert result["samples"] == 4 and result["bad_images"] == 0
    moved = tmp_path / "c"
    (tmp_path / "b").rename(moved)  # the pair moves again between the checkpoint and the resume
    with pytest.raises(ConfigError, match="train.batch_size"):  # another stream would continue silently
        Trainer(tiny_config(tmp_path / "run", warmup=1, steps=1, batch=2), moved / "mix", resume=True)
    with pytest.raises(ConfigError, match="--data"):
        Trainer(config, moved / "english", resume=True)
    result = Trainer(config, moved / "mix", resume=True).fit()
    assert result["finished"] and result["samples"] == 8 and result["bad_images"] == 0
    steps = [r["step"] for r in metrics_log.read(tmp_path / "run") if "loss" in r]
    assert steps == sorted(set(steps))

    shutil.rmtree(moved / "english" / "images")  # the images are gone: training must stop, not "succeed"
    code = cli.main(
        [
            "--config",
            "tiny",
            "--data",
            str(moved / "mix"),
            "--output-dir",
            str(tmp_path / "run2"),
            "--set",
            "train.save_every=0",
            "--set",
            "train.eval_every=-1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "16 of 16 images could not be read" in err, err
    assert str(moved / "english" / "images" / "shapes") in err and "Traceback" not in err
    assert not (tmp_path / "run2" / "checkpoints").exists()
    tried = (tmp_path / "run2" / "bad_images.txt").read_text().split()
    assert tried and all(p.startswith(str(moved / "english" / "images" / "shapes")) for p in tried)


# -- user errors end in one line and exit 2; empty mixes are mixes ----------------------------------
def _one_line_error(result, *needles):
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1 and "Traceback" not in result.output, result.output
    assert all(n in errors[0] for n in needles), errors[0]


def test_an_empty_coco_file_gives_an_empty_mix_every_command_accepts(tmp_path, random_nllb_ct2):
    from polymix.translate.nllb import RuntimeSettings
    from polymix.translate.stage import TranslateSettings, translate_mix

    coco = tmp_path / "coco.json"
    coco.write_text('{"images": []}')
    english = tmp_path / "english"
    assert runner.invoke(app, ["prepare", "--source", "coco", "--path", str(coco), "--out", str(english), "-q"]).exit_code == 0
    manifest = translate_mix(
        TranslateSettings(
            input=english,
            out=tmp_path / "mix",
            langs="de",
            model=str(random_nllb_ct2),
            quantization="float32",
            cache=str(tmp_path / "c.sqlite"),
            lid_processes=1,
            runtime=RuntimeSettings(device="cpu"),
        ),
        progress=False,
    )
    assert manifest["rows"] == manifest["rejected"] == 0
    for mix in (english, tmp_path / "mix"):
        shown = runner.invoke(app, ["inspect", str(mix), "--verify"], terminal_width=300)
        assert shown.exit_code == 0 and "every file matches the manifest" in shown.output, shown.output
        assert runner.invoke(app, ["card", str(mix)]).exit_code == 0 and (mix / "README.md").exists()
    _one_line_error(runner.invoke(app, ["train", "--config", "tiny", "--data", str(english)]), "no rows")


def test_a_corrupt_translation_cache_is_moved_aside_and_rebuilt(tmp_path, caplog):
    from polymix.translate.cache import TranslationCache

    path = tmp_path / "translations.sqlite"
    path.write_bytes(b"this is not an SQLite database" * 100)
    cache = TranslationCache(path)
    cache.put_many("ns", {"a": "b"})
    assert cache.get_many("ns", ["a"]) == {"a": "b"}
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    assert "moved it to" in caplog.text and str(path) in caplog.text


def test_a_corrupt_language_id_model_file_is_moved_aside_and_rebuilt(tmp_path, monkeypatch, caplog):
    from polymix.translate.lid import models as lid_models

    monkeypatch.setenv("POLYMIX_CACHE", str(tmp_path))
    good = lid_models._langid_identifier()  # writes the decoded model file
    [model] = tmp_path.glob("langid-*.npz")
    model.write_bytes(model.read_bytes()[:1000])
    again = lid_models._langid_identifier()
    assert again.classify("Das ist ein Haus und ein Garten.") == good.classify("Das ist ein Haus und ein Garten.")
    assert "moved it to" in caplog.text and list(tmp_path.glob("langid-*.npz.corrupt-*"))


@pytest.mark.parametrize(
    "args, needles",
    [
        (["prepare", "-o", "count=abc"], ["count='abc'", "integer"]),
        (
            [
                "translate",
                "--in",
                "{e}",
                "--out",
                "{t}",
                "--model",
                "toy",
                "--langs",
                "de",
                "--max-batch-tokens",
                "-5",
                "--threads",
                "-2",
            ],
            ["--max-batch-tokens -5", "--threads -2"],
        ),  # 0 means auto (chosen by device)
        (["translate", "--in", "{e}", "--out", "{f}", "--model", "toy", "--langs", "de"], ["is a file"]),
        (["prepare", "--out", "{f}", "-o", "count=2"], ["is a file"]),
        (
            ["prepare", "--source", "generic", "--path", "{j}", "--image-root", "{t}/nope", "--out", "{t}/g"],
            ["--image-root", "no such folder"],
        ),
        (["train", "--config", "tiny", "--data", "{e}", "--set", "data.tasks=vqg"], ["no rows", "vqg"]),
        (["train", "--config", "tiny", "--data", "{e}", "--output-dir", "{f}/run"], ["file/run", "Not a directory"]),
    ],
)
def test_bad_inputs_end_in_one_line_and_exit_2(pair, tmp_path, args, needles):
    (tmp_path / "file").write_text("x")
    (tmp_path / "g.jsonl").write_text('{"image": "a.png", "caption": "x"}\n')
    paths = dict(e=pair / "english", t=tmp_path / "t", f=tmp_path / "file", j=tmp_path / "g.jsonl")
    _one_line_error(runner.invoke(app, [a.format(**paths) for a in args]), *needles)


def test_no_image_root_is_said_aloud(tmp_path, caplog):
    (tmp_path / "g.jsonl").write_text('{"image": "a.png", "caption": "x"}\n')
    prepare(PrepareSettings(source="generic", out=tmp_path / "g", options={"path": str(tmp_path / "g.jsonl")}), progress=False)
    assert "no --image-root" in caplog.text


def test_equivalent_settings_resume(tmp_path, monkeypatch):
    settings = _generic(tmp_path, 30)
    prepare(settings, progress=False)
    monkeypatch.chdir(tmp_path)  # the same file by a relative path, the default task by name
    again = dict(settings.__dict__, options={"path": settings.options["path"].rsplit("/", 1)[1]}, tasks=("caption",))
    assert prepare(PrepareSettings(**again), progress=False)["run"]["chunks_skipped"] == 1


def test_a_read_only_input_can_still_be_read(tmp_path, monkeypatch):
    real_open = locks.os.open

    def read_only(path, flags, *args):  # what a read-only filesystem answers (root ignores chmod, so fake it)
        if flags & (locks.os.O_CREAT | locks.os.O_RDWR):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    (tmp_path / "mix").mkdir()
    monkeypatch.setattr(locks.os, "open", read_only)
    with shards.ReadLock(tmp_path / "mix", "polymix translate"):  # no lock file: nothing to lock against
        pass
    monkeypatch.setattr(locks.os, "open", real_open)
    with shards.BuildLock(tmp_path / "mix", "an earlier build"):
        pass
    monkeypatch.setattr(locks.os, "open", read_only)
    with shards.ReadLock(tmp_path / "mix", "polymix translate"):  # the lock file exists: a shared lock through O_RDONLY
        with pytest.raises(shards.BuildLockedError, match="being read"):
            monkeypatch.setattr(locks.os, "open", real_open)
            with shards.BuildLock(tmp_path / "mix", "prepare --overwrite"):
                pass
