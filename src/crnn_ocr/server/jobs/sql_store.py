"""The embedded ``JobStore`` (``crnn_ocr.server.jobs.records``) on SQL.

``SqlJobStore`` is the embedded store, in a SQLite file (WAL mode, ``synchronous=FULL``: a job
answered with 202 is on disk) or a PostgreSQL database shared by several servers
(``crnn_ocr.server.sqlite``, owner scoping, paging and expiry included). The image bytes live in the item row until the item finishes. Workers ``claim`` an item with a lease; a worker that dies (``kill -9``) stops renewing
it, and once the lease has run out the item is claimed again, by this process after a restart or
by another one; after ``max_attempts`` claims it fails with ``worker_lost``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from crnn_ocr.server.jobs.records import (
    ITEM_STATES,
    ClaimedItem,
    ItemOutcome,
    ItemRecord,
    JobRecord,
    NewItem,
    new_job_id,
    worker_lost,
)
from crnn_ocr.server.sqlite import delete_expired, expiry, open_database, owner_clause, page_clause

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  status TEXT NOT NULL,
  options TEXT NOT NULL,
  webhook_url TEXT,
  total INTEGER NOT NULL,
  done INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  cancelled INTEGER NOT NULL DEFAULT 0,
  created_at REAL NOT NULL,
  finished_at REAL,
  expires_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_owner ON jobs (owner, created_at);
CREATE TABLE IF NOT EXISTS items (
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  owner TEXT NOT NULL,
  name TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  data BLOB,
  status TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  lease_until REAL,
  worker TEXT,
  cached INTEGER NOT NULL DEFAULT 0,
  result TEXT,
  error_code TEXT,
  error_message TEXT,
  enqueued_at REAL NOT NULL,
  started_at REAL,
  finished_at REAL,
  PRIMARY KEY (job_id, idx)
);
CREATE INDEX IF NOT EXISTS items_claimable ON items (status, lease_until);
"""


