"""Runs OCR calls off the event loop, a bounded number at once, with a bounded waiting queue.

``InferenceGate`` owns a dedicated thread pool of ``max_concurrency`` threads (the concurrency
limit) and a counter of requests in flight (running + waiting). A request that would make that
count exceed ``max_concurrency + max_queue`` is refused at once with ``OverloadedError``, so a
burst can never pile up unbounded work or memory. A request that waits longer than the timeout
gets ``RequestTimeoutError``; its call keeps its thread until it finishes (a running ONNX session
cannot be interrupted) and stays counted until then, so the limits hold even after timeouts.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
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

    @property
    def capacity(self) -> int:
        return self.max_concurrency + self.max_queue

    @property
    def in_flight(self) -> int:
        """Calls running or waiting for a thread."""
        return self._in_flight

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on an inference thread; OverloadedError at once when the queue is full."""
        with self._lock:
            if self._in_flight >= self.capacity:
                raise OverloadedError(
                    f"the server is busy: {self.max_concurrency} requests running and "
                    f"{self.max_queue} waiting; retry shortly"
                )
            self._in_flight += 1
        try:
            future = self._pool.submit(fn, *args)
        except BaseException:
            self._release(None)
            raise
        future.add_done_callback(self._release)  # runs when the call really ends, even after a timeout
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError:
            raise RequestTimeoutError(
                f"no result within {self.timeout_s:g} s; the server may be overloaded"
            ) from None

    def _release(self, _future: Future | None) -> None:
        with self._lock:
            self._in_flight -= 1

    def close(self) -> None:
        """Drop waiting calls and let running ones finish in the background."""
        self._pool.shutdown(wait=False, cancel_futures=True)
