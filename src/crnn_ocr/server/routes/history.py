"""HTTP endpoints of the history (``crnn_ocr.server.history``) and the admin purge.

``GET    /api/v1/history``     recognitions, newest first; ``q``: text contains (ignoring case)
``GET    /api/v1/history/{id}`` one entry with its full result; ``DELETE`` removes it (and its
                               cached result)
``POST   /api/v1/admin/purge`` admin: remove every job and history entry (``owner``: of one key)

Every entry belongs to an owner; another owner's entry answers 404 as if it did not exist. An
admin key sees every owner's entries.
"""

from __future__ import annotations

import json
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from crnn_ocr.server.errors import ForbiddenError
from crnn_ocr.server.history import HistoryRecord, HistoryStore
from crnn_ocr.server.routes.deps import MAX_PAGE, RECORD_ERRORS, CallerDep, ServiceDep, jobs_of, not_found
from crnn_ocr.server.schemas import ErrorResponse, HistoryEntryOut, HistoryListResponse, OCRResponse, OptionsIn
from crnn_ocr.server.service import Service

router = APIRouter()

EntryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the entry's id")]


def _history(service: Service) -> HistoryStore:
    jobs = jobs_of(service)
    if jobs.history is None:
        raise StarletteHTTPException(404, "history is off on this server (history = false)")
    return jobs.history


def history_out(record: HistoryRecord, with_result: bool) -> HistoryEntryOut:
    e = record.entry
    return HistoryEntryOut(
        id=record.id, created_at=record.created_at, source=e.source, job_id=e.job_id, name=e.name,
        sha256=e.sha256, options=OptionsIn.model_validate_json(e.options), text=e.text, total_ms=round(e.total_ms, 2),
        cached=e.cached, result=OCRResponse.model_validate_json(e.result) if with_result else None,
        model=_model_name(e.result),
    )


def _model_name(result: str) -> str | None:
    """The name of the model that read a stored result."""
    try:
        model = json.loads(result).get("model")
    except (ValueError, AttributeError):
        return None
    return model.get("name") if isinstance(model, dict) else None


@router.get("/api/v1/history", response_model=HistoryListResponse, tags=["history"],
            summary="Past recognitions, newest first; q searches their text")
async def list_history(
    service: ServiceDep, caller: CallerDep,
    q: Annotated[str | None, Query(
        max_length=500, description="only entries whose text contains this (ignoring case; any script, Chinese too)"
    )] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1, page_size: Annotated[int, Query(ge=1, le=200)] = 20,
) -> HistoryListResponse:
    records, total = await anyio.to_thread.run_sync(_history(service).search, caller.scope, q, page, page_size)
    return HistoryListResponse(
        entries=[history_out(r, False) for r in records], page=page, page_size=page_size, total=total, query=q
    )


@router.get("/api/v1/history/{entry_id}", response_model=HistoryEntryOut, tags=["history"],
            summary="One past recognition with its full result", responses=RECORD_ERRORS)
async def get_history(entry_id: EntryId, service: ServiceDep, caller: CallerDep) -> HistoryEntryOut:
    record = await anyio.to_thread.run_sync(_history(service).get, entry_id, caller.scope)
    if record is None:
        raise not_found("history entry", entry_id)
    return history_out(record, True)


@router.delete("/api/v1/history/{entry_id}", tags=["history"], summary="Remove a history entry (and its cached result)",
               responses=RECORD_ERRORS)
async def delete_history(entry_id: EntryId, service: ServiceDep, caller: CallerDep) -> JSONResponse:
    """Removes the entry and its cached result: with it, every entry of the same owner for the same
    image, options and model (``removed`` counts them); that image is read afresh next time."""
    removed = await anyio.to_thread.run_sync(_history(service).delete, entry_id, caller.scope)
    if not removed:
        raise not_found("history entry", entry_id)
    return JSONResponse({"id": entry_id, "deleted": True, "removed": removed})


@router.post("/api/v1/admin/purge", tags=["admin"], summary="Admin: remove every job and history entry",
             responses={403: {"model": ErrorResponse, "description": "not an admin key"}})
async def purge(
    service: ServiceDep, caller: CallerDep,
    owner: Annotated[str | None, Query(description="only this key id's records (default: everyone's)")] = None,
) -> JSONResponse:
    """Jobs (with their images and results) and history entries (with the cached results) of every
    owner, or of ``owner``: ``{"jobs": n, "history": m}``. Needs an admin key (or open mode)."""
    if not caller.may_administer:
        raise ForbiddenError("purging needs an admin key (crnn-ocr keys create --admin)")
    jobs, entries = await anyio.to_thread.run_sync(jobs_of(service).purge, owner)
    return JSONResponse({"jobs": jobs, "history": entries})
