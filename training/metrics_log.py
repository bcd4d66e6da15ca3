"""Where a run's numbers go: ``OUT/metrics.jsonl`` (one JSON object a line), TensorBoard when
installed (``OUT/tensorboard``), and short messages through the progress bar's ``write``.

Only the main process writes; the others get a disabled log. Unreadable images are counted by
the loop and the first few paths are noted in ``OUT/bad_images.txt``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from polymix import faults

MAX_BAD_PATHS = 100


def _flatten(row: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None:
            out[name] = float(value)
    return out


class MetricsLog:
    def __init__(self, out: str | Path, enabled: bool = True, resume_step: int | None = None):
        """``resume_step``: the run's first step - 1; lines of later steps are dropped (a killed run
        logged them and the resumed run logs them again; a fresh run, 0, replaces the file), and
        so is a line cut short by a kill."""
        self.out = Path(out)
        self.enabled = enabled
        self.started = time.time()
        self._bad = 0
        self._tb = None
        if not enabled:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and (self.out / "metrics.jsonl").exists():
            self._truncate(resume_step)
        self._file = open(self.out / "metrics.jsonl", "a", encoding="utf-8")
        try:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

            self._tb = SummaryWriter(str(self.out / "tensorboard"))
        except ImportError:
            self._tb = None

    def _truncate(self, step: int) -> None:
        from polymix.shards import atomic_write_bytes

        kept = []
        for line in (self.out / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of a killed run, cut short
            if row.get("step", 0) <= step:
                kept.append(line + "\n")
        atomic_write_bytes(self.out / "metrics.jsonl", "".join(kept).encode("utf-8"))

    def info(self, message: str) -> None:
        if self.enabled:
            tqdm.write(message)

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        row = {**row, "time": round(time.time() - self.started, 3)}
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
        self._file.write(json.dumps(clean, ensure_ascii=False) + "\n")
        self._file.flush()
        faults.point()
        if self._tb is not None:
            for key, value in _flatten(row).items():
                if key not in ("step", "time") and math.isfinite(value):
                    self._tb.add_scalar(key, value, int(row.get("step", 0)))

    def bad_paths(self, paths: list[str]) -> None:
        if not self.enabled or not paths or self._bad >= MAX_BAD_PATHS:
            return
        with open(self.out / "bad_images.txt", "a", encoding="utf-8") as fh:
            for path in paths[: MAX_BAD_PATHS - self._bad]:
                fh.write(path + "\n")
                self._bad += 1

    def close(self) -> None:
        if self.enabled:
            self._file.close()
            if self._tb is not None:
                self._tb.close()


def read(out: str | Path) -> list[dict[str, Any]]:
    """The rows of ``OUT/metrics.jsonl``."""
    path = Path(out) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
