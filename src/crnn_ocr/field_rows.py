"""Rows of cells for the fields step (``crnn_ocr.fields``): the page's rows with normalised text,
and the pieces the receipt and invoice readers share (a value found beside its label, a Field
made from the cells it was read from)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rapidfuzz.distance import Levenshtein

from crnn_ocr.types import Block, Box, Field, Line


@dataclass(frozen=True)
class Cell:
    """One line of a row, its text normalised (NFKC: full-width colons and digits made ASCII)."""

    text: str
    line: Line


Cells = tuple[Cell, ...]


def norm_text(text: str) -> str:
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


def row_text(row: Cells) -> str:
    return " ".join(c.text for c in row)


def make_field(name: str, value: str, text: str, cells: Sequence[Cell], valid: bool | None = None, check: str = "") -> Field:
    lines = [c.line for c in cells]
    box = Box.union([line.box for line in lines]) if lines else None
    confidence = min((line.confidence for line in lines), default=0.0)
    return Field(name, value, text, box, confidence, valid, check)


def rows_of(blocks: Sequence[Block]) -> list[Cells]:
    """The rows of ``blocks`` in reading order, each line a Cell with its text normalised."""
    return [tuple(Cell(norm_text(line.text), line) for line in row.lines) for block in blocks for row in block.rows]


def with_verdict(field: Field, valid: bool | None, check: str) -> Field:
    """``field`` with its validator's verdict."""
    return replace(field, valid=valid, check=check)


@dataclass(frozen=True)
class Found:
    """A value found beside its label."""

    text: str  # the value as printed
    cells: tuple[Cell, ...]


def after_label(rows: Sequence[Cells], label: re.Pattern[str], value: re.Pattern[str], start: int = 0) -> tuple[int, Found] | None:
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
                rest.append((row_text(rows[i + 1]), rows[i + 1]))
            for text, cells in rest:
                text = NUMBER_SIGN.sub("", text.lstrip(" :"))
                v = value.search(text)
                if v is not None and v.start() <= 2:
                    return i, Found(v.group(0).strip(), cells)
                if text.strip(" :"):
                    break
    return None


COLON = r"\s*[:：]?\s*"
NUMBER_SIGN = re.compile(r"^(?:No\.?|NO\.?|№|#)\s*(?=\d)")
