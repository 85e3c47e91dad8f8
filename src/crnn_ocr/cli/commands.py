"""The ``crnn-ocr`` sub-command table (``build_parser``) and the entry point (``main``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from crnn_ocr import __version__
from crnn_ocr.cli.eval import add_eval_parser
from crnn_ocr.cli.read import add_read_parser
from crnn_ocr.cli.serve import SERVER_COMMANDS, add_server_parser
from crnn_ocr.cli.stream import add_stream_parser
from crnn_ocr.cli.submit import add_submit_parser


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; ``command`` is the sub-command about to run (loads ``serve`` only then)."""
    parser = argparse.ArgumentParser(prog="crnn-ocr", description="Offline Chinese + English OCR.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_read_parser(sub)
    add_eval_parser(sub)
    add_submit_parser(sub)
    add_stream_parser(sub)
    for name in SERVER_COMMANDS:
        add_server_parser(sub, name, load=command == name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``crnn-ocr`` with ``argv`` (default: the process arguments); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    return args.func(args)
