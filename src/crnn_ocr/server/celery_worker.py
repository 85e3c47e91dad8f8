"""Redis mode's work queue: a Celery app on the Redis broker, one task per job item.

``make_celery(settings)`` builds the app for both sides: the server only sends ``crnn_ocr.item``
tasks by name (it runs no OCR for jobs); ``crnn-ocr worker`` (``run_worker``) registers the task
and runs a Celery worker. Delivery is at least once and safe against dying workers:

- ``task_acks_late``: a task is acknowledged after it ran, so a worker killed mid-item leaves its
  message unacknowledged; Redis hands it to another worker after ``broker_visibility_timeout_s``
  (the workers look for such messages every ``visibility / 4`` seconds).
- ``task_reject_on_worker_lost``: a pool process that dies puts its task back at once.
- ``worker_prefetch_multiplier=1``: a worker holds only the items it is reading.
- Recording an outcome is idempotent (``RedisJobStore.finish_item``), so a redelivered item
  that was already finished is skipped.
- An item whose workers died ``job_max_attempts`` times is failed with ``worker_lost`` at its
  next delivery (``RedisJobStore.start_item``): one poison input cannot kill workers forever.

Each worker process loads the OCR model once, at its first task.
"""

from __future__ import annotations

import logging
import threading
import time

from celery import Celery

from crnn_ocr.server.job_worker import history_entry, read_with_model, worker_name
from crnn_ocr.server.logs import REQUEST_ID, configure_logging
from crnn_ocr.server.model_registry import ModelRegistry
from crnn_ocr.server.redis_jobs import GivenUp, RedisJobStore
from crnn_ocr.server.schemas import OptionsIn
from crnn_ocr.server.settings import ServerSettings
from crnn_ocr.server.webhooks import send_webhook

log = logging.getLogger("crnn_ocr.server.jobs")

TASK = "crnn_ocr.item"
QUEUE = "crnn-ocr"


def make_celery(settings: ServerSettings) -> Celery:
    if settings.broker_url is None:
        raise ValueError("Redis mode needs broker_url (redis://host:port/db)")
    visibility = settings.broker_visibility_timeout_s
    app = Celery("crnn_ocr", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, int(visibility / 4)),
            "unacked_restore_throttle": 1,
        },
    )
    return app


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
                from crnn_ocr.pipeline import OCR

                s = self.settings
                ocr = OCR(
                    s.model_path, threads=s.threads, det_model_path=s.det_model_path,
                    max_pixels=s.max_pixels, max_pages=s.max_pages,
                )
                self._models = ModelRegistry(ocr, threads=s.threads)
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
        data, options, owner, name, sha, _attempts = started
        outcome, model_sha = read_with_model(
            self.models().get, data, OptionsIn.model_validate_json(options), self.settings
        )
        entry = history_entry(owner, job_id, index, name, sha, options, model_sha, outcome)
        if entry is not None and self.settings.history:
            self.store.push_history(entry)  # before finishing: a finished job's entries are all pushed
        finished = self.store.finish_item(job_id, index, outcome)
        if finished is not None and finished.webhook_url:
            send_webhook(finished, self.settings)
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
