"""HTTP endpoints of the fine-tune jobs (``crnn_ocr.server.finetune_jobs``), admin key only.

``POST   /api/v1/admin/finetune``       start a fine-tune of the server's model (202; 409 while one runs)
``GET    /api/v1/admin/finetune``       every fine-tune job, newest first
``GET    /api/v1/admin/finetune/{id}``  one job: status, phase, progress, and when done the report
``DELETE /api/v1/admin/finetune/{id}``  cancel a running job; remove a finished one's record
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from crnn_ocr.server.auth import Caller
from crnn_ocr.server.errors import ConflictError, ForbiddenError
from crnn_ocr.server.finetune_jobs import FinetuneJob, FinetuneRequest
from crnn_ocr.server.routes.deps import RECORD_ERRORS, CallerDep, ServiceDep, not_found
from crnn_ocr.server.schemas import ErrorResponse, FinetuneIn, FinetuneJobOut, FinetuneListResponse

router = APIRouter()

FINETUNE_PATH = "/api/v1/admin/finetune"
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="the fine-tune job's id")]
ERRORS = {
    **RECORD_ERRORS,
    403: {"model": ErrorResponse, "description": "not an admin key"},
    409: {"model": ErrorResponse, "description": "another fine-tune is running"},
}


def _admin(caller: Caller) -> None:
    if not caller.may_administer:
        raise ForbiddenError("fine-tuning needs an admin key (crnn-ocr keys create --admin)")


def job_out(job: FinetuneJob) -> FinetuneJobOut:
    r = job.request
    return FinetuneJobOut(
        id=job.id, name=r.name, status=job.status, phase=job.phase, progress=job.fraction, detail=job.detail,
        train_labels=str(r.train_labels), heldout_labels=str(r.heldout_labels) if r.heldout_labels else None,
        minutes=r.minutes, error=job.error, report=job.report, created_at=job.created_at, finished_at=job.finished_at,
    )


@router.post(FINETUNE_PATH, status_code=202, response_model=FinetuneJobOut, tags=["admin"], responses=ERRORS,
             summary="Admin: fine-tune the model on labelled lines (a background job)")
async def start_finetune(body: FinetuneIn, service: ServiceDep, caller: CallerDep) -> FinetuneJobOut:
    """Runs ``crnn-ocr-train --init <the model's weights> --train-labels ...`` on the server; the
    result is exported into the user models folder under ``name`` (not made the default)."""
    _admin(caller)
    request = FinetuneRequest(
        body.name, FilePath(body.train_labels), FilePath(body.heldout_labels) if body.heldout_labels else None, body.minutes
    )
    job = await anyio.to_thread.run_sync(service.require_finetunes().start, request)
    return job_out(job)


@router.get(FINETUNE_PATH, response_model=FinetuneListResponse, tags=["admin"], responses=ERRORS,
            summary="Admin: fine-tune jobs, newest first")
async def list_finetunes(service: ServiceDep, caller: CallerDep) -> FinetuneListResponse:
    _admin(caller)
    jobs = await anyio.to_thread.run_sync(service.require_finetunes().list)
    return FinetuneListResponse(jobs=[job_out(j) for j in jobs])


@router.get(FINETUNE_PATH + "/{job_id}", response_model=FinetuneJobOut, tags=["admin"], responses=ERRORS,
            summary="Admin: one fine-tune job")
async def get_finetune(job_id: JobId, service: ServiceDep, caller: CallerDep) -> FinetuneJobOut:
    _admin(caller)
    job = await anyio.to_thread.run_sync(service.require_finetunes().get, job_id)
    if job is None:
        raise not_found("fine-tune job", job_id)
    return job_out(job)


@router.delete(FINETUNE_PATH + "/{job_id}", tags=["admin"], responses=ERRORS,
               summary="Admin: cancel a running fine-tune, or remove a finished one's record")
async def delete_finetune(job_id: JobId, service: ServiceDep, caller: CallerDep) -> JSONResponse:
    _admin(caller)
    jobs = service.require_finetunes()
    if await anyio.to_thread.run_sync(jobs.cancel, job_id):
        return JSONResponse({"id": job_id, "cancelled": True})
    if await anyio.to_thread.run_sync(jobs.delete, job_id):
        return JSONResponse({"id": job_id, "deleted": True})
    if await anyio.to_thread.run_sync(jobs.get, job_id) is not None:  # unfinished, run by another server process
        raise ConflictError(f"fine-tune {job_id} runs in another server process (several workers); retry the DELETE until it reaches that one")
    raise not_found("fine-tune job", job_id)
