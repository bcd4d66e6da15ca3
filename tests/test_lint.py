"""The code passes the linter and the formatter configured in pyproject.toml ([tool.ruff]): no
undefined names, unused imports or variables, or redefinitions, no line over the configured
width, and the layout `ruff format` gives, everywhere in the repository."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> str:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is part of the test extra: pip install -e '.[test]'"
    return ruff


@pytest.mark.parametrize(
    ("what", "args"),
    [("lint", ["check", "--output-format", "concise"]), ("format", ["format", "--check", "--diff"])],
)
def test_ruff_finds_nothing(what, args):
    proc = subprocess.run([_ruff(), *args, str(ROOT)], cwd=ROOT, capture_output=True, text=True)
    fix = "ruff check --fix ." if what == "lint" else "ruff format ."
    assert proc.returncode == 0, f"run `{fix}`:\n" + proc.stdout + proc.stderr
