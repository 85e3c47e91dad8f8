"""How a stored job's items reach a worker, one interface for both modes:

- embedded (default): a ``SqlJobStore`` and ``EmbeddedWorkers`` threads in this process (none
  with ``job_workers = 0``: items wait in the store);
- Redis (``broker_url``): a ``RedisJobStore`` shared with ``crnn-ocr worker`` processes, each item
  sent as a Celery task (``CeleryDispatch``); this process runs no OCR for jobs and drains the
  workers' history entries into its own history store.

``open_jobs(settings, history)`` answers the store and the dispatch of the configured mode.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Protocol

from crnn_ocr.server.history import HistoryStore
from crnn_ocr.server.jobs.records import JobRecord, JobStore
from crnn_ocr.server.model_registry import ModelSource
from crnn_ocr.server.settings import ServerSettings

if TYPE_CHECKING:
    from crnn_ocr.server.jobs.redis_store import RedisJobStore

log = logging.getLogger("crnn_ocr.server.jobs")


class Dispatch(Protocol):
    def start(self, models: ModelSource) -> None:
        """The model is loaded: start handing items to workers."""
        ...

    def dispatch(self, job: JobRecord) -> None:
        """``job`` was stored with items still to read: have them read."""
        ...

    def stop(self) -> None: ...


def open_jobs(settings: ServerSettings, history: HistoryStore | None) -> tuple[JobStore, Dispatch | None]:
    """The job store and dispatch of the mode ``settings`` configure (see the module docstring)."""
    if settings.redis_mode:
        from crnn_ocr.server.jobs.redis_store import RedisJobStore  # the redis and celery extras

        redis_store = RedisJobStore(
            settings.broker_url or "", result_ttl_s=settings.result_ttl_s, max_attempts=settings.job_max_attempts
        )
        return redis_store, CeleryDispatch(settings, redis_store, history)
    from crnn_ocr.server.jobs.embedded import EmbeddedWorkers
    from crnn_ocr.server.jobs.sql_store import SqlJobStore

    store = SqlJobStore(
        settings.store_path, result_ttl_s=settings.result_ttl_s, lease_s=settings.job_lease_s,
        max_attempts=settings.job_max_attempts,
    )
    workers = EmbeddedWorkers(store, history, settings, settings.job_workers) if settings.job_workers > 0 else None
    return store, workers


class CeleryDispatch:
    """Redis mode: one Celery task per pending item; a thread drains the workers' history entries."""

    def __init__(self, settings: ServerSettings, store: RedisJobStore, history: HistoryStore | None) -> None:
        from crnn_ocr.server.jobs.celery_queue import make_celery

        self.store = store
        self.history = history
        self.celery = make_celery(settings)
        self._stop = threading.Event()
        self._drain: threading.Thread | None = None

    def start(self, models: ModelSource) -> None:
        if self.history is not None:
            self._drain = threading.Thread(target=self._drain_history, name="crnn-ocr-history", daemon=True)
            self._drain.start()

    def dispatch(self, job: JobRecord) -> None:
        from crnn_ocr.server.jobs.celery_queue import QUEUE, TASK

        pending = self.store.pending_items(job)
        self.store.mark_enqueued(job.id, pending)
        for index in pending:
            self.celery.send_task(TASK, args=[job.id, index], queue=QUEUE)

    def stop(self) -> None:
        self._stop.set()
        if self._drain is not None:
            self._drain.join(5)

    def _drain_history(self) -> None:
        assert self.history is not None
        while not self._stop.wait(0.5):
            try:
                self.store.drain_history(self.history)
            except Exception:
                log.exception("draining the workers' history entries failed")
                self._stop.wait(2.0)
