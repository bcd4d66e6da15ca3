#!/usr/bin/env bash
# Install the right torch build into a virtualenv before the rest of polymix.
#
#   scripts/install-torch.sh VENV_PYTHON
#
# Why a script: pip resolves a bare `torch` to the CUDA build on Linux (several GB of
# nvidia-* wheels). On a machine without a GPU we want the CPU build; on a GPU machine the
# CUDA build. Override with TORCH_SPEC (default torch==2.13.0) and TORCH_INDEX_URL.
set -euo pipefail
py="${1:?usage: install-torch.sh VENV_PYTHON}"
spec="${TORCH_SPEC:-torch==2.13.0}"
cpu_index="${TORCH_CPU_INDEX_URL:-https://download.pytorch.org/whl/cpu}"

if "$py" -c 'import torch' 2>/dev/null; then
  echo "torch already installed: $("$py" -c 'import torch; print(torch.__version__)')"
  exit 0
fi

if [ -n "${TORCH_INDEX_URL:-}" ]; then
  echo "installing $spec from $TORCH_INDEX_URL"
  exec "$py" -m pip install "$spec" --index-url "$TORCH_INDEX_URL"
fi

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  # PyPI's Linux wheels of torch are CUDA builds.
  echo "GPU found ($(nvidia-smi -L | head -n1)): installing the CUDA build of $spec"
  exec "$py" -m pip install "$spec"
fi

# No GPU. PyTorch's CPU index has CPU-only wheels; where it cannot be reached (offline
# clusters, CI with a local wheel cache) a plain install uses whatever the configured
# indexes/find-links hold, which on such machines is the CPU build.
if command -v curl >/dev/null 2>&1 && curl -fsS -m 5 -o /dev/null "$cpu_index/torch/" 2>/dev/null; then
  echo "no GPU: installing the CPU build of $spec from $cpu_index"
  exec "$py" -m pip install "$spec" --index-url "$cpu_index" --extra-index-url https://pypi.org/simple
fi
echo "no GPU and $cpu_index unreachable: installing $spec from the configured package index"
exec "$py" -m pip install "$spec"
