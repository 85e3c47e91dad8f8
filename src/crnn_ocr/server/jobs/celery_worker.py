"""The ``crnn-ocr worker`` process of Redis mode: a Celery worker running the item task.

``worker_app(settings)`` is the Celery app of the queue (``celery_queue``) with ``TASK``
registered; each task starts its item in Redis (``RedisJobStore.start_item``: skipped when it is
finished, cancelled or gone; failed with ``worker_lost`` after ``job_max_attempts`` deliveries)
and hands it to ``process_item``, as the embedded workers do. Each worker process loads the OCR
model once, at its first task (``load_model``).
"""

from __future__ import annotations

import logging
import threading
import time

from celery import Celery

from crnn_ocr.server.jobs.celery_queue import QUEUE, TASK, make_celery
from crnn_ocr.server.jobs.redis_store import GivenUp, RedisJobStore
from crnn_ocr.server.jobs.worker import process_item, worker_name
from crnn_ocr.server.logs import REQUEST_ID, configure_logging
from crnn_ocr.server.model_registry import ModelRegistry, load_model
from crnn_ocr.server.settings import ServerSettings
from crnn_ocr.server.webhooks import send_webhook

log = logging.getLogger("crnn_ocr.server.jobs")


class WorkerContext:
    """What a worker process keeps between tasks: settings, the store, and the model (loaded once)."""

    def __init__(self, settings: ServerSettings) -> None:
        self.settings = settings
        self.store = RedisJobStore(
            settings.broker_url or "", result_ttl_s=settings.result_ttl_s, max_attempts=settings.job_max_attempts
        )
        self._models: ModelRegistry | None = None
        self._lock = threading.Lock()

    def models(self) -> ModelRegistry:
        with self._lock:
            if self._models is None:
                self._models = ModelRegistry(
                    load_model(self.settings), threads=self.settings.threads, user_dir=self.settings.user_model_dir
                )
                log.info("worker %s loaded model %s", worker_name(), self._models.default.name)
            return self._models

    def run_item(self, job_id: str, index: int) -> str:
        """Read one item (the task body). Returns what happened, for the worker log."""
        started = self.store.start_item(job_id, index, worker_name())
        if started is None:
            return "skipped (finished, cancelled or gone)"
        if isinstance(started, GivenUp):
            if started.job is not None and started.job.webhook_url:
                send_webhook(started.job, self.settings)
            return "failed: worker_lost (given up)"
        # The history entry goes to Redis before the item is finished: a finished job's entries are all pushed.
        outcome = process_item(started, self.store, self.models().get, self.settings, self.store.push_history)
        return "done" if outcome.ok else f"failed: {outcome.error_code}"


def worker_app(settings: ServerSettings) -> Celery:
    """The Celery app of ``crnn-ocr worker``, with the item task registered."""
    app = make_celery(settings)
    context = WorkerContext(settings)

    @app.task(name=TASK, acks_late=True, reject_on_worker_lost=True)
    def item(job_id: str, index: int) -> str:
        token = REQUEST_ID.set(f"job-{job_id}-{index}")  # the log lines of one item share an id
        try:
            start = time.perf_counter()
            result = context.run_item(job_id, index)
            log.info("item %s/%d %s in %.0f ms", job_id, index, result, (time.perf_counter() - start) * 1000)
            return result
        finally:
            REQUEST_ID.reset(token)

    return app


def run_worker(settings: ServerSettings, concurrency: int) -> int:
    """Run a Celery worker: one process (``solo`` pool) for ``concurrency`` 1, else a prefork pool.
    Logs as the server does (``settings.log_format``): Celery keeps the root logger's handler."""
    configure_logging(settings.log_level, settings.log_format)
    app = worker_app(settings)
    app.conf.worker_hijack_root_logger = False
    argv = [
        "worker", f"--loglevel={settings.log_level.upper()}", f"--queues={QUEUE}", "--without-gossip", "--without-mingle",
        f"--hostname=crnn-ocr-{worker_name().replace(':', '-')}@%h",
    ]
    argv += ["--pool=solo"] if concurrency == 1 else ["--pool=prefork", f"--concurrency={concurrency}"]
    app.worker_main(argv)
    return 0
