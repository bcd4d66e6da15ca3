"""Defaults by device (translate/device.py) and the decoding pipeline's timing (translate/pipeline.py)."""

from __future__ import annotations

import threading
import time

import pytest

from polymix.translate import device as D
from polymix.translate.nllb import RuntimeSettings
from polymix.translate.pipeline import CallTiming, DecodePool

GIB = 1 << 30
CUDA_TYPES = {"float32", "float16", "bfloat16", "int8", "int8_float16", "int8_float32", "int8_bfloat16"}
CPU_TYPES = {"float32", "int8", "int8_float32"}
H100 = D.Hardware("cuda", 1, (79 * GIB,), 16)


def test_cpu_keeps_the_measured_cpu_defaults():
    c = D.choose(D.Hardware("cpu", cores=2), RuntimeSettings(), supported=CPU_TYPES)
    assert (c.device, c.quantization, c.compute_type, c.max_batch_tokens, c.replicas, c.threads) == (
        "cpu",
        "int8",
        "int8",
        4096,
        2,
        1,
    )
    big = D.choose(D.Hardware("cpu", cores=16), RuntimeSettings(), supported=CPU_TYPES)
    assert (big.replicas, big.threads, big.workers) == (4, 4, 4)
    # float weights on CPU compute in float32
    assert D.choose(D.Hardware("cpu", cores=2), RuntimeSettings(), "float16", supported=CPU_TYPES).compute_type == "float32"


def test_a_big_gpu_gets_float16_every_gpu_two_replicas_and_the_measured_budget():
    two = D.Hardware("cuda", 2, (79 * GIB, 70 * GIB), 16)
    c = D.choose(two, RuntimeSettings(), supported=CUDA_TYPES)
    assert (c.quantization, c.compute_type, c.device_index, c.replicas, c.max_batch_tokens) == (
        "float16",
        "float16",
        (0, 1),
        2,
        16384,
    )
    assert c.workers == 4 and c.threads == 4
    assert "float16" in c.describe() and "GiB free" in c.describe()
    # int8 weights (a converted folder) compute in int8_float16
    assert D.choose(H100, RuntimeSettings(), "int8", supported=CUDA_TYPES).compute_type == "int8_float16"


def test_smaller_gpus_get_fewer_replicas_then_smaller_batches():
    weights = 2740 * D.MIB
    mid = D.choose(D.Hardware("cuda", 1, (24 * GIB,), 8), RuntimeSettings(), weights_bytes=weights, supported=CUDA_TYPES)
    assert (mid.replicas, mid.max_batch_tokens) == (1, 16384)  # 2 x (2.7 + 16) GiB do not fit 80% of 24 GiB
    small = D.choose(D.Hardware("cuda", 1, (12 * GIB,), 8), RuntimeSettings(), weights_bytes=weights, supported=CUDA_TYPES)
    assert (small.replicas, small.max_batch_tokens) == (1, 4096)
    # the budget always fits what it claims
    for free in (6, 12, 24, 40, 80, 140):
        c = D.choose(D.Hardware("cuda", 1, (free * GIB,), 8), RuntimeSettings(), weights_bytes=weights, supported=CUDA_TYPES)
        assert (
            c.replicas * (weights + c.max_batch_tokens * D.GPU_BYTES_PER_TOKEN) <= D.GPU_MEMORY_SHARE * free * GIB
            or c.max_batch_tokens == 1024
        )
        assert c.max_batch_tokens <= D.GPU_BATCH_TOKENS


def test_explicit_values_always_win():
    asked = RuntimeSettings(
        device="cuda", device_index=(1,), compute_type="int8_float16", inter_threads=4, intra_threads=2, max_batch_tokens=32768
    )
    c = D.choose(D.Hardware("cuda", 2, (8 * GIB, 8 * GIB), 16), asked, "int8", supported=CUDA_TYPES)
    assert (c.device_index, c.compute_type, c.quantization, c.replicas, c.threads, c.max_batch_tokens) == (
        (1,),
        "int8_float16",
        "int8",
        4,
        2,
        32768,
    )
    assert "as asked" in c.describe()
    # cpu on a GPU machine, when asked
    assert D.choose(H100, RuntimeSettings(device="cpu"), supported=CPU_TYPES).quantization == "int8"


