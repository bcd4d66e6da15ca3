"""A persistent translation cache: each distinct string is translated once per model/language/settings.

SQLite in WAL mode (readers never block the writer; several worker processes may share one
file). Keys are 16-byte BLAKE2 hashes of (namespace, text), where the namespace hashes the
model identity (id, revision, quantization), the target language and the decoding settings:
change any of them and nothing stale is returned.

    cache = TranslationCache("~/.cache/polymix/translations.sqlite")
    found = cache.get_many(namespace, texts)      # {text: translation} for the hits
    cache.put_many(namespace, {text: translation})

A cache file that SQLite cannot read (a disk fault, a truncated copy) is moved aside with a
warning and a new one is started: a cache only saves time, so losing it must not stop a run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

log = logging.getLogger(__name__)
_BATCH = 500  # SQLite's limit on host parameters is 32766; stay well below


def move_aside(path: Path, what: str, err: Exception) -> Path:
    """Rename an unreadable cache file to ``NAME.corrupt-<time>`` (kept for inspection) and warn."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    path.rename(aside)
    log.warning("%s %s is unreadable (%s): moved it to %s and started a new one", what, path, err, aside.name)
    return aside


def namespace(model_key: str, tgt_lang: str, settings: Mapping[str, Any]) -> str:
    payload = json.dumps({"model": model_key, "tgt": tgt_lang, "settings": dict(settings)}, sort_keys=True)
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=16).hexdigest()


def _key(ns: str, text: str) -> bytes:
    return hashlib.blake2b(f"{ns}\x1f{text}".encode("utf-8"), digest_size=16).digest()


class TranslationCache:
    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as err:  # "file is not a database", "database disk image is malformed"
            for suffix in ("-wal", "-shm"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            move_aside(self.path, "translation cache", err)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=120, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("CREATE TABLE IF NOT EXISTS translations (key BLOB PRIMARY KEY, text TEXT NOT NULL) WITHOUT ROWID")
            db.execute("SELECT key FROM translations LIMIT 1").fetchall()  # reads a page: a damaged file fails here
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def get_many(self, ns: str, texts: Iterable[str]) -> dict[str, str]:
        keyed = {_key(ns, t): t for t in texts}
        keys = list(keyed)
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(keys), _BATCH):
                part = keys[start : start + _BATCH]
                marks = ",".join("?" * len(part))
                for key, text in self._db.execute(f"SELECT key, text FROM translations WHERE key IN ({marks})", part):
                    found[keyed[key]] = text
        return found

    def put_many(self, ns: str, pairs: Mapping[str, str]) -> None:
        rows = [(_key(ns, src), tgt) for src, tgt in pairs.items()]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR REPLACE INTO translations (key, text) VALUES (?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM translations").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


# -- what the cache folder holds, and clearing it (`polymix cache info|clear`) ----------------
TRANSLATIONS_FILE = "translations.sqlite"
KINDS = ("translations", "models", "lid")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def entries(root: Path) -> list[tuple[str, Path]]:
    """(kind, path) of everything polymix keeps in its cache folder ``root``."""
    found: list[tuple[str, Path]] = []
    for suffix in ("", "-wal", "-shm"):
        if (root / f"{TRANSLATIONS_FILE}{suffix}").exists():
            found.append(("translations", root / f"{TRANSLATIONS_FILE}{suffix}"))
    for org in sorted((root / "ct2").glob("*")):  # converted CTranslate2 models: ct2/<org--name>/<rev-quant>
        found += [("models", p) for p in sorted(org.glob("*")) if p.is_dir()]
    found += [("lid", p) for p in sorted(root.glob("langid-*.npz"))]  # the language-ID model, unpacked once
    return found


def info(root: Path) -> list[dict[str, Any]]:
    """One row per cache entry: kind, path, bytes, and for the translation cache its stored strings."""
    rows = []
    for kind, path in entries(root):
        row: dict[str, Any] = {"kind": kind, "path": str(path), "bytes": _size(path)}
        if path.name == TRANSLATIONS_FILE:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                row["strings"] = db.execute("SELECT COUNT(*) FROM translations").fetchone()[0]
            except sqlite3.DatabaseError as err:
                row["strings"] = f"unreadable ({err})"
            finally:
                db.close()
        rows.append(row)
    return rows


def clear(root: Path, kinds: Iterable[str] = KINDS) -> list[dict[str, Any]]:
    """Delete the cache entries of ``kinds``; returns what was removed (as :func:`info` rows)."""
    import shutil

    kinds = set(kinds)
    unknown = kinds - set(KINDS)
    if unknown:
        raise ValueError(f"unknown cache kind(s) {', '.join(sorted(unknown))}: valid are {', '.join(KINDS)}")
    removed = [row for row in info(root) if row["kind"] in kinds]
    for row in removed:
        path = Path(row["path"])
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    return removed
