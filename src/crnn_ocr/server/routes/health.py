"""Health and information endpoints.

``GET  /healthz``     liveness; ``GET /readyz`` readiness (503 until the model is loaded)
``GET  /api/v1/info`` model, limits and default options (the web page reads it)
``GET  /metrics``     Prometheus metrics (``crnn_ocr.server.telemetry``); an admin key once keys exist
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from crnn_ocr.server import telemetry
from crnn_ocr.server.errors import ForbiddenError
from crnn_ocr.server.routes.deps import CallerDep, ServiceDep, get_caller, package_version
from crnn_ocr.server.schemas import ErrorResponse, HealthResponse, InfoResponse, LimitsOut, OptionsIn, ReadyResponse
from crnn_ocr.server.service import Service

router = APIRouter()


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
