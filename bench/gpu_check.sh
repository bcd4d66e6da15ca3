#!/usr/bin/env bash
# One call on a lent GPU machine: every GPU benchmark and the GPU tests, outputs in one folder.
#
#   bench/gpu_check.sh [OUT_DIR]        # default: $OUT/gpu-check (the device tool's $OUT), else ./gpu-check
#
# Prepare here first (../shared/notes/GPU.md): a git-ignored gpu/ folder with gpu/whl/*.whl (the
# polymix wheel, ctranslate2 4.8.5 for cp312 manylinux, optionally a trimmed bitsandbytes and the
# flow's dependencies), 64 MiB at most; `bench/gpu_pack.sh` builds it. There, this script installs
# the wheels into a scratch folder without an index, links libcublas.so.12 -> the CUDA 13 library
# of the torch environment, and runs each step under its own time limit: a step that fails or
# runs out of time is recorded and the next one runs. The budget is about 8 minutes in all.
#
# Writes OUT_DIR/<step>.log for each step and OUT_DIR/summary.txt (also printed at the end).
# A dry run of the plumbing on CPU:
#   PYTHON=.venv/bin/python GPU_CHECK_SHAPE=tiny GPU_CHECK_DEVICE=cpu GPU_CHECK_TRAIN_CONFIG=tiny GPU_CHECK_TRAIN_SHAPES=preset bench/gpu_check.sh
set -u
OUT_DIR="${1:-${OUT:+$OUT/gpu-check}}"
OUT_DIR="${OUT_DIR:-gpu-check}"
mkdir -p "$OUT_DIR"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
SCRATCH="${GPU_CHECK_SCRATCH:-/tmp/polymix-gpu-check}"
SITE="$SCRATCH/site"
WORK="$SCRATCH/work"   # built and converted models, shared by the two benchmarks
PY="${PYTHON:-python3}"
SHAPE="${GPU_CHECK_SHAPE:-1.3B}"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
TRAIN_CONFIG="${GPU_CHECK_TRAIN_CONFIG:-mblip-mt0-xl}"   # tiny for a CPU dry run
TRAIN_SHAPES="${GPU_CHECK_TRAIN_SHAPES:-mblip}"          # preset for a CPU dry run
STARTED=$(date +%s)
: > "$OUT_DIR/summary.txt"

note() { echo "$*" | tee -a "$OUT_DIR/summary.txt"; }

# step NAME LIMIT_SECONDS COMMAND...: runs COMMAND with a time limit, logs to OUT_DIR/NAME.log;
# GPU_CHECK_STEPS="translate train" runs only the steps whose names start with those words
step() {
  local name="$1" limit="$2"; shift 2
  if [ -n "${GPU_CHECK_STEPS:-}" ] && ! printf '%s\n' $GPU_CHECK_STEPS | grep -qx "${name%%-*}"; then return 0; fi
  local t0=$(date +%s)
  echo "== $name (limit ${limit}s): $*" | tee "$OUT_DIR/$name.log"
  timeout --kill-after=10 "$limit" "$@" >> "$OUT_DIR/$name.log" 2>&1
  local rc=$? t=$(( $(date +%s) - t0 ))
  local status=ok
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && status="TIMED OUT"
  [ $rc -ne 0 ] && [ "$status" = ok ] && status="FAILED (rc $rc)"
  note "$(printf '%-22s %-16s %4ds  %s' "$name" "$status" "$t" "$(grep -E '^(ratio|flow_rows_s)=|^plan auto|passed|failed|skipped|error' "$OUT_DIR/$name.log" | tail -1)")"
}

# -- environment: wheels without an index, the CUDA 12 name of cuBLAS, offline hub ---------------
mkdir -p "$SITE" "$WORK" "$SCRATCH/cuda12"
if [ "$DEVICE" = cuda ] && ls "$REPO"/gpu/whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --target "$SITE" "$REPO"/gpu/whl/*.whl > "$OUT_DIR/install.log" 2>&1 \
    || echo "pip install of gpu/whl failed (see install.log)" >> "$OUT_DIR/install.log"
fi
# the torch environment's nvidia/cu13/lib first (quick), then anywhere
TORCH_SITE="$("$PY" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null)"
CUBLAS="$(find "${TORCH_SITE:-/nonexistent}/nvidia" -name 'libcublas.so.13*' 2>/dev/null | head -1)"
[ -n "$CUBLAS" ] || CUBLAS="$(find / -name 'libcublas.so.13*' -path '*nvidia*' 2>/dev/null | head -1)"
if [ -n "$CUBLAS" ]; then
  LIBDIR="$(dirname "$CUBLAS")"
  ln -sf "$LIBDIR/$(basename "$CUBLAS")" "$SCRATCH/cuda12/libcublas.so.12"
  ln -sf "$(ls "$LIBDIR"/libcublasLt.so.13* | head -1)" "$SCRATCH/cuda12/libcublasLt.so.12"
fi
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
export LD_LIBRARY_PATH="$SCRATCH/cuda12${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
cd "$SCRATCH"  # not the repository root: its polymix/ folder would shadow the installed package

note "gpu_check $(date -u +%FT%TZ) on $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null | head -1)"
note "$(printf '%-22s %-16s %5s  %s' step status time 'last figure')"
step env 60 "$PY" -c "import ctranslate2, torch, polymix; print('ctranslate2', ctranslate2.__version__, 'GPUs', ctranslate2.get_cuda_device_count(), 'torch', torch.__version__, torch.cuda.is_available())
from polymix.translate.device import probe, choose; from polymix.translate.nllb import RuntimeSettings
hw = probe(); print(hw); print(choose(hw, RuntimeSettings()).describe())"

# 1. polymix vs transformers vs ctranslate2 alone, NLLB-1.3B shape: 24 tokens (+ the 12-token
#    figure), replicas 1/2/4; builds and converts the model into $WORK for step 2.
step translate-$SHAPE 200 "$PY" "$REPO/bench/translate_throughput.py" --shape "$SHAPE" --device "$DEVICE" --repeat 2 \
  --skip-float --cache-rows 0 --workdir "$WORK"

# 2. the build-mix flow end to end on the same model, against the translator alone; hours for 5M
#    rows (transformers measured there at the flow's output length). Needs prefect, polars and the
#    language-ID packages among the wheels: without them it fails at once and is reported.
step flow-$SHAPE 60 "$PY" "$REPO/bench/flow_throughput.py" --shape "$SHAPE" --device "$DEVICE" --workdir "$WORK"

# 3. training: the mBLIP preset as written (8-bit LLM, checkpointing, batch 8) against train.plan=auto
#    on random mBLIP-shaped weights (ViT-g + Q-Former + mT0-XL), built once into $WORK/train
step train-$TRAIN_CONFIG 200 "$PY" "$REPO/bench/train_step.py" --config "$TRAIN_CONFIG" --shapes "$TRAIN_SHAPES" --plan auto \
  --no-compare --steps 4 --warmup 2 --cache "$WORK/train"

# 4. the GPU tests (copied out of the repository: its polymix/ folder must not shadow the wheel);
#    only the files that hold them, since the others import packages the machine may lack
rm -rf "$SCRATCH/tests" && cp -r "$REPO/tests" "$SCRATCH/tests"
GPU_TESTS=$(grep -l "mark.gpu" "$SCRATCH"/tests/test_*.py)
step gpu-tests 90 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" -m gpu --continue-on-collection-errors $GPU_TESTS

note "total $(( $(date +%s) - STARTED ))s; logs in $OUT_DIR"
cat "$OUT_DIR/summary.txt"
