"""HTTP endpoints of batch jobs (the jobs themselves: ``crnn_ocr.server.jobs``).

``POST   /api/v1/jobs``        JSON ``{"images": [{"image_base64" | "image_url", "name"}], "options",
                               "webhook_url"}`` or multipart (files ``images``, fields ``image_url``,
                               options as form fields) → 202 + id
``GET    /api/v1/jobs``        recent jobs, newest first (``page``, ``page_size``)
``GET    /api/v1/jobs/{id}``   status, progress, per-item results or errors
``GET    /api/v1/jobs/{id}/events``  the same as Server-Sent Events: progress, then the result
``DELETE /api/v1/jobs/{id}``   cancel an unfinished job; remove a finished one

Every record belongs to an owner (the caller's key id; ``anonymous`` without API keys); another
owner's job or entry answers 404 as if it did not exist. An admin key sees every owner's records.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from crnn_ocr.errors import ImageTooLargeError, OCRError
from crnn_ocr.server import sse
from crnn_ocr.server.auth import Caller
from crnn_ocr.server.jobs.records import ItemRecord, JobRecord
from crnn_ocr.server.jobs.service import JobInput
from crnn_ocr.server.reading import decode_base64_image
from crnn_ocr.server.routes.deps import (
    MAX_PAGE,
    RECORD_ERRORS,
    CallerDep,
    ServiceDep,
    form_schema,
    jobs_of,
    media_type,
    not_found,
    parse_form,
    require_json,
)
from crnn_ocr.server.schemas import (
    ErrorBody,
    ItemOut,
    JobAccepted,
    JobForm,
    JobListResponse,
    JobOut,
    JobRequest,
    OCRResponse,
    OptionsIn,
)
from crnn_ocr.urlfetch import UrlPolicy, fetch_url

router = APIRouter()

JobId = Annotated[str, Path(min_length=1, max_length=64, description="the job's id")]


JOBS_PATH = "/api/v1/jobs"  # its body limit is max_job_bytes (many images), not max_bytes


@router.post(
    JOBS_PATH,
    status_code=202,
    response_model=JobAccepted,
    tags=["jobs"],
    summary="Submit images or PDFs to read in the background",
    responses=RECORD_ERRORS,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}},
                "multipart/form-data": {"schema": form_schema(JobForm, {"images": {
                    "type": "array", "minItems": 1, "items": {"type": "string", "format": "binary"},
                    "description": "the images (or PDFs) to read"}}, ["images"])},
            }
        }
    },
)
async def submit_job(request: Request, service: ServiceDep, caller: CallerDep) -> JSONResponse:
    """Store the job and answer 202 with its id at once; workers read the items. A file that
    cannot be read fails only its item. Takes the same options as ``POST /api/v1/ocr`` (as a JSON
    ``options`` object, or as form fields next to the ``images`` files)."""
    media = media_type(request)
    limit = service.settings.max_bytes
    if media == "multipart/form-data":
        inputs, options, webhook = await _read_multipart(request, limit, service.settings.url_policy)
    else:
        require_json(request)
        inputs, options, webhook = await anyio.to_thread.run_sync(
            _read_json, await request.body(), limit, service.settings.url_policy
        )
    model_sha256 = None  # while the model loads, jobs are still taken; a bad name then fails its items
    if service.models is not None:
        model_sha256 = service.models.sha256_of(options.model)
    jobs = jobs_of(service)
    ocr = service.ocr
    limit = _max_jobs(caller, service.settings.max_jobs_per_key)
    job = await anyio.to_thread.run_sync(
        jobs.submit, caller.owner, inputs, options.to_request(), webhook, ocr, limit, model_sha256
    )
    accepted = JobAccepted(id=job.id, status=job.status, total=job.total, url=f"/api/v1/jobs/{job.id}")
    return JSONResponse(accepted.model_dump(), status_code=202)


def _max_jobs(caller: Caller, default: int) -> int:
    """The caller's limit of unfinished jobs (0: none; callers without a key are not limited)."""
    if caller.key is None:
        return 0
    return default if caller.key.max_jobs is None else caller.key.max_jobs


