"""Layout read off a page's lines: rows, paragraphs and columns in reading order; words.

The pipeline's layout stage (``analyse``) sets ``Page.blocks`` and puts ``Page.lines`` in their
reading order; the writers (``crnn_ocr.formats``, ``crnn_ocr.searchable_pdf``) share them through
``page_blocks``, so the text, hOCR, ALTO and PDF outputs of one Page agree on blocks and words.

Everything is decided in the text's own frame: x along the lines' reading direction (the median
direction of their boxes' top edges), y across it. A page turned by 90 degrees, and vertical
Chinese columns (whose boxes run down the page, the next column to the left), are laid out as an
upright page is.

1. Columns (``find_gutter``): a vertical strip at least ``gutter_h`` line heights wide that almost no
   line crosses, with at least ``min_column_lines`` lines on each side, each side at least ``min_column_share`` of the
   region's width and filled by its lines (median line width at least ``min_fill`` of the side's
   width: text columns, not a label column beside a column of prices). Lines crossing the gutter
   (a title, a footer) cut the region into bands; each band is read left column first, then the
   right one, each side laid out again in the same way (three columns: twice).
2. Rows (``group_rows``): lines overlapping vertically by at least ``row_overlap`` of the smaller
   height, left to right: a label and its value, the cells of a table row.
3. Paragraphs: consecutive rows stay in one block while the next starts within ``max_gap_h`` line
   heights below the previous, overlaps it horizontally, and has a similar height
   (``max_height_ratio``).

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

from crnn_ocr.ctc import geometric_mean
from crnn_ocr.types import Block, Box, CharConfidence, Line, Page, Row


@dataclass(frozen=True)
class LayoutConfig:
    """Tunables of ``analyse`` (see the module docstring), in line heights and fractions."""

    row_overlap: float = 0.5
    max_gap_h: float = 0.8
    max_height_ratio: float = 1.5
    gutter_h: float = 1.0
    min_column_lines: int = 3
    min_column_share: float = 0.25
    min_fill: float = 0.5
    cross_per_lines: int = 8  # a gutter may be crossed by one line in this many (titles, footers)


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float  # geometric mean of its characters' confidences
    box: Box


Rect = tuple[float, float, float, float]  # x0, y0, x1, y1 in the text's frame


def analyse(lines: Sequence[Line], config: LayoutConfig = LayoutConfig()) -> tuple[Block, ...]:
    """``lines`` as blocks of rows in reading order (see the module docstring)."""
    if not lines:
        return ()
    rects = _frame_rects(lines)
    blocks: list[Block] = []
    for column, region in _regions(list(range(len(lines))), rects, config, 0):
        for rows in _paragraphs(group_rows(region, rects, config.row_overlap), rects, config):
            blocks.append(Block(tuple(Row(tuple(lines[i] for i in row)) for row in rows), column))
    return tuple(blocks)


def page_blocks(page: Page) -> tuple[Block, ...]:
    """The page's blocks: ``page.blocks``, or (a hand-made Page) its lines analysed."""
    return page.blocks if page.blocks or not page.lines else analyse(page.lines)


def in_reading_order(lines: Sequence[Line], config: LayoutConfig = LayoutConfig()) -> tuple[tuple[Line, ...], tuple[Block, ...]]:
    """The lines in reading order and their blocks (the pipeline's layout stage)."""
    blocks = analyse(lines, config)
    return tuple(line for block in blocks for line in block.lines), blocks


def _frame_rects(lines: Sequence[Line]) -> list[Rect]:
    """Each line's rectangle in the text's frame: x along the median reading direction of the
    lines' top edges, y across it (down the page for upright text). x spans the box; y is the
    box's own height (its left and right edges, averaged) about its centre, so a long line standing
    a little askew does not reach into the rows above and below it."""
    pts = np.array([line.box.points for line in lines], dtype=np.float64)  # [n, 4, 2]
    direction = np.median(pts[:, 1] - pts[:, 0], axis=0)
    norm = float(np.hypot(*direction))
    u = direction / norm if norm > 0 else np.array([1.0, 0.0])
    v = np.array([-u[1], u[0]])
    xs, ys = pts @ u, pts @ v  # [n, 4]
    height = (np.abs(ys[:, 3] - ys[:, 0]) + np.abs(ys[:, 2] - ys[:, 1])) / 2
    centre = ys.mean(axis=1)
    return [
        (float(a), float(c - h / 2), float(b), float(c + h / 2))
        for a, b, c, h in zip(xs.min(1), xs.max(1), centre, height)
    ]


def _height(r: Rect) -> float:
    return r[3] - r[1]


