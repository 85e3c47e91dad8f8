"""Second reads for the fields step: a line read again under a field grammar, and the page read
beside a label where the detector found no value.

Once the fields step knows what a line should hold (the amount right of TOTAL, say), the
recognizer's frame probabilities for that line are decoded again with a grammar of that field
(``crnn_ocr.grammar``): the best CTC path whose text is, for instance, an amount, so that ``14-10``
or ``64.5O`` read freely comes out as ``14.10`` or ``64.50`` when the frames allow it. Receipts
print their amounts right-aligned, far from their labels, and a detector can miss such a short
isolated number; ``read_beside`` then reads the strip of the page to the right of the label, at
the label's height, with the same grammar.

A reread is kept only when the value's characters are read with some certainty (``sure_value``):
a grammar always finds its best path, even through frames that show no amount at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

from crnn_ocr.detect import crop_box
from crnn_ocr.grammar import Grammar, compile_pattern, grammar_decode
from crnn_ocr.types import Box, Line, Recognition

if TYPE_CHECKING:
    from crnn_ocr.recognize import Recognizer

_AMOUNT = r"-?(\d{1,3}(,\d{3})+|\d+)\.\d\d"
#: Printable ASCII and ¥ (a label, a currency, a mark); the same without digits; and without
#: digits, points, commas and dashes. Classes of a few dozen characters, not the model's
#: thousands: the grammar decode's time grows with its edges.
_TEXT, _NO_DIGIT, _NO_NUMBER = "[ -~¥]", "[ -/:-~¥]", "[ -+/:-~¥]"
#: A line holding an amount at its end (after a label, say): anything, then the amount, then at
#: most three characters that are no digits (a tax code, an asterisk).
AMOUNT_AT_END = rf"({_TEXT}*{_NO_NUMBER})?{_AMOUNT}{_NO_DIGIT}{{0,3}}"
#: The strip beside a label: a colon or currency before the amount, little after it.
AMOUNT_BESIDE = rf"{_NO_DIGIT}{{0,5}}{_AMOUNT}{_NO_DIGIT}{{0,2}}"


class FieldReader(Protocol):
    """What the fields step may ask of the page's recognizer (``crnn_ocr.pipeline``)."""

    def reread(self, line: Line, pattern: str, start: int = 0) -> Recognition | None:
        """``line`` decoded again, keeping only texts ``pattern`` accepts; None: no such read (judge
        it with ``sure_value``). ``start``: only the part of the line after its first ``start``
        characters as read (their CTC frames), a value after its label."""

    def read_beside(
        self, line: Line, pattern: str, value: re.Pattern[str] = ...
    ) -> tuple[Recognition, Box] | None:
        """The strip of the page right of ``line`` (to the right edge of the page's text, at the
        line's height, or a little above or below it) read with ``pattern``: of the reads whose
        ``value`` is sure (``sure_value``), the one whose digits are surest, and the strip's box
        in original-image pixels."""


AMOUNT_VALUE = re.compile(_AMOUNT.replace("(", "(?:"))


def sure_value(rec: Recognition | None, value: re.Pattern[str] = AMOUNT_VALUE, min_confidence: float = 0.5) -> str | None:
    """The last match of ``value`` in a reread's text when each of its digits was read with at least
    ``min_confidence``; None otherwise. Neither what the grammar lets around the value (a stray
    mark, a currency) nor its separators are judged: a decimal point printed faintly is read as a
    space or a dash, and the grammar puts it back where the digits say it belongs."""
    if rec is None or len(rec.chars) != len(rec.text):
        return None
    found = list(value.finditer(rec.text))
    if not found:
        return None
    m = found[-1]
    digits = [c.confidence for c in rec.chars[m.start() : m.end()] if c.char.isdigit()]
    if not digits or min(digits) < min_confidence:
        return None
    return m.group(0)


