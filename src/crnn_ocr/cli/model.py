"""The model flags (``--model``, ``--threads``, ``--det-model``, ``--lm``) and the one place a
command builds its OCR from them (``load_ocr``)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from crnn_ocr.cli.options import positive_int
from crnn_ocr.errors import OCRError, OptionsError
from crnn_ocr.types import OCROptions

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", metavar="PATH", help="ONNX model file or manifest name (default: the shipped model)"
    )
    parser.add_argument("--threads", type=positive_int, metavar="N", help="ONNX Runtime threads")
    parser.add_argument(
        "--det-model", metavar="PATH",
        help="learned text-detector ONNX model (default: $CRNN_OCR_DET_MODEL, else none: classical detection)",
    )
    parser.add_argument(
        "--lm", metavar="PATH",
        help="character language model .npz for beam search (default: $CRNN_OCR_LM, else the shipped one)",
    )


def load_ocr(args: argparse.Namespace, options: OCROptions) -> OCR | int:
    """The OCR object, or the exit status after reporting why it could not be built."""
    # The whole pipeline: imported only by commands that read.
    from crnn_ocr.pipeline import OCRConfig
    from crnn_ocr.pipeline import load_ocr as build

    limits = {"max_pages": args.max_pages, "max_pixels": args.max_pixels} if hasattr(args, "max_pages") else {}
    config = OCRConfig(
        model=args.model,
        threads=args.threads,
        det_model=getattr(args, "det_model", None),
        lm=getattr(args, "lm", None),
        **limits,
    )
    try:
        ocr = build(config)
    except OCRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        ocr.check_options(options)
    except OptionsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return ocr
