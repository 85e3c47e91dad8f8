"""The server's side of batch jobs: accept (store first, then dispatch), look up, cancel, delete.

``JobService`` is the same in both modes; the store and the way items reach workers come from
``dispatch.open_jobs`` (embedded threads, or Celery tasks on Redis).

A job is stored durably before the 202 answer: its options are checked once (``ReadRequest``; the
stored form is ``ReadRequest.options_json``), items already known to be bad fail at once with
their error, and items whose result is in the cache are done at once (a job finished that way calls
its webhook at once, on a thread of its own). A thread deletes expired jobs and history entries
every ``purge_interval_s``; deleting a job also deletes the history entries (so the cached
results) it made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crnn_ocr.documents import DocumentLimits, check_options
from crnn_ocr.errors import OCRError, OptionsError
from crnn_ocr.server.errors import RateLimitedError
from crnn_ocr.server.history import HistoryEntry, HistoryStore, cache_key
from crnn_ocr.server.jobs.dispatch import Dispatch, open_jobs
from crnn_ocr.server.jobs.records import JobRecord, JobStore, NewItem
from crnn_ocr.server.model_registry import ModelSource
from crnn_ocr.server.reading import ReadRequest, check_headers, limits_of
from crnn_ocr.server.settings import ServerSettings
from crnn_ocr.server.telemetry import record_cache_lookup
from crnn_ocr.server.webhooks import check_webhook_url, send_webhook

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR

log = logging.getLogger("crnn_ocr.server.jobs")


@dataclass(frozen=True)
class JobInput:
    """One submitted file: its bytes, or the error that already refused it (bad base64, too big)."""

    name: str
    data: bytes | None
    error: OCRError | None = None


class JobService:
    def __init__(
        self, settings: ServerSettings, store: JobStore, history: HistoryStore | None, dispatch: Dispatch | None
    ) -> None:
        self.settings = settings
        self.store = store
        self.history = history
        self.dispatch = dispatch
        self.model_sha256: str | None = None
        self._stop = threading.Event()
        self._purge: threading.Thread | None = None

    @classmethod
    def create(cls, settings: ServerSettings) -> JobService:
        history = HistoryStore(settings.store_path, ttl_s=settings.history_ttl_s) if settings.history else None
        store, dispatch = open_jobs(settings, history)
        return cls(settings, store, history, dispatch)

    @property
    def mode(self) -> str:
        return "redis" if self.settings.redis_mode else "embedded"

    def start(self, model_sha256: str, models: ModelSource) -> None:
        """The model is loaded: items reach workers (``models(name)``: the model an item's options
        name, None the server's own), and expired records are purged."""
        self.model_sha256 = model_sha256
        if self.dispatch is not None:
            self.dispatch.start(models)
        self._purge = threading.Thread(target=self._purge_expired, name="crnn-ocr-purge", daemon=True)
        self._purge.start()

    def submit(
        self, owner: str, inputs: list[JobInput], request: ReadRequest, webhook_url: str | None, ocr: OCR | None,
        max_unfinished: int = 0, model_sha256: str | None = None,
    ) -> JobRecord:
        """Store the job (durably) and dispatch its items. Raises OptionsError for bad options, a
        webhook not allowed, or too many items; RateLimitedError when ``owner`` has
        ``max_unfinished`` (0: no limit) jobs pending or running already; a bad file fails only its item.
        ``model_sha256``: the model ``request.model`` names (default: the server's own), for the cache."""
        if max_unfinished and self.store.count_unfinished(owner) >= max_unfinished:
            raise RateLimitedError(
                f"this key has {max_unfinished} unfinished jobs already, its limit; retry when one finishes",
                retry_after_s=5.0,
            )
        if not inputs:
            raise OptionsError("a job needs at least one image")
        if len(inputs) > self.settings.max_job_items:
            raise OptionsError(f"a job takes at most {self.settings.max_job_items} images; got {len(inputs)}")
        if webhook_url:
            check_webhook_url(webhook_url, self.settings.webhook_allowed_hosts)
        check_options(request.document)  # once per job; each item's headers below
        if ocr is not None:
            ocr.recognizer.check_options(request.options.decode)
        options_json = request.options_json()
        model_sha256 = model_sha256 or self.model_sha256
        limits = limits_of(self.settings)
        items = [self._new_item(owner, i, options_json, request, limits, model_sha256) for i in inputs]
        job = self.store.create_job(owner, options_json, items, webhook_url or None)
        if self.history is not None and self.settings.history and model_sha256 is not None:
            for index, item in enumerate(items):
                if item.cached_result is not None:
                    self.history.record(_cached_entry(
                        owner, item.name, item.sha256, options_json, model_sha256, item.cached_result,
                        job.id, index,
                    ))
        if job.finished:  # every item refused or cached: no worker will ever finish it
            if job.webhook_url:
                threading.Thread(
                    target=send_webhook, args=(job, self.settings), name="crnn-ocr-webhook", daemon=True
                ).start()
        elif self.dispatch is not None:
            self.dispatch.dispatch(job)
        return job

    def delete_job(self, job_id: str, scope: str | None) -> bool:
        """Remove a job with its images, results and the history entries (cached results) it made."""
        self._drain_history()
        job = self.store.get_job(job_id, scope)
        if job is None or not self.store.delete_job(job_id, scope):
            return False
        if self.history is not None:
            self.history.delete_job(job_id, job.owner)
        return True

    def purge(self, owner: str | None) -> tuple[int, int]:
        """Remove every job and history entry of ``owner`` (None: everyone's): (jobs, entries)."""
        self._drain_history()
        jobs = self.store.delete_all(owner)
        entries = self.history.delete_all(owner) if self.history is not None else 0
        return jobs, entries

    def purge_expired(self) -> tuple[int, int]:
        """Delete expired jobs (with their results) and history entries: (jobs, entries)."""
        jobs = self.store.purge_expired()
        entries = self.history.purge_expired() if self.history is not None else 0
        return jobs, entries

    def _drain_history(self) -> None:
        """Redis mode: move the history entries still in Redis into the history store first."""
        if self.settings.redis_mode and self.history is not None:
            self.store.drain_history(self.history)  # type: ignore[attr-defined]

    def _new_item(
        self, owner: str, given: JobInput, options_json: str, request: ReadRequest, limits: DocumentLimits,
        model_sha256: str | None,
    ) -> NewItem:
        data = given.data or b""
        sha = hashlib.sha256(data).hexdigest()
        error = given.error
        if error is None:
            try:
                check_headers(data, request.document, limits)
            except OCRError as exc:
                error = exc
        if error is not None:
            return NewItem(given.name, sha, None, error=(error.code, str(error) or error.code))
        cached = self.cached(owner, sha, options_json, model_sha256)
        return NewItem(given.name, sha, data, cached_result=cached)

    def cached(self, owner: str, sha256: str, options_json: str, model_sha256: str | None = None) -> str | None:
        """The cached result of this image, options and model (default: the server's own model)."""
        model_sha256 = model_sha256 or self.model_sha256
        if not (self.settings.cache and self.history is not None and model_sha256 is not None):
            return None
        found = self.history.cached_result(owner, cache_key(sha256, options_json, model_sha256))
        record_cache_lookup(found is not None)
        return found

    def _purge_expired(self) -> None:
        while not self._stop.wait(self.settings.purge_interval_s):
            try:
                self.purge_expired()
            except Exception:
                log.exception("deleting expired jobs and history entries failed")

    def close(self) -> None:
        self._stop.set()
        if self.dispatch is not None:
            self.dispatch.stop()
        if self._purge is not None:
            self._purge.join(5)
        self.store.close()
        if self.history is not None:
            self.history.close()


def _cached_entry(
    owner: str, name: str, sha: str, options: str, model_sha: str, result: str, job_id: str, index: int
) -> HistoryEntry:
    body = json.loads(result)
    return HistoryEntry(
        owner=owner, source="job", sha256=sha, options=options, model_sha256=model_sha, text=body.get("text", ""),
        result=result, total_ms=0.0, cached=True, name=name, job_id=job_id, item_index=index,
    )