@dataclass
class PageReader:
    """``FieldReader`` over one page the pipeline read: the prepared image, each line's box in it
    and its frame probabilities (keyed by the Line object), and the map back to the original."""

    recognizer: Recognizer
    image: np.ndarray
    lines: dict[int, tuple[Box, np.ndarray]]  # id(Line) -> (box in the prepared image, probs)
    to_original: Callable[[Box], Box]
    _grammars: dict[str, Grammar] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        recognizer: Recognizer,
        image: np.ndarray,
        lines: Sequence[Line],
        boxes: Sequence[Box],
        probs: Sequence[np.ndarray],
        to_original: Callable[[Box], Box],
    ) -> PageReader:
        return cls(recognizer, image, {id(ln): (b, p) for ln, b, p in zip(lines, boxes, probs)}, to_original)

    def grammar(self, pattern: str) -> Grammar:
        if pattern not in self._grammars:
            self._grammars[pattern] = _compiled(pattern, self.recognizer)
        return self._grammars[pattern]

    def reread(self, line: Line, pattern: str, start: int = 0) -> Recognition | None:
        known = self.lines.get(id(line))
        if known is None:
            return None
        probs = known[1]
        if start > 0:
            if start > len(line.chars) or line.chars[start - 1].frames is None:
                return None
            probs = probs[line.chars[start - 1].frames[1] + 1 :]  # type: ignore[index]
        rec = grammar_decode(probs, self.recognizer.spec.charset, self.grammar(pattern))
        return rec if rec.text else None

    def read_beside(
        self, line: Line, pattern: str, value: re.Pattern[str] = AMOUNT_VALUE
    ) -> tuple[Recognition, Box] | None:
        known = self.lines.get(id(line))
        if known is None:
            return None
        strips = [self._strip_right_of(known[0], shift - BAND_PAD, shift + BAND_PAD) for shift in BAND_SHIFTS]
        if any(strip is None for strip in strips):
            return None
        crops = [crop_box(self.image, strip) for strip in strips]  # type: ignore[arg-type]
        if any(min(crop.shape[:2]) < 4 for crop in crops):
            return None
        best: tuple[float, Recognition, Box] | None = None
        for strip, probs in zip(strips, self.recognizer.probabilities(crops)):
            rec = grammar_decode(probs, self.recognizer.spec.charset, self.grammar(pattern))
            if sure_value(rec, value) is None:
                continue
            score = min(c.confidence for c in rec.chars if c.char.isdigit())
            if best is None or score > best[0]:  # BAND_SHIFTS: nearest first, so ties keep it
                best = (score, rec, strip)  # type: ignore[assignment]
        return None if best is None else (best[1], self.to_original(best[2]))

    def _strip_right_of(self, box: Box, top: float = 0.0, bottom: float = 0.0) -> Box | None:
        """The quadrilateral from ``box``'s right edge along its reading direction to the right
        edge of the page's text (the rightmost line end), from ``top`` line heights off the
        line's top edge to ``bottom`` off its bottom edge (negative: up, for upright text)."""
        p0, p1, p2, p3 = (np.asarray(p, dtype=np.float64) for p in box.points)
        direction = (p1 - p0) + (p2 - p3)
        norm = float(np.hypot(*direction))
        if norm == 0:
            return None
        u = direction / norm
        right = max(float(np.dot(np.asarray(b.points, dtype=np.float64), u).max()) for b, _ in self.lines.values())
        height = (np.linalg.norm(p3 - p0) + np.linalg.norm(p2 - p1)) / 2
        start = max(float(np.dot(p1, u)), float(np.dot(p2, u))) - 0.2 * height  # a little overlap
        reach = right + 0.5 * height - start
        if reach < 1.5 * height:  # no room for an amount
            return None
        v = np.array([-u[1], u[0]])
        a = p1 + u * (start - float(np.dot(p1, u))) + v * (top * height)
        d = p2 + u * (start - float(np.dot(p2, u))) + v * (bottom * height)
        h, w = self.image.shape[:2]
        pts = [a, a + u * reach, d + u * reach, d]
        pts = [(float(np.clip(x, 0, w)), float(np.clip(y, 0, h))) for x, y in pts]
        return Box(tuple(pts))  # type: ignore[arg-type]


#: Where ``read_beside`` looks, across the line in line heights (down for upright text): the
#: line's own band and bands moved a little above and below it (a value printed off the label's
#: baseline, or a label box the detector drew too tall or too short), each ``BAND_PAD`` line
#: heights taller at both edges. The band centred on the printed value reads it surest.
BAND_SHIFTS = (0.0, -0.2, 0.2, -0.4, 0.4)
BAND_PAD = 0.1


def _compiled(pattern: str, recognizer: Recognizer) -> Grammar:
    key = (pattern, id(recognizer.spec.charset))
    if key not in _CACHE:
        _CACHE[key] = compile_pattern(pattern, recognizer.spec.charset)
    return _CACHE[key]


_CACHE: dict[tuple[str, int], Grammar] = {}
