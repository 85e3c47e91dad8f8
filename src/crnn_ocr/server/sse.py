"""Server-Sent Events: the wire format, and a response that streams them.

An event is ``event: NAME`` and one ``data:`` line of JSON, then a blank line. A comment line
(``: keep-alive``) every ``KEEPALIVE_S`` keeps proxies from closing a quiet stream. Browsers read
them with ``EventSource`` (GET) or ``fetch`` + a stream reader (POST); ``crnn_ocr.client`` parses
them (``iter_events`` there: the client does not depend on the server's packages).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi.responses import StreamingResponse

MEDIA_TYPE = "text/event-stream"
KEEPALIVE_S = 15.0
KEEPALIVE = b": keep-alive\n\n"


def event(name: str, data: object) -> bytes:
    """One event: its name and its data as one line of JSON."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def stream(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        events, media_type=MEDIA_TYPE,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},  # nginx: do not buffer the stream
    )
