"""Where ``read``'s results go and in what form: each input's output file (``output_targets``,
written whole or not at all) or stdout in input order (``ReadOutput``), in one of ``READ_FORMATS``
(text, hOCR and ALTO from ``crnn_ocr.formats``; json and jsonl records here; searchable PDF)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from crnn_ocr.batch import Failure
from crnn_ocr.cli.inputs import InputItem
from crnn_ocr.cli.progress import Progress
from crnn_ocr.errors import OCRError, OptionsError
from crnn_ocr.formats import EXTENSIONS, TextLayout, render
from crnn_ocr.types import Document

#: Output formats of ``read``: text, json and jsonl go to stdout unless -o is given.
READ_FORMATS = ("text", "json", "jsonl", "hocr", "alto", "pdf")


def summary_rows(path: str, document: Document) -> list[dict]:
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


def json_record(path: str, document: Document) -> dict:
    """json: the whole document under the input's path."""
    record = document.to_dict()
    del record["source"]
    return {"path": path, **record}


def error_record(path: str, failure: Failure) -> dict:
    """json and jsonl: an input that failed."""
    return {"path": path, "error": {"code": failure.code, "message": failure.message}}


def output_targets(output: str | None, fmt: str, items: Sequence[InputItem]) -> list[Path | None]:
    """Each input's output file, or None where its result goes to stdout (or the jsonl file)."""
    if output is None or fmt == "jsonl":
        return [None] * len(items)
    out = Path(output)
    to_folder = len(items) > 1 or items[0].from_folder or out.is_dir() or output.endswith(("/", os.sep))
    if not to_folder:
        return [out]
    ext = EXTENSIONS[fmt]
    targets: list[Path | None] = []
    for item in items:
        relative = Path(item.relative or Path(item.path).name)
        name = relative.name[: -len(relative.suffix)] if relative.suffix else relative.name
        targets.append(out / relative.parent / (name + ext))
    return targets


def target_problem(item: InputItem, target: Path | None, seen: dict[Path, str]) -> OCRError | None:
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


def write_atomically(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file, so an interrupted run leaves no
    partial output for ``--resume`` to mistake for a finished one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def document_bytes(
    fmt: str, path: str, document: Document, images: Sequence[bytes], layout: TextLayout = "lines"
) -> bytes:
    """The output file of one input."""
    if fmt == "pdf":
        from crnn_ocr.searchable_pdf import to_searchable_pdf  # only for --format pdf

        return to_searchable_pdf(list(zip(images, document.pages)), title=Path(path).name)
    if fmt == "json":
        return (json.dumps(json_record(path, document), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    return render(document, fmt, layout).encode("utf-8")  # type: ignore[arg-type]


class ReadOutput:
    """Writes each input's result as soon as it is complete: to its file, or to ``out`` in input
    order (stdout must follow the argument order even when workers finish out of order).

    ``fmt``, ``layout``: the output format and text layout; ``to_stdout_json``: json results are
    gathered into one array written by ``close``."""

    def __init__(self, fmt: str, layout: TextLayout, items: Sequence[InputItem], targets: Sequence[Path | None],
                 out: IO[str], progress: Progress, to_stdout_json: bool) -> None:
        self.fmt, self.layout, self.items, self.targets, self.out = fmt, layout, items, targets, out
        self.progress, self.to_stdout_json = progress, to_stdout_json
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
                write_atomically(target, document_bytes(self.fmt, item.path, result, images, self.layout))
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
        path, fmt, out = self.items[index].path, self.fmt, self.out
        if fmt == "jsonl":
            rows = [error_record(path, result)] if isinstance(result, Failure) else summary_rows(path, result)
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
        elif fmt == "json":
            self._json.append(error_record(path, result) if isinstance(result, Failure) else json_record(path, result))
        elif isinstance(result, Document):
            text = render(result, fmt, self.layout)  # type: ignore[arg-type]
            if self.header:
                out.write(f"==> {path} <==\n{text}\n")
            else:
                out.write(text)
            out.flush()

    def close(self) -> None:
        if self.to_stdout_json:
            json.dump(self._json, self.out, ensure_ascii=False, indent=2)
            self.out.write("\n")
        self.out.flush()
