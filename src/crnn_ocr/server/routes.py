"""HTTP endpoints. Each OCR request: read bytes (bounded) → check the header → OCR on the gate.

``POST /api/v1/ocr``  JSON ``{"image_base64" | "image_url", "options", "return_processed_image"}``
``POST /ocr``         multipart: file field ``image`` (or field ``image_url``) + the options as flat form fields
``POST /api/v1/ocr/stream``  the JSON request, answered page by page as Server-Sent Events
``POST /api/v1/preprocess``  the JSON request's preprocessing only: the page as PNG
``GET  /api/v1/models``  the models ``options.model`` may name (``crnn_ocr.server.model_registry``)
``GET  /healthz``     liveness; ``GET /readyz`` readiness (503 until the model is loaded)
``GET  /api/v1/info`` model, limits and default options (the web page reads it)
``GET  /metrics``     Prometheus metrics (``crnn_ocr.server.telemetry``); an admin key once keys exist

Every endpoint but the health checks, the web page and the docs needs an API key once keys exist
(``crnn_ocr.server.auth``); ``get_caller`` gives the route who is asking.

An ``image_url`` is fetched by ``crnn_ocr.urlfetch`` (public addresses only unless allow-listed).
Both OCR endpoints read images, multi-page TIFFs and PDFs (every page, or ``pages``, rendered at
``dpi``) and answer per-page results. ``?format=text|hocr|alto|pdf`` answers the result as that
file instead of JSON (``crnn_ocr.formats``, ``crnn_ocr.searchable_pdf``), as an attachment.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from functools import partial
from importlib import metadata
from typing import TYPE_CHECKING, Annotated, TypeVar

import anyio.to_thread
import cv2
import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from crnn_ocr.documents import DocumentLimits, check_options, is_pdf, open_document
from crnn_ocr.errors import EmptyImageError, ImageTooLargeError, OCRError, OptionsError
from crnn_ocr.formats import EXTENSIONS, MEDIA_TYPES, render
from crnn_ocr.server.auth import Caller
from crnn_ocr.server import sse, telemetry
from crnn_ocr.server.errors import (
    GENERIC_500,
    ForbiddenError,
    InternalError,
    InvalidBase64Error,
    RequestTimeoutError,
    ServiceError,
    UnsupportedMediaTypeError,
)
from crnn_ocr.server.history import HistoryEntry
from crnn_ocr.server.jobstore import canonical_json
from crnn_ocr.server.schemas import (
    ErrorResponse,
    HealthResponse,
    InfoResponse,
    LimitsOut,
    ModelListResponse,
    OCRForm,
    OCRRequest,
    OCRResponse,
    OptionsIn,
    OutputFormat,
    ReadyResponse,
    page_out,
)
from crnn_ocr.server.model_registry import LoadedModel
from crnn_ocr.server.service import Service
from crnn_ocr.server.settings import ServerSettings
from crnn_ocr.types import Document, DocumentOptions, OCROptions, Page
from crnn_ocr.urlfetch import fetch_url

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR


router = APIRouter()
log = logging.getLogger("crnn_ocr.server")
FormT = TypeVar("FormT", bound=BaseModel)

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


def get_service(request: Request) -> Service:
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise InternalError("the app was used without its lifespan (use `with TestClient(app)`)")
    return service


ServiceDep = Annotated[Service, Depends(get_service)]

_bearer = HTTPBearer(auto_error=False, description="an API key from `crnn-ocr keys create`")


def get_caller(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """Who is asking (checked by ``AuthMiddleware`` before the body was read): owns the jobs,
    results, history and cache entries it makes. Without API keys every caller is ``anonymous``."""
    caller = getattr(request.state, "caller", None)
    if caller is None:
        raise InternalError("the request was not authenticated (the app runs without AuthMiddleware)")
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_json(request: Request) -> None:
    media = _media_type(request)
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMediaTypeError(
            f"this endpoint reads application/json, not {media or 'a body without Content-Type'}; "
            "send the image as multipart/form-data to POST /ocr instead"
        )


def require_multipart(request: Request) -> None:
    media = _media_type(request)
    if media != "multipart/form-data":
        raise UnsupportedMediaTypeError(
            f"this endpoint reads multipart/form-data with a file field 'image', not "
            f"{media or 'a body without Content-Type'}; send JSON to POST /api/v1/ocr instead"
        )


# ---- health ------------------------------------------------------------------------------------


@router.get("/healthz", response_model=HealthResponse, tags=["health"], summary="Liveness")
async def healthz() -> HealthResponse:
    """Liveness: the process answers."""
    return HealthResponse()


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    tags=["health"],
    summary="Readiness: is the model loaded",
    responses={503: {"model": ReadyResponse}},
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 once the model is loaded, 503 before (or if loading failed)."""
    service: Service | None = getattr(request.app.state, "service", None)
    if service is None:
        body = ReadyResponse(ready=False, status="starting")
    else:
        body = ReadyResponse(
            ready=service.status == "ready",
            status=service.status,
            model=service.model,
            error=service.error,
            in_flight=service.gate.in_flight,
            capacity=service.gate.capacity,
        )
    return JSONResponse(body.model_dump(), status_code=200 if body.ready else 503)


