"""Fields: the validators (tables of valid and invalid values), extraction from hand-made rows, and
every interface end to end with the shipped model: Python, CLI, HTTP (JSON and multipart), jobs.
The web page's field table is covered in tests/test_server_browser.py."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from render import render_page, to_png_bytes

from crnn_ocr import OCR
from crnn_ocr.cli import main as cli_main
from crnn_ocr.field_rows import canonical_words
from crnn_ocr.fields import find_fields
from crnn_ocr.layout import analyse
from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.types import Box, DecodeOptions, Line, OCROptions
from crnn_ocr.validate import (
    amount_in_words,
    check_tax_id,
    find_amounts,
    find_dates,
    parse_amount_words,
    parse_date,
    uscc_check_char,
)

from benchmarks.synth_invoices import invoice

RECEIPT_LINES = ["KEDAI MAJU TRADING", "DATE: 25/12/2018", "TOTAL: 12.50"]

# ---- validators --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("25/12/2018", dt.date(2018, 12, 25)),
        ("12-01-19", dt.date(2019, 1, 12)),
        ("12/28/2017", dt.date(2017, 12, 28)),  # month first when the day cannot be a month
        ("2018-12-25", dt.date(2018, 12, 25)),
        ("25.12.2018", dt.date(2018, 12, 25)),
        ("18/03/18", dt.date(2018, 3, 18)),
        ("25 Dec 2018", dt.date(2018, 12, 25)),
        ("Dec 25, 2018", dt.date(2018, 12, 25)),
        ("2026年11月20日", dt.date(2026, 11, 20)),
        ("2017 年 05 月 17 日", dt.date(2017, 5, 17)),
        ("31/02/2018", None),  # no such day
        ("13/13/2018", None),
        ("2018-00-10", None),
        ("12.50", None),
        ("1234567890", None),
        ("25/12", None),
    ],
)
def test_dates(text: str, date: dt.date | None) -> None:
    assert parse_date(text) == date


def test_dates_are_found_in_a_line_as_printed() -> None:
    assert find_dates("DATE: 25/12/2018 8:13:39 PM") == [("25/12/2018", dt.date(2018, 12, 25))]
    assert find_dates("TOTAL 12.50 RM") == []


@pytest.mark.parametrize(
    ("text", "amounts"),
    [
        ("TOTAL RM 12.50", ["12.50"]),
        ("Total: ¥1,280.00", ["1280.00"]),
        ("55,90 and 3.5", ["55.90", "3.5"]),
        ("ROUNDING -0.02", ["-0.02"]),
        ("Qty 2 x 100", []),
        ("25/12/2018", []),
        ("TD01167104", []),
    ],
)
def test_amounts(text: str, amounts: list[str]) -> None:
    assert [str(v) for _, v in find_amounts(text)] == amounts


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1394.42", "壹仟叁佰玖拾肆圆肆角贰分"),
        ("100", "壹佰圆整"),
        ("0.50", "伍角整"),
        ("0.05", "伍分"),
        ("10001", "壹万零壹圆整"),
        ("1010.05", "壹仟零壹拾圆零伍分"),
        ("105000", "壹拾万伍仟圆整"),
        ("20000000", "贰仟万圆整"),
        ("100000000", "壹亿圆整"),
        ("3.07", "叁圆零柒分"),
    ],
)
def test_amount_in_words_both_ways(value: str, words: str) -> None:
    assert amount_in_words(Decimal(value)) == words
    assert parse_amount_words(words) == Decimal(value)


@pytest.mark.parametrize(
    ("words", "value"),
    [
        ("⊗壹仟贰佰捌拾元整", "1280"),
        ("人民币叁拾圆正", "30"),
        ("拾圆整", "10"),
        ("壹仟贰佰蔓拾圆", None),  # a character that is no numeral
        ("佰壹仟圆", None),  # units out of order
        ("", None),
    ],
)
def test_amount_words_read(words: str, value: str | None) -> None:
    assert parse_amount_words(words) == (None if value is None else Decimal(value))


@pytest.mark.parametrize(
    ("code", "valid"),
    [
        ("91350100M000100Y43", True),  # a published example code
        ("91350100M000100Y44", False),  # wrong check character
        ("91110108MA01A0BX1Q", uscc_check_char("91110108MA01A0BX1") == "Q"),
        ("9135010OM000100Y43", False),  # O is not in the alphabet
        ("110108700000123", True),  # an old 15-character id: length only
        ("1234567", False),
        ("", False),
    ],
)
def test_taxpayer_ids(code: str, valid: bool) -> None:
    assert check_tax_id(code)[0] is valid


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("T0TAL RM 9.00", "TOTAL RM 9.00"),
        ("TOTAI:", "TOTAL:"),
        ("Tolal Sales", "Total Sales"),
        ("R0UNDING ADJ", "ROUNDING ADJ"),
        ("RM10.00 TOTE BAG", "RM10.00 TOTE BAG"),  # short words and amounts stay
    ],
)
def test_label_words_read_with_an_ocr_slip(text: str, canonical: str) -> None:
    assert canonical_words(text) == canonical


# ---- extraction from rows ----------------------------------------------------------------------


def cell(text: str, x: float, y: float, w: float | None = None) -> Line:
    return Line(text, 0.95, Box.from_rect(x, y, w or 12 * len(text), 24))


def fields_of(lines: list[Line]) -> dict[str, tuple[str, bool | None]]:
    return {f.name: (f.value, f.valid) for f in find_fields(analyse(lines))}


RECEIPT = [
    cell("TAN CHAY YEE", 100, 10),
    cell("ABC HO TRADING", 100, 40),
    cell("(123456-X)", 120, 70),
    cell("NO.2, JALAN HARMONI 3/2,", 60, 100),
    cell("81100 JOHOR BAHRU, JOHOR.", 60, 130),
    cell("TEL: 07-355 2616", 80, 160),
    cell("Date:", 10, 220),
    cell("09/01/2019 8:01 PM", 200, 220),
    cell("Sub Total", 10, 260),
    cell("29.25", 300, 260),
    cell("GST 6%", 10, 290),
    cell("1.75", 300, 290),
    cell("TOTAL AMOUNT:", 10, 320),
    cell("31.00", 300, 320),
    cell("Cash", 10, 350),
    cell("50.00", 300, 350),
    cell("Change", 10, 380),
    cell("19.00", 300, 380),
]


def test_receipt_fields_from_rows() -> None:
    assert fields_of(RECEIPT) == {
        "company": ("ABC HO TRADING", None),
        "address": ("NO.2, JALAN HARMONI 3/2, 81100 JOHOR BAHRU, JOHOR.", None),
        "date": ("2019-01-09", True),
        "total": ("31.00", True),
    }


@pytest.mark.parametrize(
    ("rows", "total", "valid"),
    [
        pytest.param([("SUBTOTAL", "40.00"), ("TOTAL", "42.40")], "42.40", None, id="subtotal-is-not-the-total"),
        pytest.param([("TOTAL", "60.31"), ("GRAND TOTAL", "60.30")], "60.30", None, id="grand-total-wins"),
        pytest.param([("TOTAL QTY", "3"), ("TOTAL", "9.00")], "9.00", None, id="total-qty-skipped"),
        pytest.param(
            [("Total Excl. GST", "8.49"), ("Total Incl. GST", "9.00")], "9.00", None, id="inclusive-over-exclusive"
        ),
        pytest.param([("T0TAL:", "9.00"), ("CASH", "10.00"), ("CHANGE", "1.00")], "9.00", True, id="ocr-slip-cash-change"),
        pytest.param([("TOTAL", "9.00"), ("CASH", "10.00"), ("CHANGE", "2.00")], "9.00", False, id="change-disagrees"),
        pytest.param([("合计", "128.00")], "128.00", None, id="chinese-label"),
    ],
)
def test_receipt_total(rows: list[tuple[str, str]], total: str, valid: bool | None) -> None:
    lines = [cell("SHOP", 10, 0)]
    for i, (label, value) in enumerate(rows):
        lines += [cell(label, 10, 40 + 30 * i), cell(value, 300, 40 + 30 * i)]
    assert fields_of(lines)["total"] == (total, valid)


def test_invoice_fields_from_rows_with_a_bad_check_character_and_words() -> None:
    lines = [
        cell("发票代码：044031900111", 600, 10),
        cell("发票号码：No.12345678", 600, 40),
        cell("开票日期：2023年05月12日", 600, 70),
        cell("校验码：12345 67890 12345 67890", 600, 100),
        cell("名称：上海星海科技有限公司", 80, 150),
        cell("购买方", 10, 180),
        cell("纳税人识别号：91350100M000100Y43", 80, 180),
        cell("合计", 10, 240),
        cell("¥1000.00", 400, 240),
        cell("¥60.00", 600, 240),
        cell("价税合计（大写）", 10, 270),
        cell("⊗壹仟零陆拾圆整", 200, 270),
        cell("（小写）¥1060.00", 600, 270),
        cell("名称：北京华信贸易有限公司", 80, 320),
        cell("销售方", 10, 350),
        cell("纳税人识别号：91350100M000100Y44", 80, 350),
    ]
    assert fields_of(lines) == {
        "invoice_code": ("044031900111", True),
        "invoice_number": ("12345678", True),
        "issue_date": ("2023-05-12", True),
        "check_code": ("12345678901234567890", True),
        "buyer_name": ("上海星海科技有限公司", None),
        "buyer_tax_id": ("91350100M000100Y43", True),
        "seller_name": ("北京华信贸易有限公司", None),
        "seller_tax_id": ("91350100M000100Y44", False),
        "amount": ("1000.00", True),
        "tax": ("60.00", True),
        "total": ("1060.00", True),
        "total_in_words": ("1060.00", True),
    }


@pytest.mark.parametrize(
    ("label", "value", "valid"),
    [
        ("发票号码：1234567", "1234567", False),  # 7 digits
        ("发票号码：12345678901234567890", "12345678901234567890", True),  # a digital invoice's 20
        ("发票代码：0440319001", "0440319001", True),
        ("发票代码：044031900", "044031900", False),
    ],
)
def test_invoice_number_and_code_lengths(label: str, value: str, valid: bool) -> None:
    lines = [cell(label, 10, 10), cell("价税合计 ¥10.00", 10, 50)]
    name = "invoice_number" if "号码" in label else "invoice_code"
    assert fields_of(lines)[name] == (value, valid)


@pytest.mark.parametrize(
    ("words", "figure", "taken"),
    [
        pytest.param("⊗叁万霉叁佰垄拾陆圆柒角贰分", "30336.72", True, id="two-unreadable-numerals"),
        pytest.param("哨肆万伍仟贰佰叁拾登圆肆角叁分", "45231.43", True, id="a-mark-read-as-a-character"),
        pytest.param("叁万零叁佰叁拾陆圆柒角贰分", "30336.72", True, id="read-right"),
        pytest.param("叁万零贰佰霉拾陆圆柒角贰分", "30336.72", False, id="a-numeral-that-contradicts"),
        pytest.param("叁万霉霉霉霉霉霉陆圆柒角贰分", "30336.72", False, id="mostly-unreadable"),
    ],
)
def test_words_misread_are_checked_against_the_figure(words: str, figure: str, taken: bool) -> None:
    lines = [cell("发票号码：12345678", 10, 10), cell(f"价税合计（大写）{words} （小写）¥{figure}", 10, 50)]
    value, valid = fields_of(lines)["total_in_words"]
    assert valid is taken
    assert (value == figure) is taken


def test_amount_and_tax_found_by_adding_up_when_their_label_is_misread() -> None:
    lines = [
        cell("发票号码：12345678", 10, 10),
        cell("合 之", 10, 50),
        cell("¥17100.57", 300, 50),
        cell("¥513.02", 500, 50),
        cell("价税合计（大写）壹万柒仟陆佰壹拾叁圆伍角玖分 （小写）¥17613.59", 10, 90),
    ]
    got = fields_of(lines)
    assert (got["amount"], got["tax"], got["total"]) == (("17100.57", True), ("513.02", True), ("17613.59", True))


def test_amounts_that_do_not_add_up_and_words_that_disagree() -> None:
    lines = [
        cell("发票号码：12345678", 10, 10),
        cell("合计 ¥100.00 ¥6.00", 10, 50),
        cell("价税合计（大写）⊗壹佰零捌圆整 （小写）¥107.00", 10, 90),
    ]
    got = fields_of(lines)
    assert got["total"] == ("107.00", False)
    assert got["total_in_words"] == ("108.00", False)


# ---- the pipeline and its interfaces -----------------------------------------------------------


@pytest.fixture(scope="module")
def receipt_png() -> bytes:
    page, _ = render_page(RECEIPT_LINES)
    return to_png_bytes(page)


def expect_receipt(fields: list[dict]) -> None:
    got = {f["name"]: f for f in fields}
    assert (got["date"]["value"], got["date"]["text"], got["date"]["valid"]) == ("2018-12-25", "25/12/2018", True)
    assert got["total"]["value"] == "12.50" and got["total"]["box"] is not None
    assert got["company"]["value"] == "KEDAI MAJU TRADING"


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_synthetic_invoices_read_exactly(shipped_ocr: OCR, seed: int) -> None:
    inv = invoice(seed)
    # Greedy: the character LM (the default decoding) prefers language over random codes and
    # misreads some 18-character tax ids and 大写 words; this test is about the fields step.
    page = shipped_ocr(inv.image, OCROptions(fields=True, decode=DecodeOptions(method="greedy")))
    got = {f.name: f.value for f in page.fields}
    expected = {**inv.truth, "total_in_words": inv.truth["total"]}
    assert got == expected
    assert all(f.valid is not False for f in page.fields)


def test_python_api_fields_only_when_asked(shipped_ocr: OCR, receipt_png: bytes) -> None:
    assert shipped_ocr(receipt_png).fields == ()
    page = shipped_ocr(receipt_png, OCROptions(fields=True))
    expect_receipt([f.to_dict() for f in page.fields])


def test_cli_fields_json_and_rows(tmp_path: Path, receipt_png: bytes, capsys) -> None:
    path = tmp_path / "receipt.png"
    path.write_bytes(receipt_png)
    assert cli_main(["read", str(path), "--fields", "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    expect_receipt(record["pages"][0]["fields"])
    assert cli_main(["read", str(path), "--fields", "--layout", "rows"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("\n".join(RECEIPT_LINES))
    assert "date: 2018-12-25  [valid" in out and "total: 12.50" in out


@pytest.fixture(scope="module")
def client(shipped_ocr: OCR, tmp_path_factory):
    store = tmp_path_factory.mktemp("fields") / "store.sqlite3"
    with TestClient(create_app(ServerSettings(store_path=store, cache=True), ocr=shipped_ocr)) as c:
        yield c


def test_http_fields_json_and_multipart(client: TestClient, receipt_png: bytes) -> None:
    import base64

    body = {"image_base64": base64.b64encode(receipt_png).decode(), "options": {"fields": True}}
    r = client.post("/api/v1/ocr", json=body)
    assert r.status_code == 200, r.text
    expect_receipt(r.json()["pages"][0]["fields"])
    assert r.json()["pages"][0]["blocks"]
    r = client.post("/ocr", files={"image": ("r.png", receipt_png, "image/png")}, data={"fields": "true"})
    assert r.status_code == 200, r.text
    expect_receipt(r.json()["pages"][0]["fields"])
    plain = client.post("/ocr", files={"image": ("r.png", receipt_png, "image/png")})
    assert plain.json()["pages"][0]["fields"] == []  # not asked for (and not answered from that cache entry)


def test_job_items_carry_fields(client: TestClient, receipt_png: bytes) -> None:
    import base64

    body = {"images": [{"image_base64": base64.b64encode(receipt_png).decode(), "name": "r.png"}], "options": {"fields": True}}
    r = client.post("/api/v1/jobs", json=body)
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 60
    while (job := client.get(r.json()["url"]).json())["status"] != "completed":
        assert time.monotonic() < deadline, job
        time.sleep(0.1)
    expect_receipt(job["items"][0]["result"]["pages"][0]["fields"])
