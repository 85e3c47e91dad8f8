"""Every failure as JSON ``{"success": false, "error": {"code", "message"}}``, mapped in one place.

``STATUS_BY_ERROR`` maps the package's exception classes (``crnn_ocr.errors``) and the server's
own (below) to HTTP statuses; the most specific class in an exception's MRO wins. Anything not
raised on purpose becomes a generic 500 whose traceback is logged, never sent.
"""

from __future__ import annotations

import logging
import math
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from crnn_ocr.errors import (
    DatasetError,
    DatasetTooLargeError,
    EncryptedDocumentError,
    ImageError,
    ImageTooLargeError,
    ModelError,
    OCRError,
    OptionsError,
    UnknownDatasetError,
)

log = logging.getLogger("crnn_ocr.server")


# ---- errors raised by the server itself --------------------------------------------------------


class InvalidBase64Error(ImageError):
    """``image_base64`` is not valid base64."""

    code = "invalid_base64"


class ServiceError(Exception):
    """A request the service cannot take now, or a request of the wrong shape."""

    code = "service_error"


class NotReadyError(ServiceError):
    """The model is still loading, or failed to load."""

    code = "not_ready"


class OverloadedError(ServiceError):
    """Every inference slot is busy and the waiting queue is full."""

    code = "overloaded"


class RequestTimeoutError(ServiceError):
    """No result within the configured request timeout."""

    code = "timeout"


class UnsupportedMediaTypeError(ServiceError):
    """The request's Content-Type is not the one the endpoint reads."""

    code = "unsupported_media_type"


class ForbiddenError(ServiceError):
    """A valid key asking for what only an admin key may do."""

    code = "forbidden"


class ConflictError(ServiceError):
    """The request clashes with work already under way (a second fine-tune while one runs)."""

    code = "conflict"


class RateLimitedError(ServiceError):
    """The caller's key is over one of its limits (requests a minute, unfinished jobs)."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class InternalError(ServiceError):
    """A bug: logged server-side with its traceback; the client sees only a generic message."""

    code = "internal_error"


STATUS_BY_ERROR: dict[type[Exception], int] = {
    OCRError: 500,
    ImageError: 400,
    ImageTooLargeError: 413,  # and TooManyPagesError
    EncryptedDocumentError: 422,  # a well-formed PDF that cannot be opened without its password
    OptionsError: 422,
    ModelError: 503,
    DatasetError: 400,  # a bad label file, dataset name, box or text
    UnknownDatasetError: 404,
    DatasetTooLargeError: 413,
    ServiceError: 500,
    NotReadyError: 503,
    OverloadedError: 503,
    RequestTimeoutError: 504,
    UnsupportedMediaTypeError: 415,
    ForbiddenError: 403,
    ConflictError: 409,
    RateLimitedError: 429,
    InternalError: 500,
}

#: Codes for statuses that Starlette / FastAPI raise themselves (routing, body parsing).
CODE_BY_STATUS: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal_error",
    503: "not_ready",
}

GENERIC_500 = "Internal server error. The details are in the server log."


def status_for(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_response(
    status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    error = {"code": code, "message": message, **extra}
    return JSONResponse({"success": False, "error": error}, status_code=status, headers=headers)


# ---- handlers ----------------------------------------------------------------------------------


async def _known_error(request: Request, exc: Exception) -> JSONResponse:
    status = status_for(exc)
    code = getattr(exc, "code", "error")
    if status == 500:
        log.error("error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "internal_error", GENERIC_500)
    headers = None
    if isinstance(exc, OverloadedError):
        headers = {"Retry-After": "1"}
    elif isinstance(exc, RateLimitedError):
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return error_response(status, code, str(exc) or HTTPStatus(status).phrase, headers=headers)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    status = exc.status_code
    code = CODE_BY_STATUS.get(status, HTTPStatus(status).phrase.lower().replace(" ", "_"))
    headers = getattr(exc, "headers", None)
    if status == 404:
        message = f"no such endpoint: {request.method} {_clip(request.url.path, 200)}"
    elif status == 405:
        message = f"method {request.method} is not allowed on {_clip(request.url.path, 200)}"
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    elif status >= 500:
        message = GENERIC_500
    else:
        message = str(exc.detail) if exc.detail else HTTPStatus(status).phrase
    return error_response(status, code, message, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers on this path (Starlette's own 405 names only the
    first route whose path matches: ``GET`` for a path that also takes ``DELETE``)."""
    routes = request.app.router.routes
    return [
        method for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


#: A 422 answer lists at most this many problems, each cut short: it never grows with the input.
MAX_DETAILS = 20
MAX_FIELD_CHARS = 200
MAX_MESSAGE_CHARS = 300


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return error_response(400, "invalid_json", "the request body is not valid JSON")
    details = [
        {
            "field": _clip(".".join(str(p) for p in e.get("loc", ()) if p != "body"), MAX_FIELD_CHARS),
            "message": _clip(str(e.get("msg", "")), MAX_MESSAGE_CHARS),
        }
        for e in errors[:MAX_DETAILS]
    ]
    summary = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in details)
    if len(errors) > MAX_DETAILS:
        summary += f"; and {len(errors) - MAX_DETAILS} more problems"
    return error_response(422, "invalid_options", f"invalid request: {summary}", details=details)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", GENERIC_500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(OCRError, _known_error)
    app.add_exception_handler(ServiceError, _known_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
