"""The coco, vqav2 and aokvqa sources, on small files in the official formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from polymix.schema import Example
from polymix.mix.sources.base import ConfigError, Rejection, SourceFormatError, get_source, option_help
from polymix.mix.sources.vqav2 import most_frequent_answer


def write_image(root: Path, rel: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (200, 30, 30)).save(path, format="JPEG")


def write_corrupt(root: Path, rel: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8 definitely not a jpeg")


def write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def run(source, tasks=None):
    out = list(source.examples(tasks=tasks))
    assert all(isinstance(o, (Example, Rejection)) for o in out)
    return [o for o in out if isinstance(o, Example)], [o for o in out if isinstance(o, Rejection)]


# -- coco --------------------------------------------------------------------------------------
def karpathy(tmp_path: Path) -> Path:
    def img(filepath, filename, split, cocoid, sentences):
        entry = {
            "filename": filename,
            "imgid": cocoid,
            "split": split,
            "cocoid": cocoid,
            "sentids": [s for s, _ in sentences],
            "sentences": [{"raw": raw, "sentid": s, "tokens": raw.split()} for s, raw in sentences],
        }
        if filepath is not None:
            entry["filepath"] = filepath
        return entry

    write_image(tmp_path, "val2014/COCO_val2014_000000391895.jpg")
    write_image(tmp_path, "train2014/COCO_train2014_000000000009.jpg")
    write_image(tmp_path, "val2014/COCO_val2014_000000000042.jpg")
    write_image(tmp_path, "flat.jpg")
    write_corrupt(tmp_path, "train2014/COCO_train2014_000000000666.jpg")
    data = {
        "dataset": "coco",
        "images": [
            img(
                "val2014",
                "COCO_val2014_000000391895.jpg",
                "test",
                391895,
                [(770337, "  A man with a red helmet on a small moped.\n"), (771687, "Man riding a motor bike.")],
            ),
            img("train2014", "COCO_train2014_000000000009.jpg", "train", 9, [(1, "A plate of food.")]),
            img("val2014", "COCO_val2014_000000000042.jpg", "restval", 42, [(2, "A dog on a couch.")]),
            img(None, "flat.jpg", "train", 7, [(3, "A flat image.")]),
            img("val2014", "COCO_val2014_000000000404.jpg", "val", 404, [(4, "Missing image.")]),
            img("train2014", "COCO_train2014_000000000666.jpg", "train", 666, [(5, "Corrupt image.")]),
        ],
    }
    return write_json(tmp_path / "dataset_coco.json", data)


def test_coco_karpathy(tmp_path):
    src = get_source("coco")(image_root=tmp_path, path=str(karpathy(tmp_path)))
    examples, rejections = run(src)
    assert [e.source_id for e in examples] == ["770337", "771687", "1", "2", "3"]
    first = examples[0]
    assert first.source == "coco" and first.task == "caption" and first.split == "test"
    assert first.image == "val2014/COCO_val2014_000000391895.jpg"
    assert first.slots == {"caption": "A man with a red helmet on a small moped."}
    assert first.answers_en == ["A man with a red helmet on a small moped."]
    assert [e.split for e in examples] == ["test", "test", "train", "restval", "train"]
    assert examples[-1].image == "flat.jpg"  # no filepath: filename alone
    assert sorted((r.item.source_id, r.reason) for r in rejections) == [("4", "missing_image"), ("5", "bad_image")]
    assert src.stats["rejected_missing_image"] == 1 and src.stats["rejected_bad_image"] == 1
    assert src.stats["items"] == 7 and src.stats["examples_caption"] == 5


def test_coco_karpathy_split_filter_and_tasks(tmp_path):
    path = str(karpathy(tmp_path))
    src = get_source("coco")(image_root=tmp_path, path=path, split="train,restval")
    examples, rejections = run(src, tasks=["caption", "short_caption"])
    assert {e.split for e in examples} == {"train", "restval"}
    assert [(e.source_id, e.task) for e in examples] == [
        ("1", "caption"),
        ("1", "short_caption"),
        ("2", "caption"),
        ("2", "short_caption"),
        ("3", "caption"),
        ("3", "short_caption"),
    ]
    assert [r.reason for r in rejections] == ["bad_image", "bad_image"]
    with pytest.raises(ConfigError, match="trian"):
        run(get_source("coco")(image_root=tmp_path, path=path, split="trian"))
    with pytest.raises(ConfigError, match="vqa"):
        get_source("coco")(image_root=tmp_path, path=path).check_tasks(["vqa"])


def official(tmp_path: Path, name: str = "captions_val2014.json", image_id: int = 391895) -> Path:
    write_image(tmp_path / "val2014", "COCO_val2014_000000391895.jpg")
    data = {
        "info": {},
        "licenses": [],
        "images": [
            {"id": 391895, "file_name": "COCO_val2014_000000391895.jpg", "height": 8, "width": 8},
            {"id": 522418, "file_name": "COCO_val2014_000000522418.jpg", "height": 8, "width": 8},
        ],
        "annotations": [
            {"id": 770337, "image_id": 391895, "caption": "A man riding a moped. "},
            {"id": 771687, "image_id": image_id, "caption": "Man on a bike."},
            {"id": 12, "image_id": 522418, "caption": "A woman cutting a cake."},
        ],
    }
    return write_json(tmp_path / name, data)


def test_coco_official(tmp_path):
    src = get_source("coco")(image_root=tmp_path / "val2014", path=str(official(tmp_path)))
    examples, rejections = run(src)
    assert [(e.source_id, e.split, e.image, e.slots["caption"]) for e in examples] == [
        ("770337", "val", "COCO_val2014_000000391895.jpg", "A man riding a moped."),
        ("771687", "val", "COCO_val2014_000000391895.jpg", "Man on a bike."),
    ]
    assert [(r.item.source_id, r.reason) for r in rejections] == [("12", "missing_image")]

    # split: the option wins; a file name without a split gives "train"
    src = get_source("coco")(image_root=tmp_path / "val2014", path=str(official(tmp_path)), split="minival")
    assert {e.split for e in run(src)[0]} == {"minival"}
    other = official(tmp_path, name="my_captions.json")
    assert {e.split for e in run(get_source("coco")(image_root=tmp_path / "val2014", path=str(other)))[0]} == {"train"}


def test_coco_official_unknown_image_id(tmp_path):
    path = official(tmp_path, image_id=999)
    with pytest.raises(SourceFormatError) as err:
        run(get_source("coco")(image_root=tmp_path, path=str(path)))
    assert str(path) in str(err.value) and "999" in str(err.value)


# -- vqav2 -------------------------------------------------------------------------------------
def test_most_frequent_answer():
    assert most_frequent_answer(["net", "net", "netting", "mesh"]) == "net"
    # whitespace and case are normalised for counting; the first spelling is kept
    assert most_frequent_answer(["Two", " two ", "2", "3"]) == "Two"
    # ties: the preferred answer when tied, else the first tied in order
    assert most_frequent_answer(["yes", "no", "no", "yes"], prefer="no") == "no"
    assert most_frequent_answer(["yes", "no", "no", "yes"], prefer="maybe") == "yes"
    assert most_frequent_answer(["yes", "no", "no", "yes", "maybe"], prefer="maybe") == "yes"
    assert most_frequent_answer(["", "  "]) == ""


def vqa_files(tmp_path: Path, subtype: str = "train2014", with_annotations: bool = True):
    questions = {
        "info": {},
        "task_type": "Open-Ended",
        "data_type": "mscoco",
        "data_subtype": subtype,
        "questions": [
            {"image_id": 458752, "question": "What is this photo taken looking through?", "question_id": 458752000},
            {"image_id": 458752, "question": "Is it sunny?", "question_id": 458752001},
            {"image_id": 262146, "question": "What color is the snow?", "question_id": 262146000},
            {"image_id": 999, "question": "Where is the image?", "question_id": 999000},
        ],
    }
    qpath = write_json(tmp_path / f"v2_OpenEnded_mscoco_{subtype}_questions.json", questions)
    image_dir = "test2015" if subtype.startswith("test") else subtype
    write_image(tmp_path, f"{image_dir}/COCO_{image_dir}_000000458752.jpg")
    write_image(tmp_path, f"{image_dir}/COCO_{image_dir}_000000262146.jpg")
    if not with_annotations:
        return qpath, None

    def ann(qid, image_id, mca, answers):
        return {
            "question_id": qid,
            "image_id": image_id,
            "question_type": "what",
            "answer_type": "other",
            "multiple_choice_answer": mca,
            "answers": [{"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)],
        }

    annotations = {
        "info": {},
        "data_subtype": subtype,
        "annotations": [
            # in another order than the questions: items follow the questions file
            ann(262146000, 262146, "grey", ["White", "white ", "blue", "blue", "grey", "gray", "white", "blue", "light", "snow"]),
            ann(458752000, 458752, "net", ["net", "net", "netting", "net", "net", "mesh", "net", "net", "net", "net"]),
            ann(458752001, 458752, "no", ["yes", "no", "yes", "no", "no", "yes", "no", "yes", "no", "yes"]),
            ann(999000, 999, "park", ["park"] * 10),
        ],
    }
    return qpath, write_json(tmp_path / f"v2_mscoco_{subtype}_annotations.json", annotations)


def test_vqav2(tmp_path):
    qpath, apath = vqa_files(tmp_path)
    src = get_source("vqav2")(image_root=tmp_path, questions=str(qpath), annotations=str(apath))
    examples, rejections = run(src)
    assert [e.source_id for e in examples] == ["458752000", "458752001", "262146000"]
    net, sunny, snow = examples
    assert net.image == "train2014/COCO_train2014_000000458752.jpg" and net.split == "train"
    assert net.slots == {"question": "What is this photo taken looking through?", "answer": "net"}
    assert len(net.answers_en) == 10 and net.answers_en[2] == "netting"
    assert sunny.slots["answer"] == "no"  # 5-5 tie, multiple_choice_answer among the tied
    assert snow.slots["answer"] == "White"  # 3-3 tie white/blue, mca "grey" not tied: first tied, first spelling
    assert [(r.item.source_id, r.reason) for r in rejections] == [("999000", "missing_image")]

    examples, _ = run(src, tasks=["vqa", "vqg"])
    assert [e.task for e in examples] == ["vqa", "vqg"] * 3


def test_vqav2_test_split_without_annotations(tmp_path):
    qpath, _ = vqa_files(tmp_path, subtype="test-dev2015", with_annotations=False)
    src = get_source("vqav2")(image_root=tmp_path, questions=str(qpath))
    examples, rejections = run(src)
    assert examples == []
    assert [r.reason for r in rejections] == ["empty_text"] * 4
    assert {r.item.split for r in rejections} == {"test"}
    assert rejections[0].item.image == "test2015/COCO_test2015_000000458752.jpg"
    assert src.stats["rejected_empty_text"] == 4


def test_vqav2_mismatched_files(tmp_path):
    qpath, _ = vqa_files(tmp_path)
    other = write_json(tmp_path / "other_annotations.json", {"data_subtype": "train2014", "annotations": []})
    with pytest.raises(SourceFormatError, match="458752000"):
        run(get_source("vqav2")(image_root=tmp_path, questions=str(qpath), annotations=str(other)))


# -- aokvqa ------------------------------------------------------------------------------------
def aokvqa_files(tmp_path: Path) -> tuple[Path, Path]:
    write_image(tmp_path, "train2017/000000299207.jpg")
    write_image(tmp_path, "test2017/000000000123.jpg")
    train = [
        {
            "split": "train",
            "image_id": 299207,
            "question_id": "22MexNkBPpdZGX6sxbxVBH",
            "question": "What is the man by the bags awaiting?",
            "choices": ["skateboarder", "train", "delivery", "cab"],
            "correct_choice_idx": 3,
            "direct_answers": ["ride", "ride", "bus", "taxi", "travelling", "traffic", "taxi", "cab", "cab", "his ride"],
            "difficult_direct_answer": False,
            "rationales": ["A train would not be on the street.", "He has bags.", "x"],
        },
        # no choices: feeds vqa and vqa_rationale, not vqa_mc
        {
            "split": "train",
            "image_id": 299207,
            "question_id": "q2",
            "question": "What is on the road?",
            "direct_answers": ["car"] * 10,
            "rationales": ["Cars drive on roads."],
        },
    ]
    test = [
        {
            "split": "test",
            "image_id": 123,
            "question_id": "t1",
            "question": "What sport is this?",
            "choices": ["tennis", "golf", "polo", "chess"],
            "difficult_direct_answer": False,
        },
    ]
    return (write_json(tmp_path / "aokvqa_v1p0_train.json", train), write_json(tmp_path / "aokvqa_v1p0_test.json", test))


def test_aokvqa(tmp_path):
    train, _ = aokvqa_files(tmp_path)
    src = get_source("aokvqa")(image_root=tmp_path, path=str(train))
    examples, rejections = run(src)
    assert rejections == []
    assert [(e.source_id, e.task) for e in examples] == [
        ("22MexNkBPpdZGX6sxbxVBH", "vqa"),
        ("22MexNkBPpdZGX6sxbxVBH", "vqa_mc"),
        ("22MexNkBPpdZGX6sxbxVBH", "vqa_rationale"),
        ("q2", "vqa"),
        ("q2", "vqa_rationale"),
    ]
    first = examples[0]
    assert first.image == "train2017/000000299207.jpg" and first.split == "train"
    assert first.slots == {
        "question": "What is the man by the bags awaiting?",
        "answer": "cab",  # ride/taxi/cab tie 2-2-2: the correct choice wins
        "choices": ["skateboarder", "train", "delivery", "cab"],
        "correct_choice": "cab",
        "rationale": "A train would not be on the street.",
    }
    assert len(first.answers_en) == 10
    assert examples[3].slots["answer"] == "car" and "choices" not in examples[3].slots

    flat = get_source("aokvqa")(image_root=tmp_path / "train2017", path=str(train), coco_layout="false")
    assert run(flat, tasks=["vqa"])[0][0].image == "000000299207.jpg"


def test_aokvqa_test_split(tmp_path):
    _, test = aokvqa_files(tmp_path)
    src = get_source("aokvqa")(image_root=tmp_path, path=str(test))
    examples, rejections = run(src)
    assert examples == []  # no answer, no correct choice, no rationale
    assert all(r.reason == "empty_text" for r in rejections)
    assert "vqa_mc" not in {r.task for r in rejections}
    assert rejections[0].item.image == "test2017/000000000123.jpg"
    assert "rationale" not in rejections[0].item.slots


# -- errors ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, option, word",
    [("coco", "path", "Karpathy"), ("vqav2", "questions", "questions"), ("aokvqa", "path", "A-OKVQA")],
)
def test_missing_and_malformed_files(tmp_path, name, option, word):
    missing = tmp_path / "nope.json"
    with pytest.raises(SourceFormatError) as err:
        run(get_source(name)(image_root=tmp_path, **{option: str(missing)}))
    assert str(missing) in str(err.value) and word in str(err.value)

    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [', encoding="utf-8")
    with pytest.raises(SourceFormatError) as err:
        run(get_source(name)(image_root=tmp_path, **{option: str(broken)}))
    assert str(broken) in str(err.value) and word in str(err.value)

    wrong = write_json(tmp_path / "wrong.json", {"something": "else"} if name != "vqav2" else [1, 2])
    with pytest.raises(SourceFormatError) as err:
        run(get_source(name)(image_root=tmp_path, **{option: str(wrong)}))
    assert str(wrong) in str(err.value) and word in str(err.value)


def test_malformed_records(tmp_path):
    bad = write_json(tmp_path / "captions_train2017.json", {"images": [{"id": 1}], "annotations": []})
    with pytest.raises(SourceFormatError, match="file_name"):
        run(get_source("coco")(image_root=tmp_path, path=str(bad)))
    bad = write_json(
        tmp_path / "aok.json",
        [{"split": "train", "image_id": 1, "question_id": "a", "question": "Q?", "choices": ["a"], "correct_choice_idx": 3}],
    )
    with pytest.raises(SourceFormatError, match="correct_choice_idx"):
        run(get_source("aokvqa")(image_root=tmp_path, path=str(bad)))


def test_options(tmp_path):
    with pytest.raises(ConfigError) as err:
        get_source("coco")(image_root=tmp_path, path="x.json", splits="train")
    assert "splits" in str(err.value) and "path (required)" in str(err.value) and "split" in str(err.value)
    with pytest.raises(ConfigError, match="questions"):
        get_source("vqav2")(image_root=tmp_path)
    for name in ("coco", "vqav2", "aokvqa"):
        cls = get_source(name)
        assert cls.formats and cls.description
        assert all(help_text for _, _, help_text in option_help(cls))
