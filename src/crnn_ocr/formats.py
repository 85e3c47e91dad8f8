"""Results out: one ``Document`` written as plain text, JSON, hOCR or ALTO XML.

All coordinates are pixels of the page images the text was read from (a PDF page at the DPI it
was rendered at), origin top-left. Blocks and words come from ``crnn_ocr.layout``, so every format
agrees on them. The searchable PDF is ``crnn_ocr.searchable_pdf``.

- text: each page's blocks in reading order, a blank line between blocks; pages separated by a
  form feed (``\\f``), as pdftotext does. ``layout`` chooses the text lines: "lines" (one per
  detected line), "rows" (one per visual row, its cells separated by a tab) or "paragraphs" (a
  paragraph's rows joined into one line; a row of several cells stays a line of its own).
- json: ``Document.to_dict()``: pages -> lines -> characters, each with its box and confidence;
  each page's blocks (rows as indices into its lines) and fields.
- hOCR 1.2 as XHTML 1.0 (well-formed XML): ocr_page > ocr_carea > ocr_par > ocr_line > ocrx_word,
  ``bbox`` on each, ``x_wconf`` (0-100) on words.
- ALTO v4 (alto-4-2.xsd structure): Layout > Page > PrintSpace > TextBlock > TextLine > String/SP,
  with HPOS/VPOS/WIDTH/HEIGHT in pixels, CONTENT and WC (0-1).
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Literal

from crnn_ocr.errors import OptionsError
from crnn_ocr.layout import Word, line_words, page_blocks
from crnn_ocr.types import Block, Box, Document, Page

TextFormat = Literal["text", "json", "hocr", "alto"]
TextLayout = Literal["lines", "rows", "paragraphs"]
TEXT_LAYOUTS: tuple[str, ...] = ("lines", "rows", "paragraphs")

XHTML_NS = "http://www.w3.org/1999/xhtml"
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
ALTO_SCHEMA = "http://www.loc.gov/standards/alto/ns-v4# http://www.loc.gov/alto/v4/alto-4-2.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

#: Media type and file extension of each format (searchable PDF included).
MEDIA_TYPES = {
    "text": "text/plain; charset=utf-8",
    "json": "application/json",
    "hocr": "application/xhtml+xml; charset=utf-8",
    "alto": "application/xml; charset=utf-8",
    "pdf": "application/pdf",
}
EXTENSIONS = {"text": ".txt", "json": ".json", "hocr": ".hocr", "alto": ".alto.xml", "pdf": ".pdf"}


def render(document: Document, fmt: TextFormat, layout: TextLayout = "lines") -> str:
    """``document`` in the text format ``fmt`` (``layout``: the text lines of the text format)."""
    if layout not in TEXT_LAYOUTS:
        raise OptionsError(f"unknown text layout {layout!r}; expected one of {', '.join(TEXT_LAYOUTS)}")
    writers: dict[str, Callable[[Document], str]] = {
        "text": lambda d: to_text(d, layout),
        "json": to_json,
        "hocr": to_hocr,
        "alto": to_alto,
    }
    if fmt not in writers:
        raise OptionsError(f"unknown output format {fmt!r}; expected one of {', '.join(writers)} (or pdf)")
    return writers[fmt](document)


# ---- text and JSON -----------------------------------------------------------------------------


def page_text(page: Page, layout: TextLayout = "lines") -> str:
    """The page's blocks in reading order, a blank line between blocks, their text lines as
    ``layout`` says (see the module docstring)."""
    return "\n\n".join(block_text(block, layout) for block in page_blocks(page))


def block_text(block: Block, layout: TextLayout = "lines") -> str:
    if layout == "lines":
        return block.text
    if layout == "rows":
        return "\n".join(row.text("\t") for row in block.rows)
    out: list[str] = []
    joining = False  # the last output line is a paragraph that may go on
    for row in block.rows:
        if len(row.lines) > 1:
            out.append(row.text("\t"))
            joining = False
        elif joining:
            out[-1] = join_wrapped(out[-1], row.lines[0].text)
        else:
            out.append(row.lines[0].text)
            joining = True
    return "\n".join(out)


def join_wrapped(head: str, tail: str) -> str:
    """Two lines of one paragraph as one: a space between words, none between CJK characters,
    a word hyphenated at the line end joined again."""
    if not head or not tail:
        return head + tail
    if head.endswith("-") and len(head) > 1 and head[-2].isalpha() and tail[0].islower():
        return head[:-1] + tail
    if _is_cjk(head[-1]) or _is_cjk(tail[0]):
        return head + tail
    return head + " " + tail


def _is_cjk(ch: str) -> bool:
    return "\u2e80" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef"


def to_text(document: Document, layout: TextLayout = "lines") -> str:
    """Each page's text; a page with fields (``OCROptions.fields``) ends with them, one a line."""
    texts = ("\n\n".join(filter(None, (page_text(page, layout), fields_text(page)))) for page in document.pages)
    return "\f".join(text + "\n" if text else "" for text in texts)


