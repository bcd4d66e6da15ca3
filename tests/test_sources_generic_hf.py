"""The ``generic`` (JSON Lines / CSV) and ``hf`` (Hugging Face datasets) sources.

Nothing here touches the network: tests that load datasets run with the hub in offline mode and
a cache folder under ``tmp_path``.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from PIL import Image

from polymix.schema import Example
from polymix.mix.sources import ConfigError, SourceFormatError, get_source
from polymix.mix.sources.base import Rejection


def write_image(path: Path, color: str = "red", fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), color).save(path, format=fmt)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run(source, tasks=None) -> tuple[list[Example], list[Rejection]]:
    out = list(source.examples(tasks=tasks))
    return [e for e in out if isinstance(e, Example)], [r for r in out if isinstance(r, Rejection)]


# -- generic ----------------------------------------------------------------------------------
def test_generic_jsonl_captions(tmp_path):
    write_image(tmp_path / "imgs/a.jpg")
    write_image(tmp_path / "imgs/b.png", "blue")
    path = write_jsonl(
        tmp_path / "caps.jsonl",
        [
            {"id": "a1", "image": "imgs/a.jpg", "caption": "  A red square. ", "split": "val"},
            {"id": "b2", "image": "imgs/b.png", "caption": "A blue square."},
            {"id": "c3", "image": "imgs/missing.jpg", "caption": "Gone."},
            {"id": "d4", "caption": "No image field."},
            {"id": "e5", "image": "imgs/a.jpg", "caption": "   "},
        ],
    )
    src = get_source("generic")(image_root=tmp_path, path=str(path))
    examples, rejections = run(src)  # no tasks: the first row has a caption -> caption
    assert [(e.source, e.source_id, e.split, e.image, e.task) for e in examples] == [
        ("generic", "a1", "val", "imgs/a.jpg", "caption"),
        ("generic", "b2", "train", "imgs/b.png", "caption"),
    ]
    assert examples[0].slots == {"caption": "A red square."}
    assert examples[0].answers_en == ["A red square."]
    assert [(r.item.source_id, r.reason) for r in rejections] == [
        ("c3", "missing_image"),
        ("d4", "missing_image"),
        ("e5", "empty_text"),
    ]
    assert rejections[1].item.image == ""
    # Deterministic: a second pass gives the same rows.
    assert [e.id for e in run(src)[0]] == [e.id for e in examples]


def test_generic_jsonl_question_answer_and_row_number_ids(tmp_path):
    write_image(tmp_path / "x.png")
    path = tmp_path / "qa.json-lines"
    path.write_text(
        json.dumps({"image": "x.png", "question": "What color? ", "answer": "red"})
        + "\n\n"
        + json.dumps({"image": "x.png", "question": "How many?", "answer": ["2", "two", "2"]})
        + "\n"
        + json.dumps({"image": "x.png", "question": "Answerless?"})
        + "\n",
        encoding="utf-8",
    )
    src = get_source("generic")(image_root=tmp_path, path=str(path), split="test")
    assert src.check_tasks(None) == ("vqa",)
    examples, rejections = run(src)
    assert [(e.source_id, e.split, e.task) for e in examples] == [("0", "test", "vqa"), ("1", "test", "vqa")]
    assert examples[0].slots == {"question": "What color?", "answer": "red"}
    assert examples[0].answers_en == ["red"]
    assert examples[1].slots["answer"] == "2" and examples[1].answers_en == ["2", "two", "2"]
    assert [(r.item.source_id, r.reason) for r in rejections] == [("2", "empty_text")]
    # Both vqa and vqg from the same rows.
    assert [e.task for e in run(src, ["vqa", "vqg"])[0]] == ["vqa", "vqg", "vqa", "vqg"]


def test_generic_jsonl_caption_and_qa_rows_mixed(tmp_path):
    write_image(tmp_path / "x.png")
    path = write_jsonl(
        tmp_path / "mix.jsonl",
        [
            {"image": "x.png", "caption": "A red image."},
            {"image": "x.png", "question": "Color?", "answer": "red"},
            {"image": "x.png", "caption": "Red.", "question": "Is it red?", "answer": "yes"},
            {"image": "x.png", "caption": ["One.", "Two."]},
        ],
    )
    src = get_source("generic")(image_root=tmp_path, path=str(path))
    examples, rejections = run(src, ["caption", "vqa"])
    assert rejections == []
    assert [(e.source_id, e.task) for e in examples] == [
        ("0", "caption"),
        ("1", "vqa"),
        ("2", "caption"),
        ("2", "vqa"),
        ("3-0", "caption"),
        ("3-1", "caption"),
    ]
    both = [e for e in examples if e.source_id == "2"][0]
    assert both.slots == {"caption": "Red.", "question": "Is it red?", "answer": "yes"}
    assert both.answers_en == ["yes"]


@pytest.mark.parametrize("suffix,delimiter", [(".csv", ","), (".tsv", "\t")])
def test_generic_csv(tmp_path, suffix, delimiter):
    write_image(tmp_path / "a.jpg")
    path = tmp_path / f"caps{suffix}"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=delimiter)
        w.writerow(["file", "text", "split"])
        w.writerow(["a.jpg", "A red picture, plain.", "val"])
        w.writerow(["a.jpg", " Another caption ", ""])
        w.writerow(["", "Imageless.", "train"])
    src = get_source("generic")(image_root=tmp_path, path=str(path), image_field="file", caption_field="text")
    examples, rejections = run(src)
    assert [(e.source_id, e.split, e.slots["caption"]) for e in examples] == [
        ("0", "val", "A red picture, plain."),
        ("1", "train", "Another caption"),
    ]
    assert [(r.item.source_id, r.reason) for r in rejections] == [("2", "missing_image")]


def test_generic_csv_question_answer_with_id_field(tmp_path):
    write_image(tmp_path / "a.jpg")
    path = tmp_path / "qa.csv"
    path.write_text("qid,image,question,answer\nq7,a.jpg,What is it?,a square\nq8,a.jpg,Where?,\n", encoding="utf-8")
    src = get_source("generic")(image_root=tmp_path, path=str(path), id_field="qid")
    examples, rejections = run(src)
    assert [(e.source_id, e.task, e.answers_en) for e in examples] == [("q7", "vqa", ["a square"])]
    assert [(r.item.source_id, r.reason) for r in rejections] == [("q8", "empty_text")]


def test_generic_malformed_json_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"image": "a.jpg", "caption": "ok"}\n{"image": "b.jpg", "caption": \n', encoding="utf-8")
    src = get_source("generic")(image_root=tmp_path, path=str(path))
    with pytest.raises(SourceFormatError) as err:
        run(src, ["caption"])
    assert str(path) in str(err.value) and "line 2" in str(err.value)


def test_generic_unknown_suffix(tmp_path):
    path = tmp_path / "caps.xml"
    path.write_text("<x/>", encoding="utf-8")
    with pytest.raises(SourceFormatError) as err:
        run(get_source("generic")(image_root=tmp_path, path=str(path)), ["caption"])
    assert ".jsonl" in str(err.value) and ".csv" in str(err.value) and ".tsv" in str(err.value)


def test_generic_file_without_expected_fields(tmp_path):
    path = write_jsonl(tmp_path / "odd.jsonl", [{"img": "a.jpg", "text": "hello"}])
    with pytest.raises(SourceFormatError) as err:
        run(get_source("generic")(image_root=tmp_path, path=str(path)))
    message = str(err.value)
    assert str(path) in message
    assert all(f"'{f}'" in message for f in ("caption", "question", "answer", "img", "text"))


def test_generic_unknown_and_missing_options(tmp_path):
    with pytest.raises(ConfigError) as err:
        get_source("generic")(image_root=tmp_path, path="x.jsonl", caption_column="text")
    assert "caption_column" in str(err.value) and "caption_field" in str(err.value) and "image_field" in str(err.value)
    with pytest.raises(ConfigError, match="path"):
        get_source("generic")(image_root=tmp_path)


def test_generic_rejects_tasks_it_cannot_feed(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"image": "a.jpg", "caption": "x"}])
    with pytest.raises(ConfigError, match="vqa_mc"):
        run(get_source("generic")(image_root=tmp_path, path=str(path)), ["vqa_mc"])


# -- hf ---------------------------------------------------------------------------------------
@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Hub offline and the datasets cache under tmp_path (env and the already-read constants)."""
    datasets = pytest.importorskip("datasets")
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")
    return datasets