def _read_json(raw: bytes, limit: int, policy: UrlPolicy) -> tuple[list[JobInput], OptionsIn, str | None]:
    """The JSON body parsed, its images decoded and its URLs fetched (on a thread: it may be
    hundreds of MB). A URL refused or failing fails its item only, like a bad base64 image."""
    try:
        body = JobRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False, include_url=False)) from None
    inputs = [
        _decode(i.name or _url_name(i.image_url) or f"image-{n + 1}", i.image_base64, i.image_url, limit, policy)
        for n, i in enumerate(body.images)
    ]
    return inputs, body.options, body.webhook_url


def _url_name(url: str | None) -> str:
    return "" if url is None else url.rsplit("?", 1)[0].rstrip("/").rsplit("/", 1)[-1][:500]


def _decode(name: str, text: str | None, url: str | None, limit: int, policy: UrlPolicy) -> JobInput:
    try:
        data = fetch_url(url, policy) if url is not None else decode_base64_image(text or "", limit)
        return JobInput(name, data)
    except OCRError as exc:
        return JobInput(name, None, exc)


async def _read_multipart(
    request: Request, limit: int, policy: UrlPolicy
) -> tuple[list[JobInput], OptionsIn, str | None]:
    form = await request.form(max_files=100_000, max_fields=1000)
    try:
        files = [f for f in form.getlist("images") if isinstance(f, UploadFile)]
        urls = [u for u in form.getlist("image_url") if isinstance(u, str) and u]
        fields = {k: v for k, v in form.multi_items() if k not in ("images", "image_url") and isinstance(v, str)}
        parsed = parse_form(JobForm, fields)
        inputs = []
        for n, upload in enumerate(files):
            data = await upload.read(limit + 1)
            name = upload.filename or f"image-{n + 1}"
            if len(data) > limit:
                inputs.append(JobInput(name, None, ImageTooLargeError(f"the file is more than the limit of {limit} bytes")))
            else:
                inputs.append(JobInput(name, data))
        for url in urls:  # each field image_url: one more item, fetched here
            inputs.append(await anyio.to_thread.run_sync(_decode, _url_name(url) or url[:500], None, url, limit, policy))
        if not inputs:
            raise RequestValidationError([{"type": "missing", "loc": ("body", "images"), "msg": "Field required"}])
        return inputs, parsed.to_options_in(), parsed.webhook_url
    finally:
        await form.close()


def item_out(item: ItemRecord, with_result: bool = True) -> ItemOut:
    result = None
    if with_result and item.result is not None:
        result = OCRResponse.model_validate_json(item.result)
        if item.cached:
            result = result.model_copy(update={"cached": True})
    error = ErrorBody(code=item.error_code, message=item.error_message or "") if item.error_code else None
    return ItemOut(
        index=item.index, name=item.name, sha256=item.sha256, status=item.status, cached=item.cached,
        attempts=item.attempts, result=result, error=error, enqueued_at=item.enqueued_at,
        started_at=item.started_at, finished_at=item.finished_at, worker=item.worker,
    )


def job_out(job: JobRecord, items: bool, with_results: bool = True) -> JobOut:
    finished = job.done + job.failed + job.cancelled
    return JobOut(
        id=job.id, status=job.status, total=job.total, done=job.done, failed=job.failed, cancelled=job.cancelled,
        progress=round(finished / job.total, 4) if job.total else 1.0, created_at=job.created_at,
        finished_at=job.finished_at, items=[item_out(i, with_results) for i in job.items] if items else None,
    )


