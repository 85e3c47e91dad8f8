"""Validators of document fields: pure functions of strings, no OCR, used by ``crnn_ocr.fields``.

- ``parse_date``: a date in the common printed forms (25/12/2018, 12-01-19, 2018-12-25,
  25.12.2018, 25 Dec 2018, Dec 25, 2018, 2018年12月25日) -> ``datetime.date``; day first when
  both readings are possible (as everywhere but the US), years of two digits in 1970..2069.
- ``parse_amount``: a printed amount (RM 1,234.50, ¥1234.5, -3.00) -> ``Decimal``.
- ``amount_in_words`` / ``parse_amount_words``: an amount as Chinese financial numerals (大写:
  壹仟贰佰叁拾肆圆伍角整) and back.
- ``uscc_check_char``: the check character of an 18-character unified social credit code
  (统一社会信用代码, GB 32100-2015), the taxpayer id on Chinese invoices.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for m in names
}
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"

#: Date patterns, each with named groups d, m (number or month name) and y.
DATE_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"(?<!\d)(?P<y>(?:19|20)\d\d)\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日",
        r"(?<![\d.])(?P<y>(?:19|20)\d\d)[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})(?![\d.])",
        r"(?<![\d.])(?P<d>\d{1,2})(?P<sep>[-/.])(?P<m>\d{1,2})(?P=sep)(?P<y>(?:19|20)?\d\d)(?![\d.])",
        r"(?<![\d])(?P<d>\d{1,2})[\s\-/.]*(?P<m>" + _MONTH + r")[\s\-/.,]*(?P<y>(?:19|20)?\d\d)(?!\d)",
        r"(?<![a-z])(?P<m>" + _MONTH + r")[\s\-/.]*(?P<d>\d{1,2})(?:st|nd|rd|th)?[\s,\-/.]+(?P<y>(?:19|20)\d\d)(?!\d)",
    )
)


def find_dates(text: str) -> list[tuple[str, dt.date]]:
    """Every date printed in ``text``: (the text as printed, the date), left to right."""
    found: list[tuple[int, str, dt.date]] = []
    taken: list[tuple[int, int]] = []
    for pattern in DATE_PATTERNS:
        for m in pattern.finditer(text):
            if any(m.start() < b and a < m.end() for a, b in taken):
                continue
            date = _date_of(m.group("y"), m.group("m"), m.group("d"))
            if date is not None:
                found.append((m.start(), m.group(0).strip(), date))
                taken.append((m.start(), m.end()))
    return [(t, d) for _, t, d in sorted(found)]


def parse_date(text: str) -> dt.date | None:
    """The date ``text`` is (see the module docstring), or None if it is none."""
    dates = find_dates(text)
    return dates[0][1] if len(dates) == 1 and dates[0][0] == text.strip() else None


def _date_of(year: str, month: str, day: str) -> dt.date | None:
    y = int(year)
    if y < 100:
        y += 2000 if y < 70 else 1900
    m = MONTHS.get(month.lower()) if month.isalpha() else int(month)
    d = int(day)
    if m is None:
        return None
    if month.isdigit() and m > 12 and d <= 12:  # month first (US): 12/28/2017
        m, d = d, m
    try:
        return dt.date(y, m, d)
    except ValueError:
        return None


AMOUNT_RE = re.compile(
    r"(?<![\d.,])(-?\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|-?\d+\.\d{2}|-?\d+\.\d(?!\d)|-?\d+,\d{2})(?![\d,]*\d)"
)


def find_amounts(text: str) -> list[tuple[str, Decimal]]:
    """Every amount with decimals printed in ``text`` (1,234.50; 9.00; 3.5): (as printed, value)."""
    out = []
    for m in AMOUNT_RE.finditer(text):
        value = parse_amount(m.group(1))
        if value is not None:
            out.append((m.group(1), value))
    return out


def parse_amount(text: str) -> Decimal | None:
    """``text`` as an amount (currency signs and thousands separators dropped), or None."""
    cleaned = re.sub(r"(?i)^\s*(?:rm|myr|usd|rmb|cny|\$|¥|￥)\s*", "", text.strip())
    cleaned = re.sub(r",(\d\d)$", r".\1", cleaned).replace(",", "")  # 55,90: a decimal comma
    if not re.fullmatch(r"-?\d+(?:\.\d+)?", cleaned):
        return None
    try:
        return Decimal(cleaned)
    except InvalidOperation:
        return None


def money(value: Decimal) -> str:
    """``value`` with two decimals: "1234.50"."""
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


# ---- 大写 amounts ------------------------------------------------------------------------------

DIGITS = "零壹贰叁肆伍陆柒捌玖"
_DIGIT_VALUE = {c: i for i, c in enumerate(DIGITS)} | {"两": 2, "〇": 0}
_UNITS = {"拾": 10, "佰": 100, "仟": 1000}
_SECTION_UNITS = ("", "万", "亿", "万亿")


def amount_in_words(value: Decimal) -> str:
    """``value`` (0 <= value < 10^16) as Chinese financial numerals: 1394.42 -> 壹仟叁佰玖拾肆圆肆角贰分,
    100 -> 壹佰圆整, 0.5 -> 伍角整."""
    cents = int((value * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    if cents < 0 or cents >= 10**18:
        raise ValueError(f"amount {value} is out of range for words")
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    out = _integer_words(yuan) + "圆" if yuan else ""
    if jiao:
        out += DIGITS[jiao] + "角"
    elif yuan and fen:
        out += "零"
    if fen:
        out += DIGITS[fen] + "分"
    if not fen:
        out += "整"
    return out if cents else "零圆整"


def _integer_words(n: int) -> str:
    sections = []
    while n:
        sections.append(n % 10000)
        n //= 10000
    out = ""
    zero = False  # a zero is owed before the next digit
    for i in range(len(sections) - 1, -1, -1):
        section = sections[i]
        if section == 0:
            zero = bool(out)
            continue
        if out and section < 1000:
            zero = True
        for place, unit in ((1000, "仟"), (100, "佰"), (10, "拾"), (1, "")):
            digit = section // place % 10
            if digit == 0:
                zero = zero or bool(out)
                continue
            if zero and out:
                out += "零"
            out += DIGITS[digit] + unit
            zero = False
        out += _SECTION_UNITS[i]
        zero = False
    return out


def parse_amount_words(text: str) -> Decimal | None:
    """Chinese financial numerals (大写, see ``amount_in_words``) -> the amount; None when ``text``
    is not one. Tolerates a leading 人民币 or ⊗ and 元 for 圆."""
    s = re.sub(r"\s", "", text).lstrip("⊗⨂○Ⓧ×(（人民币)）:：")
    s = s.replace("元", "圆").rstrip("整正")
    if not s or any(c not in _DIGIT_VALUE and c not in _UNITS and c not in "万亿圆角分" for c in s):
        return None
    integer, _, fraction = s.rpartition("圆") if "圆" in s else ("", "", s)
    try:
        yuan = _parse_integer(integer)
        jiao = fen = 0
        m = re.fullmatch(r"(?:零)?(?:([零壹贰叁肆伍陆柒捌玖])角)?(?:零)?(?:([零壹贰叁肆伍陆柒捌玖])分)?", fraction)
        if m is None:
            return None
        jiao = _DIGIT_VALUE[m.group(1)] if m.group(1) else 0
        fen = _DIGIT_VALUE[m.group(2)] if m.group(2) else 0
    except ValueError:
        return None
    if not integer and not fraction:
        return None
    return Decimal(yuan) + Decimal(jiao) / 10 + Decimal(fen) / 100


def _parse_integer(s: str) -> int:
    total = section = number = 0
    last_unit = 10**5
    for ch in s:
        if ch in _DIGIT_VALUE:
            number = _DIGIT_VALUE[ch]
        elif ch in _UNITS:
            unit = _UNITS[ch]
            if (unit >= last_unit and section) or (number == 0 and not (unit == 10 and section == 0)):
                raise ValueError(f"unit {ch} out of order or without a numeral in {s!r}")
            section += (number or (1 if unit == 10 and not section else 0)) * unit
            number, last_unit = 0, unit
        elif ch == "万":
            total += (section + number) * 10**4
            section = number = 0
            last_unit = 10**5
        elif ch == "亿":
            total = (total + section + number) * 10**8
            section = number = 0
            last_unit = 10**5
        else:
            raise ValueError(f"not a numeral: {ch!r}")
    return total + section + number


# ---- unified social credit code ----------------------------------------------------------------

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, Z, S, V
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
USCC_RE = re.compile(r"[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}")


def uscc_check_char(code17: str) -> str:
    """The 18th (check) character of a unified social credit code from its first 17."""
    if len(code17) != 17 or any(c not in USCC_CHARS for c in code17):
        raise ValueError(f"{code17!r} is not the first 17 characters of a unified social credit code")
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(code17, USCC_WEIGHTS))
    return USCC_CHARS[(31 - total % 31) % 31]


def check_tax_id(text: str) -> tuple[bool, str]:
    """Whether ``text`` is a valid taxpayer id: an 18-character unified social credit code with
    the right check character, or an old 15- or 20-character id (length only); and why not."""
    code = text.strip().upper()
    if len(code) == 18:
        if not USCC_RE.fullmatch(code):
            return False, "18 characters, but not all from the credit-code alphabet"
        expected = uscc_check_char(code[:17])
        if code[17] != expected:
            return False, f"check character is {code[17]}, expected {expected}"
        return True, "check character matches"
    if len(code) in (15, 20) and code.isalnum():
        return True, f"{len(code)}-character taxpayer id (no check character)"
    return False, f"{len(code)} characters; a taxpayer id has 18 (or 15 or 20)"
