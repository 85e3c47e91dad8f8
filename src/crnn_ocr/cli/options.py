"""The reading options on the command line: the flags of ``OCROptions`` (with its
``DecodeOptions`` and ``PreprocessOptions``) and of ``DocumentOptions``, and their one conversion
to those dataclasses (``ocr_options``, ``document_options``).

A command adds the flag groups it accepts; a group it leaves out reads as the dataclass default.
Adding an option: its flag here, once, and its line in the conversion below.
"""

from __future__ import annotations

import argparse

from crnn_ocr.types import DecodeOptions, DocumentOptions, OCROptions, PreprocessOptions


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def unit_float(text: str) -> float:
    """argparse type: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value}")
    return value


def add_detector_arguments(parser: argparse.ArgumentParser) -> None:
    """``OCROptions``: detector, auto_orient, fields."""
    parser.add_argument(
        "--detector", choices=("auto", "classical", "learned"), default="auto",
        help="line detector: auto (default), classical (no model) or learned (needs a detector model)",
    )
    parser.add_argument(
        "--no-orient", action="store_true",
        help="read the page as it stands (no 90/180/270 or vertical-column detection)",
    )
    parser.add_argument(
        "--fields", action="store_true",
        help="also extract typed, validated fields (receipts: company, date, address, total; Chinese "
        "VAT invoices: code, number, date, parties, amounts); in json under each page's fields",
    )


def add_decode_arguments(parser: argparse.ArgumentParser) -> None:
    """``DecodeOptions``."""
    parser.add_argument("--allow", metavar="CHARS", help="only these characters may be read")
    parser.add_argument("--deny", metavar="CHARS", help="these characters are never read")
    parser.add_argument(
        "--no-page-script", action="store_true",
        help="keep unsure CJK characters on pages read in Latin letters (by default they are read again without CJK)",
    )
    decoding = parser.add_mutually_exclusive_group()
    decoding.add_argument(
        "--beam", nargs="?", const=8, type=positive_int, metavar="WIDTH",
        help="beam search width (default 8; beam search + the character LM is the default decoding); "
        "without WIDTH, put it after the paths",
    )
    decoding.add_argument(
        "--greedy", action="store_true", help="greedy decoding: fastest, no language model (see README 'Decoding')"
    )
    parser.add_argument(
        "--no-lm", action="store_true",
        help="beam search without the character language model (by default it is fused when loaded)",
    )
    parser.add_argument(
        "--pattern", metavar="NAME|REGEX",
        help="read each line as a field: plate, date, time, amount, phone, uscc, email, url, digits, "
        "or a regular expression the whole line must match (the best reading it accepts)",
    )
    parser.add_argument(
        "--min-confidence", type=unit_float, default=0.0, metavar="X",
        help="drop lines read with a confidence below X (0..1; see README 'Confidence')",
    )


def add_preprocess_arguments(parser: argparse.ArgumentParser) -> None:
    """``PreprocessOptions`` (grayscale is always on)."""
    group = parser.add_argument_group("preprocessing (applied in this order)")
    for flag, what in (
        ("--clahe", "local contrast equalisation"),
        ("--denoise", "median-filter denoising"),
        ("--binarize", "adaptive binarisation"),
        ("--morph-close", "morphological closing (joins broken strokes)"),
        ("--deskew", "straighten a rotated page"),
    ):
        group.add_argument(flag, action="store_true", help=what)


def add_document_arguments(parser: argparse.ArgumentParser) -> None:
    """``DocumentOptions``: how PDFs and multi-page files are turned into pages."""
    parser.add_argument("--dpi", type=float, default=DocumentOptions().dpi, metavar="DPI",
                        help=f"resolution PDF pages are rendered at (default {DocumentOptions().dpi:g})")
    parser.add_argument("--pages", metavar="RANGE", help="pages to read, e.g. 1-3,5,9- (default: all)")


def ocr_options(args: argparse.Namespace, detect: bool) -> OCROptions:
    """The ``OCROptions`` of parsed flags; ``detect``: whether lines are detected (each command
    spells that flag its own way: ``--no-detect`` or ``--detect``)."""
    return OCROptions(
        detect=detect,
        detector=getattr(args, "detector", "auto"),
        auto_orient=not getattr(args, "no_orient", False),
        fields=getattr(args, "fields", False),
        preprocess=PreprocessOptions(
            clahe=getattr(args, "clahe", False),
            denoise=getattr(args, "denoise", False),
            binarize=getattr(args, "binarize", False),
            morph_close=getattr(args, "morph_close", False),
            deskew=getattr(args, "deskew", False),
        ),
        decode=DecodeOptions(
            method="greedy" if getattr(args, "greedy", False) else "beam",
            beam_width=args.beam if args.beam is not None else DecodeOptions().beam_width,
            allowlist=args.allow,
            denylist=args.deny,
            page_script=not getattr(args, "no_page_script", False),
            lm=not getattr(args, "no_lm", False),
            pattern=getattr(args, "pattern", None),
            min_confidence=getattr(args, "min_confidence", 0.0),
        ),
    )


def document_options(args: argparse.Namespace) -> DocumentOptions:
    """The ``DocumentOptions`` of flags added by ``add_document_arguments``."""
    return DocumentOptions(dpi=args.dpi, pages=args.pages)
