"""Request ids and log lines: ``X-Request-ID`` on every answer, and in every log line.

``RequestIdMiddleware`` (the outermost middleware) takes the caller's ``X-Request-ID`` when it is
1-128 characters of ``A-Z a-z 0-9 . _ : -`` (anything else could forge a log line), else makes a
new one (32 hex digits); it sets ``REQUEST_ID`` for the request's context and adds the header to
the answer. ``RequestIdFilter`` puts it on every log record as ``request_id`` (``-`` outside a
request); the context travels into ``anyio.to_thread`` calls and the inference gate's threads.

``configure_logging(level, "text" | "json")`` sets up the root logger once for the process
(``crnn-ocr serve --log-format json``): JSON lines ``{"time", "level", "logger", "message",
"request_id"}`` (plus ``exception``), uvicorn's access lines included.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LogFormat = Literal["text", "json"]

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode("latin-1")
_VALID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")

REQUEST_ID: ContextVar[str | None] = ContextVar("crnn_ocr_request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(value: str | None) -> str:
    """The caller's id when it is safe to log, else a new one."""
    if value is not None and _VALID.fullmatch(value):
        return value
    return new_request_id()


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == _HEADER_KEY), None)
        request_id = accepted_request_id(given)
        scope.setdefault("state", {})["request_id"] = request_id
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != _HEADER_KEY]
                headers.append((_HEADER_KEY, request_id.encode("latin-1")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or "-",
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(levelname)s:     %(name)s: [%(request_id)s] %(message)s"


def log_handler(fmt: LogFormat, stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def configure_logging(level: str, fmt: LogFormat) -> None:
    """The root logger writes ``fmt`` lines at ``level`` to stderr (its handlers replaced); uvicorn's
    loggers propagate to it (run uvicorn with ``log_config=None``)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(log_handler(fmt))
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
