"""Searchable PDF: each page image with an invisible text layer where the text was read.

    with SearchablePdf("out.pdf", title="scan.pdf") as pdf:
        for page_image, page in ...:           # the image a Page was read from, and the Page
            pdf.add_page(page_image.image, page)

Each page is as large as its image at the page's DPI (a rendered PDF page keeps its size in
points; an image without a stated DPI is taken as 300 dpi). The image is embedded as JPEG. Over it,
each word of each line (``crnn_ocr.layout.line_words``) is written in text render mode 3
(invisible): the font's em box sized to the line's height, its baseline along the line's bottom
edge, turned with the line, and horizontally scaled (``Tz``) so that the word plus the space after
it spans exactly to the next word. Selecting, searching and text extraction (pdftotext) then
follow the page.

The text font must cover Chinese and Latin: a TrueType font from Debian's fonts-wqy-microhei
(default; covers the whole shipped charset), fonts-wqy-zenhei or fonts-droid-fallback, or any
TrueType file passed as ``font_path``. ReportLab embeds only the glyphs used (a subset), with a
ToUnicode map, so a page adds a few kB. Nothing is downloaded.
"""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from crnn_ocr.errors import OutputError
from crnn_ocr.layout import line_words
from crnn_ocr.types import Line, Page

#: Resolution assumed for an image that does not state one.
DEFAULT_IMAGE_DPI = 300.0
JPEG_QUALITY = 75

#: TrueType fonts with CJK and Latin glyphs (file, face index in a .ttc), tried in order.
FONT_CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)

_REGISTER_LOCK = threading.Lock()
_REGISTERED: dict[tuple[str, int], str] = {}


def find_font(font_path: str | os.PathLike | None = None) -> tuple[str, int]:
    """(path, face index) of the text-layer font: ``font_path`` if given, else the first installed
    candidate. OutputError when there is none."""
    if font_path is not None:
        path = Path(font_path)
        if not path.is_file():
            raise OutputError(f"the PDF text font {path} does not exist")
        return str(path), 0
    for path, index in FONT_CANDIDATES:
        if Path(path).is_file():
            return path, index
    names = ", ".join(p for p, _ in FONT_CANDIDATES)
    raise OutputError(
        f"a searchable PDF needs a TrueType font with Chinese glyphs and none is installed ({names}); "
        "install Debian's fonts-wqy-microhei (scripts/install-system-deps.sh) or pass a font file"
    )


