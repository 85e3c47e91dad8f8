"""The FastAPI app: ``create_app(settings, ocr=None)``.

The lifespan builds the one ``Service`` of the app: with ``ocr`` given it is ready at once;
otherwise the model named by the settings is loaded once, on a worker thread, while ``/healthz``
already answers and ``/readyz`` says 503 until it is loaded.

Middleware, outermost first: the request id (``crnn_ocr.server.logs``), request metrics
(``crnn_ocr.server.telemetry``), CORS (only with ``cors_origins``), API keys and rate limits
(``crnn_ocr.server.auth``), the body-size limit.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crnn_ocr.server.auth import AuthMiddleware, exposure_problem
from crnn_ocr.server.errors import error_response, install_error_handlers
from crnn_ocr.server.logs import RequestIdMiddleware, configure_logging
from crnn_ocr.server.routes import corrections as correction_routes
from crnn_ocr.server.routes import finetune as finetune_routes
from crnn_ocr.server.routes import health as health_routes
from crnn_ocr.server.routes import history as history_routes
from crnn_ocr.server.routes import jobs as job_routes
from crnn_ocr.server.routes import ocr as ocr_routes
from crnn_ocr.server.routes import stream as stream_routes
from crnn_ocr.server.routes.deps import package_version
from crnn_ocr.server.routes.jobs import JOBS_PATH
from crnn_ocr.server.service import Service
from crnn_ocr.server.settings import ServerSettings
from crnn_ocr.server.telemetry import MetricsMiddleware

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR

STATIC_DIR = Path(__file__).parent / "static"
JAVASCRIPT = "text/javascript; charset=utf-8"

log = logging.getLogger("crnn_ocr.server")


def create_app(settings: ServerSettings | None = None, ocr: OCR | None = None) -> FastAPI:
    """The app. ``ocr``: an already built model to serve (tests); else the lifespan loads one."""
    settings = settings or ServerSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service.create(settings)
        app.state.service = service
        assert service.auth is not None
        problem = exposure_problem(settings.host, service.auth.keys.configured(), settings.insecure_open)
        if problem is not None:
            service.close()
            raise RuntimeError(problem)
        try:
            if ocr is not None:
                service.set_ready(ocr)
                yield
            else:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(partial(anyio.to_thread.run_sync, service.load, abandon_on_cancel=True))
                    yield
                    tg.cancel_scope.cancel()
        finally:
            service.close()
            app.state.service = None

    app = FastAPI(
        title="CRNN-OCR",
        version=package_version(),
        summary="Offline Chinese + English OCR",
        description=(
            "Both OCR endpoints read images, multi-page TIFFs and PDFs and answer per-page results; "
            "`?format=text|hocr|alto|pdf` answers the result as that file instead of JSON. "
            "Every failure answers `{\"success\": false, \"error\": {\"code\", \"message\"}}` with "
            "400 (bad image, PDF or base64), 413 (too large: bytes, pixels or pages), 415 (wrong "
            "Content-Type), 422 (invalid options, or a password-protected PDF), 503 (overloaded or "
            "model not loaded) or 504 (timeout)."
        ),
        lifespan=lifespan,
        docs_url=None,  # served below from local Swagger UI files: the product runs offline
        redoc_url=None,
    )
    app.state.service = None
    install_error_handlers(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        path_limits={JOBS_PATH: settings.max_job_body_bytes},  # a job carries many images
    )
    app.add_middleware(AuthMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"], expose_headers=["X-Request-ID"],
            max_age=600,
        )
    app.add_middleware(MetricsMiddleware)
    app.add_middleware(RequestIdMiddleware)
    for routes in (health_routes, ocr_routes, job_routes, history_routes, correction_routes, finetune_routes, stream_routes):
        app.include_router(routes.router)
    app.mount("/static", PageFiles(directory=STATIC_DIR), name="static")
    _add_docs(app)

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    return app


class PageFiles(StaticFiles):
    """The web page's files (``static/``). Its scripts are ES modules, which browsers run only when
    served with a JavaScript type: that type is set here, not taken from the host's MIME table
    (which may lack ``.js`` or map it to ``text/plain``)."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if str(full_path).endswith(".js") and "content-type" in response.headers:  # not a 304
            response.headers["content-type"] = JAVASCRIPT
        return response


def _add_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI 5 from the ``swagger-ui-py`` package (the ``serve`` extra), no CDN."""
    try:
        assets_dir = importlib.resources.files("swagger_ui") / "static"
    except ModuleNotFoundError:
        log.warning("swagger-ui-py is not installed: /docs loads Swagger UI from a CDN")
        assets = {}
    else:
        app.mount("/docs-assets", StaticFiles(directory=str(assets_dir)), name="docs-assets")
        assets = {
            "swagger_js_url": "/docs-assets/swagger-ui-bundle.js",
            "swagger_css_url": "/docs-assets/swagger-ui.css",
            "swagger_favicon_url": "/docs-assets/favicon-32x32.png",
        }

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} API", **assets)


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory crnn_ocr.server.app:app_from_env`` (settings from CRNN_OCR_*);
    it is a process's entry point (each ``--workers`` process), so it sets up that process's logging."""
    settings = ServerSettings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)


class BodyTooLargeError(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is more than the limit of {limit} bytes")


class BodyLimitMiddleware:
    """Refuse request bodies above ``max_body_bytes`` (``path_limits[path]`` for those paths): by
    Content-Length before reading, and by counting while reading (chunked uploads). Both answer
    the JSON 413 error."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, path_limits: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.path_limits.get(scope.get("path", "").rstrip("/"), self.max_body_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            response = error_response(413, "payload_too_large", BodyTooLargeError(limit).detail)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(limit)  # FastAPI re-raises HTTP errors; the handler answers
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
