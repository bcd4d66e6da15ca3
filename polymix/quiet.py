"""Start-up noise polymix causes and its user cannot act on, silenced in one place.

Each entry names the library, the message, and why it is safe to hide; anything else (including
warnings that ask the user to act) still shows. Installed once by :func:`install` from the
``polymix`` command's entry points.
"""

from __future__ import annotations

import logging
import warnings

# (logger, message start): bitsandbytes looks for an optional CPU kernel for 4-bit matmuls on CPUs
# with AVX512-BF16 and warns when the `kernels` package is absent; polymix runs 4-bit only on GPU.
LOG_NOISE = [("bitsandbytes.backends.cpu.ops", "Failed to load CPU gemm_4bit_forward")]
# (category, message regex): peft reads transformers' deprecated `is_gradient_checkpointing`
# when wrapping a model with LoRA (peft's code, not polymix's or the user's).
WARNING_NOISE = [(FutureWarning, r"`is_gradient_checkpointing` is deprecated")]


class _Drop(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    for name, prefix in LOG_NOISE:
        logging.getLogger(name).addFilter(_Drop(prefix))
    for category, pattern in WARNING_NOISE:
        warnings.filterwarnings("ignore", message=pattern, category=category)
    _installed = True
