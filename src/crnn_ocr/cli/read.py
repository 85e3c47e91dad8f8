"""``crnn-ocr read``: read images, multi-page TIFFs and PDFs, page by page, and write each input's
result as soon as it is complete.

    inputs (expand_inputs) -> usage checks -> OCR (load_ocr) -> plan: skip, refuse or open each input
    -> pages (batch.run_pages, --jobs workers) -> PageCollector -> ReadOutput (stdout or files)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from crnn_ocr.batch import Failure, PlannedInput, ReadJob, default_threads, plan_inputs, run_pages
from crnn_ocr.cli.inputs import InputItem, expand_inputs
from crnn_ocr.cli.model import add_model_arguments, load_ocr
from crnn_ocr.cli.options import (
    add_decode_arguments,
    add_detector_arguments,
    add_document_arguments,
    add_preprocess_arguments,
    document_options,
    ocr_options,
    positive_int,
)
from crnn_ocr.cli.outputs import READ_FORMATS, ReadOutput, output_targets, target_problem
from crnn_ocr.cli.pages import PageCollector
from crnn_ocr.cli.progress import Progress
from crnn_ocr.documents import DEFAULT_MAX_PAGES
from crnn_ocr.documents import check_options as check_document_options
from crnn_ocr.errors import OptionsError
from crnn_ocr.formats import TEXT_LAYOUTS
from crnn_ocr.io import DEFAULT_MAX_PIXELS
from crnn_ocr.types import DocumentOptions

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR


def add_read_parser(subparsers: argparse._SubParsersAction) -> None:
    read = subparsers.add_parser(
        "read", help="read the text of images and PDFs",
        description="Read the text of images, multi-page TIFFs and PDFs. Without -o, results go to "
        "stdout (text, json, jsonl; hocr/alto for one input). With -o, one file per input "
        "(-o names the file for a single input, a folder otherwise); jsonl goes to the -o file.",
    )
    read.add_argument("paths", nargs="+", metavar="PATH", help="image or PDF files, folders (recursive) or globs")
    read.add_argument("--no-detect", action="store_true", help="each image is a single text line")
    read.add_argument(
        "--format", choices=READ_FORMATS, default="text",
        help="text (blank line between blocks, form feed between pages), json (pages, lines, "
        "characters with boxes), jsonl (a row per page), hocr, alto (ALTO v4 XML), pdf (searchable)",
    )
    read.add_argument(
        "--layout", choices=TEXT_LAYOUTS, default="lines",
        help="text lines of the text format: lines (one per detected line, default), rows (one per "
        "visual row, cells separated by a tab: a label beside its value) or paragraphs (a "
        "paragraph's lines joined); blocks in reading order (columns one after the other)",
    )
    read.add_argument("-o", "--output", metavar="OUT", help="output file (one input) or folder")
    read.add_argument("--resume", action="store_true", help="skip inputs whose output file exists")
    read.add_argument(
        "--jobs", type=positive_int, default=1, metavar="N",
        help="worker processes reading pages in parallel (default 1)",
    )
    add_document_arguments(read)
    read.add_argument("--max-pages", type=positive_int, default=DEFAULT_MAX_PAGES, metavar="N",
                      help=f"refuse documents with more pages to read (default {DEFAULT_MAX_PAGES})")
    read.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                      help=f"refuse pages of more pixels (default {DEFAULT_MAX_PIXELS})")
    add_decode_arguments(read)
    add_detector_arguments(read)
    add_preprocess_arguments(read)
    add_model_arguments(read)
    read.set_defaults(func=cmd_read)


def usage_problem(args: argparse.Namespace, items: Sequence[InputItem]) -> str | None:
    """Why these arguments cannot work together, or None."""
    several = len(items) > 1 or any(item.from_folder for item in items)
    if args.format == "pdf" and args.output is None:
        return "--format pdf writes a file: give -o OUT.pdf (or -o FOLDER for several inputs)"
    if args.format in ("hocr", "alto") and args.output is None and several:
        return f"--format {args.format} for several inputs needs -o FOLDER (one file per input)"
    if args.resume and (args.output is None or args.format == "jsonl"):
        return "--resume needs -o and a format with one output file per input (not jsonl)"
    return None


@dataclass(frozen=True)
class ReadPlan:
    """What ``read`` does with each input: settled before reading (``early``: its failure, or None
    when ``--resume`` skips it) or read page by page (``plans``)."""

    early: dict[int, Failure | None]
    plans: list[PlannedInput]

    @property
    def skipped(self) -> int:
        return sum(1 for result in self.early.values() if result is None)


def plan_read(
    ocr: OCR, args: argparse.Namespace, items: Sequence[InputItem], targets: Sequence[Path | None],
    document: DocumentOptions,
) -> ReadPlan:
    """Skip finished outputs (--resume), refuse clashing outputs, open the rest."""
    seen: dict[Path, str] = {}
    early: dict[int, Failure | None] = {}
    todo: list[int] = []
    for index, (item, target) in enumerate(zip(items, targets)):
        clash = target_problem(item, target, seen)
        if item.error is not None or clash is not None:
            early[index] = Failure.of(item.error or clash, item.path)  # type: ignore[arg-type]
        elif args.resume and target is not None and target.is_file():
            early[index] = None
        else:
            todo.append(index)
    plans = plan_inputs(ocr, [items[i].path for i in todo], document)
    return ReadPlan(early, [replace(plan, index=todo[k]) for k, plan in enumerate(plans)])


def cmd_read(args: argparse.Namespace) -> int:
    items = expand_inputs(args.paths)
    options = ocr_options(args, detect=not args.no_detect)
    document = document_options(args)
    problem = usage_problem(args, items)
    try:
        check_document_options(document)
    except OptionsError as exc:
        problem = str(exc)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    targets = output_targets(args.output, args.format, items)
    threads = args.threads if args.threads is not None else default_threads(args.jobs)
    args.threads = threads
    ocr = load_ocr(args, options)
    if isinstance(ocr, int):
        return ocr

    plan = plan_read(ocr, args, items, targets, document)
    pages = PageCollector(plan.plans)
    sink = open(args.output, "w", encoding="utf-8") if args.output is not None and args.format == "jsonl" else None  # noqa: SIM115
    total = pages.total
    progress = Progress(total, enabled=total > 1 and sys.stderr.isatty(), stream=sys.stderr, unit="page")
    output = ReadOutput(args.format, args.layout, items, targets, sink or sys.stdout, progress,
                        to_stdout_json=args.format == "json" and args.output is None)
    if plan.skipped:
        progress.write(f"skipped {plan.skipped} input{'s' if plan.skipped != 1 else ''} whose output exists (--resume)")
    try:
        for index, failure in plan.early.items():
            output.finish(index, failure)
        for planned in plan.plans:
            if planned.failure is not None:
                output.finish(planned.index, planned.failure)
        job = ReadJob(
            model=str(ocr.model_path), det_model=getattr(args, "det_model", None), lm=getattr(args, "lm", None),
            threads=threads, max_pages=args.max_pages, max_pixels=args.max_pixels,
            options=options, document=document, want_images=args.format == "pdf",
        )
        for outcome in run_pages(plan.plans, job, args.jobs, ocr=ocr):
            progress.advance()
            complete = pages.add(outcome)
            if complete is not None:
                output.finish(complete.index, complete.result, complete.images)
    finally:
        progress.close()
        output.close()
        if sink is not None:
            sink.close()
    return 1 if output.failed else 0
