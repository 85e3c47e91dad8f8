"""Documents in: a PDF, a multi-page TIFF or one image -> its pages as images, limits checked first.

    with open_document("scan.pdf", DocumentOptions(dpi=200, pages="1-3"), DocumentLimits()) as doc:
        doc.page_count          # pages in the file
        doc.numbers             # the pages to read, 1-based, in order: (1, 2, 3)
        for page in doc.pages():  # PageImage(number, image uint8 HxW / HxWx3 BGR, dpi)
            ...

``open_document`` does every check before any page is rendered or decoded, in this order: the
format (magic bytes, never the file name), the password (PDF), the page count, the page range,
the page count against ``max_pages``, then each chosen page's pixel count at the DPI against
``max_pixels``. A 10,000-page PDF is refused from its page count alone, in milliseconds. A
TIFF's pages are counted along its directory chain only up to ``max_pages + 1``, so a TIFF with
more pages than ``max_pages`` is refused whatever the page range (the pages past the limit are
never walked; a 170,000-page TIFF costs no more than a 51-page one).

PDF pages are rendered with PDFium (pypdfium2) at ``DocumentOptions.dpi``, forms included. PDFium
is not thread-safe, so every call into it holds one process-wide lock (rendering serialises;
recognition does not). TIFF pages and images are decoded by ``crnn_ocr.io``.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from crnn_ocr.errors import (
    CorruptImageError,
    EmptyImageError,
    EncryptedDocumentError,
    ImageNotFoundError,
    ImageTooLargeError,
    OptionsError,
    TooManyPagesError,
    UnsupportedImageError,
    reason,
)
from crnn_ocr.io import (
    DEFAULT_MAX_PIXELS,
    ImageSource,
    frame_size,
    image_size,
    load_frame,
    load_image,
    read_header,
    sniff_format,
)
from crnn_ocr.types import DocumentOptions

#: Pages one document may have to read, unless raised (CLI ``--max-pages``, server setting).
DEFAULT_MAX_PAGES = 1000
#: DPI range accepted for rendering PDF pages.
MIN_DPI, MAX_DPI = 36.0, 1200.0
#: PDF files start with this (some have a few bytes of junk first; PDF readers allow 1 KiB).
PDF_MAGIC = b"%PDF-"
_SNIFF_BYTES = 1024

_PDFIUM_LOCK = threading.RLock()

DocumentKind = Literal["pdf", "tiff", "image"]


@dataclass(frozen=True)
class DocumentLimits:
    """Limits on one document: pages to read, pixels per page, encoded bytes (None: no limit)."""

    max_pages: int = DEFAULT_MAX_PAGES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int | None = None


@dataclass(frozen=True)
class PageImage:
    """One page of a document as an image: ``number`` 1-based, ``image`` uint8 HxW or HxWx3 BGR,
    ``dpi`` its resolution (None: an image file that states none)."""

    number: int
    image: np.ndarray
    dpi: float | None


def is_pdf(head: bytes) -> bool:
    """Whether the first bytes of a file (up to 1 KiB) are those of a PDF."""
    return PDF_MAGIC in head[:_SNIFF_BYTES]


def check_options(options: DocumentOptions) -> None:
    """Fail on a DPI out of range or a malformed page range, before opening anything."""
    dpi = options.dpi
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not MIN_DPI <= dpi <= MAX_DPI:
        raise OptionsError(f"dpi must be a number from {MIN_DPI:g} to {MAX_DPI:g}; got {dpi!r}")
    if options.pages is not None:
        _parse_ranges(options.pages)


def parse_page_range(spec: str | None, page_count: int) -> tuple[int, ...]:
    """Page numbers (1-based, ascending, no repeats) that ``spec`` chooses among ``page_count``.

    ``spec``: comma-separated pages and ranges: "3", "2-5", "7-" (to the end), "-4" (from the
    first); None or "" chooses every page. A page past the end is an OptionsError naming it.
    """
    if spec is None or not spec.strip():
        return tuple(range(1, page_count + 1))
    chosen: set[int] = set()
    for first, last in _parse_ranges(spec):
        last = page_count if last is None else last
        if first > page_count or last > page_count:
            raise OptionsError(
                f"page range {spec!r} asks for page {max(first, last)}, but the document has "
                f"{page_count} page{'s' if page_count != 1 else ''}"
            )
        chosen.update(range(first, last + 1))
    return tuple(sorted(chosen))


_RANGE = re.compile(r"^\s*(\d*)\s*(-?)\s*(\d*)\s*$")


def _parse_ranges(spec: str) -> list[tuple[int, int | None]]:
    """(first, last or None for "to the end") of each comma-separated part of ``spec``."""
    if not isinstance(spec, str):
        raise OptionsError(f"pages must be a string such as '1-3,5'; got {type(spec).__name__}")
    parts = []
    for part in spec.split(","):
        m = _RANGE.match(part)
        if m is None or not (m.group(1) or m.group(3)) or (not m.group(2) and not m.group(1)):
            raise OptionsError(
                f"bad page range {spec!r}: expected pages like '3', '2-5', '7-' or '-4', comma-separated"
            )
        first = int(m.group(1)) if m.group(1) else 1
        last: int | None
        if not m.group(2):
            last = first
        else:
            last = int(m.group(3)) if m.group(3) else None
        if first < 1 or (last is not None and last < first):
            raise OptionsError(f"bad page range {spec!r}: pages count from 1 and a range runs forwards")
        parts.append((first, last))
    return parts


# ---- opening -----------------------------------------------------------------------------------


class DocumentReader:
    """An open document: its page count, the pages chosen to read, and those pages as images.

    Use it as a context manager (PDF files stay open until ``close``). ``page(n)`` renders or
    decodes page ``n`` (1-based, one of ``numbers``); ``pages()`` yields every chosen page in
    order, one at a time, so only one page image is held at once.
    """

    kind: DocumentKind
    label: str
    page_count: int
    numbers: tuple[int, ...]

    def page(self, number: int) -> PageImage:
        raise NotImplementedError

    def pages(self) -> Iterator[PageImage]:
        for number in self.numbers:
            yield self.page(number)

    def close(self) -> None:
        pass

    def __enter__(self) -> DocumentReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _choose(self, options: DocumentOptions, limits: DocumentLimits) -> None:
        """Set ``numbers`` from the page range and check it against ``max_pages``."""
        if self.page_count < 1:
            raise EmptyImageError(f"{self.label}: the document has no pages")
        self.numbers = parse_page_range(options.pages, self.page_count)
        if len(self.numbers) > limits.max_pages:
            whole = len(self.numbers) == self.page_count
            what = (
                f"the document has {self.page_count} pages"
                if whole
                else f"{len(self.numbers)} pages are chosen"
            )
            raise TooManyPagesError(
                f"{self.label}: {what}, more than the limit of {limits.max_pages} pages per document; "
                "choose fewer pages with a page range, or raise the limit"
            )


def open_document(
    src: ImageSource,
    options: DocumentOptions | None = None,
    limits: DocumentLimits | None = None,
) -> DocumentReader:
    """Open a PDF, a multi-page TIFF or an image (path or bytes; an array or PIL image is a
    one-page document) and check it against ``limits`` (see the module docstring).

    Raises ImageNotFoundError, EmptyImageError, UnsupportedImageError, CorruptImageError,
    EncryptedDocumentError, TooManyPagesError, ImageTooLargeError or OptionsError.
    """
    options = options or DocumentOptions()
    limits = limits or DocumentLimits()
    check_options(options)
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise EmptyImageError("document bytes: zero bytes")
        head, label = data[:_SNIFF_BYTES], "document bytes"
    elif isinstance(src, (str, os.PathLike)):
        head, label = _read_head(Path(src), limits.max_bytes), str(src)
    else:  # an array or a PIL image: one page
        return _ImageReader(src, "image", options, limits, header_frames=1, dpi=None)
    if is_pdf(head):
        return _PdfReader(src, label, options, limits)
    fmt = sniff_format(head)
    if fmt is None:
        raise UnsupportedImageError(
            f"{label}: not an image or PDF: expected PNG, JPEG, BMP, TIFF, WebP or PDF"
        )
    header = read_header(src, max_bytes=limits.max_bytes, max_frames=limits.max_pages)  # type: ignore[arg-type]
    if header.frames > limits.max_pages:
        raise TooManyPagesError(
            f"{label}: the TIFF has more than {limits.max_pages} pages, the limit per document "
            "(a TIFF's pages are counted only up to the limit, so a page range does not help); "
            "split the file, or raise the limit"
        )
    return _ImageReader(src, label, options, limits, header_frames=header.frames, dpi=header.dpi)


def _read_head(path: Path, max_bytes: int | None) -> bytes:
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImageNotFoundError(f"{path}: not a file")
        with path.open("rb") as fp:
            head = fp.read(_SNIFF_BYTES)
    except FileNotFoundError as exc:
        raise ImageNotFoundError(f"{path}: no such file") from exc
    except PermissionError as exc:
        raise ImageNotFoundError(f"{path}: permission denied") from exc
    except OSError as exc:
        raise ImageNotFoundError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if size == 0:
        raise EmptyImageError(f"{path}: zero bytes")
    if max_bytes is not None and size > max_bytes:
        raise ImageTooLargeError(f"{path}: {size} bytes is more than the limit of {max_bytes}")
    return head


class _ImageReader(DocumentReader):
    """An image (one page) or a multi-page TIFF (a page per frame), decoded by ``crnn_ocr.io``."""

    def __init__(
        self,
        src: ImageSource,
        label: str,
        options: DocumentOptions,
        limits: DocumentLimits,
        header_frames: int,
        dpi: float | None,
    ) -> None:
        self.src, self.label, self.dpi, self.limits = src, label, dpi, limits
        self.kind = "tiff" if header_frames > 1 else "image"
        self.page_count = header_frames
        self._choose(options, limits)
        for number in self.numbers:  # sizes from the headers, before decoding any page
            self._size(number)

    def _size(self, number: int) -> tuple[int, int]:
        lim = self.limits
        if self.kind == "image":
            return image_size(self.src, max_pixels=lim.max_pixels, max_bytes=lim.max_bytes)
        return frame_size(self.src, number - 1, max_pixels=lim.max_pixels, max_bytes=lim.max_bytes)  # type: ignore[arg-type]

    def page(self, number: int) -> PageImage:
        lim = self.limits
        if self.kind == "image":
            image = load_image(self.src, max_pixels=lim.max_pixels, max_bytes=lim.max_bytes)
        else:
            image = load_frame(self.src, number - 1, max_pixels=lim.max_pixels, max_bytes=lim.max_bytes)  # type: ignore[arg-type]
        return PageImage(number, image, self.dpi)


class _PdfReader(DocumentReader):
    """A PDF, opened once with PDFium; each page rendered when asked, at the options' DPI."""

    kind = "pdf"

    def __init__(
        self, src: str | os.PathLike | bytes, label: str, options: DocumentOptions, limits: DocumentLimits
    ) -> None:
        import pypdfium2 as pdfium  # imported here: image-only callers never load PDFium

        self.label, self.dpi = label, float(options.dpi)
        source = str(src) if isinstance(src, (str, os.PathLike)) else src
        with _PDFIUM_LOCK:
            try:
                self._pdf = pdfium.PdfDocument(source)
            except pdfium.PdfiumError as exc:
                raise _pdf_open_error(exc, label, from_path=not isinstance(src, bytes)) from None
            try:
                self.page_count = len(self._pdf)
                self._choose(options, limits)
                for number in self.numbers:
                    self._check_pixels(number, limits.max_pixels)
                self._pdf.init_forms()  # so that form fields are drawn
            except pdfium.PdfiumError as exc:  # e.g. a page without a usable MediaBox
                self._pdf.close()
                raise CorruptImageError(f"{label}: damaged PDF, cannot be read ({reason(exc)})") from None
            except BaseException:
                self._pdf.close()
                raise

    def _pixel_size(self, number: int) -> tuple[int, int]:
        width_pt, height_pt = self._pdf.get_page_size(number - 1)  # rotation applied
        scale = self.dpi / 72.0
        return math.ceil(width_pt * scale), math.ceil(height_pt * scale)

    def _check_pixels(self, number: int, max_pixels: int) -> None:
        w, h = self._pixel_size(number)
        if w <= 0 or h <= 0:
            raise EmptyImageError(f"{self.label}: page {number} has no area ({w}x{h} pixels)")
        if w * h > max_pixels:
            raise ImageTooLargeError(
                f"{self.label}: page {number} at {self.dpi:g} dpi is {w}x{h} = {w * h} pixels, more "
                f"than the limit of {max_pixels}; choose a lower dpi"
            )

    def page(self, number: int) -> PageImage:
        if number not in self.numbers:
            raise ValueError(f"page {number} is not one of the chosen pages")
        import pypdfium2 as pdfium

        with _PDFIUM_LOCK:
            try:
                page = self._pdf[number - 1]
                try:
                    bitmap = page.render(scale=self.dpi / 72.0, may_draw_forms=True)
                    try:
                        pixels = np.array(bitmap.to_numpy(), dtype=np.uint8, copy=True)
                        mode = bitmap.mode
                    finally:
                        bitmap.close()
                finally:
                    page.close()
            except pdfium.PdfiumError as exc:
                raise CorruptImageError(f"{self.label}: cannot render page {number} ({reason(exc)})") from None
        return PageImage(number, _to_bgr(pixels, mode), self.dpi)

    def close(self) -> None:
        with _PDFIUM_LOCK:
            self._pdf.close()


