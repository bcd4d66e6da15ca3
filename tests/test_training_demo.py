"""The demo that learns: scene labels, the preset, the report line, and a shortened real training."""

from __future__ import annotations

import json

import pytest

from polymix.mix.sources.shapes import caption, make_scene
from polymix.training import demo, demo_report
from polymix.training.config import load_config
from training_fixtures import make_mix, one_thread, shapes_mix  # noqa: F401  (fixtures)


def test_scene_labels_read_every_object_of_a_caption():
    # count, background, colour/shape of objects 1-3, colour of the circle/square/triangle, rightmost shape
    assert demo.scene_labels("A red circle and a blue square on a white background.") == [1, 0, 1, 1, 3, 2, 0, 0, 1, 3, 0, 1]
    assert demo.scene_labels("An orange triangle, a green circle and a purple square on a gray background.") == [
        2,
        2,
        6,
        3,
        2,
        1,
        5,
        2,
        2,
        5,
        6,
        1,
    ]
    assert demo.scene_labels("Nothing to see here.") is None
    for index in range(50):  # every caption the source writes parses, with as many objects as it has
        scene = make_scene(0, index)
        assert demo.scene_labels(caption(scene))[0] == len(scene.objects) - 1


def test_scene_words_are_one_token_per_slot_and_answer_the_questions():
    from polymix.mix.sources.shapes import questions

    words = demo.scene_words(demo.scene_labels("A red circle and a blue square on a white background.")).split()
    assert words == [
        "count=two",
        "bg=white",
        "c1=red",
        "s1=circle",
        "c2=blue",
        "s2=square",
        "c3=none",
        "s3=none",
        "circle=red",
        "square=blue",
        "triangle=none",
        "right=square",
    ]
    assert len(set(demo.slot_tokens())) == len(demo.slot_tokens()) == sum(len(w) for w in demo.SLOT_WORDS)
    for index in range(200):  # every short answer of a scene is one slot's word
        scene = make_scene(3, index)
        slot = dict(w.split("=") for w in demo.scene_words(demo.scene_labels(caption(scene))).split())
        for q, a in questions(scene):
            shape = next((s for s in ("circle", "square", "triangle") if s in q), None)
            if q.startswith("What color is the ") and shape:
                assert slot[shape] == a
            elif q.startswith("Is there"):
                assert (slot[shape] != "none") == (a == "yes")
            elif "on the right" in q:
                assert slot["right"] == a
            elif "on the left" in q:
                assert slot["s1"] == a


def test_text_examples_repose_vqa_rows_on_fresh_scenes_with_true_answers(shapes_mix):
    import torch

    from polymix.mix.sources.shapes import SHAPES
    from polymix.training.demo_text import TextExamples

    examples = TextExamples(shapes_mix, seed=0, fresh_scenes=300)
    assert examples.question and len(examples) == len(examples.rows)
    held_out = {
        demo.scene_words(demo.scene_labels(caption(demo.scene_of(r["image"]))))
        for r in demo.mix_rows(shapes_mix, split=None)
        if r["split"] != "train"
    }
    drawn = examples.sample(400, torch.Generator().manual_seed(0))
    assert drawn == examples.sample(400, torch.Generator().manual_seed(0))  # a function of the generator's seed
    fresh = [(w, i, t) for w, i, t in drawn if w not in {r[0] for r in examples.rows}]
    assert len(fresh) > 100 and not any(w in held_out for w, _, _ in fresh)
    for words, instruction, target in fresh:  # a fresh scene's answer is the one its words give
        slot = dict(w.split("=") for w in words.split())
        question = instruction.removeprefix("[de] ")
        shape = next((s for s in SHAPES if s in question), None)
        expected = (
            slot["count"]
            if "How many" in question
            else slot["bg"]
            if "background" in question
            else slot[shape]
            if "What color" in question
            else ("yes" if slot[shape] != "none" else "no")
            if "Is there" in question
            else slot["s1"]
            if "on the left" in question
            else slot["right"]
        )
        assert target.removeprefix("[de] ") == expected, (words, instruction, target)


def test_every_short_answer_is_one_token_and_every_target_decodes_back(shapes_mix, tmp_path):
    """Spelled over pieces ("twee" as tw+e+e) the small LLM wrote "twe" and "tweee": each answer word is one
    token, and the symbols keep word starts, so captions still decode to themselves ("gelb" + "es")."""
    from polymix.training.demo_text import TextExamples
    from polymix.training.random_models import build_tokenizer

    examples = TextExamples(shapes_mix, seed=0, fresh_scenes=50)
    tokenizer = build_tokenizer(tmp_path, 400, examples.texts, symbols=demo.slot_tokens() + examples.answer_words)
    rows = demo.mix_rows(shapes_mix, split=None)
    answers = {r["target"] for r in rows if r["task"] == "vqa" and " " not in r["target"]}
    assert {"▁" + a for a in answers} <= set(examples.answer_words) and {"yes", "no", "circle", "red"} <= answers
    for answer in answers:
        assert tokenizer(answer)["input_ids"] == [tokenizer.convert_tokens_to_ids("▁" + answer), tokenizer.eos_token_id]
    for target in {r["target"] for r in rows} | {r["instruction"] for r in rows}:
        assert tokenizer.decode(tokenizer(target)["input_ids"], skip_special_tokens=True) == target