def test_hf_local_parquet_folder_with_caption_lists(offline, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_image(tmp_path / "images/1.jpg")
    write_image(tmp_path / "images/2.jpg", "green")
    folder = tmp_path / "flickr"
    folder.mkdir()
    pq.write_table(
        pa.table(
            {
                "image": ["images/1.jpg", "images/2.jpg"],
                "caption": [["A red box.", " A red square. "], ["Green."]],
                "img_id": ["1000", "2000"],
            }
        ),
        folder / "train-00000.parquet",
    )
    src = get_source("hf")(image_root=tmp_path, dataset=str(folder), id_column="img_id")
    examples, rejections = run(src)
    assert rejections == []
    assert [(e.source, e.source_id, e.split, e.image, e.task) for e in examples] == [
        ("hf", "1000-0", "train", "images/1.jpg", "caption"),
        ("hf", "1000-1", "train", "images/1.jpg", "caption"),
        ("hf", "2000-0", "train", "images/2.jpg", "caption"),
    ]
    assert examples[1].slots == {"caption": "A red square."} and examples[1].answers_en == ["A red square."]


def test_hf_local_json_folder_vqa_with_row_index_ids(offline, tmp_path):
    write_image(tmp_path / "q.png")
    folder = tmp_path / "vqa"
    folder.mkdir()
    write_jsonl(
        folder / "train.jsonl",
        [
            {"img": "q.png", "q": "What color?", "answers": [{"answer": "red"}, {"answer": "red"}, {"answer": "pink"}]},
            {"img": "q.png", "q": "Is it square?", "answers": [{"answer": "yes"}]},
        ],
    )
    src = get_source("hf")(
        image_root=tmp_path, dataset=str(folder), image_column="img", question_column="q", answer_column="answers"
    )
    examples, rejections = run(src)  # no caption column: vqa by default
    assert rejections == []
    assert [(e.source_id, e.task, e.slots["answer"], e.answers_en) for e in examples] == [
        ("0", "vqa", "red", ["red", "red", "pink"]),
        ("1", "vqa", "yes", ["yes"]),
    ]
    with pytest.raises(ConfigError, match="caption"):
        run(src, ["caption"])


def test_hf_embedded_images_written_once(offline, tmp_path):
    datasets = offline
    import io

    def encoded(color: str, fmt: str) -> dict:
        buf = io.BytesIO()
        Image.new("RGB", (5, 4), color).save(buf, format=fmt)
        return {"bytes": buf.getvalue(), "path": None}

    ds = datasets.Dataset.from_dict(
        {"image": [encoded("red", "JPEG"), encoded("blue", "PNG")], "caption": ["Red.", "Blue."], "key": ["r/1", "b2"]},
        features=datasets.Features(
            {"image": datasets.Image(), "caption": datasets.Value("string"), "key": datasets.Value("string")}
        ),
    )
    saved = tmp_path / "saved"
    ds.save_to_disk(str(saved))
    root = tmp_path / "root"

    src = get_source("hf")(image_root=root, dataset=str(saved))
    d = src.image_dir
    assert d.startswith("hf_images/saved-") and d.endswith("/train")
    examples, rejections = run(src)
    assert rejections == []
    assert [e.source_id for e in examples] == ["0", "1"]
    assert [e.image for e in examples] == [f"{d}/0.jpg", f"{d}/1.png"]
    with Image.open(root / f"{d}/0.jpg") as im:
        assert im.format == "JPEG" and im.size == (5, 4)
    with Image.open(root / f"{d}/1.png") as im:
        assert im.format == "PNG" and im.getpixel((0, 0)) == (0, 0, 255)
    assert src.stats["images_written"] == 2

    # A second run re-uses the files (same mtime, nothing written).
    mtime = (root / f"{d}/0.jpg").stat().st_mtime_ns
    again = get_source("hf")(image_root=root, dataset=str(saved))
    assert [e.image for e in run(again)[0]] == [f"{d}/0.jpg", f"{d}/1.png"]
    assert again.stats["images_reused"] == 2 and again.stats["images_written"] == 0
    assert (root / f"{d}/0.jpg").stat().st_mtime_ns == mtime

    # Ids from a column are made file-name safe (and kept distinct).
    keyed = get_source("hf")(image_root=root, dataset=str(saved), id_column="key")
    images = [e.image for e in run(keyed)[0]]
    assert images[1] == f"{d}/b2.png"
    assert images[0].startswith(f"{d}/r_1-") and "/" not in images[0][len(d) + 1 :]

    # Embedded images need an image root.
    with pytest.raises(ConfigError, match="--image-root"):
        run(get_source("hf")(dataset=str(saved)))


def test_hf_wrong_column_lists_columns(offline, tmp_path):
    saved = tmp_path / "saved"
    offline.Dataset.from_dict({"image": ["a.jpg"], "sentences": ["A thing."]}).save_to_disk(str(saved))
    with pytest.raises(ConfigError) as err:
        run(get_source("hf")(image_root=tmp_path, dataset=str(saved), caption_column="text"))
    message = str(err.value)
    assert "'text'" in message and "image" in message and "sentences" in message
    # The default caption column is also checked when no question/answer columns are set.
    with pytest.raises(ConfigError, match="sentences"):
        run(get_source("hf")(image_root=tmp_path, dataset=str(saved)))
    examples, _ = run(get_source("hf")(image_root=tmp_path, image_check="off", dataset=str(saved), caption_column="sentences"))
    assert [e.slots for e in examples] == [{"caption": "A thing."}]


def test_hf_unknown_split_of_saved_dataset_dict(offline, tmp_path):
    saved = tmp_path / "dd"
    offline.DatasetDict({"validation": offline.Dataset.from_dict({"image": ["a.jpg"], "caption": ["x"]})}).save_to_disk(
        str(saved)
    )
    with pytest.raises(ConfigError, match="validation"):
        run(get_source("hf")(image_root=tmp_path, dataset=str(saved)))
    examples, _ = run(get_source("hf")(image_root=tmp_path, image_check="off", dataset=str(saved), split="validation"))
    assert [(e.split, e.image) for e in examples] == [("validation", "a.jpg")]


def test_hf_unreachable_hub_suggests_local_path(offline, tmp_path):
    src = get_source("hf")(image_root=tmp_path, dataset="nlphuji/flickr30k")
    with pytest.raises(SourceFormatError) as err:
        run(src)
    message = str(err.value)
    assert "nlphuji/flickr30k" in message and "could not be loaded" in message
    assert "unreachable" in message and "local path" in message and "save_to_disk" in message
