"""``crnn-ocr serve``: run the HTTP service with uvicorn.

Wire it into the main CLI with ``add_serve_parser(subparsers)``; the parser's ``func`` default is
``run_serve``. Flags override ``CRNN_OCR_*`` environment variables, which override defaults.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pydantic import ValidationError

from crnn_ocr.server.settings import ServerSettings

# flag dest -> settings field, for flags whose value (when given) overrides the environment
_FLAGS = (
    "host", "port", "workers", "model_path", "threads", "max_bytes", "max_pixels", "max_pages",
    "max_concurrency", "max_queue", "request_timeout_s", "log_level",
)


def add_serve_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve",
        help="run the HTTP API and web page",
        description=(
            "Serve POST /api/v1/ocr (JSON), POST /ocr (multipart), the web page at / and the API "
            "docs at /docs. Every option can also be set as a CRNN_OCR_* environment variable."
        ),
    )
    d = ServerSettings.model_fields
    p.add_argument("--host", metavar="ADDRESS", help=f"address to listen on (default {d['host'].default})")
    p.add_argument("--port", type=int, metavar="PORT", help=f"port (default {d['port'].default})")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes, each with its own model (default 1)")
    p.add_argument(
        "--model", dest="model_path", metavar="PATH", help="ONNX model file or manifest name (default: the shipped model)"
    )
    p.add_argument("--threads", type=int, metavar="N", help="ONNX Runtime threads per inference (default: automatic)")
    p.add_argument("--max-bytes", type=int, metavar="BYTES", help=f"largest image file in bytes (default {d['max_bytes'].default})")
    p.add_argument("--max-pixels", type=int, metavar="PIXELS", help=f"largest width*height of a page (default {d['max_pixels'].default})")
    p.add_argument(
        "--max-pages", type=int, metavar="N", help=f"most pages read from one document (default {d['max_pages'].default})"
    )
    p.add_argument(
        "--max-concurrency", type=int, metavar="N",
        help=f"OCR calls at once per worker (default {d['max_concurrency'].default})",
    )
    p.add_argument(
        "--max-queue", type=int, metavar="N",
        help=f"requests waiting for a slot before answering 503 (default {d['max_queue'].default})",
    )
    p.add_argument(
        "--timeout", dest="request_timeout_s", type=float, metavar="SECONDS",
        help=f"seconds before a request answers 504 (default {d['request_timeout_s'].default:g})",
    )
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=run_serve)
    return p


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    overrides = {name: getattr(args, name) for name in _FLAGS if getattr(args, name, None) is not None}
    return ServerSettings(**overrides)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    try:
        settings = settings_from_args(args)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            print(f"crnn-ocr serve: {where}: {err['msg']}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    common = dict(host=settings.host, port=settings.port, log_level=settings.log_level)
    if settings.workers == 1:
        from crnn_ocr.server.app import create_app

        uvicorn.run(create_app(settings), **common)
    else:
        # Worker processes build their own app from the environment.
        os.environ.update(settings.to_env())
        uvicorn.run("crnn_ocr.server.app:app_from_env", factory=True, workers=settings.workers, **common)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m crnn_ocr.server [flags]``: the same as ``crnn-ocr serve``."""
    parser = argparse.ArgumentParser(prog="python -m crnn_ocr.server")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_parser(sub)
    return run_serve(parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)]))
