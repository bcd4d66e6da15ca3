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
