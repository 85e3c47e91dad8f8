"""``crnn-ocr submit``: send files to a running server as one batch job, optionally wait for it.

Standard library only (urllib): the client needs neither the server extras nor the model. Files
go as base64 JSON to ``POST /api/v1/jobs`` with the same options as ``crnn-ocr read``; with
``--wait`` the job is polled until it finishes, progress is shown on stderr, and the results are
printed (text, or the job JSON with ``--format json``) or written to ``-o``. ``--api-key`` (or
``$CRNN_OCR_API_KEY``) is sent as ``Authorization: Bearer`` to a server that has API keys. Exit status: 0 every
item read, 1 some item failed or the server could not be reached, 2 usage error.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

DEFAULT_SERVER = "http://127.0.0.1:8000"


class ServerError(Exception):
    """The server could not be reached, or answered an error (its message is kept)."""


def _call(
    method: str, url: str, body: dict | None = None, timeout: float = 120.0, api_key: str | None = None
) -> dict:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read())["error"]
            raise ServerError(f"{exc.code} {error['code']}: {error['message']}") from None
        except (ValueError, KeyError, TypeError):
            raise ServerError(f"{method} {url}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ServerError(f"cannot reach {url}: {getattr(exc, 'reason', exc)}") from None


def submit_files(
    server: str, paths: list[Path], options: dict, names: list[str], api_key: str | None = None
) -> dict:
    images = [
        {"image_base64": base64.b64encode(p.read_bytes()).decode("ascii"), "name": name}
        for p, name in zip(paths, names)
    ]
    return _call("POST", f"{server.rstrip('/')}/api/v1/jobs", {"images": images, "options": options}, api_key=api_key)


def wait_for(
    server: str, job_id: str, stream: IO[str], poll_s: float = 0.5, timeout_s: float | None = None,
    api_key: str | None = None,
) -> dict:
    """Poll the job until it finishes; a progress line on ``stream``. Returns the job with results."""
    url = f"{server.rstrip('/')}/api/v1/jobs/{job_id}"
    start = time.monotonic()
    while True:
        job = _call("GET", f"{url}?results=false", api_key=api_key)
        finished = job["done"] + job["failed"] + job["cancelled"]
        if stream.isatty():
            stream.write(f"\r{job['status']}: {finished}/{job['total']} ({job['failed']} failed)")
            stream.flush()
        if job["status"] in ("completed", "cancelled"):
            if stream.isatty():
                stream.write("\n")
            return _call("GET", url, api_key=api_key)
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise ServerError(f"job {job_id} did not finish within {timeout_s:g} s")
        time.sleep(poll_s)


def job_text(job: dict) -> str:
    """Each item's text under a ``==> name <==`` header (its error instead when it failed)."""
    parts = []
    for item in job["items"]:
        if item["result"] is not None:
            body = item["result"]["text"]
        elif item["error"] is not None:
            body = f"error: {item['error']['code']}: {item['error']['message']}"
        else:
            body = f"({item['status']})"
        parts.append(f"==> {item['name']} <==\n{body}\n")
    return "".join(parts)


def run_submit(args: argparse.Namespace, paths: list[Path], names: list[str], options: dict) -> int:
    try:
        accepted = submit_files(args.server, paths, options, names, api_key=args.api_key)
    except (ServerError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(accepted["id"], flush=True)
    if not args.wait:
        return 0
    try:
        job = wait_for(args.server, accepted["id"], sys.stderr, timeout_s=args.timeout, api_key=args.api_key)
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    output = json.dumps(job, ensure_ascii=False, indent=2) + "\n" if args.format == "json" else job_text(job)
    if args.output:
        Path(args.output).write_text(output, encoding="utf-8")
    else:
        sys.stdout.write(output)
    for item in job["items"]:
        if item["error"] is not None:
            print(f"error: {item['name']}: {item['error']['message']}", file=sys.stderr)
    return 0 if job["failed"] == 0 and job["status"] == "completed" else 1