def _regions(idx: list[int], rects: list[Rect], cfg: LayoutConfig, column: int) -> list[tuple[int, list[int]]]:
    """``idx`` cut into (column, lines) regions of one column each, in reading order."""
    gutter = find_gutter([rects[i] for i in idx], cfg)
    if gutter is None:
        return [(column, idx)]
    g0, g1 = gutter
    crossing = sorted((i for i in idx if rects[i][0] < g1 and rects[i][2] > g0), key=lambda i: _mid(rects[i]))
    crossing_set = set(crossing)
    out: list[tuple[int, list[int]]] = []
    top, spanning_open = -math.inf, False
    for cut in [*crossing, None]:
        bottom = math.inf if cut is None else _mid(rects[cut])
        band = [i for i in idx if i not in crossing_set and top <= _mid(rects[i]) < bottom]
        left = [i for i in band if rects[i][2] <= g0]
        right = [i for i in band if rects[i][0] >= g1]
        left_parts = _regions(left, rects, cfg, column) if left else []
        right_column = 1 + max(c for c, _ in left_parts) if left_parts else column
        out += left_parts + (_regions(right, rects, cfg, right_column) if right else [])
        if band:
            spanning_open = False
        if cut is not None:
            if spanning_open:
                out[-1][1].append(cut)
            else:
                out.append((0, [cut]))
            spanning_open, top = True, bottom
    return out


def _mid(r: Rect) -> float:
    return (r[1] + r[3]) / 2


def find_gutter(rects: Sequence[Rect], cfg: LayoutConfig = LayoutConfig()) -> tuple[float, float] | None:
    """The x-interval of the widest gutter between two text columns, or None (see the module
    docstring). A gutter is a strip at least ``gutter_h`` line heights wide between a column on
    each side, crossed by at most two lines or one line in ``cross_per_lines`` (a title or footer
    over both columns)."""
    if len(rects) < 2 * cfg.min_column_lines:
        return None
    x_min, x_max = min(r[0] for r in rects), max(r[2] for r in rects)
    width = x_max - x_min
    h = float(np.median([_height(r) for r in rects]))
    cover = np.zeros(int(math.ceil(width)) + 2, np.int32)  # lines over each pixel column
    for r in rects:
        cover[int(r[0] - x_min) : int(math.ceil(r[2] - x_min))] += 1
    crossing = max(2, len(rects) // cfg.cross_per_lines)
    low = np.flatnonzero(np.diff(np.r_[False, cover[:-1] <= crossing, False].astype(np.int8)))
    found: list[tuple[float, float]] = []
    for a, b in zip(low[::2], low[1::2]):
        if a == 0 or b >= len(cover) - 1:
            continue  # not between lines
        mid = x_min + (a + b) / 2
        across = [r for r in rects if r[0] < mid < r[2]]
        left = [r for r in rects if r[2] <= mid]
        right = [r for r in rects if r[0] >= mid]
        if len(across) > crossing or not _is_column(left, width, cfg) or not _is_column(right, width, cfg):
            continue
        g0, g1 = max(r[2] for r in left), min(r[0] for r in right)
        if g1 - g0 >= cfg.gutter_h * h:
            found.append((g0, g1))
    return max(found, key=lambda g: g[1] - g[0], default=None)


def _is_column(rects: Sequence[Rect], region_width: float, cfg: LayoutConfig) -> bool:
    if len(rects) < cfg.min_column_lines:
        return False
    side = max(r[2] for r in rects) - min(r[0] for r in rects)
    fill = float(np.median([r[2] - r[0] for r in rects]))
    return side >= cfg.min_column_share * region_width and fill >= cfg.min_fill * side


def group_rows(idx: Sequence[int], rects: Sequence[Rect], row_overlap: float = 0.5) -> list[list[int]]:
    """Lines overlapping vertically by >= ``row_overlap`` of the smaller height share a row; rows
    top to bottom, lines left to right within a row."""
    rows: list[list[int]] = []
    for i in sorted(idx, key=lambda i: ((rects[i][1] + rects[i][3]) / 2, rects[i][0])):
        r = rects[i]
        for row in rows:
            top = float(np.median([rects[j][1] for j in row]))
            bottom = float(np.median([rects[j][3] for j in row]))
            if min(bottom, r[3]) - max(top, r[1]) >= row_overlap * min(bottom - top, _height(r)):
                row.append(i)
                break
        else:
            rows.append([i])
    rows.sort(key=lambda row: float(np.mean([(rects[j][1] + rects[j][3]) / 2 for j in row])))
    return [sorted(row, key=lambda j: rects[j][0]) for row in rows]


def _paragraphs(rows: list[list[int]], rects: Sequence[Rect], cfg: LayoutConfig) -> list[list[list[int]]]:
    blocks: list[list[list[int]]] = []
    for row in rows:
        if blocks and _continues(_row_rect(blocks[-1][-1], rects), _row_rect(row, rects), cfg):
            blocks[-1].append(row)
        else:
            blocks.append([row])
    return blocks


def _row_rect(row: list[int], rects: Sequence[Rect]) -> Rect:
    h = float(np.median([_height(rects[i]) for i in row]))
    y0 = float(np.median([rects[i][1] for i in row]))
    return min(rects[i][0] for i in row), y0, max(rects[i][2] for i in row), y0 + h


def _continues(prev: Rect, rect: Rect, cfg: LayoutConfig) -> bool:
    px0, py0, px1, py1 = prev
    x0, y0, x1, y1 = rect
    ph, h = py1 - py0, y1 - y0
    if ph <= 0 or h <= 0 or max(ph, h) / min(ph, h) > cfg.max_height_ratio:
        return False
    gap = y0 - py1
    overlap = min(x1, px1) - max(x0, px0)
    return gap <= cfg.max_gap_h * min(ph, h) and overlap > 0


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
                Word("".join(c.char for c in run), geometric_mean([c.confidence for c in run]), _span(boxes))
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
