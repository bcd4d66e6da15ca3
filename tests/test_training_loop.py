"""The loop on the shapes shards with tiny models: learning, freezing, exact resume, export, CLI."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from polymix.training import metrics_log, random_models
from polymix.training.loop import Trainer
from polymix.training.model import group_of, trainable_state
from training_fixtures import *  # noqa: F401,F403  (fixtures)

pytestmark = pytest.mark.slow


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(before, after):
    return {k for k in before if not torch.equal(before[k], after[k])}


def _group(state_key):
    return group_of(state_key.replace(".base_layer", ""))


@pytest.fixture(scope="module")
def trained(tiny_models, shapes_mix, tmp_path_factory):
    """A few dozen steps on the shapes shards (both stages); the model before and after."""
    out = tmp_path_factory.mktemp("run")
    config = tiny_config(
        out, "stages.1.lr.lora=1e-2", "stages.1.lr.projection=3e-3", "stages.1.lr.qformer=3e-3", warmup=3, steps=30, batch=8
    )
    trainer = Trainer(config, shapes_mix)
    before = _snapshot(trainer.model)
    result = trainer.fit()
    return trainer, before, result, out


def test_loss_falls_clearly(trained):
    _, _, result, out = trained
    rows = [r for r in metrics_log.read(out) if "loss" in r]
    assert [r["step"] for r in rows] == list(range(1, 34)) and result["finished"]
    first, last = rows[0]["loss"], sum(r["loss"] for r in rows[-5:]) / 5
    assert first > 5.0 and last < first - 1.0, (first, last)
    assert {"lr", "samples_per_s", "grad_norm", "bad_images"} <= set(rows[-1]) and rows[-1]["samples_per_s"] > 0
    assert rows[0]["stage"] == "warmup" and set(rows[0]["lr"]) == {"projection"}
    assert set(rows[-1]["lr"]) == {"qformer", "query_tokens", "projection", "lora"}


def test_only_qformer_projection_and_lora_change(trained):
    trainer, before, _, _ = trained
    after = _snapshot(trainer.model)
    changed = _changed(before, after)
    assert {_group(k) for k in changed} == {"qformer", "query_tokens", "projection", "lora"}
    frozen = [k for k in before if _group(k) == "frozen"]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)  # bit-identical
    assert any(k.startswith("vision_model.") for k in frozen) and any(".base_layer." in k for k in frozen)


def test_checkpoint_holds_the_trainable_weights_only(trained):
    trainer, _, _, out = trained
    ckpt = out / "checkpoints" / "step-000033"
    assert {p.name for p in ckpt.iterdir()} >= {
        "trainable.safetensors",
        "lora",
        "optimizer.pt",
        "scheduler.pt",
        "rng-rank0.pt",
        "state.json",
        "config.yaml",
    }
    saved = load_file(str(ckpt / "trainable.safetensors"))
    assert set(saved) == set(trainable_state(trainer.model)) and not any(_group(k) == "frozen" for k in saved)
    assert (ckpt / "lora" / "adapter_config.json").exists()
    assert json.loads((ckpt / "state.json").read_text())["stage"] == 2


def test_resume_equals_an_uninterrupted_run(tiny_models, shapes_mix, tmp_path):
    def config(out):  # 2 micro-batches a step, dropout on, stage change inside the run
        return tiny_config(out, warmup=2, steps=4, batch=4, accumulation=2)

    straight = Trainer(config(tmp_path / "a"), shapes_mix)
    straight.fit()
    first = Trainer(config(tmp_path / "b"), shapes_mix)
    initial = _snapshot(first.model)
    first.fit(max_steps=2)  # stops at the end of the warm-up: only the projection has moved
    assert {_group(k) for k in _changed(initial, _snapshot(first.model))} == {"projection"}
    second = Trainer(config(tmp_path / "b"), shapes_mix, resume=True)
    second.fit(max_steps=1)
    third = Trainer(config(tmp_path / "b"), shapes_mix, resume=True)  # a checkpoint inside a stage
    assert third.state["stage"] == 1 and third.state["stage_step"] == 1 and third.state["batches"] == 6
    third.fit()
    a, b = trainable_state(straight.model), trainable_state(third.model)
    assert all(torch.equal(a[k], b[k]) for k in a)
    losses = lambda out: [r["loss"] for r in metrics_log.read(out) if "loss" in r]  # noqa: E731
    assert losses(tmp_path / "a") == losses(tmp_path / "b")


def test_decoder_only_llm_trains(tiny_models, shapes_mix, tmp_path):
    config = tiny_config(tmp_path, "model.llm=tiny:bloom", "stages.1.lr.lora=1e-2", warmup=1, steps=15, batch=8)
    Trainer(config, shapes_mix).fit()
    rows = [r for r in metrics_log.read(tmp_path) if "loss" in r]
    assert sum(r["loss"] for r in rows[-3:]) / 3 < rows[0]["loss"] - 0.5


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_8bit_llm_trains_on_cpu(tiny_models, shapes_mix, tmp_path):
    config = tiny_config(tmp_path, "model.quantization=8bit", "model.quantize_on_cpu=true", warmup=1, steps=2)
    trainer = Trainer(config, shapes_mix)
    assert trainer.built.quantization == "8bit"
    int8 = {k: v.clone() for k, v in trainer.model.state_dict().items() if v.dtype == torch.int8}
    before = _snapshot(trainer.model)
    result = trainer.fit()
    assert int8 and all(torch.equal(v, trainer.model.state_dict()[k]) for k, v in int8.items())
    assert result["finished"] and result["loss"] == result["loss"]
    assert "lora" in {_group(k) for k in _changed(before, _snapshot(trainer.model))}


def test_continue_from_a_released_blip2_checkpoint(tiny_models, shapes_mix, tmp_path):
    """Gregor/mblip-mt0-xl's layout: ViT, Q-Former, projection and LLM all come from one folder."""
    config = tiny_config(tmp_path, "model.blip2=tiny:mblip", "model.llm=tiny:mblip", "model.projection=auto", warmup=1, steps=3)
    trainer = Trainer(config, shapes_mix)
    saved = load_file(str(random_models.resolve("tiny:mblip") / "model.safetensors"))
    assert torch.equal(trainer.model.language_projection.weight, saved["language_projection.weight"])
    assert trainer.fit()["finished"]