def test_free_memory_unknown_and_bad_requests():
    c = D.choose(D.Hardware("cuda", 1, (), 4), RuntimeSettings(), supported=CUDA_TYPES)
    assert (c.replicas, c.max_batch_tokens) == (1, 16384) and "unknown" in c.describe()
    with pytest.raises(ValueError, match="device_index 3: this machine has 2 GPU"):
        D.choose(D.Hardware("cuda", 2, (), 4), RuntimeSettings(device_index=(0, 3)), supported=CUDA_TYPES)
    with pytest.raises(ValueError, match="not supported on cpu"):
        D.choose(D.Hardware("cpu", cores=2), RuntimeSettings(compute_type="float16"), supported=CPU_TYPES)
    assert D.compute_type("cuda", "bfloat16", "auto", {"float16"})[0] == "default"


def test_language_id_gets_the_cores_a_gpu_translator_leaves():
    cpu = D.choose(D.Hardware("cpu", cores=2), RuntimeSettings(), supported=CPU_TYPES)
    assert D.lid_processes(cpu, 2) == 2 and D.lid_processes(cpu, 1) == 1
    gpu = D.choose(H100, RuntimeSettings(), supported=CUDA_TYPES)
    assert D.lid_processes(gpu, 16) == 14 and D.lid_processes(gpu, 4) == 2


def test_free_memory_follows_cuda_visible_devices(monkeypatch):
    """nvidia-smi lists every GPU; CTranslate2 numbers the visible ones from 0 (e.g. a Dask worker per GPU)."""
    monkeypatch.setattr(D, "_nvidia_smi_free", lambda: [10 * GIB, 20 * GIB, 30 * GIB, 40 * GIB])
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert D._free_gpu_memory(4) == (10 * GIB, 20 * GIB, 30 * GIB, 40 * GIB)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    assert D._free_gpu_memory(2) == (30 * GIB, 10 * GIB)


def test_probe_sees_this_machine():
    hw = D.probe("cpu")
    assert hw.device == "cpu" and hw.cores >= 1 and hw.gpus == 0
    with pytest.raises(ValueError, match="valid values"):
        D.probe("tpu")


def test_pool_keeps_depth_bounded_and_times_every_batch():
    active, most = [0], [0]
    lock = threading.Lock()

    def decode(batch, delay=0.01):
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(delay)
        with lock:
            active[0] -= 1
        return [x * 2 for x in batch]

    pool = DecodePool(decode, workers=2)
    started = time.perf_counter()
    got = {tag: (res, s, e) for tag, res, s, e in pool.run((k, ([k, k + 1],), {}) for k in range(10))}
    timing = CallTiming.of(2, started, time.perf_counter(), [(s, e) for _, s, e in got.values()])
    assert {k: r for k, (r, _, _) in got.items()} == {k: [2 * k, 2 * k + 2] for k in range(10)}
    assert most[0] == 2  # both workers decoded at once
    assert timing.decoding == pytest.approx(sum(e - s for _, s, e in got.values()))
    assert timing.decoding + timing.lead + timing.gaps + timing.tail == pytest.approx(2 * timing.wall)
    assert timing.decoding >= 10 * 0.01 and 0 <= timing.idle_share < 1
    pool.close()


def test_pool_raises_a_batch_error_after_the_others_came_back():
    def decode(batch):
        if batch == "bad":
            raise RuntimeError("CUDA out of memory")
        time.sleep(0.005)
        return batch

    pool = DecodePool(decode, workers=2)
    seen = []
    with pytest.raises(RuntimeError, match="out of memory"):
        for tag, *_ in pool.run((k, ("bad" if k == 3 else "ok",), {}) for k in range(8)):
            seen.append(tag)
    assert 3 not in seen
    # the pool still works afterwards
    assert [tag for tag, *_ in pool.run([(0, ("ok",), {})])] == [0]
    pool.close()


