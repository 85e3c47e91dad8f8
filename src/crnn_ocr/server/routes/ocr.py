"""OCR endpoints. Each request: read bytes (bounded) → check the header → read on the gate
(``crnn_ocr.server.reading``, the same read unit job items use) → record it in the history.

``POST /api/v1/ocr``  JSON ``{"image_base64" | "image_url", "options", "return_processed_image"}``
``POST /ocr``         multipart: file field ``image`` (or field ``image_url``) + the options as flat form fields
``POST /api/v1/ocr/stream``  the JSON request, answered page by page as Server-Sent Events
``POST /api/v1/preprocess``  the JSON request's preprocessing only: the page as PNG
``GET  /api/v1/models``  the models ``options.model`` may name (``crnn_ocr.server.model_registry``)

An ``image_url`` is fetched by ``crnn_ocr.urlfetch`` (public addresses only unless allow-listed).
Both OCR endpoints read images, multi-page TIFFs and PDFs (every page, or ``pages``, rendered at
``dpi``) and answer per-page results. ``?format=text|hocr|alto|pdf`` answers the result as that
file instead of JSON (``crnn_ocr.formats``, ``crnn_ocr.searchable_pdf``), as an attachment.
"""


from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from crnn_ocr.documents import open_document
from crnn_ocr.errors import ImageTooLargeError, OCRError, OptionsError
from crnn_ocr.formats import EXTENSIONS, MEDIA_TYPES
from crnn_ocr.server import reading, sse, telemetry
from crnn_ocr.server.errors import GENERIC_500, InternalError, ServiceError
from crnn_ocr.server.history import HistoryEntry
from crnn_ocr.server.model_registry import LoadedModel
from crnn_ocr.server.reading import OutputFormat, ReadRequest, decode_base64_image, encode_preview, read_bytes
from crnn_ocr.server.routes.deps import (
    CallerDep,
    ServiceDep,
    form_schema,
    get_caller,
    parse_form,
    require_json,
    require_multipart,
)
from crnn_ocr.server.schemas import ErrorResponse, ModelListResponse, OCRForm, OCRRequest, OCRResponse, page_out
from crnn_ocr.server.service import Service
from crnn_ocr.types import Page
from crnn_ocr.urlfetch import fetch_url

router = APIRouter()
log = logging.getLogger("crnn_ocr.server")

_ERRORS = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "empty, corrupt or unsupported image or PDF, or bad base64",
        413: "image too large (bytes or pixels), or a document with too many pages",
        415: "wrong Content-Type",
        422: "invalid options, or a password-protected PDF",
        503: "overloaded, or the model is not loaded",
        504: "no result within the request timeout",
    }.items()
}


_FORMAT_QUERY = Query(
    "json",
    description="json (default): the JSON result; text, hocr, alto, pdf: the result as that file "
    "(plain text, hOCR XHTML, ALTO v4 XML, searchable PDF), as an attachment",
)
_FILE_RESPONSES = {
    200: {
        "content": {MEDIA_TYPES[f].split(";")[0]: {} for f in ("text", "hocr", "alto", "pdf")},
        "description": "the JSON result, or with ?format= the result as that file",
    }
}


@router.post(
    "/api/v1/ocr",
    response_model=OCRResponse,
    tags=["ocr"],
    summary="Read an image or PDF sent as base64 JSON",
    responses={**_ERRORS, **_FILE_RESPONSES},
    dependencies=[Depends(require_json)],
)
async def ocr_json(
    body: OCRRequest, service: ServiceDep, caller: CallerDep, format: OutputFormat = _FORMAT_QUERY
) -> Response:
    """Recognise the text in a base64-encoded image or PDF (every page, or ``options.pages``)."""
    start = time.perf_counter()
    data = await request_bytes(service, body.image_base64, body.image_url)
    request = body.options.to_request(body.return_processed_image, format)
    return await _recognise(service, caller.owner, data, request, start)


async def request_bytes(service: Service, image_base64: str | None, image_url: str | None) -> bytes:
    """The image of a JSON request: its base64 decoded, or fetched from its URL (off the event loop)."""
    if image_url is not None:
        return await anyio.to_thread.run_sync(fetch_url, image_url, service.settings.url_policy)
    assert image_base64 is not None  # the request schema wants exactly one of the two
    return await anyio.to_thread.run_sync(decode_base64_image, image_base64, service.settings.max_bytes)


