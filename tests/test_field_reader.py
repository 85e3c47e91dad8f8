"""Second reads in the fields step (``crnn_ocr.field_reader``): values read again under their
field's grammar, and read beside their label where the detector found none; the receipt total
and date choosers on tables of OCR-like lines; the invoice rereads end to end."""

from __future__ import annotations

import numpy as np
import pytest
from render import render_page

from crnn_ocr import OCR
from crnn_ocr.charset import BLANK_INDEX, Charset
from crnn_ocr.field_reader import AMOUNT_AT_END, AMOUNT_BESIDE, PageReader, sure_value
from crnn_ocr.fields import find_fields
from crnn_ocr.grammar import compile_pattern, grammar_decode
from crnn_ocr.layout import analyse
from crnn_ocr.pipeline import line_crop
from crnn_ocr.types import Box, CharConfidence, Line, OCROptions, Recognition

from benchmarks.synth_invoices import invoice


def cell(text: str, x: float, y: float, w: float | None = None) -> Line:
    return Line(text, 0.95, Box.from_rect(x, y, w or 12 * len(text), 24))


def rec(text: str, confidences: list[float] | float = 0.9) -> Recognition:
    conf = confidences if isinstance(confidences, list) else [confidences] * len(text)
    return Recognition(text, min(conf, default=0.0), tuple(CharConfidence(c, p) for c, p in zip(text, conf)))


class FakeReader:
    """A FieldReader answering from tables: line text -> reread text; line text -> text beside."""

    def __init__(self, rereads: dict[str, str] | None = None, beside: dict[str, str] | None = None) -> None:
        self.rereads = rereads or {}
        self.beside = beside or {}
        self.asked: list[tuple[str, str]] = []

    def reread(self, line: Line, pattern: str, start: int = 0) -> Recognition | None:
        self.asked.append(("reread", line.text))
        text = self.rereads.get(line.text)
        return None if text is None else rec(text)

    def read_beside(self, line: Line, pattern: str, value=None) -> tuple[Recognition, Box] | None:
        self.asked.append(("beside", line.text))
        text = self.beside.get(line.text)
        return None if text is None else (rec(text), Box.from_rect(300, line.box.bounds[1], 80, 24))


def total_of(rows: list[tuple[str, ...]], reader: FakeReader | None = None) -> str | None:
    lines = [cell("SHOP", 10, 0)]
    for i, row in enumerate(rows):
        lines += [cell(text, 10 + 290 * j, 40 + 30 * i) for j, text in enumerate(row)]
    got = {f.name: f for f in find_fields(analyse(lines), reader)}
    return got["total"].value if "total" in got else None


# ---- the total chooser on OCR-like rows ------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "total"),
    [
        pytest.param(
            [("Total Sales (Inclusive of GST):", "80.90"), ("GST SUMMARY",), ("Total:", "80.91")],
            "80.90",
            id="a-gst-summary-total-is-no-receipt-total",
        ),
        pytest.param([("Total Exc1. GST", "16.00"), ("Total Inc1. GST", "15.00")], "15.00", id="incl-excl-misread"),
        pytest.param([("SR", "14.15"), ("TAX TOTAL:", "0.85"), ("SGT", "15.00")], "15.00", id="tax-total-skipped"),
        pytest.param(
            [("AMOUNT DUE", "15.00"), ("TOTAL", "14.10"), ("CASH", "20.00"), ("CHANGE", "5.90")],
            "14.10",
            id="cash-minus-change-confirms",
        ),
        pytest.param([("ITEM", "AMOUNT"), ("COFFEE", "4.50"), ("CAKE", "9.00")], "9.00", id="amount-heading-yields"),
    ],
)
def test_total_chooser(rows: list[tuple[str, ...]], total: str) -> None:
    assert total_of(rows) == total


def test_total_read_beside_its_label_when_the_value_was_not_detected() -> None:
    rows = [("TOTAL", "33.92"), ("ROUNDING ADJ", "-0.02"), ("TOTAL ROUNDED",), ("CASH",), ("CHANGE", "16.10")]
    assert total_of(rows) == "33.92"  # the lines alone: the rounded total was never read
    reader = FakeReader(beside={"TOTAL ROUNDED": "RM 33.90", "CASH": ": 50.00"})
    assert total_of(rows, reader) == "33.90"
    assert ("beside", "TOTAL ROUNDED") in reader.asked


def test_total_reread_under_the_amount_grammar() -> None:
    rows = [("SUB TOTAL", "8.90"), ("total RM 14-10",), ("CASH RM 20.00",), ("CHANGE RM 5.90",)]
    assert total_of(rows) == "8.90"  # 14-10 is no amount
    assert total_of(rows, FakeReader(rereads={"total RM 14-10": "total RM 14.10"})) == "14.10"


def test_a_reread_whose_digits_are_unsure_is_not_taken() -> None:
    assert sure_value(rec("RM 33.90")) == "33.90"
    assert sure_value(rec("RM 33.90", [0.1, 0.1, 0.1, 0.9, 0.9, 0.05, 0.9, 0.9])) == "33.90"  # separator unjudged
    assert sure_value(rec("RM 33.90", [0.9, 0.9, 0.9, 0.9, 0.2, 0.9, 0.9, 0.9])) is None
    assert sure_value(rec("RM")) is None
    assert sure_value(None) is None


