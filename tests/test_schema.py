import pyarrow as pa
import pytest

from polymix import schema


def _example(**kw):
    base = dict(source="coco", source_id="770337", split="train", image="val2014/x.jpg", task="caption")
    base.update(kw)
    return schema.Example(**base)


def test_id_is_stable_and_depends_on_source_id_task_and_language():
    a = _example()
    assert a.id == schema.make_id("coco", "770337", "caption", "eng_Latn")
    assert a.id == _example().id
    assert len({a.id, _example(task="short_caption").id, _example(source_id="1").id, a.with_lang("deu_Latn").id}) == 4
    assert a.with_lang("deu_Latn").id == schema.make_id("coco", "770337", "caption", "deu_Latn")


def test_round_trip_through_arrow_keeps_every_column():
    ex = _example(
        instruction="Caption the image.",
        target="A dog.",
        slots_en=schema.encode_slots({"caption": "A dog."}),
        answers_en=["A dog."],
        mt_model="m",
        lid_label="en",
        lid_score=0.5,
    )
    table = schema.to_table([ex, _example(source_id="2")])
    assert table.schema == schema.SCHEMA
    back = schema.from_table(table)
    assert back[0] == ex and back[0].slots == {"caption": "A dog."}
    assert back[1].mt_model is None and back[1].lid_score is None


def test_rejected_table_adds_reason_and_conform_refuses_foreign_columns():
    table = schema.to_table([_example()], reasons=["empty_text"])
    assert table.column_names == list(schema.COLUMNS) + ["reason"]
    with pytest.raises(ValueError, match="unexpected"):
        schema.conform(table)
    with pytest.raises(ValueError, match="missing"):
        schema.conform(pa.table({"id": ["x"]}))
