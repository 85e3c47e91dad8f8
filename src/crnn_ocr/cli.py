"""The ``crnn-ocr`` command: ``read`` images, ``eval`` on a labelled line set, ``serve`` the web app.

Exit status: 0 all went well; 1 some input (or the model) failed, the rest were still processed;
2 usage error (bad arguments or options).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

from crnn_ocr import __version__
from crnn_ocr.batch import Failure, PageOutcome, PlannedInput
from crnn_ocr.documents import DEFAULT_MAX_PAGES
from crnn_ocr.errors import ImageNotFoundError, OCRError, OptionsError
from crnn_ocr.formats import EXTENSIONS, TEXT_LAYOUTS, TextLayout, render
from crnn_ocr.io import DEFAULT_MAX_PIXELS
from crnn_ocr.types import DecodeOptions, Document, DocumentOptions, OCROptions, PreprocessOptions

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
#: What folders and globs are searched for: images and PDFs.
INPUT_EXTENSIONS = IMAGE_EXTENSIONS | {".pdf"}
_GLOB_CHARS = frozenset("*?[")
T = TypeVar("T")


# ---- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputItem:
    """One file to read (an image or a PDF), or the reason an argument gave none.

    ``relative``: where its output goes below an output folder: the path below the folder argument
    it was found in, else the file name.
    """

    path: str
    error: OCRError | None = None
    relative: str = ""
    from_folder: bool = False


def expand_inputs(args: Sequence[str]) -> list[InputItem]:
    """Files as given, folders (recursively: image and PDF extensions, sorted) and globs (sorted),
    in argument order. A folder or glob that yields no file becomes an item carrying the error;
    a path that does not exist is kept and fails when it is read."""
    items: list[InputItem] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            found = [InputItem(str(f), relative=f.relative_to(path).as_posix(), from_folder=True) for f in _files_under(path)]
            missing = "no image files (or PDFs) in folder"
        elif not path.exists() and _GLOB_CHARS & set(arg):
            found = []
            for m in (Path(m) for m in sorted(glob.glob(arg, recursive=True))):
                if m.is_dir():
                    found += [InputItem(str(f), relative=f.relative_to(m.parent).as_posix(), from_folder=True)
                              for f in _files_under(m)]
                else:
                    found.append(InputItem(str(m), relative=m.name, from_folder=True))
            missing = "no file matches"
        else:
            found, missing = [InputItem(str(path), relative=path.name)], ""
        items += found or [InputItem(arg, ImageNotFoundError(missing), relative=path.name)]
    return items


def _files_under(folder: Path) -> list[Path]:
    """Files below ``folder`` with an image or PDF extension (any case), sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in INPUT_EXTENSIONS and p.is_file())


# ---- progress ----------------------------------------------------------------------------------


class _Progress:
    """A progress bar on stderr (tqdm when installed, else a one-line counter); ``write`` prints a
    message above it. Disabled: messages go straight to stderr."""

    def __init__(self, total: int, enabled: bool, stream: IO[str], unit: str = "img") -> None:
        self.total, self.done, self.stream = total, 0, stream
        self._tqdm = None
        self.enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._tqdm = tqdm(total=total, file=stream, unit=unit, leave=False)

    def write(self, message: str) -> None:
        if self._tqdm is not None:
            self._tqdm.write(message, file=self.stream)
            return
        if self.enabled:
            self.stream.write("\r\x1b[K")
        self.stream.write(message + "\n")
        self._draw()

    def advance(self) -> None:
        self.done += 1
        if self._tqdm is not None:
            self._tqdm.update(1)
        else:
            self._draw()

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        elif self.enabled:
            self.stream.write("\r\x1b[K")
        self.stream.flush()

    def _draw(self) -> None:
        if self.enabled and self._tqdm is None:
            filled = 30 * self.done // max(self.total, 1)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            self.stream.flush()


def _with_progress(items: Sequence[T], progress: _Progress) -> Iterator[T]:
    try:
        for item in items:
            yield item
            progress.advance()
    finally:
        progress.close()


