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
import os
import sys
from pathlib import Path
from typing import IO

from crnn_ocr.cli.inputs import expand_inputs_and_urls
from crnn_ocr.cli.options import (
    add_decode_arguments,
    add_detector_arguments,
    add_document_arguments,
    add_preprocess_arguments,
    document_options,
    ocr_options,
)
from crnn_ocr.types import DocumentOptions, OCROptions


def add_submit_parser(subparsers: argparse._SubParsersAction) -> None:
    sm = subparsers.add_parser(
        "submit", help="send files to a running server as one batch job",
        description="Send images and PDFs (folders recursively) to a running `crnn-ocr serve` as one "
        "job (POST /api/v1/jobs); print the job id. With --wait, show progress and print (or -o "
        "write) the results when it finishes.",
    )
    sm.add_argument("paths", nargs="+", metavar="PATH",
                    help="image or PDF files, folders (recursive), globs, or http(s) URLs the server fetches")
    sm.add_argument("--model", metavar="NAME",
                    help="the server's model to read with (GET /api/v1/models; default: the server's default)")
    sm.add_argument("--server", default="http://127.0.0.1:8000", metavar="URL",
                    help="the server (default http://127.0.0.1:8000)")
    sm.add_argument("--api-key", default=os.environ.get("CRNN_OCR_API_KEY"), metavar="KEY",
                    help="the server's API key (default: $CRNN_OCR_API_KEY), sent as Authorization: Bearer")
    sm.add_argument("--wait", action="store_true", help="wait for the job and output its results")
    sm.add_argument("--format", choices=("text", "json"), default="text",
                    help="with --wait: text (each file's text under a header) or json (the whole job)")
    sm.add_argument("-o", "--output", metavar="FILE", help="with --wait: write the results here")
    sm.add_argument("--timeout", type=float, metavar="SECONDS", help="with --wait: give up after this long")
    sm.add_argument("--no-detect", action="store_true", help="each image is a single text line")
    add_document_arguments(sm)
    add_decode_arguments(sm)
    add_detector_arguments(sm)
    add_preprocess_arguments(sm)
    sm.set_defaults(func=cmd_submit)


def cmd_submit(args: argparse.Namespace) -> int:
    items, urls = expand_inputs_and_urls(args.paths)  # the server fetches the URLs
    missing = [item for item in items if item.error is not None or not Path(item.path).is_file()]
    for item in missing:
        print(f"error: {item.path}: {item.error or 'no such file'}", file=sys.stderr)
    if missing:
        return 2
    names = [item.relative or Path(item.path).name for item in items]
    return run_submit(
        args, [Path(item.path) for item in items], names,
        ocr_options(args, detect=not args.no_detect), document_options(args), urls,
    )


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
    """Send the files (as ``names``) and ``urls`` as one job with these options; with ``--wait``,
    output its results. The form fields come from ``crnn_ocr.client.form_fields``."""
    from crnn_ocr.client import ClientError, OCRClient  # httpx: imported only by this command

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
