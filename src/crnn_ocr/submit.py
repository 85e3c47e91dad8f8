"""``crnn-ocr submit``: send files to a running server as one batch job, optionally wait for it.

A thin command over ``crnn_ocr.client.OCRClient``: the files go as multipart/form-data to
``POST /api/v1/jobs`` with the same options as ``crnn-ocr read`` (http(s) URLs go as ``image_url``
fields, for the server to fetch; ``--model`` picks one of the server's models); with ``--wait`` the
job's progress events (Server-Sent Events) are followed until it finishes, progress is shown on stderr (on a terminal), and the results are printed
(text, or the job JSON with ``--format json``) or written to ``-o``. ``--api-key`` (or
``$CRNN_OCR_API_KEY``) is sent as ``Authorization: Bearer`` to a server that has API keys. Refused
and unreachable requests are retried (``crnn_ocr.client.RetryPolicy``). Exit status: 0 every
item read, 1 some item failed or the server could not be reached, 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import IO

from crnn_ocr.client import ClientError, OCRClient
from crnn_ocr.types import DocumentOptions, OCROptions


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


def progress_line(stream: IO[str]):
    """A ``progress`` callback for ``OCRClient.wait`` that rewrites one line on a terminal."""

    def show(job: dict) -> None:
        if not stream.isatty():
            return
        finished = job["done"] + job["failed"] + job["cancelled"]
        end = "\n" if job["status"] in ("completed", "cancelled") else ""
        stream.write(f"\r{job['status']}: {finished}/{job['total']} ({job['failed']} failed){end}")
        stream.flush()

    return show


def run_submit(
    args: argparse.Namespace, paths: list[Path], names: list[str], options: OCROptions, document: DocumentOptions,
    urls: list[str] | None = None,
) -> int:
    with OCRClient(args.server, api_key=args.api_key) as client:
        try:
            sources: list = [(name, path.read_bytes()) for path, name in zip(paths, names)]
            accepted = client.submit([*sources, *(urls or [])], options, document, model=getattr(args, "model", None))
        except (ClientError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(accepted["id"], flush=True)
        if not args.wait:
            return 0
        try:
            job = client.wait(accepted["id"], timeout_s=args.timeout, progress=progress_line(sys.stderr))
        except ClientError as exc:
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
