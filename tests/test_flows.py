"""The Prefect flows on the shapes sample with the tiny model: end to end, same rows as the plain
stages, retries, the lock, resume after SIGKILL, and a local Dask cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import polars as pl
import pytest

from polymix import integrity, shards

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _params(out, model, **kw):
    translate = dict(
        langs="de,fr",
        distribution="uniform",
        english_share=0.25,
        model=str(model),
        quantization="float32",
        cache="none",
        runtime={"device": "cpu"},
    )
    params = dict(
        sources=[{"name": "shapes", "options": {"count": 5}}], out=str(out), translate=translate, chunk_size=10, max_workers=2
    )
    params.update(kw)
    return params


def _rows(path):
    """Kept rows and rejected rows (the tiny model's output is noise, which the filter rejects)."""
    kept = pl.scan_parquet(f"{path}/**/*.parquet", hive_partitioning=True).collect()
    rejected = shards.scan(path, rejected=True).collect()
    return pl.concat([kept.with_columns(pl.lit(None, pl.String).alias("reason")), rejected]).sort("id")


def test_build_mix_flow_equals_the_plain_stages(tmp_path, random_nllb_ct2):
    from polymix.flows.build_mix import build_mix, english_folder
    from polymix.mix.prepare import PrepareSettings, prepare
    from polymix.translate.nllb import RuntimeSettings
    from polymix.translate.stage import TranslateSettings, translate_mix

    out = tmp_path / "flow" / "mix"
    result = build_mix(**_params(out, random_nllb_ct2))
    flow_rows = _rows(out)
    assert result["rows"] + result["rejected"] == flow_rows.height > 0
    assert set(flow_rows["lang"].unique()) == {"eng_Latn", "deu_Latn", "fra_Latn"}
    card = (out / "README.md").read_text()
    assert card.startswith("---") and "deu_Latn" in card and (out / "rows_per_language.png").exists()
    assert not list(out.rglob("*.tmp")) and integrity.verify(out) == []
    assert english_folder(out).is_dir() and not (out / "_english").exists()

    # the same rows from the plain functions, no Prefect
    english = tmp_path / "plain" / "english"
    prepare(PrepareSettings(source="shapes", out=english, options={"count": 5}, chunk_size=10), progress=False)
    translate_mix(
        TranslateSettings(
            input=english,
            out=tmp_path / "plain" / "mix",
            langs="de,fr",
            distribution="uniform",
            english_share=0.25,
            model=str(random_nllb_ct2),
            quantization="float32",
            cache="none",
            runtime=RuntimeSettings(device="cpu"),
        ),
        progress=False,
    )
    plain = _rows(tmp_path / "plain" / "mix")
    assert plain.equals(flow_rows)

    # a re-run skips everything and changes nothing
    again = build_mix(**_params(out, random_nllb_ct2))
    assert again["rows"] == result["rows"] and _rows(out).equals(flow_rows)


def test_a_chunk_that_fails_once_is_retried_and_a_locked_folder_is_refused(tmp_path, random_nllb_ct2, monkeypatch):
    from polymix.flows import build_mix as flows
    from polymix.translate import stage

    real = stage.run_chunk
    failures = {"shapes-000001": 1}

    def flaky(settings, chunk_id, service=None):
        if failures.get(chunk_id):
            failures[chunk_id] -= 1
            raise OSError("NFS hiccup")
        return real(settings, chunk_id, service)

    monkeypatch.setattr(stage, "run_chunk", flaky)
    out = tmp_path / "mix"
    result = flows.build_mix(**_params(out, random_nllb_ct2))
    assert failures["shapes-000001"] == 0 and result["rows"] + result["rejected"] == _rows(out).height

    with shards.BuildLock(out, "someone else"):
        with pytest.raises(shards.BuildLockedError, match="someone else"):
            flows.build_mix(**_params(out, random_nllb_ct2))


def test_a_failing_chunk_does_not_lose_the_others(tmp_path, random_nllb_ct2, monkeypatch):
    from polymix.flows import build_mix as flows
    from polymix.translate import stage

    real = stage.run_chunk

    def broken(settings, chunk_id, service=None):
        if chunk_id == "shapes-000002":
            raise ValueError("a bug, not retried")
        return real(settings, chunk_id, service)

    monkeypatch.setattr(stage, "run_chunk", broken)
    out = tmp_path / "mix"
    with pytest.raises(RuntimeError, match="shapes-000002"):
        flows.build_mix(**_params(out, random_nllb_ct2))
    done = {r["chunk"] for r in shards.read_records(out)}
    assert "shapes-000002" not in done and len(done) >= 2
    monkeypatch.setattr(stage, "run_chunk", real)
    result = flows.build_mix(**_params(out, random_nllb_ct2))
    assert result["rows"] + result["rejected"] == _rows(out).height


SIGKILL_TRANSLATE = dict(
    langs="de,fr", distribution="uniform", english_share=0.25, quantization="float32", cache="none", runtime={"device": "cpu"}
)
SIGKILL_FLOW = dict(chunk_size=8, sources=[{"name": "shapes", "options": {"count": 6}}], max_workers=1)


def _cli(out, model):
    # translation settings by their own names (the CLI puts them into the flow's `translate` parameter)
    sets = [
        arg for key, value in {**SIGKILL_TRANSLATE, **SIGKILL_FLOW}.items() for arg in ("--set", f"{key}={json.dumps(value)}")
    ]
    return [sys.executable, "-m", "polymix.cli", "build-mix", "--out", str(out), "--model", str(model), *sets]


def test_sigkill_then_rerun_gives_the_same_rows_as_an_uninterrupted_build(tmp_path, random_nllb_ct2):
    from prefect.settings import PREFECT_API_URL

    from polymix.flows.build_mix import build_mix

    reference = tmp_path / "ref" / "mix"
    build_mix(out=str(reference), translate={**SIGKILL_TRANSLATE, "model": str(random_nllb_ct2)}, **SIGKILL_FLOW)

    # the subprocesses report to the test harness's server instead of each starting their own
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_URL": PREFECT_API_URL.value()}
    out = tmp_path / "killed" / "mix"
    proc = subprocess.Popen(_cli(out, random_nllb_ct2), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    chunks = out / "_manifest" / "chunks"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and len(list(chunks.glob("*.json"))) < 2:
        time.sleep(0.02)
    assert proc.poll() is None, "the build finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(shards.read_records(out)) < len(shards.read_records(reference))
    assert not list(out.rglob("manifest.json"))  # killed before the end

    done = subprocess.run(_cli(out, random_nllb_ct2), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _rows(out).equals(_rows(reference))


def test_dask_task_runner_on_a_local_cluster(tmp_path, random_nllb_ct2):
    from distributed import LocalCluster

    from polymix.flows.build_mix import build_mix

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        out = tmp_path / "mix"
        result = build_mix(**_params(out, random_nllb_ct2, task_runner="dask", scheduler_address=cluster.scheduler_address))
    assert result["rows"] + result["rejected"] == _rows(out).height > 0
    assert integrity.verify(out) == []


def test_default_deployment_offline_falls_back_to_the_toy_model_and_keeps_its_rows(tmp_path):
    from polymix.flows.build_mix import build_mix
    from polymix.flows.serve import deployment_parameters

    from polymix.translate.stage import _SERVICES

    params = deployment_parameters("default")
    assert params["translate"]["fallback_to_toy"] is True and "model" not in params["translate"]  # the default model
    params.update(out=str(tmp_path / "mix"), sources=[{"name": "shapes", "options": {"count": 15}}])
    _SERVICES.clear()  # the fallback is announced when the translator is made: make it here
    state = build_mix(**params, return_state=True)
    result = state.result()
    assert len(result["rows_per_lang"]) >= 7  # English and at least six translated languages
    assert result["rejected"] <= 0.02 * (result["rows"] + result["rejected"])
    card = (tmp_path / "mix" / "README.md").read_text()
    assert "offline TOY model" in card

    # what the Prefect UI shows of this run: the fallback in its logs, a readable summary table
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        artifacts = {
            a.key: a
            for a in client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])))
        }
    fallback = [log for log in logs if "FALLING BACK TO THE OFFLINE TOY MODEL" in log.message]
    assert fallback and fallback[0].level == 30  # a WARNING, in this run's logs
    summary = artifacts["build-summary"].data
    assert "| translation model | **offline TOY model**" in summary and "could not be reached" in summary
    assert "{" not in summary  # a table, not a Python dict
    assert all(
        isinstance(v, int) or v == round(v, 1)
        for row in artifacts["rows-per-language"].data
        for v in (row if isinstance(row, dict) else {}).values()
        if isinstance(v, (int, float))
    )
