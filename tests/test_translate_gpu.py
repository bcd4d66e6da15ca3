"""The translator on CUDA: the device defaults it picks there, and the same tokens as on CPU. Skipped
without a GPU that CTranslate2 sees (run by bench/gpu_check.sh on a GPU machine)."""

from __future__ import annotations

import pytest

from polymix.translate import device as D
from polymix.translate import model as M
from polymix.translate.nllb import DecodeSettings, NllbTranslator, RuntimeSettings

ctranslate2 = pytest.importorskip("ctranslate2")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(ctranslate2.get_cuda_device_count() == 0, reason="needs a CUDA GPU")]

TEXTS = [
    "The man sits on a red chair.",
    "What is the small bird holding?",
    "A cat.",
    "The old woman looks at the blue train and the young child holds a picture of two horses.",
]


def _translator(folder, quantization: str, runtime: RuntimeSettings) -> NllbTranslator:
    return NllbTranslator(M.ResolvedModel(folder, str(folder), M.fingerprint(folder), quantization), DecodeSettings(), runtime)


def test_cuda_defaults_use_every_gpu_float16_and_a_budget_from_free_memory():
    hw = D.probe()
    assert hw.device == "cuda" and hw.gpus >= 1 and len(hw.free_bytes) == hw.gpus
    choice = D.choose(hw, RuntimeSettings())
    assert choice.device_index == tuple(range(hw.gpus))
    assert (choice.quantization, choice.compute_type) == ("float16", "float16")
    assert D.MIN_GPU_BATCH_TOKENS <= choice.max_batch_tokens <= D.GPU_BATCH_TOKENS and choice.replicas in D.GPU_REPLICA_CHOICES


def test_cuda_float32_gives_the_cpu_tokens_and_float16_runs(random_nllb_ct2, random_nllb, tmp_path):
    cpu = _translator(random_nllb_ct2, "float32", RuntimeSettings(device="cpu")).translate(TEXTS, "deu_Latn")
    gpu = _translator(random_nllb_ct2, "float32", RuntimeSettings(device="cuda", compute_type="float32"))
    assert gpu.translate(TEXTS, "deu_Latn") == cpu
    assert gpu.choice.device == "cuda" and gpu.stats["decode_seconds"] > 0
    half = M.resolve(str(random_nllb), "auto", cache_dir=tmp_path)  # auto: float16 weights where a GPU is seen
    assert half.quantization == "float16"
    t = _translator(half.path, half.quantization, RuntimeSettings())
    out = t.translate(TEXTS * 50, ["deu_Latn", "fra_Latn"] * 100)
    assert len(out) == 200 and all(out) and t.choice.compute_type == "float16"
