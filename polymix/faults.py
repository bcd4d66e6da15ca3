"""Kill points for the fault suite (``tests/test_fault_schedule.py``): a real SIGKILL at a chosen instant.

Every durable step of a build calls :func:`point`: just before and just after each atomic
rename of a shard, record, manifest or marker, each checkpoint, each metrics line. With
``POLYMIX_KILL_AT=N`` in the environment the process sends itself SIGKILL (the signal of
``kill -9``: no handler, no clean-up) at its N-th point, so a seeded schedule can kill a command
between any two durable steps and check that the re-run repairs everything. With
``POLYMIX_KILL_COUNT=FILE`` the number of points a run passed is written to FILE at exit (the
range the schedule draws from). Without either variable :func:`point` costs one comparison.
"""

from __future__ import annotations

import atexit
import os
import signal
import threading

_AT = int(os.environ.get("POLYMIX_KILL_AT") or 0)
_COUNT_FILE = os.environ.get("POLYMIX_KILL_COUNT")
_lock = threading.Lock()
_passed = 0


def point() -> None:
    """One kill point (see the module docstring)."""
    global _passed
    if not (_AT or _COUNT_FILE):
        return
    with _lock:
        _passed += 1
        hit = _passed == _AT
    if hit:
        os.kill(os.getpid(), signal.SIGKILL)


def _write_count() -> None:
    with open(_COUNT_FILE, "w", encoding="utf-8") as fh:
        fh.write(str(_passed))


if _COUNT_FILE:
    atexit.register(_write_count)
