"""Who may touch a mix folder, and whether what is in it is finished.

- :class:`BuildLock` (exclusive) is held by whatever writes a mix (prepare, translate, the
  flows); :class:`ReadLock` (shared) by whatever reads one for a long time (translate reading
  its English input, training). Both are ``flock`` locks on ``OUT/.polymix.lock``: a writer is
  refused while anyone reads or writes, readers are refused while someone writes, and a lock dies
  with its process, so a killed command never leaves a stale lock behind.
- ``OUT/INCOMPLETE`` is written before a build changes anything and removed only after its
  manifest is written and checked. While it exists, readers refuse the mix
  (:func:`require_complete`) and ``inspect --verify`` reports it: a killed or failed build can
  never pass for a finished one.
- ``prepare --overwrite`` builds the new mix aside (:func:`aside_path`) and swaps it in with two
  renames (:func:`swap_in`); a crash between them is undone by :func:`recover_swap`, so a failed
  overwrite keeps the old mix whole.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path
from typing import Any

from polymix.atomic import atomic_write_bytes

LOCK = ".polymix.lock"
OWNER = ".polymix.lock.owner"
INCOMPLETE = "INCOMPLETE"


class MixError(RuntimeError):
    """A mix folder in a state the command cannot use; the message says what to do."""


class BuildLockedError(MixError):
    """Another command holds the folder."""


class IncompleteMixError(MixError):
    """The mix is being built, or its build was interrupted."""


class BuildLock:
    """Exclusive lock on a mix folder for the duration of a build (see the module docstring)."""

    shared = False

    def __init__(self, root: str | Path, what: str = "build"):
        self.root = Path(root)
        self.what = what
        self._fd: int | None = None

    def __enter__(self):
        if not self.shared:
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            if not self.shared:
                raise
            if not (self.root / LOCK).exists():
                return self  # a read-only mix nobody can write: nothing to guard against
            self._fd = os.open(self.root / LOCK, os.O_RDONLY)  # flock works on a read-only descriptor too
        try:
            fcntl.flock(self._fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise BuildLockedError(self._refusal()) from None
        if not self.shared:
            (self.root / OWNER).write_text(
                f"pid {os.getpid()}, {self.what}, since {time.strftime('%Y-%m-%d %H:%M:%S')}\n", encoding="utf-8"
            )
        return self

    def _refusal(self) -> str:
        owner = self.root / OWNER
        if owner.exists():  # a writer holds it (or a killed one left its note and a reader holds it)
            return (
                f"{self.root} is being written by another build ({owner.read_text(encoding='utf-8').strip()}); "
                "wait for it to finish or choose another folder"
            )
        return f"{self.root} is being read by another polymix command (translate or train); wait for it to finish"

    def __exit__(self, *exc: Any) -> None:
        if not self.shared:
            (self.root / OWNER).unlink(missing_ok=True)
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class ReadLock(BuildLock):
    """Shared lock: several readers at once, no writer meanwhile. The folder must exist."""

    shared = True

    def __enter__(self):
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: no such mix folder")
        return super().__enter__()


def mark_incomplete(root: str | Path, what: str) -> None:
    """Write ``OUT/INCOMPLETE`` before a build changes anything in ``root``."""
    text = (
        f"This mix is incomplete: {what} (pid {os.getpid()}) began writing it at {time.strftime('%Y-%m-%d %H:%M:%S')} "
        "and has not finished.\nRe-run the same command to finish it (finished chunks are kept and checked).\n"
    )
    atomic_write_bytes(Path(root) / INCOMPLETE, text.encode("utf-8"))


def mark_complete(root: str | Path) -> None:
    """Remove ``OUT/INCOMPLETE``: call only after the manifest is written and checked."""
    (Path(root) / INCOMPLETE).unlink(missing_ok=True)


def incomplete(root: str | Path) -> str | None:
    """The first line of ``OUT/INCOMPLETE``, or None for a finished mix."""
    path = Path(root) / INCOMPLETE
    if not path.exists():
        return None
    return path.read_text(encoding="utf-8").splitlines()[0] if path.stat().st_size else "incomplete"


def require_complete(root: str | Path) -> None:
    note = incomplete(root)
    if note is not None:
        raise IncompleteMixError(
            f"{root} is not a finished mix ({note.removeprefix('This mix is incomplete: ')}); "
            "re-run the command that builds it to finish it"
        )


def aside_path(out: Path) -> Path:
    """Where ``--overwrite`` builds the new mix: a hidden sibling on the same filesystem."""
    return out.parent / f".{out.name}.polymix-new"


def _old_path(out: Path) -> Path:
    return out.parent / f".{out.name}.polymix-old"


def swap_in(new: Path, out: Path) -> None:
    """Replace ``out`` by ``new`` with two renames (see :func:`recover_swap` for a crash between them)."""
    old = _old_path(out)
    shutil.rmtree(old, ignore_errors=True)
    os.rename(out, old)
    os.rename(new, out)
    shutil.rmtree(old, ignore_errors=True)


def recover_swap(out: Path) -> None:
    """Undo what a crash in :func:`swap_in` or in a build aside left: the old mix back, leftovers removed."""
    old = _old_path(out)
    if old.exists() and not out.exists():
        os.rename(old, out)  # killed between the two renames: the old mix is whole, put it back
    shutil.rmtree(old, ignore_errors=True)


def link_tree(src: Path, dst: Path, skip) -> None:
    """Hard-link (copy where links fail) every file of ``src`` into ``dst``, except those ``skip(rel)`` names.

    Links are safe because every polymix write replaces a file by rename, never in place."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir() or skip(rel):
            continue
        target = dst / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)