def test_export_merges_lora_and_reloads(trained, shapes_mix, tmp_path):
    from transformers import Blip2ForConditionalGeneration

    from polymix.training.assemble import build_model
    from polymix.training.collate import Collator, to_device
    from polymix.training.data import ImageLoader, ShardStream
    from polymix.training.export import export

    trainer, _, _, out = trained
    folder = export(out / "checkpoints" / "step-000033", tmp_path / "model")
    hf, info = Blip2ForConditionalGeneration.from_pretrained(folder, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    again = build_model(tiny_config(tmp_path / "x", f"model.blip2={folder}", f"model.llm={folder}", "model.projection=auto"))
    rows = list(ShardStream(shapes_mix, again.image_processor, splits=["val"], shuffle=False, repeat=False, limit_per_group=3))
    batch = to_device(Collator(again.tokenizer, decoder_only=False, max_text_tokens=32)(rows), again.device)
    trainer.model.eval(), again.model.eval()
    with torch.no_grad():
        assert torch.allclose(trainer.model(**batch), again.model(**batch), atol=1e-5)

    # transformers alone: Blip2Processor puts num_query_tokens <image> tokens before the prompt and
    # generate() fills them with the query outputs -- the same tokens as polymix's own model.
    from PIL import Image
    from transformers import Blip2Processor

    processor = Blip2Processor.from_pretrained(folder)
    assert processor.num_query_tokens == trainer.model.num_query_tokens
    assert hf.config.image_token_index == processor.tokenizer.convert_tokens_to_ids("<image>")
    hf.eval()
    loader = ImageLoader(shapes_mix, processor.image_processor)
    for row in rows[:3]:
        image = Image.open(loader.roots[row["source"]] / row["image"]).convert("RGB")
        inputs = processor(images=image, text=row["instruction"], return_tensors="pt")
        ids = inputs["input_ids"]
        n = trainer.model.num_query_tokens
        assert (ids[0, :n] == hf.config.image_token_index).all() and hf.config.image_token_index not in ids[0, n:]
        assert (
            ids[0, n:].tolist()
            == Collator(again.tokenizer, decoder_only=False, max_text_tokens=32)._ids([row["instruction"]], True)[0]
        )
        theirs = hf.generate(**inputs, max_new_tokens=6, num_beams=1, do_sample=False)
        ours = trainer.model.generate(
            inputs["pixel_values"], ids[:, n:], torch.ones_like(ids[:, n:]), max_new_tokens=6, num_beams=1, do_sample=False
        )
        assert theirs.tolist() == ours.tolist()


def test_export_adds_an_image_row_when_the_llm_has_no_spare_one(tiny_models, shapes_mix, tmp_path, monkeypatch, caplog):
    """Llama-style vocabularies fill every embedding row: the export adds one for <image>; scores
    over the trained vocabulary stay the checkpoint's."""
    from PIL import Image
    from transformers import Blip2ForConditionalGeneration, Blip2Processor

    from polymix.training.data import ImageLoader, ShardStream
    from polymix.training.export import export

    monkeypatch.setattr(random_models, "padded_vocab", lambda n: n)
    llm = random_models.build("mt5", tmp_path / "mt5-no-spare-row")
    trainer = Trainer(tiny_config(tmp_path / "run", f"model.llm={llm}", warmup=1, steps=1), shapes_mix)
    assert trainer.fit()["finished"]
    rows = trainer.model.language_model.get_output_embeddings().weight.shape[0]
    assert rows == len(trainer.built.tokenizer)
    with caplog.at_level("WARNING", logger="polymix.training.export"):
        folder = export(tmp_path / "run" / "checkpoints" / "step-000002", tmp_path / "model")
    assert "no spare embedding row" in caplog.text
    hf = Blip2ForConditionalGeneration.from_pretrained(folder).eval()
    processor = Blip2Processor.from_pretrained(folder)
    assert hf.config.image_token_index == rows and hf.language_model.get_output_embeddings().weight.shape[0] == rows + 1

    row = next(iter(ShardStream(shapes_mix, processor.image_processor, splits=["val"], shuffle=False, repeat=False)))
    image = Image.open(ImageLoader(shapes_mix, processor.image_processor).roots[row["source"]] / row["image"]).convert("RGB")
    inputs = processor(images=image, text=row["instruction"], return_tensors="pt")
    n = trainer.model.num_query_tokens
    start = torch.tensor([[hf.config.text_config.decoder_start_token_id]])
    trainer.model.eval()
    with torch.no_grad():
        theirs = hf(**inputs, decoder_input_ids=start).logits
        embeds, mask = trainer.model._inputs(inputs["pixel_values"], inputs["input_ids"][:, n:], inputs["attention_mask"][:, n:])
        ours = trainer.model.language_model(inputs_embeds=embeds, attention_mask=mask, decoder_input_ids=start).logits
    assert theirs.shape[-1] == rows + 1 and torch.allclose(theirs[..., :rows], ours, atol=1e-5)


def test_cli_trains_evaluates_and_exports(tiny_models, shapes_mix, tmp_path, capsys):
    from polymix.training.cli import main

    out = tmp_path / "run"
    args = [
        "--config",
        "tiny",
        "--data",
        str(shapes_mix),
        "--output-dir",
        str(out),
        "--set",
        "stages.0.steps=1",
        "--set",
        "stages.1.steps=2",
        "--set",
        "eval.max_rows_per_lang=2",
        "--set",
        "eval.num_beams=2",
    ]
    assert main(args) == 0
    rows = metrics_log.read(out)
    evals = [r["eval"] for r in rows if "eval" in r]
    assert evals and {"eng_Latn/caption", "deu_Latn/vqa", "caption", "vqa"} <= set(evals[0])
    assert evals[0]["rows"] == len((out / "eval" / "step-000003.jsonl").read_text().splitlines()) == 8
    ckpt = out / "checkpoints" / "step-000003"
    assert main(["eval", "--checkpoint", str(ckpt), "--data", str(shapes_mix), "--out", str(tmp_path / "p.jsonl")]) == 0
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "model")]) == 0
    assert (tmp_path / "model" / "model.safetensors").exists()
    assert main(["--data", str(shapes_mix), "--dry-run"]) == 0  # the default preset validates on CPU too
    if not torch.cuda.is_available():
        assert main(["--data", str(shapes_mix), "--output-dir", str(tmp_path / "gpu")]) == 2
        assert "tiny.yaml" in capsys.readouterr().err