def fields_text(page: Page) -> str:
    """The page's fields as ``name: value`` lines, each with its validator's verdict."""
    verdict = {True: "valid", False: "INVALID", None: "unchecked"}
    return "\n".join(
        f"{f.name}: {f.value or f.text}  [{verdict[f.valid]}{': ' + f.check if f.check else ''}]" for f in page.fields
    )


def to_json(document: Document) -> str:
    return json.dumps(document.to_dict(), ensure_ascii=False, indent=2) + "\n"


# ---- hOCR --------------------------------------------------------------------------------------


def _bbox(box: Box, page: Page) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) around ``box``, inside the page, at least a pixel wide and tall."""
    x0, y0, x1, y1 = box.bounds
    ix0 = min(max(0, math.floor(x0)), page.width - 1)
    iy0 = min(max(0, math.floor(y0)), page.height - 1)
    return (
        ix0,
        iy0,
        min(page.width, max(math.ceil(x1), ix0 + 1)),
        min(page.height, max(math.ceil(y1), iy0 + 1)),
    )


def _bbox_title(box: Box, page: Page) -> str:
    return "bbox {} {} {} {}".format(*_bbox(box, page))


def _quote(text: str) -> str:
    """A double-quoted hOCR property string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_hocr(document: Document) -> str:
    from crnn_ocr import __version__

    h = ""  # plain names; the namespace is declared as an attribute (ElementTree then writes no prefixes)
    html = ET.Element("html", {"xmlns": XHTML_NS})
    head = ET.SubElement(html, f"{h}head")
    ET.SubElement(head, f"{h}title").text = document.source or "OCR result"
    ET.SubElement(head, f"{h}meta", {"http-equiv": "Content-Type", "content": "text/html;charset=utf-8"})
    ET.SubElement(head, f"{h}meta", {"name": "ocr-system", "content": f"crnn-ocr {__version__}"})
    ET.SubElement(
        head,
        f"{h}meta",
        {"name": "ocr-capabilities", "content": "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf"},
    )
    ET.SubElement(head, f"{h}meta", {"name": "ocr-number-of-pages", "content": str(len(document.pages))})
    body = ET.SubElement(html, f"{h}body")
    for page in document.pages:
        n = page.number
        title = f"image {_quote(document.source or 'image')}; bbox 0 0 {page.width} {page.height}; ppageno {n - 1}"
        if page.dpi is not None:
            title += f"; scan_res {round(page.dpi)} {round(page.dpi)}"
        page_el = ET.SubElement(body, f"{h}div", {"class": "ocr_page", "id": f"page_{n}", "title": title})
        line_no = word_no = 0
        for b, block in enumerate(page_blocks(page), start=1):
            area = ET.SubElement(
                page_el,
                f"{h}div",
                {"class": "ocr_carea", "id": f"block_{n}_{b}", "title": _bbox_title(block.box, page)},
            )
            par = ET.SubElement(
                area,
                f"{h}p",
                {"class": "ocr_par", "id": f"par_{n}_{b}", "title": _bbox_title(block.box, page)},
            )
            for line in block.lines:
                line_no += 1
                line_el = ET.SubElement(
                    par,
                    f"{h}span",
                    {"class": "ocr_line", "id": f"line_{n}_{line_no}", "title": _bbox_title(line.box, page)},
                )
                for word in line_words(line):
                    word_no += 1
                    word_el = ET.SubElement(
                        line_el,
                        f"{h}span",
                        {"class": "ocrx_word", "id": f"word_{n}_{word_no}", "title": _word_title(word, page)},
                    )
                    word_el.text = word.text
    ET.indent(html, space=" ")
    xml = ET.tostring(html, encoding="unicode")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n' + xml + "\n"
    )


