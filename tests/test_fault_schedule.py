"""The seeded kill -9 schedule: every command killed between two durable steps, then run again.

A seeded RNG draws kill points (``POLYMIX_KILL_AT``, see ``polymix/faults.py``) from the points an
uninterrupted run passes, over prepare, prepare --overwrite, translate, build-mix and train.
Each killed command (SIGKILL, the signal of ``kill -9``) leaves a state that a reader must either
accept as a finished mix or refuse in one line (a clear error); run again, the command must give
exactly the rows (or, for train, the weights and metric lines) of the uninterrupted run. It prints

    faults=<n> identical=<n> clear_errors=<n> tracebacks=0 lost_rows=0
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys

import polars as pl
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from polymix import integrity, shards
from polymix.cli import app
from polymix.training import checkpoint, metrics_log

pytestmark = pytest.mark.slow
SEED = 14
KILLS = {"prepare": 8, "overwrite": 4, "translate": 4, "build-mix": 2, "train": 2}  # 20 kill points
SHAPES = ["--source", "shapes", "--chunk-size", "10", "-q"]
TOY = ["--model", "toy", "--langs", "de,fr", "--distribution", "uniform", "--english-share", "0.25", "--lid-processes", "1", "-q"]
TRAIN = [
    "--config",
    "tiny",
    "--set",
    "stages.0.steps=2",
    "--set",
    "stages.1.steps=3",
    "--set",
    "train.save_every=1",
    "--set",
    "train.log_every=1",
    "--set",
    "train.eval_every=-1",
    "--set",
    "train.batch_size=4",
    "--set",
    "train.effective_batch_size=4",
    "--set",
    "data.shuffle_buffer=64",
    "--set",
    "train.keep_checkpoints=0",
]


def _run(args, env, kill_at=0, count_file=None):
    env = {**env, "POLYMIX_KILL_AT": str(kill_at)}
    if count_file:
        env["POLYMIX_KILL_COUNT"] = str(count_file)
    return subprocess.run(
        [sys.executable, "-m", "polymix.cli", *map(str, args)], env=env, capture_output=True, text=True, timeout=300
    )


def _rows(mix):
    kept = shards.scan(mix).collect().with_columns(pl.lit(None, pl.String).alias("reason"))
    return pl.concat([kept, shards.scan(mix, rejected=True).collect()]).sort("id", "lang")


class Tally:
    def __init__(self):
        self.faults = self.identical = self.clear_errors = self.tracebacks = self.lost_rows = 0

    def line(self) -> str:
        return (
            f"faults={self.faults} identical={self.identical} clear_errors={self.clear_errors} "
            f"tracebacks={self.tracebacks} lost_rows={self.lost_rows}"
        )


def _probe(mix, tally):
    """What a reader makes of a killed build: a finished mix, or one line naming what is wrong."""
    result = CliRunner().invoke(app, ["inspect", str(mix), "--samples", "0"])
    tally.tracebacks += "Traceback" in result.output or not isinstance(result.exception, (SystemExit, type(None)))
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    if result.exit_code == 2 and len(errors) == 1:
        tally.clear_errors += 1
    else:
        assert result.exit_code == 0 and integrity.verify(mix) == [], result.output


def _same_mix(mix, reference, tally):
    want, got = _rows(reference), _rows(mix)
    tally.lost_rows += len(set(want["id"] + want["lang"]) - set(got["id"] + got["lang"]))
    tally.identical += (
        integrity.verify(mix) == []
        and got.drop("lid_score").equals(want.drop("lid_score"))
        and got["lid_score"].fill_null(-1).round(6).equals(want["lid_score"].fill_null(-1).round(6))
    )


def _same_training(out, reference, tally):
    a, b = (
        load_file(checkpoint.latest(reference) / "trainable.safetensors"),
        load_file(checkpoint.latest(out) / "trainable.safetensors"),
    )
    keys = ("step", "stage", "loss", "grad_norm", "lr", "samples", "bad_images")
    lines = lambda o: [{k: r.get(k) for k in keys} for r in metrics_log.read(o)]  # noqa: E731
    tally.identical += a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a) and lines(out) == lines(reference)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    tiny = tmp_path_factory.getbasetemp() / "polymix-tiny-models"
    base = {
        **os.environ,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "OMP_NUM_THREADS": "1",
        "POLYMIX_TINY_CACHE": str(tiny),
        "POLYMIX_CACHE": str(tmp_path_factory.mktemp("cache")),
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    with prefect_test_harness(server_startup_timeout=120):  # build-mix runs report here instead of starting a server each
        yield {**base, "PREFECT_API_URL": PREFECT_API_URL.value()}


def test_seeded_kill_schedule_reruns_equal_an_uninterrupted_run(env, tmp_path, capsys):
    rng = random.Random(SEED)
    tally = Tally()
    english = tmp_path / "english"
    reference = {
        "prepare": (lambda out: ["prepare", *SHAPES, "-o", "count=12", "--out", out], english),
        "overwrite": (lambda out: ["prepare", *SHAPES, "-o", "count=8", "--overwrite", "--out", out], tmp_path / "overwritten"),
        "translate": (
            lambda out: ["translate", "--in", english, "--out", out, *TOY, "--cache", f"{out}.sqlite"],
            tmp_path / "mix",
        ),
        "build-mix": (
            lambda out: [
                "build-mix",
                "--out",
                out,
                "--model",
                "toy",
                "--langs",
                "de,fr",
                "--set",
                "chunk_size=10",
                "--set",
                "sources=[{name: shapes, options: {count: 6}}]",
                "--set",
                "cache=none",
                "--set",
                "max_workers=1",
            ],
            tmp_path / "built",
        ),
        "train": (lambda out: ["train", *TRAIN, "--data", tmp_path / "mix", "--output-dir", out], tmp_path / "run"),
    }
    counts = {}
    for name, (args, out) in reference.items():
        if name == "overwrite":
            shutil.copytree(english, out)
        done = _run(args(out), env, count_file=tmp_path / f"{name}.count")
        assert done.returncode == 0, done.stderr[-3000:]
        counts[name] = int((tmp_path / f"{name}.count").read_text())

    for name, k in KILLS.items():
        args, ref = reference[name]
        for n, point in enumerate(sorted(rng.sample(range(1, counts[name] + 1), k))):
            out = tmp_path / f"{name}-{n}"
            if name == "overwrite":  # the mix that --overwrite replaces: whole until the new one is swapped in
                shutil.copytree(english, out)
            killed = _run(args(out), env, kill_at=point)
            assert killed.returncode == -signal.SIGKILL, f"{name} at point {point}/{counts[name]}: {killed.stderr[-2000:]}"
            tally.faults += 1
            if name == "overwrite" and out.exists() and shards.incomplete(out) is None:
                whole = _rows(out)  # the old mix, or the new one complete: never a mixture
                assert whole.equals(_rows(english)) or whole.equals(_rows(ref)), f"overwrite killed at {point}"
            if name != "train":
                _probe(out, tally)
            resume = ["--resume"] if name == "train" and checkpoint.latest(out) is not None else []
            again = _run(args(out) + resume, env)
            tally.tracebacks += "Traceback" in again.stderr
            assert again.returncode == 0, f"{name} re-run after a kill at point {point}: {again.stderr[-3000:]}"
            (_same_training if name == "train" else _same_mix)(out, ref, tally)

    with capsys.disabled():
        print(f"\nkill schedule (seed {SEED}, points per run {counts}): {tally.line()}")
    assert tally.faults >= 20 and tally.identical == tally.faults
    assert tally.tracebacks == 0 and tally.lost_rows == 0


def _cmdline(pid) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _children(pid):
    """Pids of the processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_kill_9_of_build_mix_stops_prefects_temporary_server(tmp_path):
    import time

    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", OMP_NUM_THREADS="1", PREFECT_HOME=str(tmp_path / "prefect"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "polymix.cli",
            "build-mix",
            "--out",
            str(tmp_path / "built"),
            "--model",
            "toy",
            "--langs",
            "de",
            "--set",
            "sources=[{name: shapes, options: {count: 3}}]",
            "--set",
            "cache=none",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline, server = time.time() + 120, None
    while time.time() < deadline and proc.poll() is None and server is None:
        time.sleep(0.2)
        server = next((c for c in _children(proc.pid) if b"uvicorn" in _cmdline(c)), None)
        if server is not None and len(_children(proc.pid)) < 2:
            server = None  # the watchdog is not up yet
    assert server is not None, "the temporary server did not start"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 20
    while time.time() < deadline and b"uvicorn" in _cmdline(server):
        time.sleep(0.2)
    assert b"uvicorn" not in _cmdline(server), "Prefect's temporary server outlived the killed build-mix"
