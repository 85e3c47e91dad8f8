"""Embedded mode's workers: ``job_workers`` threads in the server process that claim items from
the ``SqlJobStore`` (atomically, with a lease renewed while the item is read) and hand each to
``process_item``. After a ``kill -9`` and a restart, items whose lease ran out are claimed again,
so every accepted job finishes; an item given up after ``max_attempts`` claims calls its job's
webhook when that finished the job.
"""

from __future__ import annotations

import logging
import threading

from crnn_ocr.server.history import HistoryStore
from crnn_ocr.server.jobs.records import ClaimedItem, JobRecord
from crnn_ocr.server.jobs.sql_store import SqlJobStore
from crnn_ocr.server.jobs.worker import process_item, worker_name
from crnn_ocr.server.model_registry import ModelSource
from crnn_ocr.server.settings import ServerSettings
from crnn_ocr.server.webhooks import send_webhook

log = logging.getLogger("crnn_ocr.server.jobs")


class EmbeddedWorkers:
    """``count`` threads reading items from the SQL store (see the module docstring)."""

    def __init__(
        self, store: SqlJobStore, history: HistoryStore | None, settings: ServerSettings, count: int
    ) -> None:
        self.store, self.history, self.settings, self.count = store, history, settings, count
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._reading: dict[tuple[str, int], None] = {}
        self._lock = threading.Lock()

    def start(self, models: ModelSource) -> None:
        self._models = models
        for n in range(self.count):
            t = threading.Thread(target=self._run, name=f"crnn-ocr-job-{n}", daemon=True)
            t.start()
            self._threads.append(t)
        t = threading.Thread(target=self._keep_leases, name="crnn-ocr-job-leases", daemon=True)
        t.start()
        self._threads.append(t)

    def dispatch(self, job: JobRecord) -> None:
        """New items were stored: wake the idle workers (they claim the items from the store)."""
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout_s)
        self._threads.clear()

    def _run(self) -> None:
        name = f"{worker_name()}:{threading.current_thread().name}"
        while not self._stop.is_set():
            try:
                item = self.store.claim(name, on_given_up=self._given_up)
            except Exception:
                log.exception("claiming a job item failed")
                self._stop.wait(1.0)
                continue
            if item is None:
                self._wake.wait(0.5)
                self._wake.clear()
                continue
            self._process(item)

    def _process(self, item: ClaimedItem) -> None:
        key = (item.job_id, item.index)
        with self._lock:
            self._reading[key] = None
        try:
            record = self.history.record if self.history is not None else None
            process_item(item, self.store, self._models, self.settings, record)
        finally:
            with self._lock:
                self._reading.pop(key, None)

    def _given_up(self, job: JobRecord) -> None:
        """A job just completed by giving up an item: call its webhook."""
        if job.webhook_url:
            send_webhook(job, self.settings)

    def _keep_leases(self) -> None:
        """Renew the lease of every item being read, three times per lease."""
        interval = self.store.lease_s / 3
        while not self._stop.wait(interval):
            with self._lock:
                keys = list(self._reading)
            for job_id, index in keys:
                try:
                    self.store.renew(job_id, index)
                except Exception:
                    log.exception("renewing the lease of %s/%d failed", job_id, index)
