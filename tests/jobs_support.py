"""Shared helpers of the batch-job tests and benchmarks/jobs_throughput.py: rendered pages with
exact expected text, free ports, a loopback ``redis-server``, and ``crnn-ocr serve`` / ``crnn-ocr
worker`` subprocesses.

Processes are started in their own session (``start_new_session``) so that killing one (``kill
-9``) never touches the test runner, and are always stopped by PID.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from render import render_page, to_png_bytes

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"

#: Lines the shipped model reads exactly on pages rendered by ``render_page``.
BASE_LINES = ("Invoice 2024", "中文识别测试", "ORDER 12345", "发票号码 0815", "Total 99.50", "CRNN OCR",
              "Batch job 7", "欢迎使用")


def page_lines(i: int) -> list[str]:
    """Six lines for page ``i``: a line unique to it, then five of BASE_LINES."""
    return [f"ORDER {10000 + 37 * i}"] + [BASE_LINES[(i + k) % len(BASE_LINES)] for k in range(5)]


def page_png(i: int) -> bytes:
    page, _ = render_page(page_lines(i))
    return to_png_bytes(page)


def expected_text(i: int) -> str:
    return "\n".join(page_lines(i))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def job_body(images: list[bytes], names: list[str] | None = None, **options: object) -> dict:
    names = names or [f"page-{n}.png" for n in range(len(images))]
    return {"images": [{"image_base64": b64(d), "name": n} for d, n in zip(images, names)], "options": options}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.05):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


def kill9(proc: subprocess.Popen) -> None:
    """SIGKILL the process we started (by its PID) and reap it."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)


def stop(proc: subprocess.Popen, timeout_s: float = 20) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            kill9(proc)


@contextmanager
def redis_server(tmp: Path) -> Iterator[str]:
    """A throwaway redis-server on a free loopback port, its files in ``tmp``; yields its URL."""
    port = free_port()
    log = open(tmp / "redis.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp), "--save", "",
         "--appendonly", "no", "--protected-mode", "yes"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)

        def ping() -> bool:
            assert proc.poll() is None, (tmp / "redis.log").read_text()
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(ping, 20, "redis-server to answer PING")
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
        log.close()


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "crnn_ocr.cli", *args]


def start_process(args: list[str], log_path: Path, env: dict | None = None) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - the child keeps it open
    return subprocess.Popen(
        args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(env or {})}
    )


def start_server(tmp: Path, port: int, *extra: str, log_name: str = "serve.log") -> subprocess.Popen:
    return start_process(
        cli("serve", "--port", str(port), "--threads", "1", "--log-level", "warning", *extra), tmp / log_name
    )


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 90) -> None:
    def ready() -> bool:
        assert proc.poll() is None, f"the server exited:\n{log.read_text(errors='replace')}"
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, timeout_s, f"{url}/readyz", interval_s=0.1)