# ---- shared helpers ----------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", metavar="PATH", help="ONNX model file or manifest name (default: the shipped model)"
    )
    parser.add_argument("--threads", type=_positive_int, metavar="N", help="ONNX Runtime threads")
    parser.add_argument(
        "--det-model", metavar="PATH",
        help="learned text-detector ONNX model (default: $CRNN_OCR_DET_MODEL, else none: classical detection)",
    )
    parser.add_argument(
        "--lm", metavar="PATH",
        help="character language model .npz for beam search (default: $CRNN_OCR_LM, else the shipped one)",
    )


def _add_detector_arguments(parser: argparse.ArgumentParser) -> None:
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


def _add_decode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow", metavar="CHARS", help="only these characters may be read")
    parser.add_argument("--deny", metavar="CHARS", help="these characters are never read")
    parser.add_argument(
        "--no-page-script", action="store_true",
        help="keep unsure CJK characters on pages read in Latin letters (by default they are read again without CJK)",
    )
    decoding = parser.add_mutually_exclusive_group()
    decoding.add_argument(
        "--beam", nargs="?", const=8, type=_positive_int, metavar="WIDTH",
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
        "--min-confidence", type=_unit_float, default=0.0, metavar="X",
        help="drop lines read with a confidence below X (0..1; see README 'Confidence')",
    )


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value}")
    return value


def _add_preprocess_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("preprocessing (applied in this order)")
    for flag, what in (
        ("--clahe", "local contrast equalisation"),
        ("--denoise", "median-filter denoising"),
        ("--binarize", "adaptive binarisation"),
        ("--morph-close", "morphological closing (joins broken strokes)"),
        ("--deskew", "straighten a rotated page"),
    ):
        group.add_argument(flag, action="store_true", help=what)


def _options(args: argparse.Namespace, detect: bool) -> OCROptions:
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


def _load_ocr(args: argparse.Namespace, options: OCROptions) -> OCR | int:
    """The OCR object, or the exit status after reporting why it could not be built."""
    from crnn_ocr.pipeline import OCR

    limits = {"max_pages": args.max_pages, "max_pixels": args.max_pixels} if hasattr(args, "max_pages") else {}
    try:
        ocr = OCR(
            args.model,
            threads=args.threads,
            det_model_path=getattr(args, "det_model", None),
            lm_path=getattr(args, "lm", None),
            **limits,
        )
    except OCRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        ocr.check_options(options)
    except OptionsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return ocr


def _message(exc: Exception, path: str) -> str:
    """The exception's message without a leading ``path: `` (we print the path ourselves)."""
    text = str(exc) if isinstance(exc, OCRError) else f"{type(exc).__name__}: {exc}"
    return text[len(path) + 2 :] if text.startswith(f"{path}: ") else text


# ---- read --------------------------------------------------------------------------------------

#: Output formats of ``read``: text, json and jsonl go to stdout unless -o is given.
READ_FORMATS = ("text", "json", "jsonl", "hocr", "alto", "pdf")


def _summary_rows(path: str, document: Document) -> list[dict]:
    """jsonl: one compact row per page (lines without their characters)."""
    return [
        {
            "path": path,
            "page": page.number,
            "text": page.text,
            "lines": [
                {"text": line.text, "confidence": round(float(line.confidence), 4), "box": line.box.to_list()}
                for line in page.lines
            ],
            **({"fields": [f.to_dict() for f in page.fields]} if page.fields else {}),
        }
        for page in document.pages
    ]


def _json_record(path: str, document: Document) -> dict:
    record = document.to_dict()
    del record["source"]
    return {"path": path, **record}


def _error_record(path: str, failure: Failure) -> dict:
    return {"path": path, "error": {"code": failure.code, "message": failure.message}}


def _usage_problem(args: argparse.Namespace, items: Sequence[InputItem]) -> str | None:
    """Why these arguments cannot work together, or None."""
    several = len(items) > 1 or any(item.from_folder for item in items)
    if args.format == "pdf" and args.output is None:
        return "--format pdf writes a file: give -o OUT.pdf (or -o FOLDER for several inputs)"
    if args.format in ("hocr", "alto") and args.output is None and several:
        return f"--format {args.format} for several inputs needs -o FOLDER (one file per input)"
    if args.resume and (args.output is None or args.format == "jsonl"):
        return "--resume needs -o and a format with one output file per input (not jsonl)"
    return None


