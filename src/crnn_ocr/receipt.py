"""Receipt fields (the ICDAR 2019 SROIE task 3 keys) from a page's rows; see ``crnn_ocr.fields``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal

from crnn_ocr.field_rows import Cells, make_field, row_text, with_verdict
from crnn_ocr.types import Field
from crnn_ocr.validate import find_amounts, find_dates, money

RECEIPT_FIELDS = ("company", "date", "address", "total")


TOTAL_EXCLUDED = re.compile(
    r"sub\s*-?\s*total|total\s*(?:qty|quantity|items?|item\s*count|no|disc\w*|sav\w*|tax|gst|sst|vat|"
    r"excl\w*|before|tender\w*|paid|units?|pcs|points?|weight|includes?)|excl|exclusive|before\s*gst|小计|数量",
    re.IGNORECASE,
)
TOTAL_LABELS: tuple[tuple[int, re.Pattern[str]], ...] = (
    (
        3,
        re.compile(
            r"grand\s*total|net\s*total|nett\s*total|rounded\s*total|total\s*(?:amount\s*)?(?:payable|due)|"
            r"amount\s*(?:payable|due)|total\s*(?:\(?rm\)?\s*)?(?:after|incl\w*|inclusive|round\w*)|"
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


def receipt_fields(rows: Sequence[Cells]) -> tuple[Field, ...]:
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
    total = receipt_total(rows)
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
    first: Field | None = None
    for row in rows:
        dates = find_dates(row_text(row))
        if not dates:
            continue
        printed, date = dates[0]
        field = make_field("date", date.isoformat(), printed, row, True, f"a calendar date: {date.isoformat()}")
        if DATE_LABEL.search(row_text(row)):
            return field
        first = first or field
    return first


def receipt_total(rows: Sequence[Cells]) -> Field | None:
    best: tuple[int, Decimal, Field] | None = None
    for i, row in enumerate(rows):
        text = row_text(row)
        if TOTAL_EXCLUDED.search(text):
            continue
        rank = next((rank for rank, pattern in TOTAL_LABELS if pattern.search(text)), 0)
        if rank == 0:
            continue
        label_end = max(m.end() for _, pattern in TOTAL_LABELS for m in pattern.finditer(text))
        amounts = find_amounts(text[label_end:])
        cells = list(row)
        if not amounts and i + 1 < len(rows) and sum(ch.isalpha() for ch in row_text(rows[i + 1])) <= 3:
            amounts = find_amounts(row_text(rows[i + 1]))
            cells += rows[i + 1]
        if not amounts:
            continue
        printed, value = max(amounts, key=lambda a: a[1])  # the total is the largest amount on its row
        if value <= 0:
            continue
        key = (rank, value)
        if best is None or key > best[:2]:
            best = (rank, value, make_field("total", money(value), printed, cells))
    if best is None:
        best = _largest_amount(rows)
    if best is None:
        return None
    valid, check = _total_adds_up(rows, best[1])
    return with_verdict(best[2], valid, check)


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
