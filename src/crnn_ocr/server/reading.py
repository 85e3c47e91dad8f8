"""Reading one input, the same for an HTTP request and a job item: no HTTP here.

    request = ReadRequest(options, document, model=None, preview=False, format="json")
    limits = check_input(data, request.document, settings)     # off the event loop, before a slot
    read = read_bytes(ocr, data, request, limits, settings.preview_max_side)
    read.document, read.previews, read.body

``ReadRequest`` is what to read with, as the pipeline's frozen option dataclasses; its
``options_json()`` is the one stored form of the options (a job's options, the cache key, a history
entry): the canonical JSON of ``OCROptions.to_dict()`` with the document's ``dpi`` and ``pages``
and the model's name, the shape of the API's ``options`` object. ``ReadRequest.from_options_json``
rebuilds it (``OCROptions.from_dict``): a job item's options are parsed once.

``read_bytes`` reads every chosen page through ``OCR.read_pages`` (the one document loop), which
hands back each page's preprocessed image, so a preview costs a PNG encoding, not a second
preprocessing. The HTTP routes (``crnn_ocr.server.routes``) and the job workers
(``crnn_ocr.server.jobs``) both call this module; it calls neither.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from crnn_ocr.documents import DocumentLimits, check_options, is_pdf, open_document
from crnn_ocr.errors import EmptyImageError, ImageTooLargeError
from crnn_ocr.formats import render
from crnn_ocr.server.errors import InternalError, InvalidBase64Error, RequestTimeoutError
from crnn_ocr.server.settings import ServerSettings
from crnn_ocr.types import Document, DocumentOptions, OCROptions, Page

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR

OutputFormat = Literal["json", "text", "hocr", "alto", "pdf"]

#: (page, pages read so far, pages to read, pages in the document), called as each page is read.
PageCallback = Callable[[Page, int, int, int], None]


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no spaces: equal options give equal strings (the cache key)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class ReadRequest:
    """What to read an input with: the pipeline's options, the document's (DPI, pages), the model
    (None: the server's own), and what to hand back besides the result: the preprocessed page
    images (``preview``) and the result as a file (``format`` other than json)."""

    options: OCROptions = field(default_factory=OCROptions)
    document: DocumentOptions = field(default_factory=DocumentOptions)
    model: str | None = None
    preview: bool = False
    format: OutputFormat = "json"

    def options_json(self) -> str:
        """The stored form of the options (see the module docstring); ``preview`` and ``format``
        are not part of it: they change the answer, not the result."""
        return canonical_json(
            {**self.options.to_dict(), "dpi": self.document.dpi, "pages": self.document.pages, "model": self.model}
        )

    @classmethod
    def from_options_json(cls, text: str) -> ReadRequest:
        """The inverse of ``options_json``. Raises OptionsError naming an unknown option."""
        data = json.loads(text)
        document = DocumentOptions(dpi=data.pop("dpi", DocumentOptions.dpi), pages=data.pop("pages", None) or None)
        model = data.pop("model", None)
        return cls(OCROptions.from_dict(data), document, model)


def limits_of(settings: ServerSettings) -> DocumentLimits:
    """The limits every document is read with on this server."""
    return DocumentLimits(max_pages=settings.max_pages, max_pixels=settings.max_pixels, max_bytes=settings.max_bytes)


def check_headers(data: bytes, document: DocumentOptions, limits: DocumentLimits) -> None:
    """Refuse empty, unknown, damaged-header and oversized images and TIFFs with too many pages
    from their headers alone (bounded work: ``crnn_ocr.structure``). A PDF is opened (page
    count, sizes) on the inference thread, when it is read."""
    if not is_pdf(data[:1024]):
        open_document(data, document, limits).close()  # headers only: no page is decoded


def check_input(data: bytes, document: DocumentOptions, settings: ServerSettings) -> DocumentLimits:
    """Refuse bad document options and bad headers (``check_headers``) before taking an inference
    slot; the limits to read the document with. Call it off the event loop."""
    check_options(document)
    limits = limits_of(settings)
    check_headers(data, document, limits)
    return limits


def inspect_input(data: bytes, document: DocumentOptions, settings: ServerSettings) -> tuple[DocumentLimits, str]:
    """``check_input``, and the SHA-256 of the bytes (the image's part of the cache key)."""
    return check_input(data, document, settings), hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Read:
    document: Document
    previews: list[bytes | None]  # per page: the preprocessed image as PNG, when asked
    body: bytes | None  # the result as a file, for a format other than json


def read_bytes(
    ocr: OCR, data: bytes, request: ReadRequest, limits: DocumentLimits, preview_max_side: int, *,
    cancelled: threading.Event | None = None, on_page: PageCallback | None = None,
) -> Read:
    """On an inference thread: every chosen page read (``OCR.read_pages``), one page image in
    memory at a time; the previews and the output file (a searchable PDF gets each page's image as
    JPEG) as asked. ``cancelled`` (set by the gate when the request timed out) is checked before
    every page."""

    def check_cancelled() -> None:
        if cancelled is not None and cancelled.is_set():
            raise RequestTimeoutError("the request timed out; its reading was stopped")

    pages: list[Page] = []
    previews: list[bytes | None] = []
    jpegs: list[bytes] = []
    check_cancelled()
    with open_document(data, request.document, limits) as doc:
        for read in ocr.read_pages(doc, request.options, before_page=check_cancelled):
            pages.append(read.page)
            if on_page is not None:
                on_page(read.page, len(pages), len(doc.numbers), doc.page_count)
            previews.append(encode_preview(read.preprocessed, preview_max_side) if request.preview else None)
            if request.format == "pdf":
                from crnn_ocr.searchable_pdf import encode_page_image

                jpegs.append(encode_page_image(read.image.image))
        result = Document(tuple(pages), doc.page_count)
    body = None
    if request.format == "pdf":
        from crnn_ocr.searchable_pdf import to_searchable_pdf

        body = to_searchable_pdf(list(zip(jpegs, pages)))
    elif request.format != "json":
        body = render(result, request.format).encode("utf-8")
    return Read(result, previews, body)


def encode_preview(img: np.ndarray, max_side: int) -> bytes:
    """PNG bytes of a uint8 grey or BGR image, scaled down (aspect kept) to ``max_side``."""
    h, w = img.shape[:2]
    scale = max_side / max(h, w)
    if scale < 1:
        img = cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise InternalError("could not encode the preview image as PNG")
    return buf.tobytes()


def decode_base64_image(text: str, max_bytes: int) -> bytes:
    """Bytes of a base64 string (a ``data:...;base64,`` prefix allowed), size checked before decoding."""
    if text.startswith("data:"):
        header, sep, text = text.partition(",")
        if not sep or not header.endswith(";base64"):
            raise InvalidBase64Error("image_base64 is a data: URL without ';base64,'")
    compact = "".join(text.split())
    padding = len(compact) - len(compact.rstrip("="))
    decoded_size = len(compact) * 3 // 4 - padding
    if decoded_size > max_bytes:
        raise ImageTooLargeError(f"the image is {decoded_size} bytes, more than the limit of {max_bytes}")
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidBase64Error(f"image_base64 is not valid base64 ({exc})") from None
    if not data:
        raise EmptyImageError("image_base64 is empty: zero bytes")
    return data