def _output_targets(args: argparse.Namespace, items: Sequence[InputItem]) -> list[Path | None]:
    """Each input's output file, or None where its result goes to stdout (or the jsonl file)."""
    if args.output is None or args.format == "jsonl":
        return [None] * len(items)
    out = Path(args.output)
    to_folder = (
        len(items) > 1 or items[0].from_folder or out.is_dir() or args.output.endswith(("/", os.sep))
    )
    if not to_folder:
        return [out]
    ext = EXTENSIONS[args.format]
    targets: list[Path | None] = []
    for item in items:
        relative = Path(item.relative or Path(item.path).name)
        name = relative.name[: -len(relative.suffix)] if relative.suffix else relative.name
        targets.append(out / relative.parent / (name + ext))
    return targets


def _target_problem(item: InputItem, target: Path | None, seen: dict[Path, str]) -> OCRError | None:
    """An output that would overwrite the input or another input's output."""
    if target is None:
        return None
    resolved = target.resolve()
    if resolved == Path(item.path).resolve():
        return OptionsError(f"the output {target} would overwrite the input; choose another -o")
    if resolved in seen:
        return OptionsError(f"the output {target} is also the output of {seen[resolved]}; rename one of them")
    seen[resolved] = item.path
    return None


def _write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file, so an interrupted run leaves no
    partial output for ``--resume`` to mistake for a finished one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _document_bytes(
    fmt: str, path: str, document: Document, images: Sequence[bytes], layout: TextLayout = "lines"
) -> bytes:
    """The output file of one input."""
    if fmt == "pdf":
        from crnn_ocr.searchable_pdf import to_searchable_pdf

        return to_searchable_pdf(list(zip(images, document.pages)), title=Path(path).name)
    if fmt == "json":
        return (json.dumps(_json_record(path, document), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return render(document, fmt, layout).encode("utf-8")  # type: ignore[arg-type]


class _ReadOutput:
    """Writes each input's result as soon as it is complete: to its file, or to ``out`` in input
    order (stdout must follow the argument order even when workers finish out of order)."""

    def __init__(self, args: argparse.Namespace, items: Sequence[InputItem], targets: Sequence[Path | None],
                 out: IO[str], progress: _Progress) -> None:
        self.args, self.items, self.targets, self.out, self.progress = args, items, targets, out, progress
        self.header = len(items) > 1
        self.failed = False
        self._ready: dict[int, Document | Failure | None] = {}
        self._next = 0
        self._json: list[dict] = []

    def finish(self, index: int, result: Document | Failure | None, images: Sequence[bytes] = ()) -> None:
        """``result`` of input ``index``: its Document, its Failure, or None (skipped by --resume)."""
        item = self.items[index]
        if isinstance(result, Failure):
            self.failed = True
            self.progress.write(f"error: {item.path}: {result.message}")
        target = self.targets[index]
        if target is not None and isinstance(result, Document):
            try:
                _write_atomically(target, _document_bytes(self.args.format, item.path, result, images, self.args.layout))
            except (OSError, OCRError) as exc:
                self.failed = True
                self.progress.write(f"error: {item.path}: cannot write {target}: {exc}")
        self._ready[index] = result
        while self._next in self._ready:
            self._emit(self._next, self._ready.pop(self._next))
            self._next += 1

    def _emit(self, index: int, result: Document | Failure | None) -> None:
        if self.targets[index] is not None or result is None:
            return
        path, fmt, out = self.items[index].path, self.args.format, self.out
        if fmt == "jsonl":
            rows = [_error_record(path, result)] if isinstance(result, Failure) else _summary_rows(path, result)
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
        elif fmt == "json":
            self._json.append(_error_record(path, result) if isinstance(result, Failure) else _json_record(path, result))
        elif isinstance(result, Document):
            text = render(result, fmt, self.args.layout)  # type: ignore[arg-type]
            if self.header:
                out.write(f"==> {path} <==\n{text}\n")
            else:
                out.write(text)
            out.flush()

    def close(self) -> None:
        if self.args.format == "json" and self.args.output is None:
            json.dump(self._json, self.out, ensure_ascii=False, indent=2)
            self.out.write("\n")
        self.out.flush()


def _cmd_read(args: argparse.Namespace) -> int:
    from crnn_ocr.batch import ReadJob, default_threads, plan_inputs, run_pages
    from crnn_ocr.documents import check_options as check_document_options

    items = expand_inputs(args.paths)
    options = _options(args, detect=not args.no_detect)
    document = DocumentOptions(dpi=args.dpi, pages=args.pages)
    problem = _usage_problem(args, items)
    try:
        check_document_options(document)
    except OptionsError as exc:
        problem = str(exc)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    targets = _output_targets(args, items)
    threads = args.threads if args.threads is not None else default_threads(args.jobs)
    args.threads = threads
    ocr = _load_ocr(args, options)
    if isinstance(ocr, int):
        return ocr

    # What to read: skip finished outputs (--resume), refuse clashing outputs, open the rest.
    seen: dict[Path, str] = {}
    early: dict[int, Failure | None] = {}
    todo: list[int] = []
    for index, (item, target) in enumerate(zip(items, targets)):
        clash = _target_problem(item, target, seen)
        if item.error is not None or clash is not None:
            early[index] = Failure.of(item.error or clash, item.path)  # type: ignore[arg-type]
        elif args.resume and target is not None and target.is_file():
            early[index] = None
        else:
            todo.append(index)
    plans = plan_inputs(ocr, [items[i].path for i in todo], document)
    plans = [replace(plan, index=todo[k]) for k, plan in enumerate(plans)]
    pages_left = {plan.index: len(plan.numbers) for plan in plans if plan.failure is None}

    sink = open(args.output, "w", encoding="utf-8") if args.output is not None and args.format == "jsonl" else None  # noqa: SIM115
    total = sum(pages_left.values())
    progress = _Progress(total, enabled=total > 1 and sys.stderr.isatty(), stream=sys.stderr, unit="page")
    output = _ReadOutput(args, items, targets, sink or sys.stdout, progress)
    skipped = sum(1 for r in early.values() if r is None)
    if skipped:
        progress.write(f"skipped {skipped} input{'s' if skipped != 1 else ''} whose output exists (--resume)")
    try:
        for index, failure in early.items():
            output.finish(index, failure)
        for plan in plans:
            if plan.failure is not None:
                output.finish(plan.index, plan.failure)
        job = ReadJob(
            model=str(ocr.model_path), det_model=getattr(args, "det_model", None), lm=getattr(args, "lm", None),
            threads=threads, max_pages=args.max_pages, max_pixels=args.max_pixels,
            options=options, document=document, want_images=args.format == "pdf",
        )
        done: dict[int, dict[int, PageOutcome]] = {i: {} for i in pages_left}
        for outcome in run_pages(plans, job, args.jobs, ocr=ocr):
            progress.advance()
            pages = done.get(outcome.index)
            if pages is None:  # the input already failed on another page
                continue
            pages[outcome.number] = outcome
            if outcome.failure is None and len(pages) < pages_left[outcome.index]:
                continue
            del done[outcome.index]
            plan = next(p for p in plans if p.index == outcome.index)
            output.finish(outcome.index, *_assemble(plan, pages, outcome.failure))
    finally:
        progress.close()
        output.close()
        if sink is not None:
            sink.close()
    return 1 if output.failed else 0


def _assemble(plan: PlannedInput, pages: dict[int, PageOutcome], failure: Failure | None) -> tuple:
    """(Document, page images) of a complete input, or (the first page failure,)."""
    if failure is not None:
        return (failure,)
    ordered = [pages[n] for n in plan.numbers]
    document = Document(tuple(o.page for o in ordered), plan.page_count, plan.path)  # type: ignore[misc]
    return document, [o.image_jpeg for o in ordered if o.image_jpeg is not None]



# ---- eval --------------------------------------------------------------------------------------


def _cmd_eval(args: argparse.Namespace) -> int:
    from crnn_ocr.metrics import LabelFileError, read_labels, score_pairs, scoring_mode_for_set

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
    options = _options(args, detect=args.detect)
    ocr = _load_ocr(args, options)
    if isinstance(ocr, int):
        return ocr

    progress = _Progress(len(pairs), enabled=sys.stderr.isatty(), stream=sys.stderr)
    hyps, failed = [], 0
    start = time.perf_counter()
    for path, _ in _with_progress(pairs, progress):
        try:
            hyps.append(ocr(path, options).text)
        except OCRError as exc:  # scored as an empty reading, and counted
            failed += 1
            hyps.append("")
            progress.write(f"error: {path}: {_message(exc, str(path))}")
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
        _print_eval(report)
    return 1 if failed else 0


def _print_eval(report: dict) -> None:
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


# ---- serve (owned by crnn_ocr.server) ----------------------------------------------------------

_SERVE_DEPENDENCIES = frozenset(
    {"fastapi", "uvicorn", "starlette", "pydantic", "pydantic_settings", "multipart"}
)


def _add_serve_parser(subparsers: argparse._SubParsersAction, load: bool, name: str = "serve") -> None:
    """``crnn-ocr serve`` and ``crnn-ocr worker`` come from ``crnn_ocr.server.cli``
    (``add_serve_parser`` / ``add_worker_parser``), which add the sub-command and set ``func``
    (Namespace -> exit status).

    The server code (FastAPI, pydantic) takes ~0.6 s to import, so it is imported only when the
    command is ``name`` (``load``); otherwise a placeholder keeps it in ``--help``. Without the
    server code or its ``serve`` extra, the command explains what is missing.
    """
    help_text = {
        "serve": "run the HTTP API and web page",
        "worker": "run a Celery worker reading job items from Redis (scale-out)",
        "keys": "create, list and revoke the server's API keys",
    }[name]
    if not load:
        subparsers.add_parser(name, help=help_text, add_help=False)
        return
    try:
        from crnn_ocr.server.cli import add_keys_parser, add_serve_parser, add_worker_parser
    except ImportError as exc:
        root = (exc.name or "").split(".")[0]
        if exc.name in ("crnn_ocr.server", "crnn_ocr.server.cli"):
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
    {"serve": add_serve_parser, "worker": add_worker_parser, "keys": add_keys_parser}[name](subparsers)


# ---- submit (a client of a running server) -----------------------------------------------------


def _cmd_submit(args: argparse.Namespace) -> int:
    from crnn_ocr.submit import run_submit

    from crnn_ocr.client import is_url

    urls = [p for p in args.paths if is_url(p)]  # the server fetches these
    items = expand_inputs([p for p in args.paths if not is_url(p)]) if len(urls) < len(args.paths) else []
    missing = [item for item in items if item.error is not None or not Path(item.path).is_file()]
    for item in missing:
        print(f"error: {item.path}: {item.error or 'no such file'}", file=sys.stderr)
    if missing:
        return 2
    options = _options(args, detect=not args.no_detect)
    document = DocumentOptions(dpi=args.dpi, pages=args.pages)
    names = [item.relative or Path(item.path).name for item in items]
    return run_submit(args, [Path(item.path) for item in items], names, options, document, urls)


# ---- stream ------------------------------------------------------------------------------------


def _cmd_stream(args: argparse.Namespace) -> int:
    """Print each line of a video (file or y4m on stdin) once, when it is first confirmed."""
    from crnn_ocr.stream import StreamConfig, StreamSession, follow, read_every
    from crnn_ocr.video import sampled, video_file_frames
    from crnn_ocr.y4m import read_frames

    options = _options(args, detect=True)
    ocr = _load_ocr(args, options)
    if isinstance(ocr, int):
        return ocr
    session = StreamSession(ocr, options, StreamConfig(confirm_frames=args.confirm_frames))
    if args.source == "-":
        frames = sampled(read_frames(sys.stdin.buffer, ocr.max_pixels), args.fps)
        results = read_every(session, frames) if args.no_drop else follow(session, frames)
    else:
        results = read_every(session, sampled(video_file_frames(args.source), args.fps))
    try:
        for result in results:
            for line in result.new_lines:
                if args.format == "jsonl":
                    row = {"id": line.id, "text": line.text, "confidence": round(line.confidence, 4),
                           "box": line.box.to_list(), "frame_id": result.frame_id, "time_ms": round(result.timestamp, 1)}
                    print(json.dumps(row, ensure_ascii=False), flush=True)
                else:
                    print(line.text, flush=True)
    except OCRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stats = session.stats()
    print(f"{stats.processed} frames read, {stats.skipped} unchanged, {stats.dropped} dropped; "
          f"{len(session.transcript)} lines", file=sys.stderr)
    return 0


def _unavailable(reason: str) -> int:
    print(f"error: {reason}", file=sys.stderr)
    return 2


# ---- entry point -------------------------------------------------------------------------------


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; ``command`` is the sub-command about to run (loads ``serve`` only then)."""
    parser = argparse.ArgumentParser(prog="crnn-ocr", description="Offline Chinese + English OCR.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    read = sub.add_parser(
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
        "--jobs", type=_positive_int, default=1, metavar="N",
        help="worker processes reading pages in parallel (default 1)",
    )
    read.add_argument("--dpi", type=float, default=DocumentOptions().dpi, metavar="DPI",
                      help=f"resolution PDF pages are rendered at (default {DocumentOptions().dpi:g})")
    read.add_argument("--pages", metavar="RANGE", help="pages to read, e.g. 1-3,5,9- (default: all)")
    read.add_argument("--max-pages", type=_positive_int, default=DEFAULT_MAX_PAGES, metavar="N",
                      help=f"refuse documents with more pages to read (default {DEFAULT_MAX_PAGES})")
    read.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS, metavar="N",
                      help=f"refuse pages of more pixels (default {DEFAULT_MAX_PIXELS})")
    _add_decode_arguments(read)
    _add_detector_arguments(read)
    _add_preprocess_arguments(read)
    _add_model_arguments(read)
    read.set_defaults(func=_cmd_read)

    ev = sub.add_parser(
        "eval", help="score recognition on a labelled line set",
        description="Recognise each line image of LABELS.tsv (relative/path<TAB>text) and print "
        "CER, 1 - NED, line accuracy and speed.",
    )
    ev.add_argument("labels", metavar="LABELS.tsv")
    ev.add_argument("--detect", action="store_true", help="detect lines first (default: image = one line)")
    ev.add_argument("--limit", type=_positive_int, metavar="N", help="only the first N lines")
    ev.add_argument(
        "--scoring", choices=("auto", "raw", "text", "alnum"), default="auto",
        help="text normalisation before scoring (auto: by set name, see crnn_ocr.metrics)",
    )
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    _add_decode_arguments(ev)
    _add_detector_arguments(ev)
    _add_model_arguments(ev)
    ev.set_defaults(func=_cmd_eval)

    sm = sub.add_parser(
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
    sm.add_argument("--dpi", type=float, default=DocumentOptions().dpi, metavar="DPI",
                    help=f"resolution PDF pages are rendered at (default {DocumentOptions().dpi:g})")
    sm.add_argument("--pages", metavar="RANGE", help="pages to read, e.g. 1-3,5,9- (default: all)")
    _add_decode_arguments(sm)
    _add_detector_arguments(sm)
    _add_preprocess_arguments(sm)
    sm.set_defaults(func=_cmd_submit)

    st = sub.add_parser(
        "stream", help="print the lines of a video as they appear (subtitles of a screen recording)",
        description="Read a video file (any format OpenCV decodes), or raw frames on stdin as a y4m "
        "stream (`ffmpeg -i IN -f yuv4mpegpipe -pix_fmt yuv420p -`), and print each text line once, "
        "when it has been seen in --confirm-frames frames. Frames that did not change are not read "
        "again. From stdin, frames arriving while one is being read are dropped (a live source) "
        "unless --no-drop.",
    )
    st.add_argument("source", metavar="VIDEO|-", help="a video file, or - for a y4m stream on stdin")
    st.add_argument("--format", choices=("text", "jsonl"), default="text",
                    help="text (a line per new line) or jsonl (id, text, confidence, box, frame_id, time_ms)")
    st.add_argument("--fps", type=float, default=2.0, metavar="N",
                    help="read at most N frames per second of video time (default 2; 0: every frame)")
    st.add_argument("--confirm-frames", type=_positive_int, default=2, metavar="N",
                    help="frames a line must be seen in before it is printed (default 2)")
    st.add_argument("--no-drop", action="store_true", help="stdin: read every frame, never drop one")
    _add_decode_arguments(st)
    _add_detector_arguments(st)
    _add_preprocess_arguments(st)
    _add_model_arguments(st)
    st.set_defaults(func=_cmd_stream)

    _add_serve_parser(sub, load=command == "serve")
    _add_serve_parser(sub, load=command == "worker", name="worker")
    _add_serve_parser(sub, load=command == "keys", name="keys")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
