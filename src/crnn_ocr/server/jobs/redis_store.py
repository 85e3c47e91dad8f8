"""Redis mode: job state, item images and results in Redis (redis-py), work through Celery.

Keys (prefix ``crnn:``)::

    crnn:job:{id}              hash  owner, status, options, webhook_url, total, done, failed, cancelled, times
    crnn:job:{id}:item:{i}     hash  name, sha256, status, attempts, cached, result, error, times, worker
    crnn:job:{id}:data:{i}     bytes the submitted image, deleted once the item is finished
    crnn:jobs:{owner}          zset  job ids by creation time (listing); crnn:jobs:* for everyone
    crnn:history:inbox         list  history entries (JSON) from the workers, drained by the server

An item's outcome is recorded by a Lua script, atomically and at most once: a Celery task that
is redelivered (its worker died after recording but before acknowledging) changes nothing. An
item started ``max_attempts`` times (every worker that took it died) is failed with
``worker_lost`` at its next delivery instead of being read again, as in embedded mode.
Finished jobs expire after ``result_ttl_s``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import redis

from crnn_ocr.server.history import HistoryEntry, HistoryStore
from crnn_ocr.server.jobs.records import (
    FINISHED_ITEM,
    ITEM_STATES,
    ClaimedItem,
    ItemOutcome,
    ItemRecord,
    JobRecord,
    NewItem,
    new_job_id,
    worker_lost,
)

PREFIX = "crnn:"
ALL_JOBS = f"{PREFIX}jobs:*"
HISTORY_INBOX = f"{PREFIX}history:inbox"

_FINISH = """
local status = redis.call('HGET', KEYS[2], 'status')
if (not status) or status == 'done' or status == 'failed' or status == 'cancelled' then return -1 end
redis.call('HSET', KEYS[2], 'status', ARGV[1], 'result', ARGV[2], 'error_code', ARGV[3],
           'error_message', ARGV[4], 'finished_at', ARGV[5])
redis.call('DEL', KEYS[3])
local column = 'done'
if ARGV[1] == 'failed' then column = 'failed' end
redis.call('HINCRBY', KEYS[1], column, 1)
local j = redis.call('HMGET', KEYS[1], 'total', 'done', 'failed', 'cancelled', 'status')
if j[5] ~= 'cancelled' and tonumber(j[2]) + tonumber(j[3]) + tonumber(j[4]) >= tonumber(j[1]) then
  redis.call('HSET', KEYS[1], 'status', 'completed', 'finished_at', ARGV[5])
  return 1
end
return 0
"""

_START = """
local status = redis.call('HGET', KEYS[2], 'status')
local job = redis.call('HGET', KEYS[1], 'status')
if (not status) or (not job) or job == 'cancelled' or status == 'done' or status == 'failed'
   or status == 'cancelled' then return nil end
local attempts = tonumber(redis.call('HGET', KEYS[2], 'attempts') or '0')
if attempts >= tonumber(ARGV[3]) then
  -- started max_attempts times already and never finished: every worker that took it died
  redis.call('HSET', KEYS[2], 'status', 'failed', 'error_code', ARGV[4], 'error_message', ARGV[5],
             'finished_at', ARGV[1])
  redis.call('DEL', KEYS[3])
  redis.call('HINCRBY', KEYS[1], 'failed', 1)
  local j = redis.call('HMGET', KEYS[1], 'total', 'done', 'failed', 'cancelled')
  if tonumber(j[2]) + tonumber(j[3]) + tonumber(j[4]) >= tonumber(j[1]) then
    redis.call('HSET', KEYS[1], 'status', 'completed', 'finished_at', ARGV[1])
    return 1
  end
  return 0