@router.get("/api/v1/info", response_model=InfoResponse, tags=["ocr"], summary="Model, limits, default options",
            dependencies=[Depends(get_caller)])
async def info(service: ServiceDep) -> InfoResponse:
    """The package version, the loaded model, the request limits and the default options."""
    s = service.settings
    return InfoResponse(
        version=package_version(),
        model=service.model,
        limits=LimitsOut(
            max_bytes=s.max_bytes,
            max_pixels=s.max_pixels,
            max_pages=s.max_pages,
            max_concurrency=s.max_concurrency,
            max_queue=s.max_queue,
        ),
        default_options=OptionsIn(),
    )


@router.get(
    "/metrics", tags=["health"], summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {}}, "description": "the Prometheus text format"},
               403: {"model": ErrorResponse, "description": "not an admin key"}},
)
async def metrics(request: Request, caller: CallerDep) -> Response:
    """Requests by endpoint and status, latency per request and per pipeline stage, images and
    pages read, cache lookups, inference queue, job items by state, the model. Once the server has
    API keys, only an admin key may read it."""
    if not caller.may_administer:
        raise ForbiddenError("/metrics needs an admin key (crnn-ocr keys create --admin)")
    service = getattr(request.app.state, "service", None)
    body = await anyio.to_thread.run_sync(telemetry.scrape, service)
    return Response(body, media_type=telemetry.CONTENT_TYPE)


# ---- OCR ---------------------------------------------------------------------------------------

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
    return await _recognise(service, caller.owner, data, body.options, body.return_processed_image, format, start)


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
    options_in = body.options
    model = await choose_model(service, options_in.model)
    s = service.settings
    options, document = options_in.to_options(), options_in.to_document()
    limits, sha = await anyio.to_thread.run_sync(_inspect, data, document, s)
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
            partial(read_document_bytes, on_page=on_page), model.ocr, data, options, document, limits,
            body.return_processed_image, s.preview_max_side, "json",
        )
        telemetry.record_document(result.document, "sync")
        response = OCRResponse.from_document(
            result.document, cost_time_ms=(time.perf_counter() - start) * 1000, model=model.info,
            previews=result.previews,
        )
        options_json = canonical_json(options_in.model_dump(mode="json"))
        await _record(service, caller.owner, sha, options_json, response, model.sha256, cached=False)
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
    document = body.options.to_document()
    limits, _sha = await anyio.to_thread.run_sync(_inspect, data, document, s)
    steps = body.options.preprocess.to_options()

    def render_preview(*, cancelled: threading.Event) -> bytes:
        with open_document(data, document, limits) as doc:
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


def form_schema(form: type[BaseModel], files: dict[str, dict], required: list[str]) -> dict:
    """The OpenAPI schema of a multipart body: ``files`` (name -> schema) next to the fields of
    ``form``, as one flat object (an ``allOf`` with a form that forbids other fields would
    forbid the files too, and no client could send a valid body)."""
    properties = {**form.model_json_schema()["properties"], **files}
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def parse_form(form: type[FormT], fields: dict[str, str]) -> FormT:
    """``fields`` as ``form``, or the 422 a body parameter would answer."""
    try:
        return form.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False, include_url=False)) from None


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
    return await _recognise(
        service, caller.owner, data, form.to_options_in(), form.return_processed_image, format, start
    )


def decode_base64_image(text: str, max_bytes: int) -> bytes:
    """Bytes of a base64 string (a ``data:...;base64,`` prefix allowed), size checked before decoding."""
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidBase64Error("image_base64 is a data: URL without ';base64,'")
    compact = "".join(text.split())
    padding = len(compact) - len(compact.rstrip("="))
    decoded_size = len(compact) * 3 // 4 - padding
    if decoded_size > max_bytes:
        raise ImageTooLargeError(f"the image is {decoded_size} bytes, more than the limit of {max_bytes}")
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidBase64Error(f"image_base64 is not valid base64 ({exc})") from None
    if not data:
        raise EmptyImageError("image_base64 is empty: zero bytes")
    return data


