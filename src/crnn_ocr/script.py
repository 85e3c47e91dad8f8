"""The page-script rule: on a page read almost entirely in Latin letters, a CJK character the
recognizer is unsure of is far more likely a misread Latin glyph than real Chinese.

The recognizer reads Chinese and English with one output layer, so a blurred "M" can come out as
"沪" or a row of asterisks as a run of rare hanzi. Tesseract avoids this by picking the script
first; we decide per page, after reading it: when at least ``MIN_LATIN_LETTERS`` letters were read
and CJK characters are at most ``MAX_CJK_SHARE`` of the letters and CJK characters together, every
line holding a CJK character read with confidence below ``SURE_CJK`` is decoded again with the CJK
classes removed (CTC decoding under a class mask, like an allowlist). Lines whose CJK characters
are all read with confidence keep them: a Chinese name on an English page stays Chinese.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np

from crnn_ocr.charset import BLANK_INDEX, Charset
from crnn_ocr.types import Recognition

#: Code points from here up are CJK (radicals, CJK punctuation, kana, hanzi, full-width forms).
CJK_START = 0x2E80
MIN_LATIN_LETTERS = 20
MAX_CJK_SHARE = 0.05
SURE_CJK = 0.9


def is_cjk(ch: str) -> bool:
    """CJK, except the full-width forms of ASCII ("：", "５"): those read the same as ASCII."""
    return ord(ch) >= CJK_START and not unicodedata.normalize("NFKC", ch).isascii()


def is_latin_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


def latin_page(recognitions: Sequence[Recognition]) -> bool:
    """Whether the page reads as Latin text with at most a sprinkling of CJK characters."""
    text = "".join(r.text for r in recognitions)
    latin = sum(map(is_latin_letter, text))
    cjk = sum(map(is_cjk, text))
    return latin >= MIN_LATIN_LETTERS and cjk <= MAX_CJK_SHARE * (latin + cjk)


def unsure_cjk(recognition: Recognition) -> bool:
    """Whether the line holds a CJK character read with confidence below ``SURE_CJK``."""
    return any(is_cjk(c.char) and c.confidence < SURE_CJK for c in recognition.chars)


def without_cjk(charset: Charset, mask: np.ndarray | None) -> np.ndarray:
    """``mask`` (None: every class) with the CJK classes removed; the blank is kept."""
    keep = np.ones(charset.num_classes, dtype=bool) if mask is None else np.asarray(mask, dtype=bool).copy()
    for i, ch in enumerate(charset.chars, start=1):
        if is_cjk(ch):
            keep[i] = False
    keep[BLANK_INDEX] = True
    return keep