end
redis.call('HSET', KEYS[2], 'status', 'running', 'worker', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'attempts', 1)
redis.call('HSETNX', KEYS[2], 'started_at', ARGV[1])
if job == 'pending' then redis.call('HSET', KEYS[1], 'status', 'running') end
return {redis.call('GET', KEYS[3]), redis.call('HGET', KEYS[1], 'options'), redis.call('HGET', KEYS[1], 'owner'),
        redis.call('HGET', KEYS[2], 'name'), redis.call('HGET', KEYS[2], 'sha256'),
        redis.call('HGET', KEYS[2], 'attempts')}
"""


@dataclass(frozen=True)
class GivenUp:
    """``start_item``'s answer for an item failed with ``worker_lost``: ``job`` when that finished it."""

    job: JobRecord | None


def _job_key(job_id: str) -> str:
    return f"{PREFIX}job:{job_id}"


def _item_key(job_id: str, index: int) -> str:
    return f"{PREFIX}job:{job_id}:item:{index}"


def _data_key(job_id: str, index: int) -> str:
    return f"{PREFIX}job:{job_id}:data:{index}"


def _owner_key(owner: str) -> str:
    return f"{PREFIX}jobs:{owner}"


class RedisJobStore:
    """The ``JobStore`` of Redis mode, shared by the server and every worker."""

    def __init__(self, url: str, *, result_ttl_s: float, max_attempts: int = 3) -> None:
        self.redis = redis.Redis.from_url(url)
        self.result_ttl_s = result_ttl_s
        self.max_attempts = max_attempts
        self._given_up = worker_lost(max_attempts)
        self._finish = self.redis.register_script(_FINISH)
        self._start = self.redis.register_script(_START)

    # ---- the API side --------------------------------------------------------------------------

    def create_job(
        self, owner: str, options: str, items: Sequence[NewItem], webhook_url: str | None
    ) -> JobRecord:
        job_id, now = new_job_id(), time.time()
        done = sum(1 for i in items if i.cached_result is not None)
        failed = sum(1 for i in items if i.error is not None)
        status = "completed" if done + failed == len(items) else "pending"
        pipe = self.redis.pipeline(transaction=True)
        job = {
            "id": job_id, "owner": owner, "status": status, "options": options, "webhook_url": webhook_url or "",
            "total": len(items), "done": done, "failed": failed, "cancelled": 0, "created_at": now,
        }
        if status == "completed":
            job["finished_at"] = now
        pipe.hset(_job_key(job_id), mapping=job)
        for index, item in enumerate(items):
            fields: dict = {"name": item.name, "sha256": item.sha256, "enqueued_at": now, "attempts": 0}
            if item.error is not None:
                fields.update(status="failed", error_code=item.error[0], error_message=item.error[1], finished_at=now)
            elif item.cached_result is not None:
                fields.update(status="done", cached=1, result=item.cached_result, finished_at=now)
            else:
                fields["status"] = "pending"
                pipe.set(_data_key(job_id, index), item.data or b"")
            pipe.hset(_item_key(job_id, index), mapping=fields)
        pipe.zadd(_owner_key(owner), {job_id: now})
        pipe.zadd(ALL_JOBS, {job_id: now})
        pipe.execute()
        if status == "completed":
            self._expire(job_id, len(items))
        record = self.get_job(job_id, owner)
        assert record is not None
        return record

    def pending_items(self, job: JobRecord) -> list[int]:
        return [item.index for item in job.items if item.status == "pending"]

    def mark_enqueued(self, job_id: str, indexes: Sequence[int]) -> None:
        """The time the items were handed to the broker (queue latency is measured from it)."""
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for index in indexes:
            pipe.hset(_item_key(job_id, index), "enqueued_at", now)
        pipe.execute()

    def get_job(self, job_id: str, owner: str | None, with_items: bool = True) -> JobRecord | None:
        raw = self.redis.hgetall(_job_key(job_id))
        if not raw:
            return None
        job = {k.decode(): v.decode() for k, v in raw.items()}
        if owner is not None and job["owner"] != owner:
            return None
        items: tuple[ItemRecord, ...] = ()
        if with_items:
            pipe = self.redis.pipeline(transaction=False)
            for index in range(int(job["total"])):
                pipe.hgetall(_item_key(job_id, index))
            items = tuple(
                _item(index, {k.decode(): v.decode() for k, v in fields.items()})
                for index, fields in enumerate(pipe.execute())
                if fields
            )
        return JobRecord(
            id=job["id"], owner=job["owner"], status=job["status"], options=job["options"],  # type: ignore[arg-type]
            webhook_url=job.get("webhook_url") or None, total=int(job["total"]), done=int(job["done"]),
            failed=int(job["failed"]), cancelled=int(job["cancelled"]), created_at=float(job["created_at"]),
            finished_at=float(job["finished_at"]) if job.get("finished_at") else None, items=items,
        )

    def list_jobs(self, owner: str | None, page: int, page_size: int) -> tuple[list[JobRecord], int]:
        index = ALL_JOBS if owner is None else _owner_key(owner)
        self.redis.zremrangebyscore(index, "-inf", time.time() - self.result_ttl_s - 3600)
        total = self.redis.zcard(index)
        start = (page - 1) * page_size
        ids = self.redis.zrevrange(index, start, start + page_size - 1)
        jobs = [self.get_job(i.decode(), owner, with_items=False) for i in ids]
        return [j for j in jobs if j is not None], total

    def cancel_job(self, job_id: str, owner: str | None) -> JobRecord | None:
        job = self.get_job(job_id, owner)
        if job is None:
            return None
        if not job.finished:
            now = time.time()
            pipe = self.redis.pipeline(transaction=True)
            cancelled = [i.index for i in job.items if i.status in ("pending", "running")]
            for index in cancelled:
                pipe.hset(_item_key(job_id, index), mapping={"status": "cancelled", "finished_at": now})
                pipe.delete(_data_key(job_id, index))
            pipe.hincrby(_job_key(job_id), "cancelled", len(cancelled))
            pipe.hset(_job_key(job_id), mapping={"status": "cancelled", "finished_at": now})
            pipe.execute()
            self._expire(job_id, job.total)
        return self.get_job(job_id, owner)

    def delete_job(self, job_id: str, owner: str | None) -> bool:
        job = self.get_job(job_id, owner, with_items=False)
        if job is None:
            return False
        keys = [_job_key(job_id)]
        for index in range(job.total):
            keys += [_item_key(job_id, index), _data_key(job_id, index)]
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(*keys)
        pipe.zrem(_owner_key(job.owner), job_id)
        pipe.zrem(ALL_JOBS, job_id)
        pipe.execute()
        return True

    def delete_all(self, owner: str | None) -> int:
        index = ALL_JOBS if owner is None else _owner_key(owner)
        deleted = 0
        for raw in self.redis.zrange(index, 0, -1):
            deleted += self.delete_job(raw.decode(), owner)
        if owner is None:
            for key in self.redis.scan_iter(match=f"{PREFIX}jobs:*"):
                self.redis.delete(key)
        return deleted

    def count_unfinished(self, owner: str) -> int:
        ids = self.redis.zrange(_owner_key(owner), 0, -1)
        pipe = self.redis.pipeline(transaction=False)
        for raw in ids:
            pipe.hget(_job_key(raw.decode()), "status")
        return sum(1 for status in pipe.execute() if status in (b"pending", b"running"))

    def purge_expired(self, now: float | None = None) -> int:
        return 0  # finished jobs carry a Redis TTL

    def item_states(self) -> dict[str, int]:
        """Finished items from each job's counters; an unfinished job's items one by one."""
        counts = dict.fromkeys(ITEM_STATES, 0)
        ids = [raw.decode() for raw in self.redis.zrange(ALL_JOBS, 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(_job_key(job_id), "status", "total", "done", "failed", "cancelled")
        unfinished = []
        for job_id, fields in zip(ids, pipe.execute()):
            if fields[0] is None:
                continue  # expired
            total, done, failed, cancelled = (int(v or 0) for v in fields[1:])
            counts["done"] += done
            counts["failed"] += failed
            counts["cancelled"] += cancelled
            if fields[0] in (b"pending", b"running"):
                unfinished.append((job_id, total))
        for job_id, total in unfinished:
            for index in range(total):
                pipe.hget(_item_key(job_id, index), "status")
        for status in pipe.execute() if unfinished else ():
            if status in (b"pending", b"running"):
                counts[status.decode()] += 1
        return counts

    # ---- the worker side -----------------------------------------------------------------------

    def start_item(self, job_id: str, index: int, worker: str) -> ClaimedItem | GivenUp | None:
        """The item to read now (as the SQL store's ``claim`` gives it); None when it is
        finished, cancelled or gone (a redelivered task, a cancelled or expired job); ``GivenUp``
        when it was started ``max_attempts`` times already (each time its worker died): it is
        failed with ``worker_lost`` instead, as the embedded store does."""
        lost = self._given_up
        got = self._start(
            keys=[_job_key(job_id), _item_key(job_id, index), _data_key(job_id, index)],
            args=[time.time(), worker, self.max_attempts, lost.error_code or "", lost.error_message or ""],
        )
        if isinstance(got, int):
            job = self.get_job(job_id, None) if got == 1 else None
            if job is not None:
                self._expire(job_id, job.total)
            return GivenUp(job)
        if not got or got[0] is None:
            return None
        data, options, owner, name, sha, attempts = got
        return ClaimedItem(
            job_id, index, owner.decode(), name.decode(), sha.decode(), data, options.decode(), int(attempts)
        )

    def finish_item(self, job_id: str, index: int, outcome: ItemOutcome) -> JobRecord | None:
        status = "done" if outcome.ok else "failed"
        completed = self._finish(
            keys=[_job_key(job_id), _item_key(job_id, index), _data_key(job_id, index)],
            args=[status, outcome.result or "", outcome.error_code or "", outcome.error_message or "", time.time()],
        )
        if completed != 1:
            return None
        job = self.get_job(job_id, None)
        if job is not None:
            self._expire(job_id, job.total)
        return job

    def push_history(self, entry: HistoryEntry) -> None:
        self.redis.rpush(HISTORY_INBOX, json.dumps(asdict(entry), ensure_ascii=False))

    def drain_history(self, history: HistoryStore, limit: int = 500) -> int:
        """Move the workers' history entries into the server's history store."""
        moved = 0
        while moved < limit:
            raw = self.redis.lpop(HISTORY_INBOX)
            if raw is None:
                break
            history.record(HistoryEntry(**json.loads(raw)))
            moved += 1
        return moved

    def _expire(self, job_id: str, total: int) -> None:
        ttl = max(1, int(self.result_ttl_s))
        pipe = self.redis.pipeline(transaction=False)
        pipe.expire(_job_key(job_id), ttl)
        for index in range(total):
            pipe.expire(_item_key(job_id, index), ttl)
            pipe.delete(_data_key(job_id, index))
        pipe.execute()

    def close(self) -> None:
        self.redis.close()


def _item(index: int, f: dict[str, str]) -> ItemRecord:
    def num(name: str) -> float | None:
        return float(f[name]) if f.get(name) else None

    status = f.get("status", "pending")
    return ItemRecord(
        index=index, name=f.get("name", ""), sha256=f.get("sha256", ""), status=status,  # type: ignore[arg-type]
        attempts=int(f.get("attempts") or 0), cached=f.get("cached") == "1", result=f.get("result") or None,
        error_code=f.get("error_code") or None, error_message=f.get("error_message") or None,
        enqueued_at=num("enqueued_at") or 0.0, started_at=num("started_at"),
        finished_at=num("finished_at") if status in FINISHED_ITEM else None, worker=f.get("worker") or None,
    )