def test_ddp_on_two_cpu_processes(tiny_models, shapes_mix, tmp_path):
    """torchrun with 2 processes: DDP over gloo, disjoint data, both ranks' RNG in the checkpoint."""
    import os
    import subprocess
    import sys

    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "polymix.training",
        "--config",
        "tiny",
        "--data",
        str(shapes_mix),
        "--output-dir",
        str(out),
        "--set",
        "stages.0.steps=1",
        "--set",
        "stages.1.steps=2",
        "--set",
        "train.batch_size=4",
        "--set",
        "train.effective_batch_size=16",
        "--set",
        "eval.max_rows_per_lang=1",
        "--set",
        "eval.num_beams=1",
        "--set",
        "train.log_every=1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, "\n".join(l for l in proc.stderr.splitlines() if "warn" not in l.lower())[:3000]
    assert "4 x 2 process(es) x 2 accumulation" in proc.stderr + proc.stdout
    result = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    assert result["finished"] and result["samples"] == 3 * 16
    ckpt = out / "checkpoints" / "step-000003"
    assert (ckpt / "rng-rank0.pt").exists() and (ckpt / "rng-rank1.pt").exists()
    evals = [r["eval"] for r in metrics_log.read(out) if "eval" in r]
    assert evals and evals[0]["rows"] == 4  # 2 languages x 2 tasks x 1 row, gathered from both ranks
