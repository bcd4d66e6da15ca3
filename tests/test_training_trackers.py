"""Experiment trackers (``train.report_to``): accelerate's TensorBoard tracker gets what metrics.jsonl gets."""

from __future__ import annotations

import pytest

from polymix.errors import ConfigError
from polymix.training import metrics_log
from polymix.training.config import load_config
from training_fixtures import *  # noqa: F401,F403  (fixtures)


def test_unknown_or_missing_trackers_are_config_errors(monkeypatch):
    with pytest.raises(ConfigError, match=r"train.report_to \['tensorbored'\]: use accelerate's tracker names .*tensorboard"):
        load_config("tiny", ["train.report_to=[tensorbored]"])
    import accelerate.tracking

    monkeypatch.setattr(accelerate.tracking, "_available_trackers", [])  # as on an install without wandb
    with pytest.raises(ConfigError, match="wandb is not installed here \\(pip install wandb\\)"):
        load_config("tiny", ["train.report_to=[wandb]"])
    assert load_config("tiny", []).train.report_to == []  # the default: metrics.jsonl only


@pytest.mark.slow
def test_tensorboard_gets_the_logged_metrics(tiny_models, shapes_mix, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from polymix.training.loop import Trainer

    config = tiny_config(tmp_path / "run", "train.report_to=[tensorboard]", "name=tb", warmup=1, steps=3, batch=2)
    Trainer(config, shapes_mix).fit()
    logged = [r for r in metrics_log.read(tmp_path / "run") if "loss" in r]
    events = EventAccumulator(str(tmp_path / "run" / "trackers" / "tb")).Reload()
    scalars = {e.step: e.value for e in events.Scalars("loss")}
    assert sorted(scalars) == [r["step"] for r in logged] == [1, 2, 3, 4]
    assert [scalars[r["step"]] for r in logged] == pytest.approx([r["loss"] for r in logged], rel=1e-6)  # float32 there
    assert "lr/projection" in events.Tags()["scalars"] and "grad_norm" in events.Tags()["scalars"]
