"""Reading one job item: ``process_item``, what every worker does with an item it has taken,
embedded (``embedded.EmbeddedWorkers``) or Celery (``celery_worker``).

Four steps: the item's options parsed once (``ReadRequest.from_options_json``), the item read with
the model they name (``crnn_ocr.server.reading``: the same input checks, pipeline and error codes
as ``POST /api/v1/ocr``), its history entry recorded, its outcome recorded in the store, and the
job's webhook called when that completed the job. An error fails that item only, with its code
and message kept in the job result.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

from crnn_ocr.errors import OCRError
from crnn_ocr.server.errors import GENERIC_500
from crnn_ocr.server.history import HistoryEntry
from crnn_ocr.server.jobs.records import ClaimedItem, ItemOutcome, JobStore
from crnn_ocr.server.model_registry import LoadedModel, ModelSource
from crnn_ocr.server.reading import ReadRequest, limits_of, read_bytes
from crnn_ocr.server.schemas import OCRResponse
from crnn_ocr.server.settings import ServerSettings
from crnn_ocr.server.telemetry import record_document
from crnn_ocr.server.webhooks import send_webhook

log = logging.getLogger("crnn_ocr.server.jobs")

#: Where a worker puts an item's history entry: the history store (embedded), or Redis (Celery).
RecordHistory = Callable[[HistoryEntry], object]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def process_item(
    item: ClaimedItem, store: JobStore, models: ModelSource, settings: ServerSettings,
    record_history: RecordHistory | None,
) -> ItemOutcome:
    """Read ``item`` and record what happened (see the module docstring); its outcome."""
    start = time.perf_counter()
    try:
        request = ReadRequest.from_options_json(item.options)
        loaded = models(request.model)
    except OCRError as exc:  # an unknown model, or options this server cannot read
        outcome = _failed(exc, start)
        model_sha256 = ""
    else:
        outcome = read_item(loaded, item.data, request, settings)
        model_sha256 = loaded.sha256
    # The history entry first: once the job shows finished, deleting it finds every entry.
    if record_history is not None and settings.history and outcome.ok:
        record_history(history_entry(item, model_sha256, outcome))
    finished = store.finish_item(item.job_id, item.index, outcome)
    if finished is not None and finished.webhook_url:  # this item completed the job
        send_webhook(finished, settings)
    return outcome


def read_item(model: LoadedModel, data: bytes, request: ReadRequest, settings: ServerSettings) -> ItemOutcome:
    """One item read as ``POST /api/v1/ocr`` would read it: an OCRResponse JSON, or its error."""
    start = time.perf_counter()
    try:
        read = read_bytes(model.ocr, data, request, limits_of(settings), settings.preview_max_side)
    except OCRError as exc:
        return _failed(exc, start)
    except Exception:
        log.exception("reading a job item failed unexpectedly")
        ms = (time.perf_counter() - start) * 1000
        return ItemOutcome(error_code="internal_error", error_message=GENERIC_500, total_ms=ms)
    record_document(read.document, "job")
    ms = (time.perf_counter() - start) * 1000
    response = OCRResponse.from_document(read.document, cost_time_ms=ms, model=model.info, previews=read.previews)
    return ItemOutcome(result=response.model_dump_json(), text=response.text, total_ms=ms)


def _failed(exc: OCRError, start: float) -> ItemOutcome:
    ms = (time.perf_counter() - start) * 1000
    return ItemOutcome(error_code=exc.code, error_message=str(exc) or exc.code, total_ms=ms)


def history_entry(item: ClaimedItem, model_sha256: str, outcome: ItemOutcome) -> HistoryEntry:
    """The history entry of a successful item (it feeds the cache)."""
    return HistoryEntry(
        owner=item.owner, source="job", sha256=item.sha256, options=item.options, model_sha256=model_sha256,
        text=outcome.text, result=outcome.result or "", total_ms=outcome.total_ms, name=item.name,
        job_id=item.job_id, item_index=item.index,
    )
