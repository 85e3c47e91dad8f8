"""``WS /api/v1/stream``: live OCR over a WebSocket; the stream logic is ``crnn_ocr.stream``.

Protocol (every server message is JSON text with a ``type``):

1. client → ``{"type": "start", "api_key"?, "options"?, "confirm_frames"?, "change_pixels"?}``
   (``StreamStart``; the key may instead come as ``Authorization: Bearer`` on the handshake).
   server → ``{"type": "ready", "max_bytes", "max_pixels", "frame_header"}``.
2. client → binary frames: ``crnn_ocr.stream.FRAME_HEADER`` (uint32 frame id, float64 timestamp,
   big-endian) + a JPEG, PNG or WebP image. server → ``{"type": "result", ...}`` per frame read
   (``FrameResult.to_dict``); frames that arrive while one is being read wait in a slot of one,
   and a newer one drops the waiting one (its id is in the next result's ``dropped``).
3. client → ``{"type": "stop"}``: the waiting frame is read, then ``{"type": "end", "stats",
   "transcript"}`` and the server closes with 1000.

On a bad start message, key, frame or image the server sends ``{"type": "error", "code",
"message"}`` and closes: 1007 invalid options or image, 1003 an unexpected message, 1009 a frame
over ``max_bytes``, 1008 no or a bad API key or a foreign ``Origin`` (browsers apply no CORS to
WebSockets: only the page's own origin and ``cors_origins`` may stream), 1013 not ready or
rate-limited, 1011 a failure.
The same limits as the other endpoints apply per frame (``max_bytes``, ``max_pixels``), and
frames are read on the same inference gate (``max_concurrency``).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from crnn_ocr.errors import ImageError, ImageTooLargeError, OCRError
from crnn_ocr.server.auth import Refused, admit, authorization_header
from crnn_ocr.server.errors import NotReadyError, OverloadedError, ServiceError
from crnn_ocr.server.schemas import StreamStart
from crnn_ocr.server.service import Service
from crnn_ocr.stream import FRAME_HEADER, Frame, FrameResult, StreamSession, parse_frame

STREAM_PATH = "/api/v1/stream"
START_TIMEOUT_S = 10.0

router = APIRouter()


@dataclass
class StreamClosed(Exception):
    """Ends a stream: the error message to send (none for a normal end) and the close code."""

    close_code: int
    code: str
    message: str


def _close_for(exc: Exception) -> StreamClosed:
    if isinstance(exc, StreamClosed):
        return exc
    if isinstance(exc, Refused):
        return StreamClosed(1013 if exc.status == 429 else 1008, exc.code, exc.message)
    if isinstance(exc, ImageTooLargeError):
        return StreamClosed(1009, exc.code, str(exc))
    if isinstance(exc, OCRError):  # a bad image, bad options
        return StreamClosed(1007, exc.code, str(exc))
    if isinstance(exc, NotReadyError):
        return StreamClosed(1013, exc.code, str(exc))
    if isinstance(exc, ServiceError):
        return StreamClosed(1011, exc.code, str(exc))
    return StreamClosed(1011, "internal_error", "the stream failed unexpectedly")


@router.websocket(STREAM_PATH)
async def stream(websocket: WebSocket) -> None:
    service: Service | None = getattr(websocket.app.state, "service", None)
    await websocket.accept()
    try:
        if service is None or service.auth is None:
            raise StreamClosed(1011, "internal_error", "the app was used without its lifespan")
        _check_origin(websocket, service.settings.cors_origins)
        start = await _start_message(websocket)
        await admit(websocket.scope, service.auth, service.settings.insecure_open,
                    authorization_header(websocket.scope) or (f"Bearer {start.api_key}" if start.api_key else None))
        s = service.settings
        session = StreamSession(service.require_ocr(), start.options.to_options(), start.to_config(), s.max_pixels)
        await websocket.send_json({
            "type": "ready", "max_bytes": s.max_bytes, "max_pixels": s.max_pixels,
            "frame_header": f"struct {FRAME_HEADER.format!r}: uint32 frame id, float64 timestamp (ms), big-endian",
        })
        await _run(websocket, service, session)
    except WebSocketDisconnect:
        return
    except Exception as exc:  # noqa: BLE001 - every failure closes the stream with its reason
        closed = _close_for(exc)
        if websocket.application_state == WebSocketState.CONNECTED:
            try:
                await websocket.send_json({"type": "error", "code": closed.code, "message": closed.message})
                await websocket.close(closed.close_code, _reason(closed.message))
            except (WebSocketDisconnect, RuntimeError):
                pass


def _check_origin(websocket: WebSocket, allowed: list[str]) -> None:
    """Browsers send ``Origin`` on a WebSocket and apply no CORS to it: only the page's own origin
    (the ``Host`` it called) and ``cors_origins`` may stream. Clients without ``Origin`` pass."""
    origin = websocket.headers.get("origin")
    if origin is None or origin in allowed:
        return
    if urlsplit(origin).netloc.lower() != websocket.headers.get("host", "").lower():
        raise StreamClosed(1008, "forbidden", f"streams from the origin {origin} are not allowed (see cors_origins)")


def _reason(message: str) -> str:
    """A close reason: at most 123 bytes of UTF-8."""
    data = message.encode()
    return message if len(data) <= 123 else data[:120].decode(errors="ignore") + "..."


async def _start_message(websocket: WebSocket) -> StreamStart:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), START_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise StreamClosed(1008, "invalid_options", f"no start message within {START_TIMEOUT_S:g} s") from None
    except KeyError:  # a binary message
        raise StreamClosed(1003, "invalid_options", "the first message must be the start message (JSON text)") from None
    try:
        return StreamStart.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise StreamClosed(1007, "invalid_options", f"invalid start message: {problems}") from None


async def _run(websocket: WebSocket, service: Service, session: StreamSession) -> None:
    """Reads messages and reads frames at the same time, until ``stop`` or the client leaves."""
    wake = asyncio.Event()
    stopping = asyncio.Event()
    limit = service.settings.max_bytes + FRAME_HEADER.size

    async def receive() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            data = message.get("bytes")
            if data is not None:
                if len(data) > limit:
                    raise ImageTooLargeError(
                        f"frame of {len(data)} bytes is more than the limit of {service.settings.max_bytes} bytes"
                    )
                session.offer(parse_frame(data))
                wake.set()
                continue
            try:
                kind = json.loads(message.get("text") or "null").get("type")
            except (ValueError, AttributeError):
                kind = None
            if kind != "stop":
                raise StreamClosed(1003, "invalid_message", 'after the start message send binary frames or {"type": "stop"}')
            stopping.set()
            wake.set()
            return

    async def read_frames() -> None:
        while True:
            await wake.wait()
            wake.clear()
            while True:
                frame, dropped = session.next()
                if frame is None:
                    break
                try:
                    result = await service.gate.run(_process, session, frame, dropped)
                except OverloadedError:  # every inference slot busy: this frame is dropped too
                    session.slot.drop(frame)
                    continue
                await websocket.send_json({"type": "result", **result.to_dict()})
            if stopping.is_set():
                return

    receiver = asyncio.create_task(receive())
    reader = asyncio.create_task(read_frames())
    try:
        done, _ = await asyncio.wait({receiver, reader}, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        await reader  # stop: the waiting frame is read first
    finally:
        for task in (receiver, reader):
            task.cancel()
        session.close()
    await websocket.send_json({
        "type": "end",
        "stats": session.stats().to_dict(),
        "transcript": [line.to_dict() for line in session.transcript.values()],
    })
    await websocket.close(1000, "stream ended")


def _process(session: StreamSession, frame: Frame, dropped: tuple[int, ...], *, cancelled: object) -> FrameResult:
    """On an inference thread (the gate passes ``cancelled``; one frame is never interrupted)."""
    return session.process(frame, dropped)