@router.get("/api/v1/jobs", response_model=JobListResponse, tags=["jobs"], summary="Recent jobs")
async def list_jobs(
    service: ServiceDep, caller: CallerDep,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1, page_size: Annotated[int, Query(ge=1, le=200)] = 20,
) -> JobListResponse:
    jobs, total = await anyio.to_thread.run_sync(jobs_of(service).store.list_jobs, caller.scope, page, page_size)
    return JobListResponse(jobs=[job_out(j, items=False) for j in jobs], page=page, page_size=page_size, total=total)


@router.get("/api/v1/jobs/{job_id}", response_model=JobOut, tags=["jobs"], summary="A job's progress and results",
            responses=RECORD_ERRORS)
async def get_job(
    job_id: JobId, service: ServiceDep, caller: CallerDep,
    results: Annotated[bool, Query(description="false: statuses and errors only, without the results")] = True,
) -> JobOut:
    job = await anyio.to_thread.run_sync(jobs_of(service).store.get_job, job_id, caller.scope)
    if job is None:
        raise not_found("job", job_id)
    return job_out(job, items=True, with_results=results)


#: How often a job's event stream looks at the store for progress.
EVENTS_POLL_S = 0.2


@router.get(
    "/api/v1/jobs/{job_id}/events", tags=["jobs"], summary="A job's progress as Server-Sent Events",
    responses={**RECORD_ERRORS, 200: {"content": {sse.MEDIA_TYPE: {}}, "description": "the event stream"}},
)
async def job_events(job_id: JobId, request: Request, service: ServiceDep, caller: CallerDep) -> Response:
    """``text/event-stream``: an event ``progress`` (the job with its items' states, without
    results) at once and whenever an item finishes, then ``result`` (the job with every result,
    as ``GET /api/v1/jobs/{id}`` answers it) when the job is finished, and the stream ends."""
    store, scope = jobs_of(service).store, caller.scope
    if await anyio.to_thread.run_sync(store.get_job, job_id, scope) is None:
        raise not_found("job", job_id)

    async def events() -> AsyncIterator[bytes]:
        last, quiet = None, 0.0
        while True:
            job = await anyio.to_thread.run_sync(store.get_job, job_id, scope)
            if job is None:  # deleted meanwhile
                yield sse.event("error", {"code": "not_found", "message": f"no job {job_id}"})
                return
            state = (job.status, job.done, job.failed, job.cancelled)
            if state != last:
                last, quiet = state, 0.0
                yield sse.event("progress", job_out(job, items=True, with_results=False).model_dump(mode="json"))
            if job.finished:
                yield sse.event("result", job_out(job, items=True).model_dump(mode="json"))
                return
            if await request.is_disconnected():
                return
            await anyio.sleep(EVENTS_POLL_S)
            quiet += EVENTS_POLL_S
            if quiet >= sse.KEEPALIVE_S:
                quiet = 0.0
                yield sse.KEEPALIVE

    return sse.stream(events())


@router.delete("/api/v1/jobs/{job_id}", tags=["jobs"], summary="Cancel a running job, or remove a finished one",
               responses=RECORD_ERRORS)
async def delete_job(job_id: JobId, service: ServiceDep, caller: CallerDep) -> JSONResponse:
    """An unfinished job is cancelled (its pending items and their images are dropped) and answered
    as it stands; a finished (completed or cancelled) job is removed with its results and the
    history entries and cached results it made: ``{"deleted": true}``."""
    jobs = jobs_of(service)
    scope = caller.scope
    job = await anyio.to_thread.run_sync(jobs.store.get_job, job_id, scope)
    if job is None:
        raise not_found("job", job_id)
    if not job.finished:
        cancelled = await anyio.to_thread.run_sync(jobs.store.cancel_job, job_id, scope)
        if cancelled is None:
            raise not_found("job", job_id)
        return JSONResponse(job_out(cancelled, items=False).model_dump())
    if not await anyio.to_thread.run_sync(jobs.delete_job, job_id, scope):
        raise not_found("job", job_id)
    return JSONResponse({"id": job_id, "deleted": True})
