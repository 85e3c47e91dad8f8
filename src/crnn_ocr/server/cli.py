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
    "host", "port", "workers", "model_path", "det_model_path", "threads", "max_bytes", "max_job_bytes", "max_pixels", "max_pages",
    "max_concurrency", "max_queue", "request_timeout_s", "log_level",
    "broker_url", "store_path", "job_workers", "job_lease_s", "broker_visibility_timeout_s", "result_ttl_s",
    "history_ttl_s", "history", "cache", "webhook_allowed_hosts",
)


def _hosts(text: str) -> list[str]:
    return [h.strip() for h in text.split(",") if h.strip()]


def _add_job_arguments(p: argparse.ArgumentParser, server: bool) -> None:
    """Flags shared by ``serve`` and ``worker``: the broker, the store, retention, webhooks."""
    d = ServerSettings.model_fields
    g = p.add_argument_group("jobs, history and cache")
    g.add_argument(
        "--broker", dest="broker_url", metavar="URL",
        help="redis://HOST:PORT/DB: jobs go to Celery workers (crnn-ocr worker) on Redis "
        + ("(default: embedded workers and a SQLite store)" if server else "(required)"),
    )
    g.add_argument(
        "--visibility-timeout", dest="broker_visibility_timeout_s", type=float, metavar="SECONDS",
        help="Redis mode: an item whose worker died is redelivered after this "
        f"(default {d['broker_visibility_timeout_s'].default:g})",
    )
    g.add_argument("--result-ttl", dest="result_ttl_s", type=float, metavar="SECONDS",
                   help=f"keep finished jobs this long (default {d['result_ttl_s'].default:g})")
    g.add_argument("--history-ttl", dest="history_ttl_s", type=float, metavar="SECONDS",
                   help=f"keep history and cached results this long (default {d['history_ttl_s'].default:g})")
    g.add_argument("--no-history", dest="history", action="store_const", const=False,
                   help="do not record recognitions (turns the cache off too)")
    g.add_argument("--webhook-allow", dest="webhook_allowed_hosts", type=_hosts, metavar="HOST[,HOST...]",
                   help="hosts job webhooks may call (default: none, webhooks off)")
    g.add_argument("--env-file", metavar="FILE", help="read CRNN_OCR_* settings from this file (flags win)")
    if server:
        g.add_argument("--store", dest="store_path", metavar="PATH",
                       help="SQLite file of the embedded job store and of the history (default: "
                       "$XDG_DATA_HOME/crnn-ocr/store.sqlite3)")
        g.add_argument("--job-workers", type=int, metavar="N",
                       help=f"embedded mode: threads reading job items (default {d['job_workers'].default})")
        g.add_argument("--job-lease", dest="job_lease_s", type=float, metavar="SECONDS",
                       help="embedded mode: an item whose worker died is retried after this "
                       f"(default {d['job_lease_s'].default:g})")
        g.add_argument("--no-cache", dest="cache", action="store_const", const=False,
                       help="never answer from earlier results")


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
    p.add_argument("--det-model", dest="det_model_path", metavar="PATH", help="learned text-detector ONNX model (default: none)")
    p.add_argument("--max-bytes", type=int, metavar="BYTES", help=f"largest image file in bytes (default {d['max_bytes'].default})")
    p.add_argument(
        "--max-job-bytes", type=int, metavar="BYTES",
        help=f"largest jobs request, all its images together (default {d['max_job_bytes'].default})",
    )
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
    _add_job_arguments(p, server=True)
    p.set_defaults(func=run_serve)
    return p


def add_worker_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "worker",
        help="run a Celery worker reading job items from Redis (scale-out)",
        description=(
            "Read the items of jobs submitted to a `crnn-ocr serve --broker redis://...` server. Run "
            "any number of workers on any number of machines against the same Redis. Each process "
            "loads the model once. Settings also come from CRNN_OCR_* environment variables."
        ),
    )
    p.add_argument("--concurrency", type=int, default=1, metavar="N",
                   help="worker processes (default 1: one process, Celery's solo pool)")
    p.add_argument(
        "--model", dest="model_path", metavar="PATH", help="ONNX model file or manifest name (default: the shipped model)"
    )
    p.add_argument("--threads", type=int, metavar="N", help="ONNX Runtime threads per process (default: automatic)")
    p.add_argument("--max-pixels", type=int, metavar="PIXELS", help="largest width*height of a page")
    p.add_argument("--max-pages", type=int, metavar="N", help="most pages read from one document")
    p.add_argument("--max-bytes", type=int, metavar="BYTES", help="largest image file in bytes")
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    _add_job_arguments(p, server=False)
    p.set_defaults(func=run_worker_command)
    return p


def settings_from_args(args: argparse.Namespace) -> ServerSettings:
    overrides = {name: getattr(args, name) for name in _FLAGS if getattr(args, name, None) is not None}
    env_file = getattr(args, "env_file", None)
    if env_file is not None:
        return ServerSettings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    return ServerSettings(**overrides)


def _settings_or_report(args: argparse.Namespace, command: str) -> ServerSettings | None:
    try:
        return settings_from_args(args)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "settings"
            print(f"crnn-ocr {command}: {where}: {err['msg']}", file=sys.stderr)
        return None


def run_worker_command(args: argparse.Namespace) -> int:
    settings = _settings_or_report(args, "worker")
    if settings is None:
        return 2
    if settings.broker_url is None:
        print("crnn-ocr worker: give --broker redis://HOST:PORT/DB (or CRNN_OCR_BROKER_URL)", file=sys.stderr)
        return 2
    if args.concurrency < 1:
        print("crnn-ocr worker: --concurrency must be at least 1", file=sys.stderr)
        return 2
    try:
        from crnn_ocr.server.celery_worker import run_worker
    except ImportError as exc:
        print(f"crnn-ocr worker: needs the 'jobs' extra ({exc.name} is missing): pip install 'crnn-ocr[jobs]'",
              file=sys.stderr)
        return 2
    return run_worker(settings, args.concurrency, settings.log_level)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings_or_report(args, "serve")
    if settings is None:
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
