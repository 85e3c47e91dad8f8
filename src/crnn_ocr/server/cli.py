"""``crnn-ocr serve``: run the HTTP service with uvicorn.

Wire it into the main CLI with ``add_serve_parser(subparsers)``; the parser's ``func`` default is
``run_serve``. Flags override ``CRNN_OCR_*`` environment variables, which override defaults.
"""

from __future__ import annotations

import argparse
import os
import sys

from pydantic import ValidationError

from crnn_ocr.server.settings import ServerSettings

# flag dest -> settings field, for flags whose value (when given) overrides the environment
_FLAGS = (
    "host", "port", "workers", "model_path", "det_model_path", "threads", "max_bytes", "max_job_bytes", "max_pixels", "max_pages",
    "max_concurrency", "max_queue", "request_timeout_s", "shutdown_timeout_s", "log_level", "log_format",
    "broker_url", "store_path", "data_dir", "job_workers", "job_lease_s", "job_max_attempts", "broker_visibility_timeout_s", "result_ttl_s",
    "history_ttl_s", "history", "cache", "webhook_allowed_hosts", "purge_interval_s",
    "insecure_open", "rate_limit_per_minute", "rate_limit_burst", "max_jobs_per_key", "cors_origins",
    "url_input", "url_allowed_hosts", "url_timeout_s",
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
    g.add_argument("--max-attempts", dest="job_max_attempts", type=int, metavar="N",
                   help="an item whose worker died this often fails with worker_lost "
                   f"(default {d['job_max_attempts'].default})")
    g.add_argument("--result-ttl", dest="result_ttl_s", type=float, metavar="SECONDS",
                   help=f"keep finished jobs this long (default {d['result_ttl_s'].default:g})")
    g.add_argument("--history-ttl", dest="history_ttl_s", type=float, metavar="SECONDS",
                   help=f"keep history and cached results this long (default {d['history_ttl_s'].default:g})")
    g.add_argument("--no-history", dest="history", action="store_const", const=False,
                   help="do not record recognitions (turns the cache off too)")
    g.add_argument("--webhook-allow", dest="webhook_allowed_hosts", type=_hosts, metavar="HOST[,HOST...]",
                   help="hosts job webhooks may call (default: none, webhooks off)")
    g.add_argument("--data-dir", dest="data_dir", metavar="DIR",
                   help="user data: fine-tuned models and the chosen default model, in DIR/models "
                   "(default: the store file's folder)")
    g.add_argument("--env-file", metavar="FILE", help="read CRNN_OCR_* settings from this file (flags win)")
    if server:
        u = p.add_argument_group("image URLs")
        u.add_argument("--no-url-input", dest="url_input", action="store_const", const=False,
                       help="never fetch image_url (air-gapped installs)")
        u.add_argument("--url-allow", dest="url_allowed_hosts", type=_hosts, metavar="HOST[,HOST...]",
                       help="hosts, addresses or CIDR networks image_url may reach although not public "
                       "(default: public addresses only)")
        u.add_argument("--url-timeout", dest="url_timeout_s", type=float, metavar="SECONDS",
                       help=f"longest fetch of one image_url (default {d['url_timeout_s'].default:g})")
        g.add_argument("--store", dest="store_path", metavar="PATH|URL",
                       help="the store of jobs, history, cache and API keys: a SQLite file (default: "
                       "$XDG_DATA_HOME/crnn-ocr/store.sqlite3) or postgresql://USER:PASSWORD@HOST:PORT/DB, "
                       "shared by several servers")
        g.add_argument("--job-workers", type=int, metavar="N",
                       help=f"embedded mode: threads reading job items (default {d['job_workers'].default})")
        g.add_argument("--job-lease", dest="job_lease_s", type=float, metavar="SECONDS",
                       help="embedded mode: an item whose worker died is retried after this "
                       f"(default {d['job_lease_s'].default:g})")
        g.add_argument("--no-cache", dest="cache", action="store_const", const=False,
                       help="never answer from earlier results")
        g.add_argument("--purge-interval", dest="purge_interval_s", type=float, metavar="SECONDS",
                       help="delete expired jobs and history this often "
                       f"(default {d['purge_interval_s'].default:g})")


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
    p.add_argument(
        "--shutdown-timeout", dest="shutdown_timeout_s", type=float, metavar="SECONDS",
        help="on SIGTERM, wait this long for requests in flight, then cancel them "
        f"(default {d['shutdown_timeout_s'].default:g})",
    )
    p.add_argument("--log-level", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--log-format", choices=["text", "json"],
                   help="log lines as text (default) or one JSON object each; every line carries its request id")
    _add_job_arguments(p, server=True)
    a = p.add_argument_group("access (API keys: crnn-ocr keys create)")
    a.add_argument("--insecure-open", action="store_const", const=True,
                   help="serve without API keys on a non-loopback address (anyone who reaches it reads everything)")
    a.add_argument("--rate-limit", dest="rate_limit_per_minute", type=int, metavar="N",
                   help=f"requests a minute per key (default {d['rate_limit_per_minute'].default}; 0: none)")
    a.add_argument("--rate-burst", dest="rate_limit_burst", type=int, metavar="N",
                   help=f"requests per key at once above that (default {d['rate_limit_burst'].default})")
    a.add_argument("--max-jobs-per-key", type=int, metavar="N",
                   help=f"unfinished jobs per key (default {d['max_jobs_per_key'].default}; 0: none)")
    a.add_argument("--cors-origin", dest="cors_origins", action="append", metavar="ORIGIN",
                   help="allow browser calls from this origin, e.g. https://intranet.example (repeatable; default: none)")
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
    p.add_argument("--log-format", choices=["text", "json"],
                   help="log lines as text (default) or one JSON object each; every line carries its request id")
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
        from crnn_ocr.server.jobs.celery_worker import run_worker
    except ImportError as exc:
        print(f"crnn-ocr worker: needs the 'jobs' extra ({exc.name} is missing): pip install 'crnn-ocr[jobs]'",
              file=sys.stderr)
        return 2
    return run_worker(settings, args.concurrency)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from crnn_ocr.server.logs import configure_logging

    settings = _settings_or_report(args, "serve")
    if settings is None:
        return 2
    problem = _exposure_problem(settings)
    if problem is not None:
        print(f"crnn-ocr serve: {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    common = dict(
        host=settings.host, port=settings.port, log_level=settings.log_level, log_config=None,
        timeout_graceful_shutdown=settings.shutdown_timeout_s,
    )
    if settings.workers == 1:
        from crnn_ocr.server.app import create_app

        uvicorn.run(create_app(settings), **common)
    else:
        # Worker processes build their own app from the environment.
        os.environ.update(settings.to_env())
        uvicorn.run("crnn_ocr.server.app:app_from_env", factory=True, workers=settings.workers, **common)
    return 0


def _exposure_problem(settings: ServerSettings) -> str | None:
    from crnn_ocr.server.auth import KeyStore, exposure_problem

    keys = KeyStore(settings.store_path)
    try:
        return exposure_problem(settings.host, keys.configured(), settings.insecure_open)
    finally:
        keys.close()


# ---- keys --------------------------------------------------------------------------------------


def add_keys_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "keys",
        help="create, list and revoke the server's API keys",
        description=(
            "API keys of `crnn-ocr serve`, kept hashed in its store file (--store, default "
            "$CRNN_OCR_STORE_PATH or $XDG_DATA_HOME/crnn-ocr/store.sqlite3). Once a key exists every "
            "API request needs `Authorization: Bearer <key>`; the server need not be restarted."
        ),
    )
    sub = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a key and print it (shown this once only)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--admin", action="store_true", help="an admin key: sees every key's records and may purge")
    create.add_argument("--rate-limit", dest="rate_per_minute", type=int, metavar="N",
                        help="requests a minute for this key (default: the server's --rate-limit)")
    create.add_argument("--max-jobs", type=int, metavar="N",
                        help="unfinished jobs at once for this key (default: the server's --max-jobs-per-key)")
    listing = sub.add_parser("list", help="list the keys (never their secrets)")
    listing.add_argument("--json", action="store_true", help="one JSON array")
    revoke = sub.add_parser("revoke", help="revoke a key: its next request answers 401")
    revoke.add_argument("key_id", metavar="ID", help="the key's id (the part after crnn_, as `keys list` shows)")
    for q in (create, listing, revoke):
        q.add_argument("--store", dest="store_path", metavar="PATH|URL",
                       help="the server's store: its SQLite file or postgresql:// URL")
    p.set_defaults(func=run_keys)
    return p


