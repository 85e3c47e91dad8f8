"""A stored dataset (``crnn_ocr.server.corrections``) as files in PaddleOCR's formats
(``crnn_ocr.datasets``), in a folder or a zip, and back.

Export layout (a folder, or the same paths in a zip)::

    rec/train/labels.tsv      crops/<key>.png<TAB>text   recognition labels, the training side
    rec/train/crops/*.png
    rec/heldout/labels.tsv    the held-out side (``crnn_ocr.datasets.is_heldout``), never trained on
    rec/heldout/crops/*.png
    det/pages/Label.txt       pages/<sha256>.png<TAB>[{"transcription", "points"}]  (PPOCRLabel)
    det/pages/*.png

``export_rec(store, owner, dataset, out_dir)`` writes the ``rec/`` part's two folders (``train/``,
``heldout/``) straight into ``out_dir``: what the fine-tune reads. Only lines with a crop (kept
with the opt-in) have a recognition sample, only pages with their image a detection sample; the
summary counts the lines left out.

Import reads a zip, a folder, or one label file: every ``Label.txt`` in it as PPOCRLabel
detection labels (each page's lines are cut from it), else every ``*.tsv`` and ``rec_gt*.txt``
as recognition labels (``kind`` forces one). Image paths are taken relative to the label file's
folder, or for ``Label.txt`` (PPOCRLabel's layout) to the folder above it. Lines marked
``###`` or ``"difficult"`` are skipped. Imported samples keep their images: importing them is the
opt-in.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal, Protocol

from crnn_ocr.datasets import (
    DONT_CARE,
    DetLabel,
    DetLine,
    RecLabel,
    check_dataset_name,
    check_relative_path,
    check_text,
    format_det_labels,
    format_rec_labels,
    parse_det_labels,
    parse_rec_labels,
)
from crnn_ocr.errors import DatasetError, DatasetTooLargeError, ImageError, LabelFileError, UnknownDatasetError
from crnn_ocr.io import load_image
from crnn_ocr.server.corrections import (
    Correction,
    CorrectionStore,
    LineRecord,
    NewLine,
    NewPage,
    cut_page,
    encode_png,
)
from crnn_ocr.types import Box

ExportKind = Literal["all", "rec", "det"]
ImportKind = Literal["auto", "rec", "det"]

#: An imported archive or folder may hold at most this many files and this many bytes (uncompressed).
MAX_IMPORT_FILES = 100_000
MAX_IMPORT_BYTES = 1024**3
DET_LABELS = "Label.txt"


@dataclass(frozen=True)
class ExportSummary:
    train: int  # recognition samples on the training side
    heldout: int  # ... on the held-out side
    pages: int  # detection samples (pages with their image)
    without_crop: int  # lines not exported as recognition samples: no crop kept


@dataclass(frozen=True)
class ImportSummary:
    kind: Literal["rec", "det"]
    lines: int
    pages: int
    skipped: int  # lines marked ### or difficult


# ---- export ------------------------------------------------------------------------------------


class _Sink(Protocol):
    def write(self, path: str, data: bytes) -> None: ...


class _FolderSink:
    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, path: str, data: bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


class _ZipSink:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive

    def write(self, path: str, data: bytes) -> None:
        self.archive.writestr(path, data)


def _samples(store: CorrectionStore, owner: str, dataset: str) -> list[tuple[LineRecord, bytes | None]]:
    samples = store.samples(owner, check_dataset_name(dataset))
    if not samples:
        raise UnknownDatasetError(f"no dataset {dataset!r}")
    return samples


def _write_rec(samples: list[tuple[LineRecord, bytes | None]], sink: _Sink, prefix: str) -> tuple[int, int]:
    sides: dict[str, list[RecLabel]] = {"train": [], "heldout": []}
    for line, crop in samples:
        if crop is None:
            continue
        side = "heldout" if line.heldout else "train"
        path = f"crops/{line.key[:20]}.png"
        sink.write(f"{prefix}{side}/{path}", crop)
        sides[side].append(RecLabel(path, line.text))
    for side, labels in sides.items():
        sink.write(f"{prefix}{side}/labels.tsv", format_rec_labels(labels).encode())
    return len(sides["train"]), len(sides["heldout"])


def _write_det(store: CorrectionStore, owner: str, dataset: str, samples: list[tuple[LineRecord, bytes | None]],
               sink: _Sink, prefix: str) -> int:
    by_page: dict[str, list[DetLine]] = {}
    for line, _crop in samples:
        if line.page_sha256 is not None:
            by_page.setdefault(line.page_sha256, []).append(DetLine(line.text, line.box))
    labels = []
    for page in store.pages(owner, dataset):
        if page.image is None or page.sha256 not in by_page:
            continue
        path = f"pages/{page.sha256}.png"
        sink.write(f"{prefix}{path}", page.image)
        labels.append(DetLabel(path, tuple(by_page[page.sha256])))
    sink.write(f"{prefix}pages/{DET_LABELS}", format_det_labels(labels).encode())
    return len(labels)


def export_rec(store: CorrectionStore, owner: str, dataset: str, out_dir: Path) -> ExportSummary:
    """Write ``out_dir/train/labels.tsv`` and ``out_dir/heldout/labels.tsv`` with their crops.
    UnknownDatasetError when ``owner`` has no such dataset."""
    samples = _samples(store, owner, dataset)
    train, heldout = _write_rec(samples, _FolderSink(Path(out_dir)), "")
    return ExportSummary(train, heldout, 0, sum(crop is None for _, crop in samples))


def export_folder(store: CorrectionStore, owner: str, dataset: str, out_dir: Path,
                  kind: ExportKind = "all") -> ExportSummary:
    """The export layout (module docstring) under ``out_dir``."""
    return _export(store, owner, dataset, _FolderSink(Path(out_dir)), kind)


def export_zip(store: CorrectionStore, owner: str, dataset: str, kind: ExportKind = "all") -> tuple[bytes, ExportSummary]:
    """The export layout as a zip archive's bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        summary = _export(store, owner, dataset, _ZipSink(archive), kind)
    return buffer.getvalue(), summary


