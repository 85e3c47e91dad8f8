"""``crnn-ocr serve``, ``worker``, ``keys`` and ``dataset``: sub-commands owned by the server
package (``crnn_ocr.server.cli``: ``add_serve_parser`` / ``add_worker_parser`` /
``add_keys_parser``; ``crnn_ocr.server.dataset_cli``: ``add_dataset_parser``), which add the
sub-command and set ``func``: Namespace -> exit status.

The server code (FastAPI, pydantic) takes ~0.6 s to import, so it is imported only when the
command about to run is one of these; otherwise a placeholder keeps it in ``--help``. Without the
server code or its ``serve`` extra, the command explains what is missing.
"""

from __future__ import annotations

import argparse
import sys

SERVER_COMMANDS = ("serve", "worker", "keys", "dataset")

_SERVE_DEPENDENCIES = frozenset(
    {"fastapi", "uvicorn", "starlette", "pydantic", "pydantic_settings", "multipart"}
)
_HELP = {
    "serve": "run the HTTP API and web page",
    "worker": "run a Celery worker reading job items from Redis (scale-out)",
    "keys": "create, list and revoke the server's API keys",
    "dataset": "list, export and import datasets of corrected lines (PaddleOCR label files)",
}


def add_server_parser(subparsers: argparse._SubParsersAction, name: str, load: bool) -> None:
    """Sub-command ``name`` (one of ``SERVER_COMMANDS``): the server's own parser when ``load``,
    else a placeholder for ``--help``."""
    help_text = _HELP[name]
    if not load:
        subparsers.add_parser(name, help=help_text, add_help=False)
        return
    try:
        from crnn_ocr.server.cli import add_keys_parser, add_serve_parser, add_worker_parser
        from crnn_ocr.server.dataset_cli import add_dataset_parser
    except ImportError as exc:
        root = (exc.name or "").split(".")[0]
        if exc.name in ("crnn_ocr.server", "crnn_ocr.server.cli", "crnn_ocr.server.dataset_cli"):
            reason = "the web service is not part of this installation"
        elif root in _SERVE_DEPENDENCIES:
            reason = (
                f"the web service needs the 'serve' extra ({root} is missing): "
                "pip install 'crnn-ocr[serve]'"
            )
        else:
            raise
        parser = subparsers.add_parser(name, help=f"{help_text} (unavailable)")
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        parser.set_defaults(func=lambda _args: _unavailable(reason))
        return
    adders = {"serve": add_serve_parser, "worker": add_worker_parser, "keys": add_keys_parser,
              "dataset": add_dataset_parser}
    adders[name](subparsers)


def _unavailable(reason: str) -> int:
    print(f"error: {reason}", file=sys.stderr)
    return 2
