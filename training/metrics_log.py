"""Where a run's numbers go: ``OUT/metrics.jsonl`` (one JSON object a line), the experiment
trackers named in ``train.report_to`` (accelerate's tracker classes: TensorBoard under
``OUT/trackers/<run name>``, W&B, MLflow, ...), and short messages through the progress bar's ``write``.

The JSONL file stays the record that resume and the demo report read: a resumed run cuts it
back to its checkpoint's step, which a tracker cannot do (it shows the repeated steps twice).

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


def _flatten(row: dict[str, Any], prefix: str = "", scalars_only: bool = True) -> dict[str, Any]:
    """``{"eval": {"deu_Latn/caption": {"chrf": 61.0}}}`` -> ``{"eval/deu_Latn/caption/chrf": 61.0}``;
    numbers only (as floats) unless ``scalars_only`` is false."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_flatten(value, f"{name}/", scalars_only))
        elif not scalars_only:
            out[name] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def tracker_problems(names: list[str]) -> list[str]:
    """What is wrong with ``train.report_to``: names accelerate does not know, trackers not installed."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS, get_available_trackers

    known = sorted(LOGGER_TYPE_TO_CLASS)
    installed = {str(t) for t in get_available_trackers()}
    unknown = [n for n in names if n != "all" and n not in known]
    if unknown:
        return [f"train.report_to {unknown}: use accelerate's tracker names {known} or all"]
    return [
        f"train.report_to: {n} is not installed here (pip install {n.replace('_', '-')})"
        for n in names
        if n != "all" and n not in installed
    ]


class MetricsLog:
    def __init__(self, out: str | Path, enabled: bool = True, resume_step: int | None = None):
        """``resume_step``: the run's first step - 1; lines of later steps are dropped (a killed run
        logged them and the resumed run logs them again; a fresh run, 0, replaces the file), and
        so is a line cut short by a kill."""
        self.out = Path(out)
        self.enabled = enabled
        self.started = time.time()
        self._bad = 0
        self._trackers: list = []
        if not enabled:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and (self.out / "metrics.jsonl").exists():
            self._truncate(resume_step)
        self._file = open(self.out / "metrics.jsonl", "a", encoding="utf-8")

    def track(self, names: list[str], run_name: str, config: dict[str, Any]) -> None:
        """Start accelerate's trackers ``names`` (checked by :func:`tracker_problems`) with the run's settings."""
        if not self.enabled or not names:
            return
        from accelerate.tracking import LOGGER_TYPE_TO_CLASS, get_available_trackers

        wanted = [str(t) for t in get_available_trackers()] if "all" in names else list(dict.fromkeys(names))
        for name in wanted:
            cls = LOGGER_TYPE_TO_CLASS[name]
            tracker = cls(run_name, str(self.out / "trackers")) if cls.requires_logging_directory else cls(run_name)
            tracker.start()
            # trackers take flat scalars and strings as hyperparameters (TensorBoard refuses None and lists)
            tracker.store_init_configuration(
                {
                    k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
                    for k, v in _flatten(config, scalars_only=False).items()
                }
            )
            self._trackers.append(tracker)

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
        if self._trackers:
            values = {k: v for k, v in _flatten(row).items() if k not in ("step", "time") and math.isfinite(v)}
            for tracker in self._trackers:
                tracker.log(values, step=int(row.get("step", 0)))

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
            for tracker in self._trackers:
                tracker.finish()
            self._trackers = []


def read(out: str | Path) -> list[dict[str, Any]]:
    """The rows of ``OUT/metrics.jsonl``."""
    path = Path(out) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