def _export(store: CorrectionStore, owner: str, dataset: str, sink: _Sink, kind: ExportKind) -> ExportSummary:
    samples = _samples(store, owner, dataset)
    train = heldout = pages = 0
    if kind in ("all", "rec"):
        train, heldout = _write_rec(samples, sink, "rec/")
    if kind in ("all", "det"):
        pages = _write_det(store, owner, dataset, samples, sink, "det/")
    return ExportSummary(train, heldout, pages, sum(crop is None for _, crop in samples))


# ---- import ------------------------------------------------------------------------------------


class _Source(Protocol):
    def label_files(self) -> list[str]: ...  # the files that may hold labels, as relative POSIX paths

    def exists(self, name: str) -> bool: ...

    def read(self, name: str) -> bytes: ...  # DatasetError when there is no such file


class _ZipSource:
    def __init__(self, data: bytes) -> None:
        try:
            self.archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError) as exc:
            raise DatasetError(f"the upload is not a zip archive ({exc})") from None
        infos = [i for i in self.archive.infolist() if not i.is_dir()]
        _check_size(len(infos), sum(i.file_size for i in infos))
        self.files = {i.filename: i for i in infos}

    def label_files(self) -> list[str]:
        return list(self.files)

    def exists(self, name: str) -> bool:
        return name in self.files

    def read(self, name: str) -> bytes:
        info = self.files.get(name)
        if info is None:
            raise DatasetError(f"{name}: no such file in the archive")
        try:
            return self.archive.read(info)
        except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError) as exc:
            raise DatasetError(f"{name}: cannot be read from the archive ({exc})") from None


class _FolderSource:
    def __init__(self, root: Path) -> None:
        self.root = root

    def label_files(self) -> list[str]:
        return [p.relative_to(self.root).as_posix() for p in sorted(self.root.rglob("*")) if p.is_file()]

    def exists(self, name: str) -> bool:
        return (self.root / name).is_file()

    def read(self, name: str) -> bytes:
        try:
            return (self.root / name).read_bytes()
        except OSError as exc:
            raise DatasetError(f"{name}: cannot be read ({exc.strerror or exc})") from None


def _check_size(files: int, size: int) -> None:
    if files > MAX_IMPORT_FILES:
        raise DatasetTooLargeError(f"{files} files to import, more than the limit of {MAX_IMPORT_FILES}")
    if size > MAX_IMPORT_BYTES:
        raise DatasetTooLargeError(f"{size} bytes to import (uncompressed), more than the limit of {MAX_IMPORT_BYTES}")


def import_zip(store: CorrectionStore, owner: str, dataset: str, data: bytes, *, max_pixels: int,
               kind: ImportKind = "auto") -> ImportSummary:
    """Import the label files of a zip archive (module docstring)."""
    return _import(store, owner, dataset, _ZipSource(data), kind, max_pixels)


