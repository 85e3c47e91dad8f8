"""Batch jobs as data: the typed records every job module passes around, and the ``JobStore``
protocol both stores implement (``sql_store``: SQLite or PostgreSQL; ``redis_store``: Redis).

A job is a list of items (one image or PDF each) read with one set of options. Every record has an
``owner`` (the constant ``anonymous`` without API keys, else the id of the key that made it):
each query is scoped by it, and ``owner=None`` means an administrator who sees everything.

Statuses: a job is ``pending`` → ``running`` → ``completed`` (every item done or failed), or
``cancelled``. An item is ``pending`` → ``running`` → ``done`` | ``failed`` | ``cancelled``.
A job's options are stored as the canonical JSON of ``crnn_ocr.server.reading.ReadRequest``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

JobStatus = Literal["pending", "running", "completed", "cancelled"]
ItemStatus = Literal["pending", "running", "done", "failed", "cancelled"]
FINISHED_ITEM = ("done", "failed", "cancelled")
ITEM_STATES = ("pending", "running", *FINISHED_ITEM)


@dataclass(frozen=True)
class NewItem:
    """One image (or PDF) of a submitted job. ``error``: (code, message) when the input was
    already refused at submission (bad base64, too many bytes): the item is stored as failed.
    ``cached_result``: an OCRResponse JSON answered from the cache: the item is stored as done."""

    name: str
    sha256: str
    data: bytes | None
    error: tuple[str, str] | None = None
    cached_result: str | None = None


@dataclass(frozen=True)
class ItemRecord:
    index: int
    name: str
    sha256: str
    status: ItemStatus
    attempts: int
    cached: bool
    result: str | None  # OCRResponse JSON
    error_code: str | None
    error_message: str | None
    enqueued_at: float
    started_at: float | None
    finished_at: float | None
    worker: str | None


@dataclass(frozen=True)
class JobRecord:
    id: str
    owner: str
    status: JobStatus
    options: str  # canonical JSON of the options (ReadRequest.options_json)
    webhook_url: str | None
    total: int
    done: int
    failed: int
    cancelled: int
    created_at: float
    finished_at: float | None
    items: tuple[ItemRecord, ...] = ()  # empty in listings

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "cancelled")


@dataclass(frozen=True)
class ClaimedItem:
    """An item a worker has taken: what it needs to read it."""

    job_id: str
    index: int
    owner: str
    name: str
    sha256: str
    data: bytes
    options: str
    attempts: int


@dataclass(frozen=True)
class ItemOutcome:
    """What reading one item gave: an OCRResponse JSON and its text, or an error."""

    result: str | None = None
    text: str = ""
    error_code: str | None = None
    error_message: str | None = None
    total_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.result is not None


class JobStore(Protocol):
    """Where jobs live: SQLite / PostgreSQL (``sql_store``) or Redis (``redis_store``)."""

    def create_job(
        self, owner: str, options: str, items: Sequence[NewItem], webhook_url: str | None
    ) -> JobRecord: ...

    def get_job(self, job_id: str, owner: str | None) -> JobRecord | None: ...

    def list_jobs(self, owner: str | None, page: int, page_size: int) -> tuple[list[JobRecord], int]: ...

    def cancel_job(self, job_id: str, owner: str | None) -> JobRecord | None: ...

    def delete_job(self, job_id: str, owner: str | None) -> bool: ...

    def delete_all(self, owner: str | None) -> int:
        """Remove every job of ``owner`` (None: of everyone) with its images and results."""
        ...

    def count_unfinished(self, owner: str) -> int:
        """How many of ``owner``'s jobs are pending or running."""
        ...

    def finish_item(self, job_id: str, index: int, outcome: ItemOutcome) -> JobRecord | None:
        """Record an item's outcome once (a second call for the same item is ignored). Returns the
        job when this call completed it (for the webhook), else None."""
        ...

    def purge_expired(self, now: float | None = None) -> int: ...

    def item_states(self) -> dict[str, int]:
        """How many items of the stored jobs are in each state (``ITEM_STATES``), for /metrics."""
        ...

    def close(self) -> None: ...


def worker_lost(attempts: int) -> ItemOutcome:
    """The outcome of an item given up after its worker died ``attempts`` times (both job modes)."""
    return ItemOutcome(
        error_code="worker_lost",
        error_message=f"the worker reading this item stopped {attempts} times (crashed or killed); "
        "the item was given up",
    )


def new_job_id() -> str:
    return uuid.uuid4().hex
