"""Chinese VAT invoice (增值税发票) fields from a page's rows; see ``crnn_ocr.fields``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from rapidfuzz.distance import Levenshtein

from crnn_ocr.field_reader import FieldReader
from crnn_ocr.field_rows import COLON, Cell, Cells, Found, after_label, make_field, row_text, with_verdict
from crnn_ocr.places import PLACES
from crnn_ocr.receipt import receipt_total
from crnn_ocr.types import Field
from crnn_ocr.validate import (
    amount_in_words,
    check_tax_id,
    find_amounts,
    find_dates,
    money,
    parse_amount_words,
)

INVOICE_FIELDS = (
    "invoice_code",
    "invoice_number",
    "issue_date",
    "check_code",
    "buyer_name",
    "buyer_tax_id",
    "seller_name",
    "seller_tax_id",
    "amount",
    "tax",
    "total",
    "total_in_words",
)


INVOICE_LABELS = re.compile(r"发票代码|发票号码|开票日期|校验码|价税合计|纳税人识别号")


def is_invoice(rows: Sequence[Cells]) -> bool:
    """Whether the rows carry two or more different VAT-invoice labels."""
    return len({m.group(0) for row in rows for m in INVOICE_LABELS.finditer(row_text(row))}) >= 2


DIGITS_RE = re.compile(r"\d[\d ]*\d")
NAME_RE = re.compile(r"[^\s:：][^:：]*[^\s:：]|[^\s:：]")
TAX_ID_RE = re.compile(r"[0-9A-Z]{15,20}")
SUM_LABEL = re.compile(r"^\W*合\s*[^\d¥]{0,2}?\s*计")  # OCR may read a mark between the spaced 合 计


def invoice_fields(rows: Sequence[Cells], reader: FieldReader | None = None) -> tuple[Field, ...]:
    out: list[Field] = []
    if reader is not None:
        rows = _reread_parties(rows, reader)

    def digits(name: str, label: str, lengths: tuple[int, ...], what: str) -> None:
        found = after_label(rows, re.compile(label + COLON), DIGITS_RE)
        if found is None:
            return
        value = found[1].text.replace(" ", "")
        ok = len(value) in lengths
        check = f"{len(value)} digits" + ("" if ok else f"; {what} has {' or '.join(map(str, lengths))}")
        out.append(make_field(name, value, found[1].text, found[1].cells, ok, check))

    digits("invoice_code", "发票代码", (10, 12), "an invoice code")
    digits("invoice_number", "发票号码", (8, 20), "an invoice number")
    found = after_label(rows, re.compile("开票日期" + COLON), re.compile(r".+"))
    if found is not None:
        dates = find_dates(found[1].text)
        if dates:
            printed, date = dates[0]
            out.append(make_field("issue_date", date.isoformat(), printed, found[1].cells, True, "a calendar date"))
        else:
            out.append(make_field("issue_date", "", found[1].text, found[1].cells, False, "not a date"))
    digits("check_code", "校验码", (20,), "a check code")
    out += _parties(rows)
    out += _invoice_amounts(rows)
    return tuple(out)


NAME_LABEL = re.compile(r"(?:名\S?\s*)?称\s*[:：]\s*")
ID_LABEL = re.compile(r"(?:纳税人识别号|统一社会信用代码(?:/纳税人识别号)?|识别号)\s*[:：]?\s*")


#: A company name starting with a Chinese place (``crnn_ocr.places``): the place, then the rest.
NAME_AT_PLACE = "(" + "|".join(PLACES) + ")[^:：]*"
_PLACE_START = re.compile("|".join(sorted(PLACES, key=len, reverse=True)))


def _reread_parties(rows: Sequence[Cells], reader: FieldReader) -> list[Cells]:
    """``rows`` with the values after 纳税人识别号 and 名称 labels read again under a grammar where
    that changes at most a few characters: a taxpayer id as a unified social credit code (its
    alphabet has no O, I, Z, S or V, and its last character checks the others), a company name as
    starting with a Chinese place (企业名称 = 行政区划 + 字号 + ...) when it starts with none."""
    out = []
    for row in rows:
        cells = []
        for cell in row:
            text = cell.text
            for label, fix in ((ID_LABEL, _reread_tax_id), (NAME_LABEL, _reread_name), (WORDS_START, _reread_words)):
                m = label.search(text)
                if m is not None and len(text) == len(cell.line.text) == len(cell.line.chars):
                    value = fix(reader, cell, m.end())
                    if value is not None:
                        text = text[: m.end()] + value
                    break
            cells.append(Cell(text, cell.line) if text != cell.text else cell)
        out.append(tuple(cells))
    return out


#: Where amounts in words start: after 大写 (and its bracket), or at the start of a line holding
#: three or more numerals of them.
WORDS_START = re.compile(r"^.*?大写\s*[)）]?|^(?=(?:.*[零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分]){3})")
WORDS_GRAMMAR = "[^{0}]{{0,3}}[{0}]+".format("零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分整")


def _reread_words(reader: FieldReader, cell: Cell, start: int) -> str | None:
    """An amount in words read again as Chinese financial numerals (a mark before them allowed):
    numerals misread as look-alikes (登 for 壹, 参 for 叁, 伯 for 佰) come back as numerals."""
    old = cell.text[start:]
    if sum(ch in WORDS_CHARS for ch in old) < 3 or "¥" in old or any(ch.isdigit() for ch in old[3:]):
        return None
    rec = reader.reread(cell.line, WORDS_GRAMMAR, start)
    if rec is None or Levenshtein.distance(rec.text, old) > len(old) // 2:
        return None
    return rec.text


def _reread_tax_id(reader: FieldReader, cell: Cell, start: int) -> str | None:
    old = cell.text[start:].strip()
    if check_tax_id(old)[0]:
        return None
    rec = reader.reread(cell.line, "uscc", start)
    if rec is None or len(rec.text) != 18 or Levenshtein.distance(rec.text, old.upper()) > 3:
        return None
    return rec.text


def _reread_name(reader: FieldReader, cell: Cell, start: int) -> str | None:
    old = cell.text[start:]
    if not old or _PLACE_START.match(old) or not _is_cjk(old[0]):
        return None
    rec = reader.reread(cell.line, NAME_AT_PLACE, start)
    if rec is None or len(rec.text) != len(old) or Levenshtein.distance(rec.text, old) > 1:
        return None
    # the frames must show the place's character a little: a name whose 字号 comes first, cleanly
    # printed (南方航空, 天成科技), gives a place's character (南宁, 天水) 1e-5 or less
    if any(c.char != o and c.confidence < NAME_MIN_CONFIDENCE for c, o in zip(rec.chars, old)):
        return None
    return rec.text


#: The least CTC confidence of a character a place name puts into a company name (``_reread_name``).
NAME_MIN_CONFIDENCE = 1e-3


def _parties(rows: Sequence[Cells]) -> list[Field]:
    """Buyer and seller: each label's occurrences on the page, the one nearest the 购买方 (销售方)
    mark for the buyer (seller); without marks, the first for the buyer and the second for the
    seller."""
    marks = {
        "buyer": next((i for i, row in enumerate(rows) if re.search("购买方|购方", row_text(row))), None),
        "seller": next((i for i, row in enumerate(rows) if re.search("销售方|销方", row_text(row))), None),
    }
    out: list[Field] = []
    for key, label, pattern in (("name", NAME_LABEL, NAME_RE), ("tax_id", ID_LABEL, TAX_ID_RE)):
        found: list[tuple[int, Found]] = []
        start = 0
        while (hit := after_label(rows, label, pattern, start)) is not None:
            found.append(hit)
            start = hit[0] + 1
        chosen: dict[str, tuple[int, Found]] = {}
        for n, party in enumerate(("buyer", "seller")):
            mark = marks[party]
            if mark is not None and found:
                chosen[party] = min(found, key=lambda h: abs(h[0] - mark))  # type: ignore[operator]
            elif n < len(found):
                chosen[party] = found[n]
        if "buyer" in chosen and "seller" in chosen and chosen["buyer"] is chosen["seller"]:
            del chosen["seller" if marks["buyer"] is not None else "buyer"]
        for party, (_, hit) in chosen.items():
            if key == "name":
                out.append(make_field(f"{party}_name", hit.text, hit.text, hit.cells))
            else:
                ok, check = check_tax_id(hit.text)
                out.append(make_field(f"{party}_tax_id", hit.text, hit.text, hit.cells, ok, check))
    order = {name: i for i, name in enumerate(INVOICE_FIELDS)}
    return sorted(out, key=lambda f: order[f.name])


def _invoice_amounts(rows: Sequence[Cells]) -> list[Field]:
    """金额 and 税额 (the 合计 row), 价税合计 in figures (小写; else a receipt-style TOTAL row) and in
    words (大写); amount + tax checked against the total, the words against the figure."""
    found: dict[str, Field] = {}
    words = None
    for row in rows:
        text = row_text(row)
        if "价税合计" in text:
            words = _words_read(text, row)
            small = text[text.index("小写") :] if "小写" in text else text
            figures = find_amounts(small)
            if figures:
                found["total"] = make_field("total", money(figures[-1][1]), figures[-1][0], row)
        elif (label := SUM_LABEL.search(text)) and "amount" not in found:
            figures = find_amounts(text[label.end() :])
            for name, (printed, value) in zip(("amount", "tax"), figures):
                found[name] = make_field(name, money(value), printed, row)
    if "total" not in found and (labelled := receipt_total(rows)) is not None:  # "Total: ¥1,280.00"
        found["total"] = with_verdict(labelled, None, "")
    if "amount" not in found and "total" in found:  # a 合计 label misread: the row whose two amounts add up
        found |= _parts_of(rows, Decimal(found["total"].value))
    if {"amount", "tax", "total"} <= found.keys():
        amount, tax, total = (Decimal(found[k].value) for k in ("amount", "tax", "total"))
        ok = abs(amount + tax - total) < Decimal("0.005")
        check = f"金额 {money(amount)} + 税额 {money(tax)} {'=' if ok else '!='} 价税合计 {money(total)}"
        found = {k: with_verdict(f, ok, check) for k, f in found.items()}
    out = [found[k] for k in ("amount", "tax", "total") if k in found]
    if words is not None:
        out.append(_words_field(words, Decimal(found["total"].value) if "total" in found else None))
    return out


def _parts_of(rows: Sequence[Cells], total: Decimal) -> dict[str, Field]:
    """金额 and 税额 from the first row other than 价税合计's holding two amounts that add up to it."""
    for row in rows:
        text = row_text(row)
        figures = find_amounts(text)
        if "价税合计" in text or len(figures) < 2:
            continue
        for (pa, a), (pt, t) in zip(figures, figures[1:]):
            if abs(a + t - total) < Decimal("0.005"):
                return {"amount": make_field("amount", money(a), pa, row), "tax": make_field("tax", money(t), pt, row)}
    return {}