def run_keys(args: argparse.Namespace) -> int:
    import json
    from dataclasses import asdict

    from crnn_ocr.server.auth import KeyStore
    from crnn_ocr.server.sqlite import describe

    path = args.store_path or ServerSettings().store_path
    keys = KeyStore(path)
    try:
        if args.keys_command == "create":
            for name in ("rate_per_minute", "max_jobs"):
                if getattr(args, name) is not None and getattr(args, name) < 0:
                    print(f"crnn-ocr keys: --{name.replace('_', '-')} must be 0 or more", file=sys.stderr)
                    return 2
            key, token = keys.create(
                args.name, "admin" if args.admin else "user",
                rate_per_minute=args.rate_per_minute, max_jobs=args.max_jobs,
            )
            print(token)
            print(f"created {key.role} key {key.id} ({key.name}) in {describe(path)}; it is shown only now", file=sys.stderr)
            return 0
        if args.keys_command == "list":
            listed = keys.list()
            if args.json:
                print(json.dumps([asdict(k) for k in listed], indent=2))
                return 0
            print(f"{'ID':<14}{'ROLE':<7}{'STATE':<9}{'CREATED':<21}{'LAST USED':<21}NAME")
            for k in listed:
                print(f"{k.id:<14}{k.role:<7}{'revoked' if k.revoked else 'active':<9}{_when(k.created_at):<21}"
                      f"{_when(k.last_used_at):<21}{k.name}")
            return 0
        key_id = args.key_id.split("_")[1] if args.key_id.startswith("crnn_") else args.key_id
        if not keys.revoke(key_id):
            print(f"crnn-ocr keys: no active key {key_id} in {describe(path)}", file=sys.stderr)
            return 1
        print(f"revoked key {key_id}", file=sys.stderr)
        return 0
    finally:
        keys.close()


def _when(t: float | None) -> str:
    import time

    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def main(argv: list[str] | None = None) -> int:
    """``python -m crnn_ocr.server [flags]``: the same as ``crnn-ocr serve``."""
    parser = argparse.ArgumentParser(prog="python -m crnn_ocr.server")
    sub = parser.add_subparsers(dest="command", required=True)
    add_serve_parser(sub)
    return run_serve(parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)]))
