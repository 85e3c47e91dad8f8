"""Layout read off a Page: lines grouped into blocks (paragraphs), lines split into words.

The writers (``crnn_ocr.formats``, ``crnn_ocr.searchable_pdf``) share these, so the text, hOCR,
ALTO and PDF outputs of one Page agree on their blocks and words.

Blocks: consecutive lines in reading order stay in one block while the next line starts below the
previous one within ``max_gap_h`` line heights, overlaps it horizontally, and is of a similar
height (``max_height_ratio``); anything else (a wider gap, a new column, a line beside the
previous one, a heading) starts a new block.

Words: runs of non-space characters. A word's box spans its characters' boxes; without
character boxes (hand-made lines), the line's box is shared out in proportion to character count.
Chinese text without spaces is one word per run, as in the line.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crnn_ocr.types import Box, CharConfidence, Line


@dataclass(frozen=True)
class Block:
    lines: tuple[Line, ...]

    @property
    def box(self) -> Box:
        return union_box([line.box for line in self.lines])

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float  # geometric mean of its characters' confidences
    box: Box


def union_box(boxes: Sequence[Box]) -> Box:
    """The axis-aligned box around ``boxes``."""
    bounds = np.array([b.bounds for b in boxes], dtype=np.float64)
    x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
    x1, y1 = bounds[:, 2].max(), bounds[:, 3].max()
    return Box.from_rect(float(x0), float(y0), float(x1 - x0), float(y1 - y0))


def group_blocks(
    lines: Sequence[Line], max_gap_h: float = 0.8, max_height_ratio: float = 1.5
) -> tuple[Block, ...]:
    """Consecutive lines grouped into blocks (see the module docstring), reading order kept."""
    blocks: list[list[Line]] = []
    for line in lines:
        if blocks and _continues(blocks[-1][-1], line, max_gap_h, max_height_ratio):
            blocks[-1].append(line)
        else:
            blocks.append([line])
    return tuple(Block(tuple(b)) for b in blocks)


def _continues(prev: Line, line: Line, max_gap_h: float, max_height_ratio: float) -> bool:
    px0, py0, px1, py1 = prev.box.bounds
    x0, y0, x1, y1 = line.box.bounds
    ph, h = py1 - py0, y1 - y0
    if ph <= 0 or h <= 0 or max(ph, h) / min(ph, h) > max_height_ratio:
        return False
    gap = y0 - py1
    below = y0 >= py0 + 0.5 * ph  # starts in the lower half of the previous line or further down
    overlap = min(x1, px1) - max(x0, px0)
    return below and gap <= max_gap_h * min(ph, h) and overlap > 0


def line_words(line: Line) -> tuple[Word, ...]:
    """The words of ``line`` with their boxes and confidences (see the module docstring)."""
    chars = line.chars
    if "".join(c.char for c in chars) != line.text or any(c.box is None for c in chars):
        chars = _proportional_chars(line)
    words: list[Word] = []
    run: list[CharConfidence] = []
    for char in (*chars, None):
        if char is not None and not char.char.isspace():
            run.append(char)
            continue
        if run:
            boxes = [c.box for c in run if c.box is not None]
            words.append(
                Word("".join(c.char for c in run), _geometric_mean([c.confidence for c in run]), _span(boxes))
            )
            run = []
    return tuple(words)


def _span(boxes: Sequence[Box]) -> Box:
    """The quadrilateral from the first box's left edge to the last box's right edge."""
    first, last = boxes[0].points, boxes[-1].points
    return Box((first[0], last[1], last[2], first[3]))


def _proportional_chars(line: Line) -> tuple[CharConfidence, ...]:
    """The line's characters with its box shared out evenly (CJK counts as two Latin widths)."""
    text = line.text
    confidences = (
        [c.confidence for c in line.chars] if len(line.chars) == len(text) else [line.confidence] * len(text)
    )
    widths = np.array([2.0 if _is_wide(ch) else 1.0 for ch in text])
    edges = np.r_[0.0, np.cumsum(widths)] / max(widths.sum(), 1e-9)
    p0, p1, p2, p3 = (np.asarray(p, dtype=np.float64) for p in line.box.points)
    out = []
    for ch, conf, t0, t1 in zip(text, confidences, edges[:-1], edges[1:]):
        corners = (p0 + t0 * (p1 - p0), p0 + t1 * (p1 - p0), p3 + t1 * (p2 - p3), p3 + t0 * (p2 - p3))
        out.append(CharConfidence(ch, conf, box=Box(tuple((float(x), float(y)) for x, y in corners))))  # type: ignore[arg-type]
    return tuple(out)


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _geometric_mean(values: Sequence[float]) -> float:
    if not values:
        return 0.0
    return float(math.exp(sum(math.log(max(v, 1e-30)) for v in values) / len(values)))