def test_short_answers_and_captions_in_two_passes_give_the_loss_of_one(shapes_mix, tmp_path):
    import torch

    from polymix.training.demo_text import TextExamples
    from polymix.training.random_models import build_tokenizer

    examples = TextExamples(shapes_mix, seed=0, fresh_scenes=50)
    tokenizer = build_tokenizer(tmp_path, 400, examples.texts, symbols=demo.slot_tokens() + examples.answer_words)
    llm, _, table = demo.pretrain_llm(examples, tokenizer, demo.DemoModels(llm_steps=1, llm_hidden=64))
    batch = examples.sample(48, torch.Generator().manual_seed(0))
    lengths = [len(tokenizer(t)["input_ids"]) for _, _, t in batch]
    assert min(lengths) <= demo.SHORT_TARGET < max(lengths)  # both passes run
    with torch.no_grad():
        two = demo.text_loss(llm, table, tokenizer, batch)
        one = demo.text_loss(llm, table, tokenizer, batch, short=10**6)
    assert torch.allclose(two[0], one[0], rtol=1e-5) and two[0] > 0
    assert two[1] == one[1] and two[2] == one[2] == sum(lengths)


def test_the_diagnosis_ceiling_is_the_share_of_held_out_answers_the_training_rows_teach(shapes_mix, tmp_path):
    import shutil

    import pyarrow.parquet as pq

    from polymix.training import demo_diagnose

    assert demo_diagnose.kind("What color is the background? Answer in a few words.") == "background"
    assert demo_diagnose.kind("What color is the circle?") == "colour" and demo_diagnose.kind("Is there a square?") == "yes/no"
    # the fake German renders every English answer one way, so a model could match every held-out answer
    assert demo_diagnose.ceiling(shapes_mix) == {"deu_Latn": 1.0, "eng_Latn": 1.0}
    # a translator that renders held-out "yes" differently caps what any model can score
    mix = tmp_path / "mix"
    shutil.copytree(shapes_mix, mix)
    for path in mix.rglob("*.parquet"):
        table = pq.read_table(path)
        rows = table.to_pylist()
        for r in rows:
            if r["split"] != "train" and r["lang"] == "deu_Latn" and r["target_en"] == "yes":
                r["target"] = "jawohl"
        pq.write_table(type(table).from_pylist(rows, schema=table.schema), path)
    _, held = demo_diagnose.held_out_vqa(mix)
    german = [r for r in held if r["lang"] == "deu_Latn"]
    taught = sum(r["target"] != "jawohl" for r in german) / len(german)
    assert demo_diagnose.ceiling(mix) == {"deu_Latn": round(taught, 3), "eng_Latn": 1.0} and taught < 1.0


def test_demo_preset_runs_both_stages_with_lora_on_cpu():
    config = load_config("demo")
    assert [s.name for s in config.stages] == ["warmup", "instruct"]
    assert config.stages[0].train == ["projection"] and "lora" in config.stages[1].train
    assert not config.train.require_cuda and config.model.quantization == "none"
    assert config.data.image_size == demo.DemoModels().image_size


def test_report_line_takes_the_minimum_over_languages(tmp_path):
    result = {
        "eng_Latn/vqa": {"n": 10, "exact_match": 95.0},
        "eng_Latn/caption": {"n": 2, "chrf": 91.0},
        "deu_Latn/vqa": {"n": 10, "exact_match": 90.0},
        "deu_Latn/caption": {"n": 2, "chrf": 85.5},
        "vqa": {"langs": 2, "exact_match": 92.5},
    }
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps({"step": 3, "loss": 1.0}) + "\n" + json.dumps({"step": 9, "eval": result}) + "\n"
    )
    table = demo_report.per_language(demo_report.last_eval(tmp_path))
    assert demo_report.summary_line(table) == "exact_match_min=0.900 chrf_min=85.5 langs=2"


def test_report_without_an_evaluation_is_a_one_line_error(tmp_path, capsys):
    assert demo_report.main(["--run", str(tmp_path), "--data", str(tmp_path)]) == 2
    assert "no evaluation yet" in capsys.readouterr().err