def _to_bgr(pixels: np.ndarray, mode: str) -> np.ndarray:
    """PDFium's bitmap (BGR, BGRA/BGRX or L) as uint8 HxWx3 BGR or HxW grey, C-contiguous."""
    if pixels.ndim == 3 and pixels.shape[2] == 4:
        pixels = pixels[..., :3]  # pages render on an opaque white background
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[..., 0]
    if mode not in ("BGR", "BGRA", "BGRX", "L"):
        raise CorruptImageError(f"PDFium rendered an unexpected pixel format {mode!r}")
    return np.ascontiguousarray(pixels)


def _pdf_open_error(exc: Exception, label: str, from_path: bool) -> Exception:
    import pypdfium2.raw as pdfium_c

    code = getattr(exc, "err_code", None)
    if code == pdfium_c.FPDF_ERR_PASSWORD:
        return EncryptedDocumentError(
            f"{label}: the PDF is password-protected; remove the password first "
            "(e.g. qpdf --decrypt --password=PASSWORD in.pdf out.pdf) and try again"
        )
    if code == pdfium_c.FPDF_ERR_SECURITY:
        return EncryptedDocumentError(
            f"{label}: the PDF is locked with a security handler that cannot be opened"
        )
    if code == pdfium_c.FPDF_ERR_FILE and from_path:  # bytes that PDFium cannot read are damaged
        return ImageNotFoundError(f"{label}: cannot open the file")
    return CorruptImageError(f"{label}: damaged PDF, cannot be read ({reason(exc)})")
