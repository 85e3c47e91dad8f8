"""Results out: blocks and words, plain text, JSON, hOCR, ALTO and the searchable PDF.

The round trip is checked with independent tools: a multi-page PDF of known text (made by Pillow)
is read with the shipped model, written as a searchable PDF, and its text extracted by poppler's
``pdftotext`` must match the known text within a small CER, each extracted word lying where that
text is on the page. hOCR and ALTO are parsed with an XML parser.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from pdfs import KNOWN_TEXT, image_pdf, known_pages
from render import render_page

from crnn_ocr import OCR
from crnn_ocr.cli import main as cli_main
from crnn_ocr.formats import to_alto, to_hocr, to_json, to_text
from crnn_ocr.layout import analyse, line_words
from crnn_ocr.metrics import levenshtein
from crnn_ocr.searchable_pdf import SearchablePdf, to_searchable_pdf
from crnn_ocr.types import Box, CharConfidence, Document, DocumentOptions, Line, Page

XHTML = "{http://www.w3.org/1999/xhtml}"
ALTO = "{http://www.loc.gov/standards/alto/ns-v4#}"
ROUND_TRIP_CER_CEILING = 0.02  # measured 0.0 on these pages; a margin for model updates


def line(text: str, x: float, y: float, w: float, h: float, conf: float = 0.9) -> Line:
    return Line(text, conf, Box.from_rect(x, y, w, h), tuple(CharConfidence(c, conf) for c in text))


def cer(reference: str, hypothesis: str) -> float:
    ref, hyp = "".join(reference.split()), "".join(hypothesis.split())
    return levenshtein(ref, hyp) / max(1, len(ref))


def require_poppler() -> str:
    path = shutil.which("pdftotext")
    if path is None:
        pytest.fail("pdftotext (poppler-utils) is not installed: run scripts/install-system-deps.sh")
    return path


@pytest.fixture(scope="module")
def known() -> list[tuple[np.ndarray, list[tuple[int, int, int, int]]]]:
    return known_pages()


@pytest.fixture(scope="module")
def document(shipped_ocr: OCR, known) -> Document:
    pdf = image_pdf([img for img, _ in known], dpi=200)
    return shipped_ocr.read_document(pdf, document=DocumentOptions(dpi=200))


# ---- layout ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "blocks"),
    [
        pytest.param([line("a", 10, 10, 200, 30), line("b", 10, 50, 180, 30)], [["a", "b"]], id="paragraph"),
        pytest.param(
            [line("a", 10, 10, 200, 30), line("b", 10, 120, 180, 30)], [["a"], ["b"]], id="wide-gap"
        ),
        pytest.param(
            [line("a", 10, 10, 100, 30), line("b", 300, 10, 100, 30)], [["a", "b"]], id="same-row"
        ),
        pytest.param(
            [line("a", 10, 10, 100, 30), line("b", 300, 50, 100, 30)], [["a"], ["b"]], id="new-column"
        ),
        pytest.param([line("T", 10, 10, 300, 80), line("b", 10, 95, 180, 30)], [["T"], ["b"]], id="heading"),
    ],
)
def test_lines_group_into_blocks(lines: list[Line], blocks: list[list[str]]) -> None:
    assert [[ln.text for ln in b.lines] for b in analyse(lines)] == blocks


def test_words_without_character_boxes_share_the_line_box() -> None:
    words = line_words(line("ab 中文 x", 0, 0, 100, 20))
    assert [w.text for w in words] == ["ab", "中文", "x"]
    # widths in proportion: a b ' ' 中(2) 文(2) ' ' x -> 9 units over 100 px
    assert [round(w.box.bounds[0]) for w in words] == [0, 33, 89]
    assert words[1].confidence == pytest.approx(0.9)


def test_character_boxes_follow_the_glyphs(shipped_ocr: OCR) -> None:
    text = "中华人民共和国成立"
    img, (bbox,) = render_page([text], size=40)
    (read,) = shipped_ocr(img).lines
    assert read.text == text
    x0, _, w, _ = bbox
    pitch = w / len(text)  # monospaced CJK: glyph i spans x0 + i * pitch .. + pitch
    for i, char in enumerate(read.chars):
        cx0, _, cx1, _ = char.box.bounds
        assert abs((cx0 + cx1) / 2 - (x0 + (i + 0.5) * pitch)) < pitch / 3, (char.char, cx0, cx1)
        assert read.box.bounds[0] - 1 <= cx0 < cx1 <= read.box.bounds[2] + 1


# ---- text and JSON -----------------------------------------------------------------------------


def test_text_has_a_blank_line_between_blocks_and_a_form_feed_between_pages() -> None:
    page1 = Page(
        400, 300, (line("a", 10, 10, 200, 30), line("b", 10, 50, 180, 30), line("c", 10, 150, 90, 30))
    )
    page2 = Page(400, 300, (), number=2)
    page3 = Page(400, 300, (line("d", 10, 10, 100, 30),), number=3)
    assert to_text(Document((page1, page2, page3), 3)) == "a\nb\n\nc\n\f\fd\n"


def test_json_has_pages_lines_and_characters_with_boxes(document: Document) -> None:
    data = json.loads(to_json(document))
    assert data["page_count"] == 3 and [p["page"] for p in data["pages"]] == [1, 2, 3]
    for page in data["pages"]:
        for ln in page["lines"]:
            assert [c["char"] for c in ln["chars"]] == list(ln["text"])
            for c in ln["chars"]:
                assert 0 <= c["confidence"] <= 1
                xs, ys = zip(*c["box"])
                assert 0 <= min(xs) <= max(xs) <= page["width"] and 0 <= min(ys) <= max(ys) <= page["height"]


# ---- hOCR --------------------------------------------------------------------------------------


def bbox(title: str) -> tuple[int, ...]:
    m = re.search(r"bbox (\d+) (\d+) (\d+) (\d+)", title)
    assert m, title
    return tuple(int(v) for v in m.groups())


def test_hocr_is_valid_xhtml_with_boxes_inside_the_page(document: Document) -> None:
    root = ET.fromstring(to_hocr(document).encode("utf-8"))  # an XML parser: well-formed or it raises
    assert root.tag == f"{XHTML}html"
    meta = {m.get("name"): m.get("content") for m in root.iter(f"{XHTML}meta")}
    assert "ocrx_word" in meta["ocr-capabilities"] and meta["ocr-system"].startswith("crnn-ocr")
    pages = [el for el in root.iter() if el.get("class") == "ocr_page"]
    assert len(pages) == 3
    for page_el, page, lines in zip(pages, document.pages, KNOWN_TEXT):
        _, _, pw, ph = bbox(page_el.get("title"))
        assert (pw, ph) == (page.width, page.height) and "scan_res 200 200" in page_el.get("title")
        line_els = [el for el in page_el.iter() if el.get("class") == "ocr_line"]
        assert [" ".join(w.text for w in el if w.get("class") == "ocrx_word") for el in line_els] == lines
        for el in page_el.iter():
            if el.get("class") in ("ocr_carea", "ocr_par", "ocr_line", "ocrx_word"):
                x0, y0, x1, y1 = bbox(el.get("title"))
                assert 0 <= x0 < x1 <= pw and 0 <= y0 < y1 <= ph, el.get("title")
            if el.get("class") == "ocrx_word":
                wconf = int(re.search(r"x_wconf (\d+)", el.get("title")).group(1))
                assert 0 <= wconf <= 100


def test_hocr_words_nest_inside_their_lines(document: Document) -> None:
    root = ET.fromstring(to_hocr(document).encode("utf-8"))
    for el in root.iter():
        if el.get("class") == "ocr_line":
            lx0, ly0, lx1, ly1 = bbox(el.get("title"))
            for word in el:
                x0, y0, x1, y1 = bbox(word.get("title"))
                assert lx0 <= x0 and x1 <= lx1 and ly0 <= y0 and y1 <= ly1


# ---- ALTO --------------------------------------------------------------------------------------


def test_alto_v4_structure(document: Document) -> None:
    root = ET.fromstring(to_alto(document).encode("utf-8"))
    assert root.tag == f"{ALTO}alto"
    assert root.find(f"{ALTO}Description/{ALTO}MeasurementUnit").text == "pixel"
    pages = root.findall(f"{ALTO}Layout/{ALTO}Page")
    assert [p.get("PHYSICAL_IMG_NR") for p in pages] == ["1", "2", "3"]
    ids = [el.get("ID") for el in root.iter() if el.get("ID")]
    assert len(ids) == len(set(ids))  # xsd:ID values are unique
    for page_el, page, lines in zip(pages, document.pages, KNOWN_TEXT):
        assert (int(page_el.get("WIDTH")), int(page_el.get("HEIGHT"))) == (page.width, page.height)
        space = page_el.find(f"{ALTO}PrintSpace")
        text_lines = space.findall(f"{ALTO}TextBlock/{ALTO}TextLine")
        assert [" ".join(s.get("CONTENT") for s in tl.findall(f"{ALTO}String")) for tl in text_lines] == lines
        for el in space.iter():
            if el.tag in (f"{ALTO}TextBlock", f"{ALTO}TextLine", f"{ALTO}String"):
                x, y, w, h = (int(el.get(k)) for k in ("HPOS", "VPOS", "WIDTH", "HEIGHT"))
                assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= page.width and y + h <= page.height
            if el.tag == f"{ALTO}String":
                assert 0.0 <= float(el.get("WC")) <= 1.0


# ---- searchable PDF ----------------------------------------------------------------------------


def pdftotext(path: Path, *flags: str) -> str:
    done = subprocess.run(
        [require_poppler(), *flags, str(path), "-"], capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode("utf-8")


def test_searchable_pdf_round_trip_through_pdftotext(capsys, shipped_model, tmp_path: Path, known) -> None:
    """OCR -> searchable PDF (through the CLI) -> pdftotext: the known text, where it is."""
    require_poppler()
    source = tmp_path / "scan.pdf"
    source.write_bytes(image_pdf([img for img, _ in known], dpi=200))
    out = tmp_path / "searchable.pdf"
    assert cli_main(["read", "--threads", "1", "--format", "pdf", "-o", str(out), str(source)]) == 0
    capsys.readouterr()

    extracted = pdftotext(out)
    pages = extracted.split("\f")[:3]
    assert len(pages) == 3
    for got, want in zip(pages, KNOWN_TEXT):
        assert cer("\n".join(want), got) <= ROUND_TRIP_CER_CEILING, got

    # Every extracted word lies on the line of the page it belongs to (points = pixels * 72 / dpi).
    root = ET.fromstring(pdftotext(out, "-bbox").encode("utf-8"))
    k = 72 / 200
    for page_el, (img, boxes), lines in zip(root.iter(f"{XHTML}page"), known, KNOWN_TEXT):
        assert float(page_el.get("width")) == pytest.approx(img.shape[1] * k, abs=0.5)
        assert float(page_el.get("height")) == pytest.approx(img.shape[0] * k, abs=0.5)
        words = list(page_el.iter(f"{XHTML}word"))
        assert " ".join(w.text for w in words) == " ".join(lines)
        for word in words:
            x0, y0, x1, y1 = (float(word.get(a)) for a in ("xMin", "yMin", "xMax", "yMax"))
            cx, cy = (x0 + x1) / 2 / k, (y0 + y1) / 2 / k  # the word's centre in image pixels
            on = [b for b in boxes if b[0] <= cx <= b[0] + b[2] and b[1] <= cy <= b[1] + b[3]]
            assert len(on) == 1, (word.text, cx, cy)
            assert lines[boxes.index(on[0])].find(word.text) >= 0


def test_searchable_pdf_keeps_the_page_image(document: Document, known, tmp_path: Path) -> None:
    require_poppler()
    out = tmp_path / "out.pdf"
    with SearchablePdf(out, title="known") as pdf:
        for (img, _), page in zip(known, document.pages):
            pdf.add_page(img, page)
    listing = subprocess.run(
        ["pdfimages", "-list", str(out)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    rows = [r.split() for r in listing.splitlines()[2:]]
    assert [(int(r[3]), int(r[4])) for r in rows] == [(img.shape[1], img.shape[0]) for img, _ in known]
    assert {r[12] for r in rows} == {"200"}  # x-ppi: the page is as large as the scan was
    fonts = subprocess.run(
        ["pdffonts", str(out)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "yes yes yes" in fonts  # the text font is embedded, subset, with a ToUnicode map


def test_a_pdf_needs_a_page(document: Document) -> None:
    from crnn_ocr.errors import OutputError

    with pytest.raises(OutputError, match="at least one page"):
        to_searchable_pdf([])
