"""``crnn-ocr eval``: recognise each line image of a labelled set (``LABELS.tsv``) and print CER,
1 - NED, line accuracy and speed (``crnn_ocr.metrics``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from crnn_ocr.batch import Failure
from crnn_ocr.cli.model import add_model_arguments, load_ocr
from crnn_ocr.cli.options import add_decode_arguments, add_detector_arguments, ocr_options, positive_int
from crnn_ocr.cli.progress import Progress, with_progress
from crnn_ocr.errors import OCRError


def add_eval_parser(subparsers: argparse._SubParsersAction) -> None:
    ev = subparsers.add_parser(
        "eval", help="score recognition on a labelled line set",
        description="Recognise each line image of LABELS.tsv (relative/path<TAB>text) and print "
        "CER, 1 - NED, line accuracy and speed.",
    )
    ev.add_argument("labels", metavar="LABELS.tsv")
    ev.add_argument("--detect", action="store_true", help="detect lines first (default: image = one line)")
    ev.add_argument("--limit", type=positive_int, metavar="N", help="only the first N lines")
    ev.add_argument(
        "--scoring", choices=("auto", "raw", "text", "alnum"), default="auto",
        help="text normalisation before scoring (auto: by set name, see crnn_ocr.metrics)",
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    add_decode_arguments(ev)
    add_detector_arguments(ev)
    add_model_arguments(ev)
    ev.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    from crnn_ocr.datasets import read_labels
    from crnn_ocr.errors import LabelFileError
    from crnn_ocr.metrics import score_pairs, scoring_mode_for_set

    try:
        pairs = read_labels(args.labels)
    except (OSError, LabelFileError) as exc:
        print(f"error: {args.labels}: {exc}", file=sys.stderr)
        return 1
    if args.limit is not None:
        pairs = pairs[: args.limit]
    if not pairs:
        print(f"error: {args.labels}: no labelled lines", file=sys.stderr)
        return 1
    mode = args.scoring
    if mode == "auto":  # by the set's folder name, as in /work/shared/eval
        mode = scoring_mode_for_set(Path(args.labels).resolve().parent.name)
    options = ocr_options(args, detect=args.detect)
    ocr = load_ocr(args, options)
    if isinstance(ocr, int):
        return ocr

    progress = Progress(len(pairs), enabled=sys.stderr.isatty(), stream=sys.stderr)
    hyps, failed = [], 0
    start = time.perf_counter()
    for path, _ in with_progress(pairs, progress):
        try:
            hyps.append(ocr(path, options).text)
        except OCRError as exc:  # scored as an empty reading, and counted
            failed += 1
            hyps.append("")
            progress.write(f"error: {path}: {Failure.of(exc, str(path)).message}")
    seconds = time.perf_counter() - start
    score = score_pairs([ref for _, ref in pairs], hyps, mode, seconds)

    report = {
        "labels": str(args.labels),
        "model": f"{ocr.model.name} {ocr.model.version}",
        "scoring": mode,
        "detect": args.detect,
        "lines": score.n,
        "failed": failed,
        "cer": score.cer,
        "one_minus_ned": score.one_minus_ned,
        "line_accuracy": score.line_accuracy,
        "chars": score.chars,
        "edits": score.edits,
        "seconds": round(seconds, 3),
        "lines_per_s": score.lines_per_s,
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print_eval(report)
    return 1 if failed else 0


def print_eval(report: dict) -> None:
    rows = [
        ("labels", report["labels"]),
        ("model", report["model"]),
        ("scoring", report["scoring"] + (" (with line detection)" if report["detect"] else "")),
        ("lines", f"{report['lines']}" + (f" ({report['failed']} failed)" if report["failed"] else "")),
        ("CER", f"{100 * report['cer']:.2f} %  ({report['edits']} edits / {report['chars']} chars)"),
        ("1 - NED", f"{report['one_minus_ned']:.4f}"),
        ("line accuracy", f"{100 * report['line_accuracy']:.2f} %"),
        ("lines/s", f"{report['lines_per_s']:.1f}"),
    ]
    for name, value in rows:
        print(f"{name:<14}{value}")
