"""Runs OCR calls off the event loop, a bounded number at once, with a bounded waiting queue.

``InferenceGate`` owns a dedicated thread pool of ``max_concurrency`` threads (the concurrency
limit) and a counter of requests in flight (running + waiting). A request that would make that
count exceed ``max_concurrency + max_queue`` is refused at once with ``OverloadedError``, so a
burst can never pile up unbounded work or memory.

Every call gets a ``threading.Event`` as its ``cancelled`` keyword argument. A request that gets
no result within the timeout answers ``RequestTimeoutError`` and its call is cancelled: a call
still waiting for a thread never starts, a running one sees ``cancelled`` set and stops at its
next check (``read_document_bytes`` checks before every page; a running ONNX session cannot be
interrupted, so a page being read is finished first). The call stays counted until its thread
is free again, so the limits hold even after timeouts. ``close`` cancels every call.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from crnn_ocr.server.errors import OverloadedError, RequestTimeoutError

T = TypeVar("T")


class InferenceGate:
    def __init__(self, max_concurrency: int, max_queue: int, timeout_s: float) -> None:
        if max_concurrency < 1 or max_queue < 0:
            raise ValueError("max_concurrency must be >= 1 and max_queue >= 0")
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="crnn-ocr")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._calls: set[threading.Event] = set()  # one per call in flight: set to cancel it

    @property
    def capacity(self) -> int:
        return self.max_concurrency + self.max_queue

    @property
    def in_flight(self) -> int:
        """Calls running or waiting for a thread."""
        return self._in_flight

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args, cancelled=event)`` on an inference thread; OverloadedError at once when the
        queue is full, RequestTimeoutError (and ``event`` set) after ``timeout_s``."""
        with self._lock:
            if self._in_flight >= self.capacity:
                raise OverloadedError(
                    f"the server is busy: {self.max_concurrency} requests running and "
                    f"{self.max_queue} waiting; retry shortly"
                )
            self._in_flight += 1
            cancelled = threading.Event()
            self._calls.add(cancelled)
        try:
            # the caller's context (its request id, for log lines) goes along to the thread
            context = contextvars.copy_context()
            future = self._pool.submit(context.run, fn, *args, cancelled=cancelled)
        except BaseException:
            self._release(cancelled)
            raise
        # runs when the call really ends (or is cancelled before it starts), even after a timeout
        future.add_done_callback(lambda _f: self._release(cancelled))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError:
            cancelled.set()
            future.cancel()  # never starts if it is still waiting for a thread
            raise RequestTimeoutError(
                f"no result within {self.timeout_s:g} s; the server may be overloaded"
            ) from None
        except asyncio.CancelledError:  # the client went away, or the server is shutting down
            cancelled.set()
            future.cancel()
            raise

    def _release(self, cancelled: threading.Event) -> None:
        with self._lock:
            if cancelled in self._calls:
                self._calls.discard(cancelled)
                self._in_flight -= 1

    def close(self) -> None:
        """Cancel every call: waiting ones are dropped, running ones stop at their next check."""
        with self._lock:
            for cancelled in self._calls:
                cancelled.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
