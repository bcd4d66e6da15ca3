#!/usr/bin/env bash
# Build the git-ignored gpu/ folder that travels to a lent GPU machine for bench/gpu_check.sh
# (../shared/notes/GPU.md): wheels for Python 3.12 there, 64 MiB at most in all.
#
#   bench/gpu_pack.sh            # polymix, ctranslate2 4.8.5, protobuf, a trimmed bitsandbytes
#
# The GPU machine has torch, transformers, peft, accelerate, pyarrow, sentencepiece and pytest,
# and no package index. The build-mix flow (bench/flow_throughput.py) also needs prefect, polars
# and the language-ID packages: about 95 MB of wheels more, over the limit next to ctranslate2's
# 43 MB, so gpu_check.sh reports that step as failed unless the machine has them.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
PIP="${PIP:-$REPO/.venv/bin/python -m pip}"
DEST="$REPO/gpu/whl"
PLATFORM=(--only-binary=:all: --python-version 3.12 --implementation cp
          --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64
          --platform manylinux2014_x86_64 --platform any)
rm -rf "$DEST" && mkdir -p "$DEST"   # gpu/ is in .gitignore

$PIP wheel -q --no-deps -w "$DEST" "$REPO"
$PIP download -q --no-deps "${PLATFORM[@]}" -d "$DEST" ctranslate2==4.8.5 protobuf

# bitsandbytes for the 8-bit training tests: keep only the CUDA 13 and CPU libraries (~4 MB)
TMP="$(mktemp -d)"
$PIP download -q --no-deps "${PLATFORM[@]}" -d "$TMP" bitsandbytes==0.50.2
(cd "$TMP" && mkdir x && cd x && unzip -q ../bitsandbytes-*.whl \
  && find . -name 'libbitsandbytes_*.so' ! -name 'libbitsandbytes_cuda130.so' ! -name 'libbitsandbytes_cpu.so' -delete \
  && zip -qr "$DEST/$(basename "$TMP"/bitsandbytes-*.whl)" .)
rm -rf "$TMP"

du -sh "$DEST"/*.whl
TOTAL=$(du -sm "$DEST" | cut -f1)
echo "gpu/whl: ${TOTAL} MiB (limit 64)"
[ "$TOTAL" -le 64 ] || { echo "too big for the device carry" >&2; exit 1; }