def test_the_cli_prints_the_choice_once_and_refuses_an_unsupported_compute_type(tmp_path):
    from typer.testing import CliRunner

    from polymix.cli import app

    runner = CliRunner()
    english = tmp_path / "english"
    assert runner.invoke(app, ["prepare", "--out", str(english), "-o", "count=4", "--quiet"]).exit_code == 0
    args = [
        "translate",
        "--in",
        str(english),
        "--model",
        "toy",
        "--langs",
        "de",
        "--distribution",
        "replicate",
        "--cache",
        "none",
        "--quiet",
    ]
    done = runner.invoke(app, [*args, "--out", str(tmp_path / "de")], terminal_width=300)
    assert done.exit_code == 0, done.output
    assert done.output.count("translation runtime: cpu, int8 compute") == 1 and "why:" in done.output
    bad = runner.invoke(app, [*args, "--out", str(tmp_path / "bad"), "--compute-type", "float16"], terminal_width=300)
    assert bad.exit_code == 2 and "compute_type 'float16' not supported on cpu" in bad.output


def test_the_translator_times_its_replicas(random_nllb_ct2):
    from polymix.translate import model as M
    from polymix.translate.nllb import NllbTranslator

    t = NllbTranslator(
        M.ResolvedModel(random_nllb_ct2, "tiny", "x", "float32"),
        runtime=RuntimeSettings(device="cpu", threads=2, intra_threads=1),
    )
    t.translate(["A dog runs.", "Two cats sit on a red chair in the old house.", "Why?"] * 20, "deu_Latn")
    timing = t.last_timing
    assert timing.workers == t.replicas == 2 and t.stats["batches"] >= 1
    assert timing.decoding == pytest.approx(t.stats["decode_seconds"]) and timing.decoding > 0
    assert timing.decoding + timing.lead + timing.gaps + timing.tail == pytest.approx(2 * timing.wall)


def test_closing_the_pool_joins_its_workers_and_drops_the_model_here():
    """The workers hold the CTranslate2 model; freed by a daemon thread while the interpreter shuts
    down, it can abort the process ("terminate called without an active exception", exit 134, seen
    once in bench/gpu_check.sh's dry run). close() (also run at exit) joins them and lets go of it."""
    import gc
    import weakref

    class Model:
        def translate_batch(self, batch):
            return batch

    model = Model()
    pool = DecodePool(model.translate_batch, workers=3)
    assert [tag for tag, *_ in pool.run([(0, ("x",), {})])] == [0]
    alive = weakref.ref(model)
    del model
    pool.close()
    gc.collect()
    assert not any(t.is_alive() for t in pool._executor._threads)
    assert alive() is None  # freed in this thread, not by a worker at shutdown


def test_two_chunks_at_once_translate_a_shared_string_once(random_nllb_ct2):
    """Chunks in two threads share the service: strings both need (template pieces, frequent
    answers) go to the model once; the other call waits for them."""
    from polymix.translate import model as M
    from polymix.translate.nllb import NllbTranslator
    from polymix.translate.service import TranslationService

    class Slow(NllbTranslator):  # the real translator, slowed so that the two calls overlap
        def translate(self, *args, **kwargs):
            time.sleep(0.3)
            return super().translate(*args, **kwargs)

    resolved = M.ResolvedModel(random_nllb_ct2, "tiny", "x", "float32")
    a = ["Short answer:", "yes", "A dog runs on the beach.", "What is the man holding?"]
    b = ["Short answer:", "yes", "Two cats sit on a red chair.", "What is the man holding?"]
    reference = TranslationService(NllbTranslator(resolved, runtime=RuntimeSettings(device="cpu")))
    expected = [reference.translate(a, "deu_Latn"), reference.translate(b, "deu_Latn")]
    service = TranslationService(Slow(resolved, runtime=RuntimeSettings(device="cpu")))
    got: list = [None, None]

    def run(k, texts):
        got[k] = service.translate(texts, "deu_Latn")

    threads = [threading.Thread(target=run, args=(0, a))]
    threads[0].start()
    time.sleep(0.1)  # the first call has claimed its strings
    threads.append(threading.Thread(target=run, args=(1, b)))
    threads[1].start()
    for t in threads:
        t.join()
    assert got == expected
    assert service.translator.stats["sentences"] == len(set(a) | set(b)) == 5
    assert service.totals()["translated"] == 5 and service.totals()["hits"] == 3