def _blind_exact_match(mix, lang: str) -> float:
    """Chance for VQA without the image: the most frequent training answer to the same instruction."""
    from collections import Counter, defaultdict

    rows = [r for r in demo.mix_rows(mix, split=None) if r["task"] == "vqa"]
    answers = defaultdict(Counter)
    for r in rows:
        if r["split"] == "train":
            answers[r["instruction"]][r["target"]] += 1
    held = [r for r in rows if r["split"] == "val" and r["image"] and r["instruction"] in answers]
    held = [r for r in held if r["target"] is not None and (lang == "eng_Latn") == (not r["target"].startswith("["))]
    return sum(answers[r["instruction"]].most_common(1)[0][0] == r["target"] for r in held) / max(1, len(held))


@pytest.mark.slow
def test_a_shortened_demo_training_learns_in_every_language(tmp_path):
    """The demo recipe, cut to a few minutes: well above the image-blind answer in each language."""
    from polymix.training.loop import Trainer

    mix = make_mix(tmp_path / "mix", count=200)  # English and a fake German, 64 px images
    settings = demo.DemoModels(
        llm_steps=200, llm_batch_size=256, vision_steps=500, vision_images=1500, drawn_size=64, fresh_scenes=4000
    )
    info = demo.build(mix, tmp_path / "models", settings)
    assert info["vision_scene_accuracy"] > 0.6  # the pre-trained ViT + Q-Former read scenes
    config = load_config(
        "demo",
        [
            f"model.blip2={tmp_path / 'models' / 'blip2'}",
            f"model.llm={tmp_path / 'models' / 'llm'}",
            f"train.output_dir={tmp_path / 'run'}",
            "stages.0.steps=20",
            "stages.1.steps=100",
            "eval.max_rows_per_lang=40",
        ],
    )
    assert Trainer(config, mix).fit()["finished"]
    table = demo_report.per_language(demo_report.last_eval(tmp_path / "run"))
    assert set(table) == {"eng_Latn", "deu_Latn"}
    chances = {lang: _blind_exact_match(mix, lang) for lang in table}
    print("shortened demo:", table, "image-blind:", chances)
    for lang, row in table.items():
        # chance is the best image-blind answer (~0.37); seed 0 reaches exact match deu 0.850, eng 0.900 and
        # chrF 83.1 / 86.5 (bit-for-bit repeatable: see the test below), so the bounds leave a margin
        assert row["exact_match"] >= chances[lang] + 0.15, (lang, row, chances[lang])
        assert row["chrf"] >= 70, (lang, row)  # the full demo reaches 87-96
    mean = sum(row["exact_match"] for row in table.values()) / len(table)
    assert mean >= sum(chances.values()) / len(chances) + 0.3, (table, chances)  # well above chance over the languages


def test_the_demo_repeats_bit_for_bit_from_its_seed(tmp_path):
    """Two short demo runs with one seed: the same starting models, losses, gradient norms and figures."""
    from polymix.training.loop import Trainer

    mix = make_mix(tmp_path / "mix", count=60)
    settings = demo.DemoModels(
        llm_steps=12, vision_steps=12, vision_images=96, drawn_size=64, batch_size=32, llm_batch_size=32, fresh_scenes=400
    )
    runs = []
    for k in range(2):
        info = demo.build(mix, tmp_path / f"models{k}", settings)
        config = load_config(
            "demo",
            [
                f"model.blip2={tmp_path / f'models{k}' / 'blip2'}",
                f"model.llm={tmp_path / f'models{k}' / 'llm'}",
                f"train.output_dir={tmp_path / f'run{k}'}",
                "stages.0.steps=3",
                "stages.1.steps=5",
                "train.batch_size=8",
                "train.effective_batch_size=8",
                "train.log_every=1",
                "eval.max_rows_per_lang=6",
            ],
        )
        assert Trainer(config, mix).fit()["finished"]
        rows = [json.loads(line) for line in (tmp_path / f"run{k}" / "metrics.jsonl").read_text().splitlines()]
        losses = [(r["step"], r["loss"], r["grad_norm"]) for r in rows if "loss" in r]
        runs.append((info, losses, [r["eval"] for r in rows if "eval" in r]))
    for part in ("blip2", "llm"):
        assert (tmp_path / "models0" / part / "model.safetensors").read_bytes() == (
            tmp_path / "models1" / part / "model.safetensors"
        ).read_bytes()
    assert {"ceiling", "llm_true_scene", "vision_slots"} <= set(runs[0][0])  # the build's diagnosis
    assert set(runs[0][0]["llm_true_scene"]) == {"eng_Latn", "deu_Latn"} and len(runs[0][0]["vision_slots"]) == 12
    assert len(runs[0][1]) == 8 and all(loss == loss and loss > 0 for _, loss, _ in runs[0][1])
    assert runs[0] == runs[1]