@router.post(
    "/api/v1/ocr/stream",
    tags=["ocr"],
    summary="Read a long document page by page, as Server-Sent Events",
    responses={**_ERRORS, 200: {"content": {sse.MEDIA_TYPE: {}}, "description": "the event stream"}},
    dependencies=[Depends(require_json)],
)
async def ocr_stream(body: OCRRequest, service: ServiceDep, caller: CallerDep) -> Response:
    """The same request as ``POST /api/v1/ocr``, answered as ``text/event-stream``: an event
    ``page`` (``{"page", "page_count", "read", "total", "result"}``, the page's result) as each
    page is read, then ``result`` (the whole response, as ``/api/v1/ocr`` answers it) or
    ``error`` (``{"code", "message"}``). Errors found before reading starts (bad input, unknown
    model, overload) answer their usual status instead of a stream."""
    start = time.perf_counter()
    data = await request_bytes(service, body.image_base64, body.image_url)
    request = body.options.to_request(body.return_processed_image)
    model = await choose_model(service, request.model)
    s = service.settings
    limits, sha = await anyio.to_thread.run_sync(reading.inspect_input, data, request.document, s)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def on_page(page: Page, read: int, total: int, page_count: int) -> None:
        payload = {
            "page": page.number, "page_count": page_count, "total": total, "read": read,
            "result": page_out(page, None).model_dump(mode="json"),
        }
        loop.call_soon_threadsafe(queue.put_nowait, sse.event("page", payload))

    async def read() -> OCRResponse:
        result = await service.gate.run(
            partial(read_bytes, on_page=on_page), model.ocr, data, request, limits, s.preview_max_side
        )
        telemetry.record_document(result.document, "sync")
        response = OCRResponse.from_document(
            result.document, cost_time_ms=(time.perf_counter() - start) * 1000, model=model.info,
            previews=result.previews,
        )
        await _record(service, caller.owner, sha, request.options_json(), response, model.sha256, cached=False)
        return response

    async def events() -> AsyncIterator[bytes]:
        task = asyncio.ensure_future(read())
        try:
            while not (task.done() and queue.empty()):
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, task}, timeout=sse.KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED)
                if getter in done:
                    yield getter.result()
                else:
                    getter.cancel()
                    if not done:
                        yield sse.KEEPALIVE
            try:
                response = task.result()
            except (OCRError, ServiceError) as exc:
                yield sse.event("error", {"code": exc.code, "message": str(exc) or exc.code})
            except Exception:
                log.exception("reading a streamed document failed unexpectedly")
                yield sse.event("error", {"code": "internal_error", "message": GENERIC_500})
            else:
                yield sse.event("result", response.model_dump(mode="json"))
        finally:
            task.cancel()

    return sse.stream(events())


@router.post(
    "/api/v1/preprocess",
    tags=["ocr"],
    summary="Preview the preprocessing only (no detection, no recognition)",
    responses={**_ERRORS, 200: {"content": {"image/png": {}}, "description": "the preprocessed page as PNG"}},
    dependencies=[Depends(require_json)],
)
async def preprocess_preview(
    body: OCRRequest, service: ServiceDep, page: Annotated[int | None, Query(ge=1, le=100_000)] = None
) -> Response:
    """The image the detector and recognizer would see with ``options.preprocess`` (the first page
    read, or ``?page=``), as PNG scaled to ``preview_max_side``: cheap enough to update on every
    checkbox. Header ``X-Preprocessing``: the steps applied."""
    data = await request_bytes(service, body.image_base64, body.image_url)
    ocr = service.require_ocr()
    s = service.settings
    request = body.options.to_request()
    limits, _sha = await anyio.to_thread.run_sync(reading.inspect_input, data, request.document, s)
    steps = request.options.preprocess

    def render_preview(*, cancelled: threading.Event) -> bytes:
        with open_document(data, request.document, limits) as doc:
            number = page if page is not None else doc.numbers[0]
            if number not in doc.numbers:
                raise OptionsError(f"page {number} is not among the pages read ({', '.join(map(str, doc.numbers))})")
            image = doc.page(number).image
        return encode_preview(ocr.preprocess_preview(image, steps), s.preview_max_side)

    png = await service.gate.run(render_preview)
    applied = ",".join(name for name, on in body.options.preprocess.model_dump().items() if on)
    return Response(png, media_type="image/png", headers={"X-Preprocessing": applied, "Cache-Control": "no-store"})


@router.get("/api/v1/models", response_model=ModelListResponse, tags=["ocr"], summary="The recognition models",
            dependencies=[Depends(get_caller)])
async def list_models(service: ServiceDep) -> ModelListResponse:
    """Every model ``options.model`` may name: the server's own (``default``) and those its
    manifest lists, loaded on first use and then kept."""
    models = service.require_models()
    return ModelListResponse(models=await anyio.to_thread.run_sync(models.describe))


_IMAGE_FILE = {"type": "string", "format": "binary", "description": "the image (PNG, JPEG, BMP, TIFF, WebP) or PDF file"}