def _register(path: str, index: int) -> str:
    """The ReportLab name of the font at ``path`` (face ``index``), registered once per process."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    with _REGISTER_LOCK:
        name = _REGISTERED.get((path, index))
        if name is None:
            name = f"OCRText{len(_REGISTERED)}"
            try:
                pdfmetrics.registerFont(TTFont(name, path, subfontIndex=index))
            except Exception as exc:  # ReportLab's TTFError and friends
                raise OutputError(f"cannot use {path} as the PDF text font ({exc})") from exc
            _REGISTERED[(path, index)] = name
        return name


def encode_page_image(image: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    """JPEG bytes of a uint8 grey HxW or BGR HxWx3 page image, as embedded in the PDF (grey when
    the three channels are equal, as PDFium renders a grey scan)."""
    if (
        image.ndim == 3
        and np.array_equal(image[..., 0], image[..., 1])
        and np.array_equal(image[..., 1], image[..., 2])
    ):
        image = np.ascontiguousarray(image[..., 0])
    if image.ndim == 3:
        pil = Image.fromarray(np.ascontiguousarray(image[..., 2::-1]), "RGB")
    else:
        pil = Image.fromarray(image, "L")
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


class SearchablePdf:
    """Writes a searchable PDF to ``out`` (a path or a binary stream) one page at a time;
    ``close`` (or leaving the ``with`` block) finishes the file."""

    def __init__(
        self,
        out: str | os.PathLike | BinaryIO,
        *,
        title: str = "",
        font_path: str | os.PathLike | None = None,
    ) -> None:
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfgen.canvas import Canvas

        from crnn_ocr import __version__

        self.font = _register(*find_font(font_path))
        face = pdfmetrics.getFont(self.font).face
        self._ascent = face.ascent / 1000.0  # em units
        self._descent = face.descent / 1000.0  # negative
        target = str(out) if isinstance(out, (str, os.PathLike)) else out
        self._canvas = Canvas(target, pageCompression=1, invariant=1)
        self._canvas.setCreator(f"crnn-ocr {__version__}")
        self._canvas.setProducer(f"crnn-ocr {__version__} (ReportLab)")
        if title:
            self._canvas.setTitle(title)
        self.pages = 0

    def add_page(self, image: np.ndarray | bytes, page: Page) -> None:
        """One page: ``image`` (the uint8 array the page was read from, or its JPEG from
        ``encode_page_image``) under the invisible text of ``page``."""
        from reportlab.lib.utils import ImageReader

        if isinstance(image, np.ndarray):
            if image.shape[:2] != (page.height, page.width):
                raise ValueError(
                    f"image of {image.shape[1]}x{image.shape[0]} for a page of {page.width}x{page.height}"
                )
            image = encode_page_image(image)
        dpi = page.dpi or DEFAULT_IMAGE_DPI
        k = 72.0 / dpi  # points per pixel
        width_pt, height_pt = page.width * k, page.height * k
        c = self._canvas
        c.setPageSize((width_pt, height_pt))
        c.drawImage(ImageReader(io.BytesIO(image)), 0, 0, width_pt, height_pt)
        for line in page.lines:
            self._draw_line(line, k, height_pt)
        c.showPage()
        self.pages += 1

    def _draw_line(self, line: Line, k: float, height_pt: float) -> None:
        from reportlab.pdfbase.pdfmetrics import stringWidth

        def pt(p: tuple[float, float]) -> np.ndarray:  # image pixels (y down) -> PDF points (y up)
            return np.array([p[0] * k, height_pt - p[1] * k])

        p0, p1, _, p3 = (pt(p) for p in line.box.points)
        direction = p1 - p0
        length = float(np.hypot(*direction))
        if length <= 0:
            return
        cos, sin = direction / length
        up = np.array([-sin, cos])
        line_height = float(np.dot(p0 - p3, up))
        if line_height <= 0:
            return
        size = line_height / (self._ascent - self._descent)
        words = line_words(line)
        text = self._canvas.beginText()
        text.setTextRenderMode(3)  # invisible: neither filled nor stroked
        text.setFont(self.font, size)
        for i, word in enumerate(words):
            start = pt(word.box.points[3])  # bottom-left corner
            if i + 1 < len(words):
                end, chars = pt(words[i + 1].box.points[3]), word.text + " "
            else:
                end, chars = pt(word.box.points[2]), word.text
            span = float(np.dot(end - start, direction / length))
            natural = stringWidth(chars, self.font, size)
            if span <= 0 or natural <= 0:
                continue
            x, y = start + up * (-self._descent * size)  # baseline above the bottom edge by the descent
            text.setHorizScale(100.0 * span / natural)
            text.setTextTransform(cos, sin, -sin, cos, float(x), float(y))
            text.textOut(chars)
        self._canvas.drawText(text)

    def close(self) -> None:
        if self._canvas is not None:
            if self.pages == 0:
                raise OutputError("a PDF needs at least one page")
            self._canvas.save()
            self._canvas = None

    def __enter__(self) -> SearchablePdf:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()


def to_searchable_pdf(pages: list[tuple[np.ndarray | bytes, Page]], *, title: str = "") -> bytes:
    """The searchable PDF of (page image, Page) pairs, as bytes."""
    buf = io.BytesIO()
    with SearchablePdf(buf, title=title) as pdf:
        for image, page in pages:
            pdf.add_page(image, page)
    return buf.getvalue()
