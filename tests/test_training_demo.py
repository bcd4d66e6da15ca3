"""The demo that learns: scene labels, the preset, the report line, and a shortened real training."""

from __future__ import annotations

import json

import pytest

from polymix.mix.sources.shapes import caption, make_scene
from polymix.training import demo, demo_report
from polymix.training.config import load_config
from polymix.training.testing import make_mix, one_thread  # noqa: F401  (fixture)


def test_scene_labels_read_every_object_of_a_caption():
    assert demo.scene_labels("A red circle and a blue square on a white background.") == [1, 0, 1, 1, 3, 2, 0, 0]
    assert demo.scene_labels("An orange triangle, a green circle and a purple square on a gray background.") == [2, 2, 6, 3, 2, 1, 5, 2]
    assert demo.scene_labels("Nothing to see here.") is None
    for index in range(50):  # every caption the source writes parses, with as many objects as it has
        scene = make_scene(0, index)
        assert demo.scene_labels(caption(scene))[0] == len(scene.objects) - 1


def test_demo_preset_runs_both_stages_with_lora_on_cpu():
    config = load_config("demo")
    assert [s.name for s in config.stages] == ["warmup", "instruct"]
    assert config.stages[0].train == ["projection"] and "lora" in config.stages[1].train
    assert not config.train.require_cuda and config.model.quantization == "none"
    assert config.data.image_size == demo.DemoModels().image_size


def test_report_line_takes_the_minimum_over_languages(tmp_path):
    result = {"eng_Latn/vqa": {"n": 10, "exact_match": 95.0}, "eng_Latn/caption": {"n": 2, "chrf": 91.0},
              "deu_Latn/vqa": {"n": 10, "exact_match": 90.0}, "deu_Latn/caption": {"n": 2, "chrf": 85.5},
              "vqa": {"langs": 2, "exact_match": 92.5}}  # fmt: skip
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"step": 3, "loss": 1.0}) + "\n" + json.dumps({"step": 9, "eval": result}) + "\n")
    table = demo_report.per_language(demo_report.last_eval(tmp_path))
    assert demo_report.summary_line(table) == "exact_match_min=0.900 chrf_min=85.5 langs=2"


def test_report_without_an_evaluation_is_a_one_line_error(tmp_path, capsys):
    assert demo_report.main(["--run", str(tmp_path), "--data", str(tmp_path)]) == 2
    assert "no evaluation yet" in capsys.readouterr().err
