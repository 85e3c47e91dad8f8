"""The fields step: typed, validated fields read off a page's rows (``crnn_ocr.layout``).

A page whose rows carry Chinese VAT-invoice labels (发票代码, 发票号码, 价税合计, ...) is read as an
invoice, any other as a receipt. Values are found beside their labels: in the same line after the
label ("发票号码: 12345678"), in the next cell of the same row ("DATE:" | "25/12/2018"), or, for a
label standing alone, at the start of the next row.

Receipt fields (the ICDAR 2019 SROIE task 3 keys):
- company: the first of the top rows that names a business (SDN BHD, ENTERPRISE, TRADING, 有限公司,
  ...), else the first top row of capital letters that is not a heading such as "TAX INVOICE";
- address: the rows after it (registration numbers skipped) up to the first telephone, tax,
  invoice or date row, joined by spaces;
- date: the first date on a row labelled DATE/日期, else the first date on the page;
- total: the amount of the best-labelled total row (GRAND/NET/ROUNDED TOTAL, TOTAL INCL., AMOUNT
  DUE, 合计 ... over a plain TOTAL; never SUBTOTAL, TOTAL QTY, TOTAL GST, TOTAL EXCL.); checked
  against subtotal + tax (+ rounding) and cash - change when those rows are there.

Invoice fields: invoice_code (10 or 12 digits), invoice_number (8 or 20), issue_date, check_code
(20 digits), buyer_name and buyer_tax_id (the first 名称/纳税人识别号 on the page, or those after
购买方), seller_name and seller_tax_id (the second, or after 销售方), amount and tax (the 合计 row),
total (价税合计, 小写) and total_in_words (价税合计, 大写); taxpayer ids checked by their check
character, amount + tax against total, the words against the figure.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from rapidfuzz.distance import Levenshtein

from crnn_ocr.types import Block, Box, Field, Line
from crnn_ocr.validate import amount_in_words, check_tax_id, find_amounts, find_dates, money, parse_amount_words

RECEIPT_FIELDS = ("company", "date", "address", "total")
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


@dataclass(frozen=True)
class Cell:
    """One line of a row, its text normalised (NFKC: full-width colons and digits made ASCII)."""

    text: str
    line: Line


Row = tuple[Cell, ...]


def find_fields(blocks: Sequence[Block]) -> tuple[Field, ...]:
    """The typed fields of a page laid out as ``blocks`` (see the module docstring)."""
    rows = [tuple(Cell(_norm(line.text), line) for line in row.lines) for block in blocks for row in block.rows]
    if _is_invoice(rows):
        return invoice_fields(rows)
    return receipt_fields(rows)


def _norm(text: str) -> str:
    """NFKC, and label words read with an OCR slip spelled right (see ``canonical_words``)."""
    return canonical_words(unicodedata.normalize("NFKC", text).replace("￥", "¥"))


#: Label words of receipts; a word of five letters or more one edit away from one of these
#: (digits 0 and 1 read as the letters O and I first) is taken for it: T0TAL, TOTAI, R0UNDING.
LABEL_WORDS = (
    "TOTAL", "ROUNDED", "ROUNDING", "SUBTOTAL", "GRAND", "AMOUNT", "CHANGE", "INCLUSIVE", "INCLUDING",
    "EXCLUSIVE", "EXCLUDING", "ADJUSTMENT", "PAYABLE", "INVOICE", "RECEIPT", "CASHIER", "BALANCE",
    "TENDERED",
)
_WORD = re.compile(r"[A-Za-z01]*[A-Za-z][A-Za-z01]*")


def canonical_words(text: str) -> str:
    """``text`` with each word of 5+ letters one edit from a ``LABEL_WORDS`` entry replaced by it
    (in the word's case: upper, or capitalised otherwise)."""

    def fix(m: re.Match[str]) -> str:
        word = m.group(0)
        if len(word) < 5:
            return word
        upper = word.upper().replace("0", "O").replace("1", "I")
        if upper in LABEL_WORDS:
            return upper if word.isupper() or not word.isalpha() else word
        for label in LABEL_WORDS:
            if abs(len(label) - len(upper)) <= 1 and Levenshtein.distance(upper, label, score_cutoff=1) <= 1:
                return label if word.isupper() or not word.isalpha() else label.capitalize()
        return word

    return _WORD.sub(fix, text)


def _row_text(row: Row) -> str:
    return " ".join(c.text for c in row)


def _field(name: str, value: str, text: str, cells: Sequence[Cell], valid: bool | None = None, check: str = "") -> Field:
    lines = [c.line for c in cells]
    box = Box.union([line.box for line in lines]) if lines else None
    confidence = min((line.confidence for line in lines), default=0.0)
    return Field(name, value, text, box, confidence, valid, check)


# ---- receipts ----------------------------------------------------------------------------------

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
    r"\b(?:sdn\.?\s*bh?d|s/b|bhd|berhad|enterprise|trading|co\.?,?\s*ltd|ltd|limited|llc|inc|corp\w*|"
    r"company|restaurant|restoran|cafe|store|stores|mart|market|hardware|supermarket|pharmacy|"
    r"bookstore|stationery|gallery|holdings|industries|services|marketing|shop|bakery|"
    r"hotel|petro\w*|station|electrical|perniagaan|kedai)\b|有限公司|商店|超市|餐厅|酒店",
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


def receipt_fields(rows: Sequence[Row]) -> tuple[Field, ...]:
    out: list[Field] = []
    company_at = _company_row(rows)
    if company_at is not None:
        cells = list(rows[company_at])
        name = _row_text(rows[company_at])
        if _continues_name(name) and company_at + 1 < len(rows):
            company_at += 1
            name += " " + _row_text(rows[company_at])
            cells += rows[company_at]
        name = ID_RE.sub("", name).strip().rstrip(";:,").strip()
        out.append(_field("company", name, name, cells))
        address = _address_rows(rows, company_at + 1)
        if address:
            text = " ".join(_row_text(r) for r in address)
            out.append(_field("address", text, text, [c for r in address for c in r]))
    date = _receipt_date(rows)
    if date is not None:
        out.append(date)
    total = _receipt_total(rows)
    if total is not None:
        out.append(total)
    return tuple(out)


def _company_row(rows: Sequence[Row]) -> int | None:
    top = min(len(rows), max(6, len(rows) // 3))
    for i in range(top):
        text = _row_text(rows[i])
        if COMPANY_RE.search(text) and not REG_NO_RE.search(text) and not HEADING_RE.match(text):
            return i
    for i in range(top):
        text = _row_text(rows[i])
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


def _address_rows(rows: Sequence[Row], start: int) -> list[Row]:
    out: list[Row] = []
    for row in rows[start : start + 9]:
        kept = tuple(c for c in row if not ID_RE.fullmatch(c.text.strip()))
        text = _row_text(kept)
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
    return out if any(any(ch.isdigit() for ch in _row_text(r)) for r in out) else []


def _receipt_date(rows: Sequence[Row]) -> Field | None:
    first: Field | None = None
    for row in rows:
        dates = find_dates(_row_text(row))
        if not dates:
            continue
        printed, date = dates[0]
        field = _field("date", date.isoformat(), printed, row, True, f"a calendar date: {date.isoformat()}")
        if DATE_LABEL.search(_row_text(row)):
            return field
        first = first or field
    return first


def _receipt_total(rows: Sequence[Row]) -> Field | None:
    best: tuple[int, Decimal, Field] | None = None
    for i, row in enumerate(rows):
        text = _row_text(row)
        if TOTAL_EXCLUDED.search(text):
            continue
        rank = next((rank for rank, pattern in TOTAL_LABELS if pattern.search(text)), 0)
        if rank == 0:
            continue
        label_end = max(m.end() for _, pattern in TOTAL_LABELS for m in pattern.finditer(text))
        amounts = find_amounts(text[label_end:])
        cells = list(row)
        if not amounts and i + 1 < len(rows) and sum(ch.isalpha() for ch in _row_text(rows[i + 1])) <= 3:
            amounts = find_amounts(_row_text(rows[i + 1]))
            cells += rows[i + 1]
        if not amounts:
            continue
        printed, value = amounts[-1]
        if value <= 0:
            continue
        key = (rank, value)
        if best is None or key > best[:2]:
            best = (rank, value, _field("total", money(value), printed, cells))
    if best is None:
        best = _largest_amount(rows)
    if best is None:
        return None
    valid, check = _total_adds_up(rows, best[1])
    return _replace(best[2], valid, check)


def _largest_amount(rows: Sequence[Row]) -> tuple[int, Decimal, Field] | None:
    """No labelled total: the largest amount on a row that is not a payment, change or tax."""
    best: tuple[int, Decimal, Field] | None = None
    for row in rows:
        text = _row_text(row)
        if CASH_RE.search(text) or CHANGE_RE.search(text) or TAX_RE.search(text):
            continue
        for printed, value in find_amounts(text):
            if best is None or value > best[1]:
                best = (0, value, _field("total", money(value), printed, row))
    return best


def _replace(field: Field, valid: bool | None, check: str) -> Field:
    return Field(field.name, field.value, field.text, field.box, field.confidence, valid, check)


def _labelled_amount(rows: Sequence[Row], pattern: re.Pattern[str], exclude: re.Pattern[str] | None = None) -> Decimal | None:
    for row in rows:
        text = _row_text(row)
        m = pattern.search(text)
        if m and not (exclude and exclude.search(text)):
            amounts = find_amounts(text[m.end() :])
            if amounts:
                return amounts[-1][1]
    return None


def _total_adds_up(rows: Sequence[Row], total: Decimal) -> tuple[bool | None, str]:
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


# ---- Chinese VAT invoices ----------------------------------------------------------------------

INVOICE_LABELS = re.compile(r"发票代码|发票号码|开票日期|校验码|价税合计|纳税人识别号")


def _is_invoice(rows: Sequence[Row]) -> bool:
    return len({m.group(0) for row in rows for m in INVOICE_LABELS.finditer(_row_text(row))}) >= 2


@dataclass(frozen=True)
class _Found:
    text: str  # the value as printed
    cells: tuple[Cell, ...]


def _after_label(rows: Sequence[Row], label: re.Pattern[str], value: re.Pattern[str], start: int = 0) -> tuple[int, _Found] | None:
    """The first ``value`` after a ``label`` from row ``start`` on: in the same line, a later line
    of the row, or the next row; (row index, what was found)."""
    for i in range(start, len(rows)):
        row = rows[i]
        for j, cell in enumerate(row):
            m = label.search(cell.text)
            if m is None:
                continue
            rest = [(cell.text[m.end() :], (cell,))] + [(c.text, (c,)) for c in row[j + 1 :]]
            if i + 1 < len(rows):
                rest.append((_row_text(rows[i + 1]), rows[i + 1]))
            for text, cells in rest:
                text = NUMBER_SIGN.sub("", text.lstrip(" :"))
                v = value.search(text)
                if v is not None and v.start() <= 2:
                    return i, _Found(v.group(0).strip(), cells)
                if text.strip(" :"):
                    break
    return None


COLON = r"\s*[:：]?\s*"
NUMBER_SIGN = re.compile(r"^(?:No\.?|NO\.?|№|#)\s*(?=\d)")
DIGITS_RE = re.compile(r"\d[\d ]*\d")
NAME_RE = re.compile(r"[^\s:：][^:：]*[^\s:：]|[^\s:：]")
TAX_ID_RE = re.compile(r"[0-9A-Z]{15,20}")
WORDS_RE = re.compile(r"[零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分整正](?:\s*[零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分整正])+")
SUM_LABEL = re.compile(r"^\W*合\s*[^\d¥]{0,2}?\s*计")  # OCR may read a mark between the spaced 合 计


def invoice_fields(rows: Sequence[Row]) -> tuple[Field, ...]:
    out: list[Field] = []

    def digits(name: str, label: str, lengths: tuple[int, ...], what: str) -> None:
        found = _after_label(rows, re.compile(label + COLON), DIGITS_RE)
        if found is None:
            return
        value = found[1].text.replace(" ", "")
        ok = len(value) in lengths
        check = f"{len(value)} digits" + ("" if ok else f"; {what} has {' or '.join(map(str, lengths))}")
        out.append(_field(name, value, found[1].text, found[1].cells, ok, check))

    digits("invoice_code", "发票代码", (10, 12), "an invoice code")
    digits("invoice_number", "发票号码", (8, 20), "an invoice number")
    found = _after_label(rows, re.compile("开票日期" + COLON), re.compile(r".+"))
    if found is not None:
        dates = find_dates(found[1].text)
        if dates:
            printed, date = dates[0]
            out.append(_field("issue_date", date.isoformat(), printed, found[1].cells, True, "a calendar date"))
        else:
            out.append(_field("issue_date", "", found[1].text, found[1].cells, False, "not a date"))
    digits("check_code", "校验码", (20,), "a check code")
    out += _parties(rows)
    out += _invoice_amounts(rows)
    return tuple(out)


NAME_LABEL = re.compile(r"(?:名\S?\s*)?称\s*[:：]\s*")
ID_LABEL = re.compile(r"(?:纳税人识别号|统一社会信用代码(?:/纳税人识别号)?|识别号)\s*[:：]?\s*")


def _parties(rows: Sequence[Row]) -> list[Field]:
    """Buyer and seller: each label's occurrences on the page, the one nearest the 购买方 (销售方)
    mark for the buyer (seller); without marks, the first for the buyer and the second for the
    seller."""
    marks = {
        "buyer": next((i for i, row in enumerate(rows) if re.search("购买方|购方", _row_text(row))), None),
        "seller": next((i for i, row in enumerate(rows) if re.search("销售方|销方", _row_text(row))), None),
    }
    out: list[Field] = []
    for key, label, pattern in (("name", NAME_LABEL, NAME_RE), ("tax_id", ID_LABEL, TAX_ID_RE)):
        found: list[tuple[int, _Found]] = []
        start = 0
        while (hit := _after_label(rows, label, pattern, start)) is not None:
            found.append(hit)
            start = hit[0] + 1
        chosen: dict[str, tuple[int, _Found]] = {}
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
                out.append(_field(f"{party}_name", hit.text, hit.text, hit.cells))
            else:
                ok, check = check_tax_id(hit.text)
                out.append(_field(f"{party}_tax_id", hit.text, hit.text, hit.cells, ok, check))
    order = {name: i for i, name in enumerate(INVOICE_FIELDS)}
    return sorted(out, key=lambda f: order[f.name])


def _invoice_amounts(rows: Sequence[Row]) -> list[Field]:
    """金额 and 税额 (the 合计 row), 价税合计 in figures (小写; else a receipt-style TOTAL row) and in
    words (大写); amount + tax checked against the total, the words against the figure."""
    found: dict[str, Field] = {}
    words = None
    for row in rows:
        text = _row_text(row)
        if "价税合计" in text:
            words = _words_read(text, row)
            small = text[text.index("小写") :] if "小写" in text else text
            figures = find_amounts(small)
            if figures:
                found["total"] = _field("total", money(figures[-1][1]), figures[-1][0], row)
        elif (label := SUM_LABEL.search(text)) and "amount" not in found:
            figures = find_amounts(text[label.end() :])
            for name, (printed, value) in zip(("amount", "tax"), figures):
                found[name] = _field(name, money(value), printed, row)
    if "total" not in found and (labelled := _receipt_total(rows)) is not None:  # "Total: ¥1,280.00"
        found["total"] = _replace(labelled, None, "")
    if {"amount", "tax", "total"} <= found.keys():
        amount, tax, total = (Decimal(found[k].value) for k in ("amount", "tax", "total"))
        ok = abs(amount + tax - total) < Decimal("0.005")
        check = f"金额 {money(amount)} + 税额 {money(tax)} {'=' if ok else '!='} 价税合计 {money(total)}"
        found = {k: _replace(f, ok, check) for k, f in found.items()}
    out = [found[k] for k in ("amount", "tax", "total") if k in found]
    if words is not None:
        out.append(_words_field(words, Decimal(found["total"].value) if "total" in found else None))
    return out


WORDS_CHARS = "零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分整正"


def _words_read(text: str, row: Row) -> tuple[str, Row] | None:
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


def _words_field(words: tuple[str, Row], total: Decimal | None) -> Field:
    """The words checked against the figure. Words that are no amount (a character misread as a
    non-numeral) yet a character or two off the figure's words are taken as the figure's; words
    that read as another amount are a mismatch."""
    printed, row = words
    value = parse_amount_words(printed)
    if total is None:
        if value is None:
            return _field("total_in_words", "", printed, row, False, "not an amount in words")
        return _field("total_in_words", money(value), printed, row)
    if value is not None and value == total:
        return _field("total_in_words", money(value), printed, row, True, f"{printed} = 价税合计 {money(total)}")
    expected = amount_in_words(total)
    off = Levenshtein.distance(printed, expected)
    if value is None and off <= max(1, len(expected) // 8):  # unreadable, yet close: an OCR slip
        check = f"read {printed}, {off} character(s) off the words of 价税合计 {money(total)}: taken as {expected}"
        return _field("total_in_words", money(total), printed, row, True, check)
    said = "not an amount in words" if value is None else f"{money(value)} != 价税合计 {money(total)}"
    return _field("total_in_words", "" if value is None else money(value), printed, row, False, said)