def import_path(store: CorrectionStore, owner: str, dataset: str, path: Path, *, max_pixels: int,
                kind: ImportKind = "auto") -> ImportSummary:
    """Import a zip file, a folder, or one label file (``Label.txt``: detection; else recognition)."""
    path = Path(path)
    if path.is_dir():
        return _import(store, owner, dataset, _FolderSource(path), kind, max_pixels)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file or folder")
    if zipfile.is_zipfile(path):
        return _import(store, owner, dataset, _ZipSource(path.read_bytes()), kind, max_pixels)
    path = path.absolute()
    if kind == "auto":
        kind = "det" if path.name == DET_LABELS else "rec"
    # PPOCRLabel names images from the folder above Label.txt's; recognition labels from their own
    root = path.parent.parent if kind == "det" else path.parent
    return _import(store, owner, dataset, _FolderSource(root), kind, max_pixels, [path.relative_to(root).as_posix()])


def _import(store: CorrectionStore, owner: str, dataset: str, source: _Source, kind: ImportKind,
            max_pixels: int, label_files: list[str] | None = None) -> ImportSummary:
    """Import ``label_files`` (of ``kind``, not "auto"), else the label files found in ``source``."""
    check_dataset_name(dataset)
    if label_files is not None:
        chosen, files = kind, label_files
    else:
        names = source.label_files()
        det_files = [n for n in names if PurePosixPath(n).name == DET_LABELS]
        rec_files = [n for n in names if _is_rec_labels(n)]
        chosen = ("det" if det_files else "rec") if kind == "auto" else kind
        files = det_files if chosen == "det" else rec_files
    if not files:
        wanted = {"det": "Label.txt", "rec": "*.tsv or rec_gt*.txt", "auto": "Label.txt, *.tsv or rec_gt*.txt"}
        raise DatasetError(f"found no label file to import ({wanted[kind]})")
    if chosen == "det":
        return _import_det(store, owner, dataset, source, files, max_pixels)
    return _import_rec(store, owner, dataset, source, files, max_pixels)


def _is_rec_labels(name: str) -> bool:
    file = PurePosixPath(name).name
    return file.endswith(".tsv") or (file.startswith("rec_gt") and file.endswith(".txt"))


def _text_of(source: _Source, name: str) -> str:
    try:
        return source.read(name).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabelFileError(f"{name}: not UTF-8 text ({exc})") from None


def _image_path(source: _Source, label_file: str, path: str, where: str, det: bool) -> str:
    """The file ``path`` (from ``label_file``) names in ``source``."""
    relative = check_relative_path(path, where)
    folder = PurePosixPath(label_file).parent
    candidates = [folder / relative, folder.parent / relative] if det else [folder / relative, relative]
    if det:
        candidates.reverse()  # PPOCRLabel: relative to the folder above Label.txt's
    for candidate in candidates:
        name = candidate.as_posix().removeprefix("./")
        if source.exists(name):
            return name
    raise LabelFileError(f"{where}: image {path!r} is not in the dataset")


def _load(source: _Source, name: str, where: str, max_pixels: int):
    try:
        return load_image(source.read(name), max_pixels=max_pixels)
    except ImageError as exc:
        raise DatasetError(f"{where}: {name}: {exc}") from None


def _import_rec(store: CorrectionStore, owner: str, dataset: str, source: _Source, files: list[str],
                max_pixels: int) -> ImportSummary:
    lines: list[NewLine] = []
    skipped = 0
    for file in files:
        for number, label in enumerate(parse_rec_labels(_text_of(source, file), file), start=1):
            where = f"{file}: label {number}"
            if label.text == DONT_CARE:
                skipped += 1
                continue
            name = _image_path(source, file, label.path, where, det=False)
            crop = _load(source, name, where, max_pixels)
            height, width = crop.shape[:2]
            lines.append(NewLine(Box.from_rect(0, 0, width, height), check_text(label.text, where), crop=encode_png(crop)))
    store.add(owner, dataset, [(None, lines)])
    return ImportSummary("rec", len(lines), 0, skipped)


def _import_det(store: CorrectionStore, owner: str, dataset: str, source: _Source, files: list[str],
                max_pixels: int) -> ImportSummary:
    pages: list[tuple[NewPage, list[NewLine]]] = []
    skipped = 0
    for file in files:
        for number, label in enumerate(parse_det_labels(_text_of(source, file), file), start=1):
            where = f"{file}: page {number}"
            name = _image_path(source, file, label.path, where, det=True)
            corrections = []
            for i, line in enumerate(label.lines):
                if line.difficult:
                    skipped += 1
                    continue
                corrections.append(Correction(line.box, check_text(line.text, f"{where}: line {i + 1}")))
            if corrections:
                try:
                    pages.append(cut_page(source.read(name), corrections, keep=True, max_pixels=max_pixels))
                except (ImageError, DatasetError) as exc:
                    raise DatasetError(f"{where}: {name}: {exc}") from None
    store.add(owner, dataset, pages)  # one transaction: all or nothing
    return ImportSummary("det", sum(len(lines) for _, lines in pages), len(pages), skipped)