class SqlJobStore:
    """The embedded ``JobStore`` (see the module docstring): ``store`` is a SQLite file or a
    ``postgresql://`` URL."""

    def __init__(
        self, store: str | os.PathLike, *, result_ttl_s: float, lease_s: float = 30.0, max_attempts: int = 3
    ) -> None:
        self.db = open_database(store, _SCHEMA)
        self.result_ttl_s = result_ttl_s
        self.lease_s = lease_s
        self.max_attempts = max_attempts

    # ---- the API side --------------------------------------------------------------------------

    def create_job(
        self, owner: str, options: str, items: Sequence[NewItem], webhook_url: str | None
    ) -> JobRecord:
        job_id, now = new_job_id(), time.time()
        done = sum(1 for i in items if i.cached_result is not None)
        failed = sum(1 for i in items if i.error is not None)
        status = "completed" if done + failed == len(items) else "pending"
        finished = now if status == "completed" else None
        expires = expiry(self.result_ttl_s, now) if finished else None
        with self.db.write() as db:
            db.execute(
                "INSERT INTO jobs (id, owner, status, options, webhook_url, total, done, failed, created_at,"
                " finished_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (job_id, owner, status, options, webhook_url, len(items), done, failed, now, finished, expires),
            )
            db.executemany(
                "INSERT INTO items (job_id, idx, owner, name, sha256, data, status, cached, result, error_code,"
                " error_message, enqueued_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        job_id, index, owner, item.name, item.sha256,
                        item.data if item.error is None and item.cached_result is None else None,
                        "failed" if item.error else "done" if item.cached_result is not None else "pending",
                        int(item.cached_result is not None), item.cached_result,
                        item.error[0] if item.error else None, item.error[1] if item.error else None,
                        now, now if item.error or item.cached_result is not None else None,
                    )
                    for index, item in enumerate(items)
                ],
            )
        job = self.get_job(job_id, owner)
        assert job is not None
        return job

    def get_job(self, job_id: str, owner: str | None) -> JobRecord | None:
        clause, args = owner_clause(owner)
        db = self.db.connection()
        row = db.execute(f"SELECT * FROM jobs WHERE id = ?{clause}", (job_id, *args)).fetchone()
        if row is None:
            return None
        items = db.execute(
            "SELECT idx, name, sha256, status, attempts, cached, result, error_code, error_message,"
            " enqueued_at, started_at, finished_at, worker FROM items WHERE job_id = ? ORDER BY idx",
            (job_id,),
        ).fetchall()
        return _job(row, tuple(_item(r) for r in items))

    def list_jobs(self, owner: str | None, page: int, page_size: int) -> tuple[list[JobRecord], int]:
        clause, args = owner_clause(owner)
        db = self.db.connection()
        total = db.execute(f"SELECT count(*) FROM jobs WHERE 1 = 1{clause}", args).fetchone()[0]
        limit, paging = page_clause(page, page_size)
        rows = db.execute(
            f"SELECT * FROM jobs WHERE 1 = 1{clause} ORDER BY created_at DESC{limit}", (*args, *paging)
        ).fetchall()
        return [_job(r) for r in rows], total

    def cancel_job(self, job_id: str, owner: str | None) -> JobRecord | None:
        clause, args = owner_clause(owner)
        now = time.time()
        with self.db.write() as db:
            row = db.execute(f"SELECT status FROM jobs WHERE id = ?{clause}", (job_id, *args)).fetchone()
            if row is None:
                return None
            if row["status"] in ("pending", "running"):
                n = db.execute(
                    "UPDATE items SET status = 'cancelled', data = NULL, finished_at = ?"
                    " WHERE job_id = ? AND status IN ('pending', 'running')",
                    (now, job_id),
                ).rowcount
                db.execute(
                    "UPDATE jobs SET status = 'cancelled', cancelled = cancelled + ?, finished_at = ?,"
                    " expires_at = ? WHERE id = ?",
                    (n, now, expiry(self.result_ttl_s, now), job_id),
                )
        return self.get_job(job_id, owner)

    def delete_job(self, job_id: str, owner: str | None) -> bool:
        clause, args = owner_clause(owner)
        with self.db.write() as db:
            return db.execute(f"DELETE FROM jobs WHERE id = ?{clause}", (job_id, *args)).rowcount > 0

    def delete_all(self, owner: str | None) -> int:
        clause, args = owner_clause(owner)
        with self.db.write() as db:
            return db.execute(f"DELETE FROM jobs WHERE 1 = 1{clause}", args).rowcount

    def count_unfinished(self, owner: str) -> int:
        return self.db.connection().execute(
            "SELECT count(*) FROM jobs WHERE owner = ? AND status IN ('pending', 'running')", (owner,)
        ).fetchone()[0]

    def purge_expired(self, now: float | None = None) -> int:
        return delete_expired(self.db, "jobs", now)

    def item_states(self) -> dict[str, int]:
        counts = dict.fromkeys(ITEM_STATES, 0)
        rows = self.db.connection().execute("SELECT status, count(*) FROM items GROUP BY status").fetchall()
        counts.update({status: n for status, n in rows})
        return counts

    # ---- the worker side -----------------------------------------------------------------------

    def claim(
        self, worker: str, now: float | None = None, on_given_up: Callable[[JobRecord], None] | None = None
    ) -> ClaimedItem | None:
        """Take the oldest pending item, or one whose lease ran out (its worker died), atomically.
        An item claimed ``max_attempts`` times already is failed with ``worker_lost`` instead;
        when that finishes its job, ``on_given_up`` gets the job (to call its webhook)."""
        while True:
            now = time.time() if now is None else now
            with self.db.write() as db:
                row = db.execute(
                    "SELECT items.job_id, items.idx, items.attempts FROM items JOIN jobs ON jobs.id = items.job_id"
                    " WHERE (items.status = 'pending' OR (items.status = 'running' AND items.lease_until < ?))"
                    " AND jobs.status IN ('pending', 'running') ORDER BY jobs.created_at, items.idx LIMIT 1"
                    + self.db.lock_for_claim,
                    (now,),
                ).fetchone()
                if row is None:
                    return None
                job_id, index, attempts = row["job_id"], row["idx"], row["attempts"]
                if attempts < self.max_attempts:
                    db.execute(
                        "UPDATE items SET status = 'running', attempts = attempts + 1, lease_until = ?, worker = ?,"
                        " started_at = coalesce(started_at, ?) WHERE job_id = ? AND idx = ?",
                        (now + self.lease_s, worker, now, job_id, index),
                    )
                    db.execute("UPDATE jobs SET status = 'running' WHERE id = ? AND status = 'pending'", (job_id,))
                    item = db.execute(
                        "SELECT items.owner, items.name, items.sha256, items.data, items.attempts, jobs.options FROM items"
                        " JOIN jobs ON jobs.id = items.job_id WHERE items.job_id = ? AND items.idx = ?",
                        (job_id, index),
                    ).fetchone()
                    return ClaimedItem(
                        job_id, index, item["owner"], item["name"], item["sha256"], item["data"], item["options"],
                        item["attempts"],
                    )
            finished = self._finish(job_id, index, worker_lost(attempts), statuses=("pending", "running"))
            if finished is not None and on_given_up is not None:
                on_given_up(finished)
            now = None

    def renew(self, job_id: str, index: int, now: float | None = None) -> None:
        """Extend the lease of an item this worker is still reading."""
        now = time.time() if now is None else now
        with self.db.write() as db:
            db.execute(
                "UPDATE items SET lease_until = ? WHERE job_id = ? AND idx = ? AND status = 'running'",
                (now + self.lease_s, job_id, index),
            )

    def finish_item(self, job_id: str, index: int, outcome: ItemOutcome) -> JobRecord | None:
        return self._finish(job_id, index, outcome, statuses=("running",))

    def _finish(
        self, job_id: str, index: int, outcome: ItemOutcome, statuses: tuple[str, ...]
    ) -> JobRecord | None:
        now = time.time()
        status = "done" if outcome.ok else "failed"
        marks = ", ".join("?" for _ in statuses)
        with self.db.write() as db:
            changed = db.execute(
                "UPDATE items SET status = ?, result = ?, error_code = ?, error_message = ?, data = NULL,"
                f" lease_until = NULL, finished_at = ? WHERE job_id = ? AND idx = ? AND status IN ({marks})",
                (status, outcome.result, outcome.error_code, outcome.error_message, now, job_id, index, *statuses),
            ).rowcount
            if not changed:
                return None
            column = "done" if outcome.ok else "failed"
            db.execute(f"UPDATE jobs SET {column} = {column} + 1 WHERE id = ?", (job_id,))
            completed = db.execute(
                "UPDATE jobs SET status = 'completed', finished_at = ?, expires_at = ?"
                " WHERE id = ? AND status IN ('pending', 'running') AND done + failed + cancelled >= total",
                (now, expiry(self.result_ttl_s, now), job_id),
            ).rowcount
        return self.get_job(job_id, None) if completed else None

    def close(self) -> None:
        self.db.close()


def _job(row: Any, items: tuple[ItemRecord, ...] = ()) -> JobRecord:
    return JobRecord(
        id=row["id"], owner=row["owner"], status=row["status"], options=row["options"],
        webhook_url=row["webhook_url"], total=row["total"], done=row["done"], failed=row["failed"],
        cancelled=row["cancelled"], created_at=row["created_at"], finished_at=row["finished_at"], items=items,
    )


def _item(row: Any) -> ItemRecord:
    return ItemRecord(
        index=row["idx"], name=row["name"], sha256=row["sha256"], status=row["status"], attempts=row["attempts"],
        cached=bool(row["cached"]), result=row["result"], error_code=row["error_code"],
        error_message=row["error_message"], enqueued_at=row["enqueued_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], worker=row["worker"],
    )
