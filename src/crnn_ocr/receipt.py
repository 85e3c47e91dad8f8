"""Receipt fields (the ICDAR 2019 SROIE task 3 keys) from a page's rows; see ``crnn_ocr.fields``."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal

from crnn_ocr.field_reader import AMOUNT_AT_END, AMOUNT_BESIDE, FieldReader, sure_value
from crnn_ocr.field_rows import Cell, Cells, make_field, norm_text, row_text, with_verdict
from crnn_ocr.types import Field, Line
from crnn_ocr.validate import find_amounts, find_dates, money

RECEIPT_FIELDS = ("company", "date", "address", "total")


TOTAL_EXCLUDED = re.compile(
    r"sub\s*-?\s*total|total\s*(?:qty|quantity|items?|item\s*count|no|disc\w*|sav\w*|tax|gst|sst|vat|"
    r"exc[l1i]\w*|before|tender\w*|paid|units?|pcs|points?|weight|includes?)|exc[l1i]|exclusive|before\s*gst|"
    r"\b(?:tax|gst|sst|vat)\s*total|小计|数量",
    re.IGNORECASE,
)
TOTAL_LABELS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (
        3,
        re.compile(
            r"grand\s*total|net\s*total|nett\s*total|rounded\s*total|total\s*(?:amount\s*)?(?:payable|due)|"
            r"amount\s*(?:payable|due)|total\s*(?:\(?rm\)?\s*)?(?:after|round\w*)|total\b[^0-9]{0,12}\(?\s*inc[l1i]|"
            r"total\s*sales\s*\(?incl\w*|价税合计|应付|实付|实收|总计",
            re.IGNORECASE,
        ),
    ),
    (2, re.compile(r"\btotal\b|\btotal(?=[\d:(])|合\s*计", re.IGNORECASE)),
    (1, re.compile(r"\bamount\b|\bamt\b|金额", re.IGNORECASE)),
)
DATE_LABEL = re.compile(r"date|日期|时间", re.IGNORECASE)
COMPANY_RE = re.compile(
    # legal forms (Malaysian SDN BHD and S/B, Ltd, Inc, 有限公司) and common kinds of shop
    r"\b(?:sdn\.?\s*bh?d|s/b|bhd|berhad|enterprise|trading|co\.?,?\s*ltd|ltd|limited|llc|inc|corp\w*|"
    r"company|restaurant|restoran|cafe|store|stores|mart|market|supermarket|pharmacy|hardware|"
    r"bookstore|stationery|holdings|industries|services|shop|bakery|hotel|perniagaan|kedai)\b|"
    r"有限公司|商店|超市|餐厅|酒店",
    re.IGNORECASE,
)
HEADING_RE = re.compile(
    r"^(?:tax\s*invoice|invoice|receipt|official\s*receipt|cash\s*(?:bill|sales?|receipt)|simplified|"
    r"welcome|thank|copy|original|bill|order|tel|fax|gst|sst)\b",
    re.IGNORECASE,
)
REG_NO_RE = re.compile(
    r"^\(?\s*(?:co\.?\s*)?(?:reg\w*\.?\s*(?:no\.?)?\s*[:.]?\s*)?\(?[0-9]{4,}[-\s]*[a-z]\)?\s*\)?$|"
    r"(?:company|co)\.?\s*(?:reg|no)|roc\s*no|\(\s*\d{4,}.*\)\s*$",
    re.IGNORECASE,
)
ADDRESS_STOP = re.compile(
    r"\b(?:tel|telephone|phone|fax|h/?p|mobile|gst|sst|tax|e-?mail|www|http|invoice|receipt|cashier|"
    r"date|time|bill|counter|table|document|doc\s*no|order|member|served|operator|trans|pos|"
    r"reg\s*no|business\s*no|roc)\b|@|电话|税号",
    re.IGNORECASE,
)
SUBTOTAL_RE = re.compile(r"sub\s*-?\s*total|total\s*(?:\(?rm\)?\s*)?excl\w*|total\s*sales\s*\(?excl|小计", re.IGNORECASE)
TAX_RE = re.compile(r"\b(?:gst|sst|tax|vat|service\s*charge)\b|税额", re.IGNORECASE)
ROUNDING_RE = re.compile(r"round\w*\s*(?:adj\w*)?|adj\w*", re.IGNORECASE)
CASH_RE = re.compile(r"\b(?:cash|tender\w*|paid|payment)\b|现金|实收", re.IGNORECASE)
CHANGE_RE = re.compile(r"\b(?:change|balance)\b|找零|找赎", re.IGNORECASE)


def receipt_fields(rows: Sequence[Cells], reader: FieldReader | None = None) -> tuple[Field, ...]:
    out: list[Field] = []
    company_at = _company_row(rows)
    if company_at is not None:
        cells = list(rows[company_at])
        name = row_text(rows[company_at])
        if _continues_name(name) and company_at + 1 < len(rows):
            company_at += 1
            name += " " + row_text(rows[company_at])
            cells += rows[company_at]
        name = ID_RE.sub("", name).strip().rstrip(";:,").strip()
        out.append(make_field("company", name, name, cells))
        address = _address_rows(rows, company_at + 1)
        if address:
            text = " ".join(row_text(r) for r in address)
            out.append(make_field("address", text, text, [c for r in address for c in r]))
    date = _receipt_date(rows)
    if date is not None:
        out.append(date)
    total = receipt_total(rows, reader)
    if total is not None:
        out.append(total)
    return tuple(out)


def _company_row(rows: Sequence[Cells]) -> int | None:
    top = min(len(rows), max(6, len(rows) // 3))
    for i in range(top):
        text = row_text(rows[i])
        if COMPANY_RE.search(text) and not REG_NO_RE.search(text) and not HEADING_RE.match(text):
            return i
    for i in range(top):
        text = row_text(rows[i])
        letters = [ch for ch in text if ch.isalpha()]
        if (
            len(letters) >= 3
            and sum(ch.isupper() for ch in letters) >= 0.8 * len(letters)
            and not HEADING_RE.match(text)
            and not find_dates(text)
        ):
            return i
    return None


def _continues_name(name: str) -> bool:
    """A business name wrapped onto the next row: it ends with & or -, or leaves a ( open."""
    return name.rstrip().endswith(("&", "-", " AND")) or name.count("(") > name.count(")")


#: A registration or id number standing alone: (JM0517726), 860671-D, (CO. REG : 860671-D).
ID_RE = re.compile(
    r"\(?\s*(?:(?:co\.?|company|br|roc|gst)\s*)?(?:reg\w*\.?|no\.?|id)?\s*(?:no\.?)?\s*[:.]?\s*"
    r"\(?[A-Z]{0,3}\d{6,}(?:\s*-\s*[A-Z])?\s*\)?\s*\)?",
    re.IGNORECASE,
)
PHONE_RE = re.compile(r"\(?\d{2,4}\)?[-\s]?\d{3,4}[-\s]?\d{3,4}")


def _address_rows(rows: Sequence[Cells], start: int) -> list[Cells]:
    out: list[Cells] = []
    for row in rows[start : start + 9]:
        kept = tuple(c for c in row if not ID_RE.fullmatch(c.text.strip()))
        text = row_text(kept)
        if not kept or REG_NO_RE.search(text) and not out:
            continue
        letters = sum(ch.isalpha() for ch in text)
        if (
            ADDRESS_STOP.search(text)
            or find_dates(text)
            or (find_amounts(text) and not out)
            or (PHONE_RE.search(text) and letters < 3)
        ):
            break
        out.append(kept)
        if len(out) == 6:
            break
    return out if any(any(ch.isdigit() for ch in row_text(r)) for r in out) else []


def _receipt_date(rows: Sequence[Cells]) -> Field | None:
    """The receipt's date: of the dates on the page, the best by ``_date_score``, the first of equals."""
    best: tuple[int, Field] | None = None
    for row in rows:
        text = row_text(row)
        for printed, date in find_dates(text):
            score = _date_score(text, printed)
            if best is None or score > best[0]:
                field = make_field("date", date.isoformat(), printed, row, True, f"a calendar date: {date.isoformat()}")
                best = (score, field)
    return None if best is None else best[1]


TIME_RE = re.compile(r"(?<!\d)(?:[01]?\d|2[0-3])\s?:\s?[0-5]\d(?!\d)|\b[AP]M\b", re.IGNORECASE)


def _date_score(text: str, printed: str) -> int:
    """How surely a date printed in a row is the receipt's date: labelled DATE/日期 (+4), with a
    time of day on its row (+2: receipts print the two together), and looking like a date rather
    than an amount misread (+1: a four-digit year, a month name, or - or / between its parts;
    1.4.50 beside prices is likelier a price)."""
    score = 4 if DATE_LABEL.search(text) else 0
    if TIME_RE.search(text.replace(printed, " ")):
        score += 2
    if re.search(r"\d{4}|[a-z]|[-/年]", printed, re.IGNORECASE):
        score += 1
    return score


def receipt_total(rows: Sequence[Cells], reader: FieldReader | None = None) -> Field | None:
    """The receipt's total: the amount of the best-labelled total row (see ``TOTAL_LABELS``; rows of a
    GST/tax summary table count as plain amounts), the one that equals cash - change first; with
    no total row, or only plain AMOUNT rows, the largest amount that is no payment, change or
    tax. ``reader``: the amounts beside a total label are read again under the amount grammar,
    and where no amount was read beside the label the strip right of it is read
    (``crnn_ocr.field_reader``)."""
    summary = next((i for i, row in enumerate(rows) if SUMMARY_RE.search(row_text(row))), len(rows))
    candidates: list[tuple[int, Decimal, Field]] = []
    for i, row in enumerate(rows):
        text = row_text(row)
        if TOTAL_EXCLUDED.search(text):
            continue
        rank = next((rank for rank, pattern in TOTAL_LABELS if pattern.search(text)), 0)
        if rank == 0:
            continue
        if i > summary:  # the total row of a GST summary table: the amount before tax, and its tax
            rank = 1
        found = _amount_after_label(rows, i, reader)
        if found is None:
            continue
        printed, value, cells = found
        if value > 0:
            candidates.append((rank, value, make_field("total", money(value), printed, cells)))
    paid = _paid(rows, reader)
    best = None
    if candidates:
        # cash - change confirms a candidate; then the best label, then the largest amount
        best = max(candidates, key=lambda c: (paid is not None and abs(c[1] - paid) < Decimal("0.005"), c[0], c[1]))
    if best is None or (best[0] <= 1 and (paid is None or abs(best[1] - paid) >= Decimal("0.005"))):
        # no total row, or only a plain AMOUNT (a column heading) or a summary's total: the
        # largest amount that is no payment, change or tax, if larger
        largest = _largest_amount(rows)
        if largest is not None and (best is None or largest[1] > best[1]):
            best = largest
    if best is None:
        return None
    valid, check = _total_adds_up(rows, best[1])
    return with_verdict(best[2], valid, check)


#: The heading of a tax summary table, whose own "Total" row is no receipt total.
SUMMARY_RE = re.compile(r"(?:gst|sst|tax|vat)\s*(?:summary|analysis)", re.IGNORECASE)


def _label_end(text: str) -> int:
    return max((m.end() for _, pattern in TOTAL_LABELS for m in pattern.finditer(text)), default=0)


def _amount_after_label(
    rows: Sequence[Cells], i: int, reader: FieldReader | None, label_end: Callable[[str], int] = _label_end
) -> tuple[str, Decimal, list[Cell]] | None:
    """The largest amount after the label of row ``i`` (as printed, its value, the cells it was
    read from): in the label's line and the later lines of the row (each read again under the
    amount grammar when a ``reader`` is given and it holds digits), else in the strip right of
    the label's line (``reader.read_beside``), else in the next row if that is little more than a number."""
    row = rows[i]
    at = next((j for j, c in enumerate(row) if label_end(c.text) > 0), 0)
    amounts: list[tuple[str, Decimal]] = []
    for j, cell in enumerate(row[at:]):
        after = cell.text[label_end(cell.text) :] if j == 0 else cell.text
        found = find_amounts(after)
        if reader is not None and any(ch.isdigit() for ch in after):
            rec = reader.reread(cell.line, AMOUNT_AT_END)
            if rec is not None and j == 0:  # the label may hold digits too (TOTAL INCL. 6% GST)
                end = label_end(norm_text(rec.text))
                rec = replace(rec, text=rec.text[end:], chars=rec.chars[end:])
            again = sure_value(rec)
            if again is not None:
                found = find_amounts(again)
        amounts += found
    cells = list(row)
    if not amounts and reader is not None:
        beside = reader.read_beside(row[at].line, AMOUNT_BESIDE)
        value = None if beside is None else sure_value(beside[0])
        if beside is not None and value is not None:
            amounts = find_amounts(value)
            rec = beside[0]
            cells.append(Cell(value, Line(value, rec.confidence, beside[1])))
    if not amounts and i + 1 < len(rows) and sum(ch.isalpha() for ch in row_text(rows[i + 1])) <= 3:
        amounts = find_amounts(row_text(rows[i + 1]))
        cells += rows[i + 1]
    if not amounts:
        return None
    printed, value = max(amounts, key=lambda a: a[1])  # the total is the largest amount on its row
    return printed, value, cells


def _paid(rows: Sequence[Cells], reader: FieldReader | None) -> Decimal | None:
    """Cash tendered minus change given, when the page shows both."""
    values = []
    for pattern, exclude in ((CASH_RE, CHANGE_RE), (CHANGE_RE, None)):
        value = None
        for i, row in enumerate(rows):
            text = row_text(row)
            if pattern.search(text) and not (exclude and exclude.search(text)) and not TOTAL_LABELS[1][1].search(text):
                ends = lambda t, p=pattern: max((m.end() for m in p.finditer(t)), default=0)  # noqa: E731
                found = _amount_after_label(rows, i, reader, ends)
                if found is not None:
                    value = found[1]
                    break
        if value is None:
            return None
        values.append(value)
    cash, change = values
    return cash - change if cash > 0 and cash >= change else None


def _largest_amount(rows: Sequence[Cells]) -> tuple[int, Decimal, Field] | None:
    """No labelled total: the largest amount on a row that is not a payment, change or tax."""
    best: tuple[int, Decimal, Field] | None = None
    for row in rows:
        text = row_text(row)
        if CASH_RE.search(text) or CHANGE_RE.search(text) or TAX_RE.search(text):
            continue
        for printed, value in find_amounts(text):
            if best is None or value > best[1]:
                best = (0, value, make_field("total", money(value), printed, row))
    return best


def _labelled_amount(rows: Sequence[Cells], pattern: re.Pattern[str], exclude: re.Pattern[str] | None = None) -> Decimal | None:
    for row in rows:
        text = row_text(row)
        m = pattern.search(text)
        if m and not (exclude and exclude.search(text)):
            amounts = find_amounts(text[m.end() :])
            if amounts:
                return amounts[-1][1]
    return None


def _total_adds_up(rows: Sequence[Cells], total: Decimal) -> tuple[bool | None, str]:
    """Whether the total agrees with subtotal + tax (+ rounding) or cash - change on the page."""
    subtotal = _labelled_amount(rows, SUBTOTAL_RE)
    tax = _labelled_amount(rows, TAX_RE, re.compile(r"incl|excl|total|reg|id\b|no\b", re.IGNORECASE))
    rounding = _labelled_amount(rows, ROUNDING_RE)
    cash = _labelled_amount(rows, CASH_RE)
    change = _labelled_amount(rows, CHANGE_RE)
    checks: list[tuple[bool, str]] = []
    if subtotal is not None:
        extras = [(n, v) for n, v in (("tax", tax), ("rounding", rounding)) if v is not None]
        for parts in ([("subtotal", subtotal)], [("subtotal", subtotal), *extras]):
            s = sum((v for _, v in parts), Decimal(0))
            ok = abs(s - total) < Decimal("0.005")
            if ok or (len(parts) > 1 and parts == [("subtotal", subtotal), *extras]):
                terms = " + ".join(f"{n} {money(v)}" for n, v in parts)
                checks.append((ok, f"{terms} {'=' if ok else '!='} total {money(total)}"))
    if cash is not None and change is not None:
        ok = abs(cash - change - total) < Decimal("0.005")
        checks.append((ok, f"cash {money(cash)} - change {money(change)} {'=' if ok else '!='} total {money(total)}"))
    if not checks:
        return None, "no subtotal, tax, cash or change rows to check it against"
    good = [c for ok, c in checks if ok]
    return (True, good[0]) if good else (False, checks[0][1])
