"""Reading one job item, and the embedded worker pool that reads items from the SQLite store.

``read_item`` is what every worker does with an item, embedded or Celery: the same input checks,
pipeline and error codes as ``POST /api/v1/ocr``; an error fails that item only, with its code
and message kept in the job result.

``EmbeddedWorkers``: ``job_workers`` threads in the server process claim items from the
``SqlJobStore`` (atomically, with a lease renewed while the item is read), record each outcome
and its history entry, and call the job's webhook (``crnn_ocr.server.webhooks``) when the job
completes. After a ``kill -9`` and a restart, items whose lease ran out are claimed again, so
every accepted job finishes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING

from crnn_ocr.errors import OCRError
from crnn_ocr.server.errors import GENERIC_500
from crnn_ocr.server.history import HistoryEntry, HistoryStore
from crnn_ocr.server.jobstore import ClaimedItem, ItemOutcome, JobRecord, SqlJobStore
from crnn_ocr.server.model_registry import ModelSource
from crnn_ocr.server.schemas import ModelInfo, OCRResponse, OptionsIn
from crnn_ocr.server.settings import ServerSettings
from crnn_ocr.server.telemetry import record_document
from crnn_ocr.server.webhooks import send_webhook

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR

log = logging.getLogger("crnn_ocr.server.jobs")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def read_item(
    ocr: OCR, data: bytes, options: OptionsIn, settings: ServerSettings, model: ModelInfo | None
) -> ItemOutcome:
    """One item read as ``POST /api/v1/ocr`` would read it: an OCRResponse JSON, or its error."""
    from crnn_ocr.server.routes import check_input, read_document_bytes

    start = time.perf_counter()
    try:
        document = options.to_document()
        limits = check_input(data, document, settings)
        read = read_document_bytes(
            ocr, data, options.to_options(), document, limits, False, settings.preview_max_side, "json"
        )
    except OCRError as exc:
        ms = (time.perf_counter() - start) * 1000
        return ItemOutcome(error_code=exc.code, error_message=str(exc) or exc.code, total_ms=ms)
    except Exception:
        log.exception("reading a job item failed unexpectedly")
        ms = (time.perf_counter() - start) * 1000
        return ItemOutcome(error_code="internal_error", error_message=GENERIC_500, total_ms=ms)
    record_document(read.document, "job")
    ms = (time.perf_counter() - start) * 1000
    response = OCRResponse.from_document(read.document, cost_time_ms=ms, model=model, previews=read.previews)
    return ItemOutcome(result=response.model_dump_json(), text=response.text, total_ms=ms)


def read_with_model(
    models: ModelSource, data: bytes, options: OptionsIn, settings: ServerSettings
) -> tuple[ItemOutcome, str]:
    """``read_item`` with the model the options name (loaded on first use); the outcome and the
    model's SHA-256 (for the history entry). An unknown model fails the item (unknown_model)."""
    try:
        loaded = models(options.model)
    except OCRError as exc:
        return ItemOutcome(error_code=exc.code, error_message=str(exc) or exc.code, total_ms=0.0), ""
    return read_item(loaded.ocr, data, options, settings, loaded.info), loaded.sha256


def history_entry(
    owner: str, job_id: str, index: int, name: str, sha256: str, options: str, model_sha256: str,
    outcome: ItemOutcome,
) -> HistoryEntry | None:
    """The history entry of a job item's outcome (successful results only: they feed the cache)."""
    if not outcome.ok:
        return None
    return HistoryEntry(
        owner=owner, source="job", sha256=sha256, options=options, model_sha256=model_sha256,
        text=outcome.text, result=outcome.result or "", total_ms=outcome.total_ms, name=name,
        job_id=job_id, item_index=index,
    )


# ---- embedded pool -----------------------------------------------------------------------------


class EmbeddedWorkers:
    """``count`` threads reading items from the SQLite store (see the module docstring)."""

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

    def notify(self) -> None:
        """New items were stored: wake the idle workers."""
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
                item = self.store.claim(name, on_given_up=self._finished)
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
            options = OptionsIn.model_validate_json(item.options)
            outcome, model_sha256 = read_with_model(self._models, item.data, options, self.settings)
            # The history entry first: once the job shows finished, deleting it finds every entry.
            if self.history is not None and self.settings.history:
                entry = history_entry(
                    item.owner, item.job_id, item.index, item.name, item.sha256, item.options, model_sha256,
                    outcome,
                )
                if entry is not None:
                    self.history.record(entry)
            finished = self.store.finish_item(item.job_id, item.index, outcome)
        finally:
            with self._lock:
                self._reading.pop(key, None)
        if finished is not None:
            self._finished(finished)

    def _finished(self, job: JobRecord) -> None:
        """A job just completed here (an item read, or one given up): call its webhook."""
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