@router.post(
    "/ocr",
    response_model=OCRResponse,
    tags=["ocr"],
    summary="Read an uploaded image or PDF (multipart/form-data)",
    responses={**_ERRORS, **_FILE_RESPONSES},
    dependencies=[Depends(require_multipart)],
    openapi_extra={"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": form_schema(OCRForm, {"image": _IMAGE_FILE}, ["image"])}}}},
)
async def ocr_upload(
    request: Request, service: ServiceDep, caller: CallerDep, format: OutputFormat = _FORMAT_QUERY
) -> Response:
    """Recognise the text in an uploaded image or PDF (multipart/form-data): the file in ``image``,
    the options as form fields. The file name is ignored. One file only: several go to jobs."""
    start = time.perf_counter()
    async with request.form(max_files=2, max_fields=100) as body:
        uploads = [f for f in body.getlist("image") if isinstance(f, UploadFile)]
        fields = {k: v for k, v in body.multi_items() if isinstance(v, str)}
        if len(uploads) > 1:
            raise OptionsError(
                "send one file in the field 'image', not several; to read several files send them to "
                "POST /api/v1/jobs, or as one multi-page PDF or TIFF"
            )
        form = parse_form(OCRForm, fields)
        if uploads and form.image_url is not None:
            raise OptionsError("send either the file 'image' or 'image_url', not both")
        if not uploads and form.image_url is None:
            raise RequestValidationError([{"type": "missing", "loc": ("body", "image"), "msg": "Field required"}])
        limit = service.settings.max_bytes
        if uploads:
            data = await uploads[0].read(limit + 1)
        else:
            data = await request_bytes(service, None, form.image_url)
    if len(data) > limit:
        raise ImageTooLargeError(f"the uploaded image is more than the limit of {limit} bytes")
    request = form.to_options_in().to_request(form.return_processed_image, format)
    return await _recognise(service, caller.owner, data, request, start)


async def _recognise(service: Service, owner: str, data: bytes, request: ReadRequest, start: float) -> Response:
    """Read ``data`` (or answer a JSON result from the cache) and record it in the history."""
    model = await choose_model(service, request.model)
    s = service.settings
    # Off the event loop: header checks are bounded, but not free on a 20 MB file.
    limits, sha = await anyio.to_thread.run_sync(reading.inspect_input, data, request.document, s)
    jobs = service.jobs
    options_json = request.options_json()
    if jobs is not None and request.format == "json" and not request.preview:
        cached = await anyio.to_thread.run_sync(jobs.cached, owner, sha, options_json, model.sha256)
        if cached is not None:
            cost_ms = (time.perf_counter() - start) * 1000
            response = OCRResponse.model_validate_json(cached).model_copy(
                update={"cached": True, "cost_time_ms": round(cost_ms, 2)}
            )
            await _record(service, owner, sha, options_json, response, model.sha256, cached=True)
            return JSONResponse(response.model_dump(mode="json"))
    try:
        result = await service.gate.run(read_bytes, model.ocr, data, request, limits, s.preview_max_side)
    except (OCRError, ServiceError):
        raise
    except Exception as exc:
        raise InternalError("OCR failed unexpectedly") from exc
    telemetry.record_document(result.document, "sync")
    cost_ms = (time.perf_counter() - start) * 1000
    response = OCRResponse.from_document(
        result.document, cost_time_ms=cost_ms, model=model.info, previews=result.previews
    )
    await _record(service, owner, sha, options_json, response, model.sha256, cached=False)
    if result.body is not None:
        filename = f"ocr-result{EXTENSIONS[request.format]}"
        return Response(
            result.body, media_type=MEDIA_TYPES[request.format],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return JSONResponse(response.model_dump(mode="json"))


async def choose_model(service: Service, name: str | None) -> LoadedModel:
    """The model ``options.model`` names (None: the server's own), loaded off the event loop on
    first use; UnknownModelError (422) for a name the server does not have."""
    models = service.require_models()
    models.check(name)
    return await anyio.to_thread.run_sync(models.get, name)


async def _record(
    service: Service, owner: str, sha: str, options_json: str, response: OCRResponse, model_sha256: str,
    cached: bool,
) -> None:
    """A history entry for a synchronous recognition (its result without previews: the cache's)."""
    jobs = service.jobs
    if jobs is None or jobs.history is None or not service.settings.history:
        return
    stored = response.model_copy(update={"cached": False, "processed_image_base64": None})
    if any(p.processed_image_base64 for p in stored.pages):
        stored = stored.model_copy(
            update={"pages": [p.model_copy(update={"processed_image_base64": None}) for p in stored.pages]}
        )
    entry = HistoryEntry(
        owner=owner, source="sync", sha256=sha, options=options_json, model_sha256=model_sha256,
        text=response.text, result=stored.model_dump_json(), total_ms=response.cost_time_ms, cached=cached,
    )
    await anyio.to_thread.run_sync(jobs.history.record, entry)