async def _recognise(
    service: Service, owner: str, data: bytes, options_in: OptionsIn, preview: bool, fmt: str, start: float
) -> Response:
    """Read ``data`` (or answer a JSON result from the cache) and record it in the history."""
    model = await choose_model(service, options_in.model)
    s = service.settings
    options, document = options_in.to_options(), options_in.to_document()
    # Off the event loop: header checks are bounded, but not free on a 20 MB file.
    limits, sha = await anyio.to_thread.run_sync(_inspect, data, document, s)
    jobs = service.jobs
    options_json = canonical_json(options_in.model_dump(mode="json"))
    if jobs is not None and fmt == "json" and not preview:
        cached = await anyio.to_thread.run_sync(jobs.cached, owner, sha, options_json, model.sha256)
        if cached is not None:
            cost_ms = (time.perf_counter() - start) * 1000
            response = OCRResponse.model_validate_json(cached).model_copy(
                update={"cached": True, "cost_time_ms": round(cost_ms, 2)}
            )
            await _record(service, owner, sha, options_json, response, model.sha256, cached=True)
            return JSONResponse(response.model_dump(mode="json"))
    try:
        result = await service.gate.run(
            read_document_bytes, model.ocr, data, options, document, limits, preview, s.preview_max_side, fmt
        )
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
        filename = f"ocr-result{EXTENSIONS[fmt]}"
        return Response(
            result.body, media_type=MEDIA_TYPES[fmt],
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


def _inspect(data: bytes, document: DocumentOptions, s: ServerSettings) -> tuple[DocumentLimits, str]:
    return check_input(data, document, s), hashlib.sha256(data).hexdigest()


def check_input(data: bytes, document: DocumentOptions, s: ServerSettings) -> DocumentLimits:
    """Refuse bad document options, and empty, unknown, damaged-header and oversized images and
    TIFFs with too many pages from their headers alone (bounded work: ``crnn_ocr.structure``),
    before taking an inference slot; the limits to read the document with. Call it off the event
    loop. A PDF is opened (page count, sizes) on the inference thread."""
    check_options(document)
    limits = DocumentLimits(max_pages=s.max_pages, max_pixels=s.max_pixels, max_bytes=s.max_bytes)
    if not is_pdf(data[:1024]):
        open_document(data, document, limits).close()  # headers only: no page is decoded
    return limits


@dataclass(frozen=True)
class _Read:
    document: Document
    previews: list[bytes | None]  # per page: the preprocessed image as PNG, when asked
    body: bytes | None  # the result as a file, for ?format= other than json


def read_document_bytes(
    ocr: OCR, data: bytes, options: OCROptions, document: DocumentOptions, limits: DocumentLimits,
    preview: bool, preview_max_side: int, fmt: str, *, cancelled: threading.Event | None = None,
    on_page: Callable[[Page, int, int, int], None] | None = None,
) -> _Read:
    """On an inference thread: every chosen page read, one page image in memory at a time; the
    previews and the output file (a searchable PDF gets each page's image as JPEG) as asked.
    ``cancelled`` (set by the gate when the request timed out) is checked before every page."""
    pages, previews, jpegs = [], [], []

    def check_cancelled() -> None:
        if cancelled is not None and cancelled.is_set():
            raise RequestTimeoutError("the request timed out; its reading was stopped")

    check_cancelled()
    with open_document(data, document, limits) as doc:
        for number in doc.numbers:
            check_cancelled()
            page_image = doc.page(number)
            page = replace(ocr(page_image.image, options), number=page_image.number, dpi=page_image.dpi)
            pages.append(page)
            if on_page is not None:  # (page, pages read so far, pages to read, pages in the document)
                on_page(page, len(pages), len(doc.numbers), doc.page_count)
            previews.append(
                encode_preview(ocr.preprocess_preview(page_image.image, options.preprocess), preview_max_side)
                if preview else None
            )
            if fmt == "pdf":
                from crnn_ocr.searchable_pdf import encode_page_image

                jpegs.append(encode_page_image(page_image.image))
        result = Document(tuple(pages), doc.page_count)
    body = None
    if fmt == "pdf":
        from crnn_ocr.searchable_pdf import to_searchable_pdf

        body = to_searchable_pdf(list(zip(jpegs, pages)))
    elif fmt != "json":
        body = render(result, fmt).encode("utf-8")  # type: ignore[arg-type]
    return _Read(result, previews, body)


def encode_preview(img: np.ndarray, max_side: int) -> bytes:
    """PNG bytes of a uint8 grey or BGR image, scaled down (aspect kept) to ``max_side``."""
    h, w = img.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise InternalError("could not encode the preview image as PNG")
    return buf.tobytes()


def package_version() -> str:
    try:
        return metadata.version("crnn-ocr")
    except metadata.PackageNotFoundError:
        return "unknown"
