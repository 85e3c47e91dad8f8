"""The server's side of batch jobs: accept (store first, then dispatch), look up, cancel, delete.

Two modes behind one ``JobService``:

- embedded (default): a ``SqlJobStore`` and ``EmbeddedWorkers`` threads in this process;
- Redis (``broker_url``): a ``RedisJobStore`` shared with ``crnn-ocr worker`` processes, items
  sent as Celery tasks; this process runs no OCR for jobs and drains the workers' history
  entries into its SQLite history.

Either way a job is stored durably before the 202 answer, items already known to be bad fail at
once with their error, and items whose result is in the cache are done at once (a job finished
that way calls its webhook at once, on a thread of its own). A thread deletes
expired jobs and history entries every ``purge_interval_s``; deleting a job also deletes the
history entries (so the cached results) it made.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from crnn_ocr.errors import OCRError, OptionsError
from crnn_ocr.server.errors import RateLimitedError
from crnn_ocr.server.history import HistoryEntry, HistoryStore, cache_key
from crnn_ocr.server.job_worker import EmbeddedWorkers
from crnn_ocr.server.model_registry import LoadedModel, ModelSource
from crnn_ocr.server.jobstore import JobRecord, JobStore, NewItem, SqlJobStore, canonical_json
from crnn_ocr.server.schemas import ModelInfo, OptionsIn
from crnn_ocr.server.settings import ServerSettings
from crnn_ocr.server.telemetry import record_cache_lookup
from crnn_ocr.server.webhooks import check_webhook_url, send_webhook
from crnn_ocr.types import DocumentOptions

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR
    from crnn_ocr.server.redis_jobs import RedisJobStore

log = logging.getLogger("crnn_ocr.server.jobs")


@dataclass(frozen=True)
class JobInput:
    """One submitted file: its bytes, or the error that already refused it (bad base64, too big)."""

    name: str
    data: bytes | None
    error: OCRError | None = None


class JobService:
    def __init__(self, settings: ServerSettings, store: JobStore, history: HistoryStore | None) -> None:
        self.settings = settings
        self.store = store
        self.history = history
        self.model_sha256: str | None = None
        self._workers: EmbeddedWorkers | None = None
        self._celery = None
        self._stop = threading.Event()
        self._drain: threading.Thread | None = None
        self._purge: threading.Thread | None = None

    @classmethod
    def create(cls, settings: ServerSettings) -> JobService:
        history = HistoryStore(settings.store_path, ttl_s=settings.history_ttl_s) if settings.history else None
        if settings.redis_mode:
            from crnn_ocr.server.celery_worker import make_celery
            from crnn_ocr.server.redis_jobs import RedisJobStore

            store = RedisJobStore(
                settings.broker_url or "", result_ttl_s=settings.result_ttl_s, max_attempts=settings.job_max_attempts
            )
            service = cls(settings, store, history)
            service._celery = make_celery(settings)
            return service
        store = SqlJobStore(
            settings.store_path, result_ttl_s=settings.result_ttl_s, lease_s=settings.job_lease_s,
            max_attempts=settings.job_max_attempts,
        )
        service = cls(settings, store, history)
        if settings.job_workers > 0:
            service._workers = EmbeddedWorkers(store, history, settings, settings.job_workers)
        return service

    @property
    def mode(self) -> str:
        return "redis" if self.settings.redis_mode else "embedded"

    def start(self, ocr: OCR, model: ModelInfo | None, model_sha256: str, models: ModelSource | None = None) -> None:
        """The model is loaded: embedded workers start reading (with ``models(name)``: the model an
        item's options name; default: ``ocr`` only); Redis mode starts draining history."""
        self.model_sha256 = model_sha256
        if self._workers is not None:
            self._workers.start(models or (lambda _name: LoadedModel(model.name if model else "", ocr, model, model_sha256)))
        if self.settings.redis_mode and self.history is not None:
            self._drain = threading.Thread(target=self._drain_history, name="crnn-ocr-history", daemon=True)
            self._drain.start()
        self._purge = threading.Thread(target=self._purge_expired, name="crnn-ocr-purge", daemon=True)
        self._purge.start()

    def submit(
        self, owner: str, inputs: list[JobInput], options: OptionsIn, webhook_url: str | None, ocr: OCR | None,
        max_unfinished: int = 0, model_sha256: str | None = None,
    ) -> JobRecord:
        """Store the job (durably) and dispatch its items. Raises OptionsError for bad options, a
        webhook not allowed, or too many items; RateLimitedError when ``owner`` has
        ``max_unfinished`` (0: no limit) jobs pending or running already; a bad file fails only its item.
        ``model_sha256``: the model ``options.model`` names (default: the server's own), for the cache."""
        from crnn_ocr.documents import check_options

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
        check_options(options.to_document())
        if ocr is not None:
            ocr.recognizer.check_options(options.to_options().decode)
        options_json = canonical_json(options.model_dump(mode="json"))
        model_sha256 = model_sha256 or self.model_sha256
        items = [self._new_item(owner, i, options_json, options.to_document(), model_sha256) for i in inputs]
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
        else:
            self._dispatch(job)
        return job

    def delete_job(self, job_id: str, scope: str | None) -> bool:
        """Remove a job with its images, results and the history entries (cached results) it made."""
        if self.settings.redis_mode and self.history is not None:
            self.store.drain_history(self.history)  # type: ignore[attr-defined] - entries still in Redis
        job = self.store.get_job(job_id, scope)
        if job is None or not self.store.delete_job(job_id, scope):
            return False
        if self.history is not None:
            self.history.delete_job(job_id, job.owner)
        return True

    def purge(self, owner: str | None) -> tuple[int, int]:
        """Remove every job and history entry of ``owner`` (None: everyone's): (jobs, entries)."""
        if self.settings.redis_mode and self.history is not None:
            self.store.drain_history(self.history)  # type: ignore[attr-defined]
        jobs = self.store.delete_all(owner)
        entries = self.history.delete_all(owner) if self.history is not None else 0
        return jobs, entries

    def purge_expired(self) -> tuple[int, int]:
        """Delete expired jobs (with their results) and history entries: (jobs, entries)."""
        jobs = self.store.purge_expired()
        entries = self.history.purge_expired() if self.history is not None else 0
        return jobs, entries

    def _new_item(
        self, owner: str, given: JobInput, options_json: str, document: DocumentOptions, model_sha256: str | None
    ) -> NewItem:
        from crnn_ocr.server.routes import check_input

        data = given.data or b""
        sha = hashlib.sha256(data).hexdigest()
        error = given.error
        if error is None:
            try:
                check_input(data, document, self.settings)
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

    def _dispatch(self, job: JobRecord) -> None:
        if self._workers is not None:
            self._workers.notify()
        elif self._celery is not None:
            from crnn_ocr.server.celery_worker import QUEUE, TASK

            store: RedisJobStore = self.store  # type: ignore[assignment]
            pending = store.pending_items(job)
            store.mark_enqueued(job.id, pending)
            for index in pending:
                self._celery.send_task(TASK, args=[job.id, index], queue=QUEUE)

    def _drain_history(self) -> None:
        store: RedisJobStore = self.store  # type: ignore[assignment]
        while not self._stop.wait(0.5):
            try:
                assert self.history is not None
                store.drain_history(self.history)
            except Exception:
                log.exception("draining the workers' history entries failed")
                self._stop.wait(2.0)

    def _purge_expired(self) -> None:
        while not self._stop.wait(self.settings.purge_interval_s):
            try:
                self.purge_expired()
            except Exception:
                log.exception("deleting expired jobs and history entries failed")

    def close(self) -> None:
        self._stop.set()
        if self._workers is not None:
            self._workers.stop()
        if self._drain is not None:
            self._drain.join(5)
        if self._purge is not None:
            self._purge.join(5)
        self.store.close()
        if self.history is not None:
            self.history.close()


def _cached_entry(
    owner: str, name: str, sha: str, options: str, model_sha: str, result: str, job_id: str, index: int
) -> HistoryEntry:
    import json

    body = json.loads(result)
    return HistoryEntry(
        owner=owner, source="job", sha256=sha, options=options, model_sha256=model_sha, text=body.get("text", ""),
        result=result, total_ms=0.0, cached=True, name=name, job_id=job_id, item_index=index,
    )
