"""Each benchmark from a tiny copy in its official format: loader -> prompt -> tiny model -> metric -> report.

XM3600 and MaXM rows are hand-written in their release formats; xGQA, XVNLI and MaRVL rows are
real IGLUE annotation rows (tests/data/iglue, MIT, attribution there). Images are drawn here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from polymix.training.benchmarks import evaluate, load, prompts
from polymix.training.benchmarks.base import BenchmarkError
from polymix.training.benchmarks.cli import main
from training_fixtures import *  # noqa: F401,F403  (fixtures)

IGLUE = Path(__file__).parent / "data" / "iglue"


def _draw(path: Path, seed: int) -> None:
    from PIL import Image, ImageDraw

    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", (48, 48), (255, 255, 255))
    colour = [(200, 30, 30), (30, 30, 200), (30, 160, 30)][seed % 3]
    ImageDraw.Draw(im).ellipse((8 + seed % 5, 8, 36, 40), fill=colour)
    im.save(path)


def xm3600(root: Path) -> tuple[Path, Path]:
    rows = [
        {
            "image/key": f"img{i}",
            "image/locale": "en",
            "en": {"caption": [f"a {c} circle on white", f"{c} round shape"]},
            "zh": {"caption": [f"白色背景上的{z}圆", f"一个{z}的圆"]},
        }
        for i, (c, z) in enumerate([("red", "红色"), ("blue", "蓝色"), ("green", "绿色")])
    ]
    (root / "xm").mkdir(parents=True)
    (root / "xm" / "captions.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    for i in range(3):
        _draw(root / "xm" / "images" / f"img{i}.jpg", i)
    return root / "xm" / "captions.jsonl", root / "xm" / "images"


def maxm(root: Path) -> tuple[Path, Path]:
    for lang, q in (("en", "What colour is the circle?"), ("fr", "De quelle couleur est le cercle ?")):
        anns = [
            {
                "image_id": f"img{i}",
                "image_url": "",
                "qa_pairs": [
                    {"question_id": f"{lang}-{i}", "question": q, "answers": ["Red"], "processed_answers": ["red", "dark red"]}
                ],
            }
            for i in range(2)
        ]
        (root / "maxm").mkdir(parents=True, exist_ok=True)
        (root / "maxm" / f"maxm_v1_{lang}.json").write_text(json.dumps({"annotations": anns}), encoding="utf-8")
        for i in range(2):
            _draw(root / "maxm-images" / f"img{i}.jpg", i)
    return root / "maxm", root / "maxm-images"


def iglue(root: Path, name: str) -> tuple[Path, Path]:
    data = root / name
    shutil.copytree(IGLUE / name, data)
    images = root / f"{name}-images"
    if name == "xGQA":
        paths = {q["imageId"] + ".jpg" for f in data.glob("*/test.json") for q in json.loads(f.read_text()).values()}
    elif name == "XVNLI":
        paths = {
            json.loads(line)["Flikr30kID"] + ".jpg" for f in data.glob("*/test.jsonl") for line in f.read_text().splitlines()
        }
    else:
        rows = [json.loads(line) for f in data.glob("*.jsonl") for line in f.read_text(encoding="utf-8").splitlines()]
        paths = {f"{r['language']}/images/{r['concept']}/{r[k]}" for r in rows for k in ("left_img", "right_img")}
    for n, p in enumerate(sorted(paths)):
        _draw(images / p, n)
    return data, images


CASES = {  # benchmark: (builder, languages of the tiny copy, items per language)
    "xm3600": (xm3600, ["en", "zh"], 3),  # CIDEr: PTB tokenizer in Java, spaCy for zh
    "maxm": (maxm, ["en", "fr"], 2),
    "xgqa": (lambda r: iglue(r, "xGQA"), ["de", "zh"], 3),
    "xvnli": (lambda r: iglue(r, "XVNLI"), ["en", "fr"], 4),
    "marvl": (lambda r: iglue(r, "marvl"), ["id", "zh"], 3),
}


@pytest.fixture(scope="module")
def tiny_mblip(tiny_models):
    from polymix.training.benchmarks.runner import load_model

    return load_model("tiny:mblip", preset="tiny")


def test_official_rows_become_items_with_mblips_prompts(tmp_path):
    data, images = iglue(tmp_path, "XVNLI")
    items = load("xvnli", data, images, ["fr"])["fr"]
    assert [i.references[0] for i in items] == ["no", "maybe", "maybe", "yes"]  # contradiction/neutral/entailment
    assert (
        prompts.get("xvnli").render(items[1].slots)
        == 'Is it guaranteed true that "Il lit le journal."? Yes, no, or maybe? Answer in English:'
    )
    data, images = iglue(tmp_path, "marvl")
    pair = load("marvl", data, images, ["zh"])["zh"][0]
    assert len(pair.images) == 2 and pair.references == ("no",) and "/zh/images/82-铅笔/82-6.jpg" in pair.images[0]
    data, images = iglue(tmp_path, "xGQA")
    q = load("xgqa", data, images, ["de"])["de"][1]
    assert prompts.get("xgqa.v1").render(q.slots) == "Question: Woraus besteht der Bürgersteig? Short answer in English:"
    assert q.references == ("concrete",)
    data, images = maxm(tmp_path)
    assert prompts.get("maxm").render(load("maxm", data, images, ["fr"])["fr"][0].slots).endswith("Short answer in French:")


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "xm3600" else n for n in CASES])
def test_benchmark_end_to_end_with_a_tiny_model(name, tiny_mblip, tmp_path):
    build, langs, per_lang = CASES[name]
    data, images = build(tmp_path)
    results = evaluate.run(tiny_mblip, name, data, images, tmp_path / "out", langs=langs, batch_size=2)
    (table,) = results["tables"]
    assert sorted(table["languages"]) == sorted(langs) and all(r["n"] == per_lang for r in table["languages"].values())
    assert all(0.0 <= r["score"] <= (1000.0 if name == "xm3600" else 100.0) for r in table["languages"].values())
    for lang in langs:  # the score is the metric of the written predictions, recomputed here
        rows = [json.loads(line) for line in (tmp_path / "out" / "predictions" / f"{lang}.jsonl").read_text().splitlines()]
        bench = evaluate.get(name)
        items = load(name, data, images, [lang])[lang]
        assert [r["id"] for r in rows] == [i.id for i in items]
        assert bench.score([r["prediction"] for r in rows], items) == pytest.approx(table["languages"][lang]["score"])
    md = (tmp_path / "out" / "results.md").read_text()
    assert f"## {name}" in md and "**average**" in md and (tmp_path / "out" / "results.png").stat().st_size > 1000
    assert results["prompt"] == f"{name}.v1" and results["generation"]["num_beams"] == 5


def test_two_images_give_both_images_query_tokens_side_by_side(tiny_mblip):
    model = tiny_mblip.built.model
    left, right = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        pair = model.image_embeds(torch.stack([left, right], dim=1))
        assert pair.shape[1] == 2 * model.num_query_tokens
        assert torch.allclose(pair, torch.cat([model.image_embeds(left), model.image_embeds(right)], dim=1), atol=1e-6)


def test_a_rerun_reuses_finished_languages_and_refuses_other_settings(tiny_mblip, tmp_path, monkeypatch):
    from polymix.training.benchmarks import runner

    data, images = maxm(tmp_path)
    first = evaluate.run(tiny_mblip, "maxm", data, images, tmp_path / "out", langs=["en", "fr"], batch_size=4)
    monkeypatch.setattr(runner, "generate", lambda *a, **k: pytest.fail("a finished language was generated again"))
    assert evaluate.run(tiny_mblip, "maxm", data, images, tmp_path / "out", langs=["en", "fr"])["tables"] == first["tables"]
    with pytest.raises(BenchmarkError, match="limit"):
        evaluate.run(tiny_mblip, "maxm", data, images, tmp_path / "out", langs=["en"], limit=1)


def test_generation_batch_is_halved_when_gpu_memory_runs_out(tiny_mblip, monkeypatch):
    from polymix.training.benchmarks import runner

    seen = []

    def fake(loaded, prompts, items, generation):  # stands in for a GPU that fits 2 items
        seen.append(len(items))
        if len(items) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return [f"p{len(seen)}-{i}" for i in range(len(items))]

    monkeypatch.setattr(runner, "generate_batch", fake)
    out = runner.generate(tiny_mblip, ["q"] * 5, [None] * 5, runner.Generation(), batch_size=8)
    assert len(out) == 5 and seen == [5, 4, 2, 2, 1]


def test_missing_files_and_images_are_named(tmp_path, capsys):
    data, images = iglue(tmp_path, "xGQA")
    assert main(["--benchmark", "xgqa", "--data", str(data), "--images", str(images), "--model", "x", "--langs", "ko"]) == 2
    assert f"{data}/ko/test.json not found" in capsys.readouterr().err
    (images / "n406334.jpg").unlink()
    assert main(["--benchmark", "xgqa", "--data", str(data), "--images", str(images), "--model", "x", "--langs", "de"]) == 2
    err = capsys.readouterr().err
    assert "1 images not found" in err and "n406334.jpg" in err and "GQA images" in err
    assert main(["--benchmark", "xgqa", "--data", str(data), "--images", str(images), "--model", "x", "--langs", "xx"]) == 2
    assert "bn,de,en,id,ko,pt,ru,zh" in capsys.readouterr().err
    assert main(["--benchmark", "xvnli", "--data", str(tmp_path / "nope"), "--images", str(images), "--model", "x"]) == 2
    assert "XVNLI/annotations" in capsys.readouterr().err
    _draw(images / "n406334.jpg", 0)
    assert (
        main(["--benchmark", "xgqa", "--data", str(data), "--images", str(images), "--model", "out/no/run", "--langs", "de"]) == 2
    )
    assert "--model out/no/run: no such folder" in capsys.readouterr().err


def test_report_puts_published_numbers_beside_ours(monkeypatch, tmp_path):
    from polymix.training.benchmarks import report

    published = {"model": "mBLIP mT0-XL", "source": "a table", "scores": {"xgqa": {"de": 40.0, "en": 50.0}}}
    monkeypatch.setattr(report, "published", lambda name="mblip-mt0-xl": published)
    t = report.table("xgqa", "accuracy", {"de": (10, 30.0), "en": (10, 60.0), "zh": (10, 20.0)})
    assert t["languages"]["de"] == {"n": 10, "score": 30.0, "mblip": 40.0} and t["languages"]["zh"]["mblip"] is None
    assert t["average"] == pytest.approx(110 / 3) and t["average_non_en"] == pytest.approx(25.0)
    assert t["mblip_average"] is None  # not every language published: no average to compare
    results = {"benchmark": "xgqa", "model": "m", "prompt": "xgqa.v1", "generation": {}, "tables": [t], "compare": published}
    paths = report.write(results, tmp_path)
    md = paths["markdown"].read_text()
    assert "| de | 10 | 30.00 | 40.00 |" in md and "| zh | 10 | 20.00 | n/a |" in md and "numbers: a table." in md
    assert json.loads(paths["json"].read_text())["tables"][0]["average"] == pytest.approx(110 / 3)
    assert paths["chart"].stat().st_size > 1000


@pytest.mark.slow
def test_mix_keeps_train_evals_scores_under_the_same_output(tiny_models, shapes_mix, tmp_path, capsys):
    from polymix.training.benchmarks.runner import load_model
    from polymix.training.evaluate import evaluate as train_eval

    args = [
        "--benchmark",
        "mix",
        "--data",
        str(shapes_mix),
        "--model",
        "tiny:mblip",
        "--config",
        "tiny",
        "--limit",
        "2",
        "--langs",
        "en,de",
        "--set",
        "eval.num_beams=2",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(args) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    loaded = load_model("tiny:mblip", "tiny", ["eval.max_rows_per_lang=2", "eval.num_beams=2", "eval.langs=[eng_Latn,deu_Latn]"])
    direct = train_eval(loaded.built, loaded.config, shapes_mix)
    tables = {(t["name"], t["metric"]): t for t in results["tables"]}
    assert ("caption", "cider") in tables and ("vqa", "exact_match") in tables
    assert sorted(tables[("caption", "cider")]["languages"]) == ["deu_Latn", "eng_Latn"]
    for key, value in direct.items():
        if "/" in key:
            lang, task = key.split("/")
            for metric in (m for m in value if m != "n"):
                assert tables[(task, metric)]["languages"][lang]["score"] == pytest.approx(value[metric])
    assert "caption cider: average" in capsys.readouterr().out


@pytest.mark.slow
def test_a_run_folder_and_its_checkpoint_load_the_trained_weights(tiny_models, shapes_mix, tmp_path):
    from safetensors.torch import load_file

    from polymix.training.benchmarks.runner import load_model
    from polymix.training.loop import Trainer

    run = tmp_path / "run"
    Trainer(tiny_config(run, warmup=1, steps=1, batch=2), shapes_mix).fit()
    ckpt = sorted((run / "checkpoints").glob("step-*"))[-1]
    by_run, by_ckpt = load_model(str(run)), load_model(str(ckpt))
    assert (by_run.kind, by_ckpt.kind) == ("run", "checkpoint")
    saved = load_file(str(ckpt / "trainable.safetensors"))
    params = dict(by_run.built.model.named_parameters())
    assert all(torch.equal(params[k], v) for k, v in saved.items())
    data, images = iglue(tmp_path, "XVNLI")
    results = evaluate.run(by_ckpt, "xvnli", data, images, tmp_path / "out", langs=["en"], limit=2)
    assert results["model_kind"] == "checkpoint" and results["tables"][0]["languages"]["en"]["n"] == 2


def test_decoder_only_llm_answers_a_benchmark(tiny_models, tmp_path):
    from polymix.training.benchmarks.runner import load_model

    loaded = load_model("tiny:blip2", "tiny", ["model.llm=tiny:bloom", "model.projection=new"])
    assert loaded.built.model.decoder_only
    data, images = iglue(tmp_path, "marvl")
    results = evaluate.run(loaded, "marvl", data, images, tmp_path / "out", langs=["id"], batch_size=2)
    rows = (tmp_path / "out" / "predictions" / "id.jsonl").read_text().splitlines()
    assert len(rows) == 3 == results["tables"][0]["languages"]["id"]["n"]


def test_polymix_eval_is_a_command_of_the_cli(tmp_path):
    from typer.testing import CliRunner

    from polymix.cli import app

    result = CliRunner().invoke(app, ["eval", "--help"])
    text = " ".join(result.output.replace("│", " ").split())  # rich wraps the help to the terminal
    assert result.exit_code == 0 and "which benchmark: xm3600, xgqa, maxm, xvnli, marvl, mix" in text
    assert "IGLUE's datasets/XVNLI/annotations" in text  # where each benchmark's files come from
    result = CliRunner().invoke(app, ["eval", "--benchmark", "maxm", "--data", str(tmp_path), "--model", "m"])
    assert result.exit_code == 2 and "--images is required for maxm" in result.output
    assert "eval" in CliRunner().invoke(app, ["--help"]).output
