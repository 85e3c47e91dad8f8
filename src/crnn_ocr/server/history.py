"""History of every recognition, and the result cache built on it (SQLite or PostgreSQL:
``crnn_ocr.server.sqlite``).

Each entry: who asked (``owner``), when, from where (``sync`` request or ``job``), the image's
SHA-256, the options (canonical JSON), the model's SHA-256, the result (OCRResponse JSON), its
text and time. The cache key is sha256(image) + options + model: an identical image with
identical options and model is answered from the newest unexpired entry of the same owner.

Text search is a substring match that ignores case (``instr(fold(text), fold(query))``; ``fold``
is ``str.lower`` in SQLite and ``lower`` in PostgreSQL, see ``crnn_ocr.server.sqlite``): it
finds ``johor`` in ``JOHOR`` and any Chinese substring, without a word segmenter or tokenizer.
Entries expire after ``ttl_s`` (``purge_expired``). In Redis mode the workers push their entries
onto a Redis list and the server drains it into this store (``crnn_ocr.server.jobs.redis_store``).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from typing import Literal

from crnn_ocr.server.sqlite import delete_expired, expiry, open_database, owner_clause, page_clause

Source = Literal["sync", "job"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner TEXT NOT NULL,
  created_at REAL NOT NULL,
  expires_at REAL NOT NULL,
  source TEXT NOT NULL,
  job_id TEXT,
  item_index INTEGER,
  name TEXT NOT NULL DEFAULT '',
  sha256 TEXT NOT NULL,
  cache_key TEXT NOT NULL,
  options TEXT NOT NULL,
  model_sha256 TEXT NOT NULL,
  text TEXT NOT NULL,
  result TEXT NOT NULL,
  total_ms REAL NOT NULL,
  cached INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS history_by_key ON history (owner, cache_key, created_at);
CREATE INDEX IF NOT EXISTS history_by_owner ON history (owner, created_at);
"""


def cache_key(sha256: str, options: str, model_sha256: str) -> str:
    """One hash of (image hash, canonical options JSON, model hash)."""
    return hashlib.sha256(f"{sha256}\n{options}\n{model_sha256}".encode()).hexdigest()


@dataclass(frozen=True)
class HistoryEntry:
    """One recognition to record (``id`` and times are set by the store)."""

    owner: str
    source: Source
    sha256: str
    options: str
    model_sha256: str
    text: str
    result: str
    total_ms: float
    cached: bool = False
    name: str = ""
    job_id: str | None = None
    item_index: int | None = None

    @property
    def cache_key(self) -> str:
        return cache_key(self.sha256, self.options, self.model_sha256)


@dataclass(frozen=True)
class HistoryRecord:
    id: int
    created_at: float
    entry: HistoryEntry


class HistoryStore:
    def __init__(self, store: str | os.PathLike, *, ttl_s: float) -> None:
        self.db = open_database(store, _SCHEMA)
        self.ttl_s = ttl_s

    def record(self, entry: HistoryEntry, now: float | None = None) -> int:
        now = time.time() if now is None else now
        with self.db.write() as db:
            cur = db.execute(
                "INSERT INTO history (owner, created_at, expires_at, source, job_id, item_index, name, sha256,"
                " cache_key, options, model_sha256, text, result, total_ms, cached)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    entry.owner, now, expiry(self.ttl_s, now), entry.source, entry.job_id, entry.item_index, entry.name,
                    entry.sha256, entry.cache_key, entry.options, entry.model_sha256, entry.text, entry.result,
                    entry.total_ms, int(entry.cached),
                ),
            )
            return int(cur.fetchone()[0])

    def cached_result(self, owner: str, key: str, now: float | None = None) -> str | None:
        """The newest unexpired result (OCRResponse JSON) for ``key`` of this owner, or None."""
        now = time.time() if now is None else now
        row = self.db.connection().execute(
            "SELECT result FROM history WHERE owner = ? AND cache_key = ? AND expires_at > ?"
            " ORDER BY created_at DESC LIMIT 1",
            (owner, key, now),
        ).fetchone()
        return None if row is None else row["result"]

    def search(
        self, owner: str | None, query: str | None, page: int, page_size: int
    ) -> tuple[list[HistoryRecord], int]:
        """Entries newest first; ``query``: only those whose text contains it."""
        clause, args = owner_clause(owner)
        where, args = f"expires_at > ?{clause}", (time.time(), *args)
        if query:
            where, args = f"{where} AND instr(fold(text), fold(?)) > 0", (*args, query)
        limit, paging = page_clause(page, page_size)
        db = self.db.connection()
        total = db.execute(f"SELECT count(*) FROM history WHERE {where}", args).fetchone()[0]
        rows = db.execute(
            f"SELECT * FROM history WHERE {where} ORDER BY created_at DESC, id DESC{limit}", (*args, *paging)
        ).fetchall()
        return [_record(r) for r in rows], total

    def get(self, entry_id: int, owner: str | None) -> HistoryRecord | None:
        clause, args = owner_clause(owner)
        row = self.db.connection().execute(f"SELECT * FROM history WHERE id = ?{clause}", (entry_id, *args)).fetchone()
        return None if row is None else _record(row)

    def delete(self, entry_id: int, owner: str | None) -> int:
        """Remove the entry and its cached result: every entry of its owner with the same cache key
        (the same image, options and model, so the same result). Returns how many were removed
        (0: no such entry for this owner)."""
        clause, args = owner_clause(owner)
        with self.db.write() as db:
            row = db.execute(f"SELECT owner, cache_key FROM history WHERE id = ?{clause}", (entry_id, *args)).fetchone()
            if row is None:
                return 0
            return db.execute(
                "DELETE FROM history WHERE id = ? OR (owner = ? AND cache_key = ?)",
                (entry_id, row["owner"], row["cache_key"]),
            ).rowcount

    def delete_job(self, job_id: str, owner: str | None) -> int:
        """Remove the entries (and so the cached results) a job made."""
        clause, args = owner_clause(owner)
        with self.db.write() as db:
            return db.execute(f"DELETE FROM history WHERE job_id = ?{clause}", (job_id, *args)).rowcount

    def delete_all(self, owner: str | None) -> int:
        """Remove every entry of ``owner`` (None: of everyone)."""
        clause, args = owner_clause(owner)
        with self.db.write() as db:
            return db.execute(f"DELETE FROM history WHERE 1 = 1{clause}", args).rowcount

    def purge_expired(self, now: float | None = None) -> int:
        return delete_expired(self.db, "history", now)

    def close(self) -> None:
        self.db.close()


def _record(row) -> HistoryRecord:
    entry = HistoryEntry(
        owner=row["owner"], source=row["source"], sha256=row["sha256"], options=row["options"],
        model_sha256=row["model_sha256"], text=row["text"], result=row["result"], total_ms=row["total_ms"],
        cached=bool(row["cached"]), name=row["name"], job_id=row["job_id"], item_index=row["item_index"],
    )
    return HistoryRecord(id=row["id"], created_at=row["created_at"], entry=entry)
