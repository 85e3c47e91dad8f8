"""Test helper: PDFs and multi-page TIFFs made in the test, independent of the code under test.

Import it as ``from pdfs import image_pdf, ...`` (pytest puts ``tests/`` on ``sys.path``).

- ``image_pdf``: image-only pages (a "scan") written by Pillow's PDF writer at a given DPI, so a
  page rendered back at that DPI has exactly the image's pixels.
- ``encrypted_pdf`` / ``many_pages_pdf``: written by ReportLab (a runtime dependency).
- ``known_pages``: pages of known Chinese and English text (tests/render.py) and their lines.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from render import render_page

#: Known text, a page per list: Chinese, English and mixed lines the shipped model reads cleanly.
KNOWN_TEXT: list[list[str]] = [
    ["发票号码 Invoice No 12345", "开票日期 2024年3月15日", "The quick brown fox jumps"],
    ["中华人民共和国成立于一九四九年", "Total amount due 1,234.00", "北京市海淀区中关村大街"],
    ["识别中文文本和英文文本", "Hello World from page three", "合计金额 5678"],
]


def image_pdf(pages: list[np.ndarray], dpi: float = 200) -> bytes:
    """A PDF with one full-page image per page (grey HxW or BGR HxWx3 uint8), at ``dpi``."""
    ims = [Image.fromarray(p if p.ndim == 2 else p[..., ::-1].copy()) for p in pages]
    buf = io.BytesIO()
    ims[0].save(buf, format="PDF", save_all=True, append_images=ims[1:], resolution=dpi)
    return buf.getvalue()


def multipage_tiff(pages: list[np.ndarray], dpi: float = 200) -> bytes:
    ims = [Image.fromarray(p) for p in pages]
    buf = io.BytesIO()
    ims[0].save(
        buf, format="TIFF", save_all=True, append_images=ims[1:], dpi=(dpi, dpi), compression="tiff_lzw"
    )
    return buf.getvalue()


def known_pages(
    size: int = 36, width: int = 1100
) -> list[tuple[np.ndarray, list[tuple[int, int, int, int]]]]:
    """(image, ink bbox per line) of each page of KNOWN_TEXT."""
    return [render_page(lines, size=size, width=width) for lines in KNOWN_TEXT]


def encrypted_pdf(user_password: str = "secret") -> bytes:
    """A one-page PDF that needs ``user_password`` to open."""
    from reportlab.lib.pdfencrypt import StandardEncryption
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(200, 200), encrypt=StandardEncryption(user_password, canPrint=0))
    c.drawString(20, 100, "secret text")
    c.showPage()
    c.save()
    return buf.getvalue()


def many_pages_pdf(n: int) -> bytes:
    """A PDF of ``n`` empty A6 pages."""
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    c = Canvas(buf, pagesize=(298, 420))
    for _ in range(n):
        c.showPage()
    c.save()
    return buf.getvalue()