def _word_title(word: Word, page: Page) -> str:
    return f"{_bbox_title(word.box, page)}; x_wconf {round(100 * word.confidence)}"


# ---- ALTO --------------------------------------------------------------------------------------


def _alto_box(box: Box, page: Page) -> dict[str, str]:
    x0, y0, x1, y1 = _bbox(box, page)
    return {"HPOS": str(x0), "VPOS": str(y0), "WIDTH": str(x1 - x0), "HEIGHT": str(y1 - y0)}


def to_alto(document: Document) -> str:
    from crnn_ocr import __version__

    a = ""  # plain names; the namespaces are declared as attributes
    alto = ET.Element("alto", {"xmlns": ALTO_NS, "xmlns:xsi": XSI_NS, "xsi:schemaLocation": ALTO_SCHEMA})
    desc = ET.SubElement(alto, f"{a}Description")
    ET.SubElement(desc, f"{a}MeasurementUnit").text = "pixel"
    source = ET.SubElement(desc, f"{a}sourceImageInformation")
    ET.SubElement(source, f"{a}fileName").text = document.source or "image"
    processing = ET.SubElement(desc, f"{a}Processing", {"ID": "OCR_0"})
    software = ET.SubElement(processing, f"{a}processingSoftware")
    ET.SubElement(software, f"{a}softwareName").text = "crnn-ocr"
    ET.SubElement(software, f"{a}softwareVersion").text = __version__
    layout = ET.SubElement(alto, f"{a}Layout")
    for page in document.pages:
        n = page.number
        page_el = ET.SubElement(
            layout,
            f"{a}Page",
            {
                "ID": f"page_{n}",
                "PHYSICAL_IMG_NR": str(n),
                "WIDTH": str(page.width),
                "HEIGHT": str(page.height),
                "PROCESSING": "OCR_0",
            },
        )
        space = ET.SubElement(
            page_el,
            f"{a}PrintSpace",
            {"HPOS": "0", "VPOS": "0", "WIDTH": str(page.width), "HEIGHT": str(page.height)},
        )
        _alto_blocks(space, page_blocks(page), page, a)
    ET.indent(alto, space=" ")
    xml = ET.tostring(alto, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + xml + "\n"


def _alto_blocks(space: ET.Element, blocks: tuple[Block, ...], page: Page, a: str) -> None:
    n, line_no, word_no = page.number, 0, 0
    for b, block in enumerate(blocks, start=1):
        block_el = ET.SubElement(
            space, f"{a}TextBlock", {"ID": f"block_{n}_{b}", **_alto_box(block.box, page)}
        )
        for line in block.lines:
            line_no += 1
            line_el = ET.SubElement(
                block_el, f"{a}TextLine", {"ID": f"line_{n}_{line_no}", **_alto_box(line.box, page)}
            )
            words = line_words(line)
            for i, word in enumerate(words):
                word_no += 1
                box = _alto_box(word.box, page)
                ET.SubElement(
                    line_el,
                    f"{a}String",
                    {
                        "ID": f"string_{n}_{word_no}",
                        **box,
                        "CONTENT": word.text,
                        "WC": f"{word.confidence:.3f}",
                    },
                )
                if i + 1 < len(words):
                    x_end = int(box["HPOS"]) + int(box["WIDTH"])
                    next_x = int(_alto_box(words[i + 1].box, page)["HPOS"])
                    ET.SubElement(
                        line_el,
                        f"{a}SP",
                        {"HPOS": str(x_end), "VPOS": box["VPOS"], "WIDTH": str(max(0, next_x - x_end))},
                    )