WORDS_CHARS = "零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分整正"


def _words_read(text: str, row: Cells) -> tuple[str, Cells] | None:
    """The amount in words on the 价税合计 row as read: after 大写 up to 小写 or the figure, from
    its first numeral (or the character just before it, a numeral misread) to its last, spaces
    dropped."""
    m = re.search(r"大写", text)
    rest = text[m.end() :] if m else text[text.index("价税合计") + 4 :]
    rest = re.sub(r"\s", "", re.split(r"小写|¥", rest)[0])
    at = [i for i, ch in enumerate(rest) if ch in WORDS_CHARS]
    if not at:
        return None
    first, last = at[0], at[-1]
    if first > 0 and _is_cjk(rest[first - 1]):
        first -= 1
    return rest[first : last + 1], row


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _words_field(words: tuple[str, Cells], total: Decimal | None) -> Field:
    """The words checked against the figure. Words that are no amount because characters were
    misread as non-numerals, but agree with the figure's words wherever a numeral was read, are
    taken as the figure's (``_agrees_where_readable``); words that read as another amount, or
    contradict the figure's words anywhere, are a mismatch."""
    printed, row = words
    value = parse_amount_words(printed)
    if total is None:
        if value is None:
            return make_field("total_in_words", "", printed, row, False, "not an amount in words")
        return make_field("total_in_words", money(value), printed, row)
    if value is not None and value == total:
        return make_field("total_in_words", money(value), printed, row, True, f"{printed} = 价税合计 {money(total)}")
    expected = amount_in_words(total)
    if value is None and _agrees_where_readable(printed, expected):
        check = f"read {printed}: every numeral read agrees with 价税合计 {money(total)} ({expected})"
        return make_field("total_in_words", money(total), printed, row, True, check)
    said = "not an amount in words" if value is None else f"{money(value)} != 价税合计 {money(total)}"
    return make_field("total_in_words", "" if value is None else money(value), printed, row, False, said)


def _agrees_where_readable(read: str, expected: str) -> bool:
    """Whether ``read`` is ``expected`` with some characters unreadable: aligned character by
    character, every difference is a non-numeral read in a numeral's place (or an extra
    non-numeral, e.g. a mark before the words), at most one numeral is missing, and most of the
    words were read."""
    ops = Levenshtein.editops(read, expected)
    for op in ops:
        if op.tag in ("replace", "delete") and read[op.src_pos] in WORDS_CHARS:
            return False  # a numeral read that contradicts the figure's words
    missing = sum(op.tag == "insert" for op in ops)
    unreadable = sum(op.tag == "replace" for op in ops)
    return missing <= 1 and missing + unreadable <= len(expected) // 3