@pytest.mark.parametrize(
    ("lines", "date"),
    [
        pytest.param(["9090822 1X 4.50 1.4.50", "18-11-18 13:58 SH01 T2"], "2018-11-18", id="a-price-is-no-date"),
        pytest.param(["Doc 12/01/2019", "Date: 25/12/2018"], "2018-12-25", id="labelled-first"),
        pytest.param(["REF 01.02.19", "25 DEC 2018 8:13 PM"], "2018-12-25", id="beside-a-time"),
    ],
)
def test_date_chooser(lines: list[str], date: str) -> None:
    got = {f.name: f.value for f in find_fields(analyse([cell(t, 10, 40 * i) for i, t in enumerate(lines)]))}
    assert got["date"] == date


# ---- grammars on frame probabilities ---------------------------------------------------------

CS = Charset(tuple("0123456789.,-RMTOAL :"))


def frames(*columns: dict[str, float]) -> np.ndarray:
    """[T, C] probabilities, one frame per dict (character -> probability; the rest to the blank)."""
    out = np.zeros((len(columns), CS.num_classes))
    for t, col in enumerate(columns):
        for ch, p in col.items():
            out[t, CS.encode(ch)[0]] = p
        out[t, BLANK_INDEX] = 1.0 - sum(col.values())
    return out


def spell(text: str, **second: tuple[str, float]) -> np.ndarray:
    """Frames spelling ``text`` (a blank between characters), with a runner-up character at some."""
    cols: list[dict[str, float]] = []
    for i, ch in enumerate(text):
        alt = second.get(f"at{i}")
        cols.append({ch: 0.55, alt[0]: alt[1]} if alt else {ch: 0.9})
        cols.append({})
    return frames(*cols)


def test_amount_grammar_puts_a_faint_point_back() -> None:
    probs = spell("TOTAL RM 14-10", at11=(".", 0.4))
    got = grammar_decode(probs, CS, compile_pattern(AMOUNT_AT_END, CS))
    assert got.text == "TOTAL RM 14.10"
    beside = grammar_decode(spell(": 8O 90", at3=("0", 0.3), at4=(".", 0.2)), CS, compile_pattern(AMOUNT_BESIDE, CS))
    assert beside.text.endswith("80.90")


# ---- with the shipped recognizer -------------------------------------------------------------


def test_read_beside_finds_an_amount_the_detector_missed(shipped_ocr: OCR) -> None:
    page, boxes = render_page(
        ["TOTAL ROUNDED", "RM 33.90", "CASH", "RM 50.00", "THANK YOU FOR SHOPPING", "COME AGAIN"], columns=2
    )
    # the detector found the labels and the footer (reaching the right edge), not the amounts
    kept = [0, 2, 4, 5]
    found = [Box.from_rect(x - 3, y - 3, w + 6, h + 6) for x, y, w, h in boxes]
    crops = [line_crop(page, found[i], False) for i in kept]
    recognizer = shipped_ocr.recognizer
    probs = recognizer.probabilities(crops)
    lines = [Line(recognizer.recognize([c])[0].text, 0.9, found[i]) for c, i in zip(crops, kept)]
    reader = PageReader.of(recognizer, page, lines, [found[i] for i in kept], probs, lambda b: b)
    got = reader.read_beside(lines[0], AMOUNT_BESIDE)
    assert got is not None and sure_value(got[0]) == "33.90"
    assert got[1].bounds[0] >= found[0].bounds[2] - 10  # the strip lies right of the label
    got = reader.read_beside(lines[1], AMOUNT_BESIDE)
    assert got is not None and sure_value(got[0]) == "50.00"


@pytest.mark.parametrize(
    ("seed", "names"),
    [
        (1, ("buyer_tax_id", "seller_tax_id", "total_in_words")),  # an id read with O for 0; 壹 read as 登
        (25, ("total_in_words",)),  # 叁 read as 参, 仟 as 任
        (47, ("seller_name",)),  # 厦门 read as 厦内
    ],
)
def test_invoice_values_reread_under_their_grammar(shipped_ocr: OCR, seed: int, names: tuple[str, ...]) -> None:
    inv = invoice(seed)
    page = shipped_ocr(inv.image, OCROptions(fields=True))  # the default decoding: beam + LM
    got = {f.name: f for f in page.fields}
    for name in names:
        expected = inv.truth["total"] if name == "total_in_words" else inv.truth[name]
        assert got[name].value == expected, name
        assert got[name].valid is not False


@pytest.mark.parametrize("name", ["南方航空有限公司", "天成科技有限公司", "大华技术股份有限公司"])
def test_a_name_whose_trade_name_comes_first_is_not_made_a_place(shipped_ocr: OCR, name: str) -> None:
    # 南方 is one character from 南宁, 天成 from 天水, 大华 from 大连: the frames, not the list, decide
    from crnn_ocr.field_rows import Cell
    from crnn_ocr.invoice import _reread_name
    from render import render_line

    text = "名称：" + name
    image = render_line(text, size=24)
    box = Box.from_rect(0, 0, image.shape[1], image.shape[0])
    recognizer = shipped_ocr.recognizer
    probs = recognizer.probabilities([image])
    read = recognizer.recognize([image])[0]
    assert read.text == text
    line = Line(read.text, read.confidence, box, read.chars)
    reader = PageReader.of(recognizer, image, [line], [box], probs, lambda b: b)
    assert _reread_name(reader, Cell(text, line), 3) is None
