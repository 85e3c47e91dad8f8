"""The ``crnn-ocr`` command: ``read`` images, ``eval`` on a labelled line set, ``serve`` the web app.

Exit status: 0 all went well; 1 some input (or the model) failed, the rest were still processed;
2 usage error (bad arguments or options).
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypeVar

from crnn_ocr import __version__
from crnn_ocr.errors import ImageNotFoundError, OCRError, OptionsError
from crnn_ocr.types import DecodeOptions, OCROptions, Page, PreprocessOptions

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
_GLOB_CHARS = frozenset("*?[")
T = TypeVar("T")


# ---- inputs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputItem:
    """One image to read, or the reason an argument gave none."""

    path: str
    error: OCRError | None = None


def expand_inputs(args: Sequence[str]) -> list[InputItem]:
    """Files as given, folders (recursively: image extensions, sorted) and globs (sorted), in
    argument order. A folder or glob that yields no image becomes an item carrying the error;
    a path that does not exist is kept and fails when it is read."""
    items: list[InputItem] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            found, missing = _images_under(path), "no image files in folder"
        elif not path.exists() and _GLOB_CHARS & set(arg):
            matches = [Path(m) for m in sorted(glob.glob(arg, recursive=True))]
            found = [f for m in matches for f in (_images_under(m) if m.is_dir() else [m])]
            missing = "no file matches"
        else:
            found, missing = [path], ""
        items += [InputItem(str(p)) for p in found] or [InputItem(arg, ImageNotFoundError(missing))]
    return items


def _images_under(folder: Path) -> list[Path]:
    """Files below ``folder`` with an image extension (any case), sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


# ---- progress ----------------------------------------------------------------------------------


class _Progress:
    """A progress bar on stderr (tqdm when installed, else a one-line counter); ``write`` prints a
    message above it. Disabled: messages go straight to stderr."""

    def __init__(self, total: int, enabled: bool, stream: IO[str]) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self._tqdm = None
        self.enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._tqdm = tqdm(total=total, file=stream, unit="img", leave=False)

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


def _add_decode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--allow", metavar="CHARS", help="only these characters may be read")
    parser.add_argument("--deny", metavar="CHARS", help="these characters are never read")
    parser.add_argument(
        "--beam", nargs="?", const=8, type=_positive_int, metavar="WIDTH",
        help="beam search decoding (default width 8) instead of greedy; without WIDTH, put it after the paths",
    )


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
        preprocess=PreprocessOptions(
            clahe=getattr(args, "clahe", False),
            denoise=getattr(args, "denoise", False),
            binarize=getattr(args, "binarize", False),
            morph_close=getattr(args, "morph_close", False),
            deskew=getattr(args, "deskew", False),
        ),
        decode=DecodeOptions(
            method="beam" if args.beam is not None else "greedy",
            beam_width=args.beam if args.beam is not None else DecodeOptions().beam_width,
            allowlist=args.allow,
            denylist=args.deny,
        ),
    )


def _load_ocr(args: argparse.Namespace, options: OCROptions) -> OCR | int:
    """The OCR object, or the exit status after reporting why it could not be built."""
    from crnn_ocr.pipeline import OCR

    try:
        ocr = OCR(args.model, threads=args.threads)
    except OCRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        ocr.recognizer.check_options(options.decode)
    except OptionsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return ocr


def _message(exc: Exception, path: str) -> str:
    """The exception's message without a leading ``path: `` (we print the path ourselves)."""
    text = str(exc) if isinstance(exc, OCRError) else f"{type(exc).__name__}: {exc}"
    return text[len(path) + 2 :] if text.startswith(f"{path}: ") else text


def _error_code(exc: Exception) -> str:
    return exc.code if isinstance(exc, OCRError) else "internal_error"


# ---- read --------------------------------------------------------------------------------------


def _page_record(path: str, page: Page) -> dict:
    return {
        "path": path,
        "text": page.text,
        "lines": [
            {"text": line.text, "confidence": round(float(line.confidence), 4), "box": line.box.to_list()}
            for line in page.lines
        ],
    }


def _read_one(ocr: OCR, item: InputItem, options: OCROptions) -> dict:
    """The output record of one input: its page, or ``{"path", "error": {"code", "message"}}``."""
    try:
        if item.error is not None:
            raise item.error
        return _page_record(item.path, ocr(item.path, options))
    except Exception as exc:  # noqa: BLE001 - reported, and the other files still run
        return {"path": item.path, "error": {"code": _error_code(exc), "message": _message(exc, item.path)}}


def _emit_text(record: dict, out: IO[str], header: bool) -> None:
    if "error" in record:
        return
    if header:
        out.write(f"==> {record['path']} <==\n")
    out.write(record["text"] + "\n" if record["text"] else "")
    if header:
        out.write("\n")


def _cmd_read(args: argparse.Namespace) -> int:
    items = expand_inputs(args.paths)
    options = _options(args, detect=not args.no_detect)
    ocr = _load_ocr(args, options)
    if isinstance(ocr, int):
        return ocr
    out = sys.stdout
    progress = _Progress(len(items), enabled=len(items) > 1 and sys.stderr.isatty(), stream=sys.stderr)
    records: list[dict] = []
    for item in _with_progress(items, progress):
        record = _read_one(ocr, item, options)
        if "error" in record:
            progress.write(f"error: {item.path}: {record['error']['message']}")
        if args.format == "text":
            _emit_text(record, out, header=len(items) > 1)
        elif args.format == "jsonl":
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
        records.append(record)
    if args.format == "json":
        json.dump(records, out, ensure_ascii=False, indent=2)
        out.write("\n")
    out.flush()
    return 1 if any("error" in r for r in records) else 0


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


def _add_serve_parser(subparsers: argparse._SubParsersAction, load: bool) -> None:
    """``crnn-ocr serve`` comes from ``crnn_ocr.server.cli.add_serve_parser(subparsers)``, which adds
    the sub-command and sets ``func`` (Namespace -> exit status).

    The server code (FastAPI, pydantic) takes ~0.6 s to import, so it is imported only when the
    command is ``serve`` (``load``); otherwise a placeholder keeps ``serve`` in ``--help``. Without
    the server code or its ``serve`` extra, the command explains what is missing.
    """
    help_text = "run the HTTP API and web page"
    if not load:
        subparsers.add_parser("serve", help=help_text, add_help=False)
        return
    try:
        from crnn_ocr.server.cli import add_serve_parser
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
        parser = subparsers.add_parser("serve", help=f"{help_text} (unavailable)")
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        parser.set_defaults(func=lambda _args: _unavailable(reason))
        return
    add_serve_parser(subparsers)


def _unavailable(reason: str) -> int:
    print(f"error: {reason}", file=sys.stderr)
    return 2


# ---- entry point -------------------------------------------------------------------------------


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; ``command`` is the sub-command about to run (loads ``serve`` only then)."""
    parser = argparse.ArgumentParser(prog="crnn-ocr", description="Offline Chinese + English OCR.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    read = sub.add_parser("read", help="read the text of images", description="Read the text of images.")
    read.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders (recursive) or globs")
    read.add_argument("--no-detect", action="store_true", help="each image is a single text line")
    read.add_argument("--format", choices=("text", "json", "jsonl"), default="text", help="output format")
    _add_decode_arguments(read)
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
    _add_model_arguments(ev)
    ev.set_defaults(func=_cmd_eval)

    _add_serve_parser(sub, load=command == "serve")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
