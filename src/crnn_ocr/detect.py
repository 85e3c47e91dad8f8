"""Text-line detection: image -> line boxes in reading order, and cropping a box out of an image.

``ClassicalLineDetector`` needs no model. For documents and screenshots:

1. ink mask: adaptive threshold gated by a global one, polarity from the image (light-on-dark
   is inverted first);
2. line height: measured from the ink itself (glyph heights, then glyphs joined into lines), so
   every kernel and size limit below scales with the text, not with the image;
3. graphics (dense regions taller than 4 line heights that do not split into lines) are
   removed, then table rules and underlines (straight runs longer than 3 line heights);
4. a morphological closing about one line height wide joins the glyphs of each line;
5. tall blobs are split at the emptiest rows between line cores (merged lines); specks and
   pieces of pictures (too little paper tone) are dropped; same-row pieces of large text (headings)
   are merged again;
6. boxes are ordered top-to-bottom by rows (vertical overlap), left-to-right within a row, and
   padded by the margins the recognizer was trained with.

Boxes are axis-aligned: straighten rotated pages first (``preprocess.deskew``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from crnn_ocr.preprocess import is_dark_background, odd_size, to_gray
from crnn_ocr.types import Box

Rect = tuple[int, int, int, int]  # x, y, w, h in pixels


@runtime_checkable
class LineDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[Box]:
        """uint8 HxW or HxWx3 BGR -> text-line boxes in reading order, in that image's pixels,
        grown by the margins the recognizer expects around a line."""
        ...

    def detect_text(self, image: np.ndarray) -> list[Box]:
        """The same lines' boxes without those margins (for detection metrics)."""
        ...


class MarginedDetector:
    """``detect`` and ``detect_text`` of a detector that finds text boxes and grows them by the
    recognizer's crop margins: subclasses implement ``_detect(image, margins)``."""

    def detect(self, image: np.ndarray) -> list[Box]:
        """uint8 HxW or HxWx3 BGR -> line boxes (4 points, clockwise from the text's top-left), in
        reading order, grown by the recognizer's crop margins."""
        return self._detect(image, margins=True)

    def detect_text(self, image: np.ndarray) -> list[Box]:
        """Like ``detect``, without the crop margins: the boxes of the text itself (what detection
        metrics compare with ground-truth boxes)."""
        return self._detect(image, margins=False)

    def _detect(self, image: np.ndarray, margins: bool) -> list[Box]:
        raise NotImplementedError


@dataclass(frozen=True)
class DetectorConfig:
    """Tunables of ClassicalLineDetector. Sizes ending in ``_h`` are multiples of the line height."""

    max_side: int = 2500  # larger images are shrunk for detection; boxes are scaled back
    threshold_c: float = 12.0  # grey levels a pixel must be darker than its surroundings to be ink
    join_x_h: float = 1.0  # closing width: bridges word spaces and CJK full-width punctuation
    join_y_h: float = 0.25  # closing height: attaches i-dots and stacked CJK components
    rule_len_h: float = 3.0  # straight runs at least this long are rules, not text
    min_height_h: float = 0.35  # shorter blobs are specks (unless wide)
    split_height_h: float = 1.6  # taller blobs are tried for splitting into lines
    max_height_h: float = 4.0  # taller blobs that do not split are graphics (or dropped)
    graphic_density: float = 0.3  # ... and removed with their surroundings when this dense
    min_paper: float = 0.3  # line crops with less paper-toned area are bits of pictures
    margin_y_h: float = 0.15  # crop margin above and below, x the box's own height
    margin_x_h: float = 0.3  # crop margin left and right, x the box's own height
    row_overlap: float = 0.5  # same row when vertical overlap >= this x the smaller height


class ClassicalLineDetector(MarginedDetector):
    """Morphology + connected components line detector (see the module docstring)."""

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()

    def _detect(self, image: np.ndarray, margins: bool) -> list[Box]:
        cfg = self.config
        gray = to_gray(image)
        scale = min(1.0, cfg.max_side / max(gray.shape))
        if scale < 1.0:
            gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if is_dark_background(gray):
            gray = 255 - gray  # from here on the text is darker than its background

        line_h = estimate_line_height(ink_masks(gray, c=cfg.threshold_c)[0])
        if line_h is None:
            return []
        ink, contrast = ink_masks(gray, c=cfg.threshold_c, block_size=odd_size(2.5 * line_h, 15, 151))
        ink = self._remove_graphics(ink, contrast, line_h)
        ink = remove_rules(ink, round(cfg.rule_len_h * line_h))
        rects = self._line_rects(ink, gray, line_h)
        rects = merge_row_neighbours(rects, cfg.join_x_h)
        rects = reading_order(rects, cfg.row_overlap)

        h, w = image.shape[:2]
        return [self._padded_box(r, 1.0 / scale, w, h, margins) for r in rects]

    def _join(self, mask: np.ndarray, kw: float, kh: float) -> tuple[int, np.ndarray, np.ndarray]:
        """Close ``mask`` with a kw x kh rectangle; its connected components (n, labels, stats)."""
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (max(1, round(kw)), max(1, round(kh))))
        joined = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
        return n, labels, stats

    def _remove_graphics(self, ink: np.ndarray, contrast: np.ndarray, line_h: float) -> np.ndarray:
        """Ink without photos and textured blocks, whose whole rectangles are cleared.

        A graphic is a region of the ``contrast`` mask, closed over gaps of a quarter line height
        only (so text beside it stays apart), taller than ``max_height_h`` line heights, that does
        not split into lines and fills at least ``graphic_density`` of its box (text and ruled
        tables fill far less).
        """
        cfg = self.config
        max_h, pad = cfg.max_height_h * line_h, max(2, round(0.1 * line_h))
        _, labels, stats = self._join(contrast, cfg.join_y_h * line_h, cfg.join_y_h * line_h)
        out = ink.copy()
        for i in np.flatnonzero(stats[:, cv2.CC_STAT_HEIGHT] > max_h):
            if i == 0:
                continue
            x, y, w, h = (int(v) for v in stats[i, :4])
            own = (labels[y : y + h, x : x + w] == i) & (contrast[y : y + h, x : x + w] > 0)
            for px, py, pw, ph in split_rows(own, line_h, cfg.min_height_h, origin=(x, y)):
                dense = own[py - y : py - y + ph, px - x : px - x + pw].mean() >= cfg.graphic_density
                if ph > max_h and dense:
                    # grown a little: a picture's edge pixels can fall apart from its body
                    out[max(0, py - pad) : py + ph + pad, max(0, px - pad) : px + pw + pad] = 0
        return out

    def _line_rects(self, ink: np.ndarray, gray: np.ndarray, line_h: float) -> list[Rect]:
        """Join glyphs into lines; split tall blobs; drop specks and pictures. Rects in ink pixels."""
        cfg = self.config
        n, labels, stats = self._join(ink, cfg.join_x_h * line_h, cfg.join_y_h * line_h)
        rects: list[Rect] = []
        for i in range(1, n):
            x, y, w, h = (int(v) for v in stats[i, :4])
            pieces = [(x, y, w, h)]
            if h > cfg.split_height_h * line_h:
                own_ink = (labels[y : y + h, x : x + w] == i) & (ink[y : y + h, x : x + w] > 0)
                pieces = split_rows(own_ink, line_h, cfg.min_height_h, origin=(x, y))
            for px, py, pw, ph in pieces:
                if ph > cfg.max_height_h * line_h:
                    continue  # a graphic that survived _remove_graphics
                if ph < cfg.min_height_h * line_h and pw < 2 * line_h:
                    continue  # specks, lone punctuation
                my, mx = round(cfg.margin_y_h * ph), round(cfg.margin_x_h * ph)  # the crop to be
                crop = gray[max(0, py - my) : py + ph + my, max(0, px - mx) : px + pw + mx]
                if paper_fraction(crop) < cfg.min_paper:
                    continue  # a piece of a picture: a text crop is mostly paper
                rects.append((px, py, pw, ph))
        return rects

    def _padded_box(self, rect: Rect, scale: float, width: int, height: int, margins: bool = True) -> Box:
        """Rect (detection pixels) -> Box in input pixels (with the recognizer's margins), clipped."""
        x, y, w, h = (v * scale for v in rect)
        mx, my = (self.config.margin_x_h * h, self.config.margin_y_h * h) if margins else (0.0, 0.0)
        x0, y0 = max(0.0, np.floor(x - mx)), max(0.0, np.floor(y - my))
        x1, y1 = min(float(width), np.ceil(x + w + mx)), min(float(height), np.ceil(y + h + my))
        return Box.from_rect(float(x0), float(y0), float(x1 - x0), float(y1 - y0))


# ---- steps (pure functions) --------------------------------------------------------------------


def ink_masks(
    gray: np.ndarray, *, c: float = 12.0, block_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Dark-text-on-light HxW uint8 grey -> (ink, contrast) HxW uint8 masks (255 = set).

    contrast: pixels ``c`` grey levels darker than the mean of their ``block_size`` neighbourhood
    (default: a tenth of the shorter side, 15..101 px); flat areas, however dark, are never set.
    ink: contrast pixels that are also, after a 3x3 blur, darker than halfway between the Otsu
    threshold and the paper level, so that noise on the paper is not ink. Photos are fragmented
    in ``ink`` but solid in ``contrast``, which is what finds them.
    """
    block = block_size if block_size is not None else odd_size(min(gray.shape) / 10, 15, 101)
    contrast = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, c)
    smooth = cv2.GaussianBlur(gray, (3, 3), 0)
    otsu, _ = cv2.threshold(smooth, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    paper = float(np.median(smooth))
    dark = (smooth < (otsu + max(paper, otsu)) / 2.0).astype(np.uint8) * 255
    return cv2.bitwise_and(contrast, dark), contrast


def paper_fraction(patch: np.ndarray) -> float:
    """Share of an HxW grey patch (dark text on light) in the top quarter of its tonal range.

    The range runs from the 5th to the 95th percentile. A text-line crop is mostly paper:
    about 0.8 when sharp, still 0.45 for 12 px CJK text under a 7x7 blur. Pieces of photos and
    gradients sit around 0.1-0.35. A patch without contrast gives 0.0.
    """
    lo, hi = np.percentile(patch, [5, 95])
    if hi - lo < 8:
        return 0.0
    return float(np.count_nonzero(patch >= lo + 0.75 * (hi - lo))) / patch.size


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, cum[-1] / 2.0)])


def estimate_line_height(ink: np.ndarray) -> float | None:
    """Typical text-line ink height in pixels from an ink mask (HxW, 255 = ink); None if no text.

    Glyph pieces give a first character size; with rules removed, joining them horizontally by
    1.5x that size gives whole lines, whose width-weighted median height is the answer.
    """
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    w, h, area = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    glyph = (area >= 4) & (h >= 3) & (w <= 8 * h)
    if not glyph.any():
        return None
    glyph_h = float(np.median(h[glyph]))
    ink = remove_rules(ink, round(5 * glyph_h))  # a page frame would join every line to itself
    k = max(3, round(1.5 * glyph_h))
    joined = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 1)))
    _, _, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    w, h = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    line = h >= max(3.0, 0.5 * glyph_h)
    if not line.any():
        return None
    return max(3.0, _weighted_median(h[line].astype(np.float64), w[line].astype(np.float64)))


def remove_rules(ink: np.ndarray, length: int) -> np.ndarray:
    """Ink mask without straight horizontal or vertical runs of at least ``length`` pixels.

    Table borders, underlines and separators would otherwise glue neighbouring lines together.
    """
    length = max(length, 3)
    horiz = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    vert = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, length)))
    return cv2.bitwise_and(ink, cv2.bitwise_not(cv2.bitwise_or(horiz, vert)))


def split_rows(
    own: np.ndarray,
    line_h: float,
    min_height_h: float = 0.35,
    origin: tuple[int, int] = (0, 0),
    valley: float = 0.1,
) -> list[Rect]:
    """Split a blob (HxW bool mask of its ink) into line rects, in the parent's pixels.

    Rows holding more than ``valley`` x the median ink row are line cores; cores shorter than
    ``min_height_h`` line heights (i-dots, accents) join their nearest core. Consecutive cores
    are cut at the emptiest row between them (the middle one of a tie), so touching descenders and stray specks between
    lines do not stop the split; each piece is trimmed to its ink.
    """
    rows = own.sum(axis=1).astype(np.float64)
    if not rows.any():
        return []
    core = rows > valley * float(np.median(rows[rows > 0]))
    edges = np.flatnonzero(np.diff(np.concatenate([[0], core.astype(np.int8), [0]])))
    runs = [[int(s), int(e)] for s, e in zip(edges[::2], edges[1::2])]
    while len(runs) > 1:
        short = [i for i, (s, e) in enumerate(runs) if e - s < min_height_h * line_h]
        if not short:
            break
        i = short[0]
        gap_up = runs[i][0] - runs[i - 1][1] if i > 0 else np.inf
        gap_down = runs[i + 1][0] - runs[i][1] if i + 1 < len(runs) else np.inf
        j = i - 1 if gap_up <= gap_down else i + 1
        runs[j] = [min(runs[j][0], runs[i][0]), max(runs[j][1], runs[i][1])]
        del runs[i]
    cuts = [0]
    for (_, e), (s, _) in itertools.pairwise(runs):
        lowest = np.flatnonzero(rows[e:s] == rows[e:s].min())
        cuts.append(e + int(lowest[len(lowest) // 2]))
    cuts.append(len(rows))

    ox, oy = origin
    rects: list[Rect] = []
    for a, b in itertools.pairwise(cuts):
        piece = own[a:b]
        ys, xs = np.flatnonzero(piece.any(axis=1)), np.flatnonzero(piece.any(axis=0))
        if len(ys):
            rects.append(
                (ox + int(xs[0]), oy + a + int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1))
            )
    return rects


def merge_row_neighbours(rects: list[Rect], gap_h: float = 1.0, overlap: float = 0.6) -> list[Rect]:
    """Merge rects on one row (vertical overlap >= ``overlap`` x the smaller height) whose
    horizontal gap is at most ``gap_h`` x the smaller height.

    The joining kernel is sized for the typical line; this re-joins the words of larger text
    (headings), whose spaces are wider than that kernel.
    """
    out = list(rects)
    merged = True
    while merged:
        merged = False
        out.sort(key=lambda r: r[0])
        for i, a in enumerate(out):
            for j in range(i + 1, len(out)):
                b = out[j]
                h_min = min(a[3], b[3])
                if b[0] - (a[0] + a[2]) > gap_h * max(a[3], b[3]):
                    break  # sorted by x: every later rect starts even further right
                v_overlap = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
                gap = b[0] - (a[0] + a[2])
                if v_overlap >= overlap * h_min and gap <= gap_h * h_min:
                    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
                    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
                    out[i] = (x0, y0, x1 - x0, y1 - y0)
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return out


def reading_order(rects: list[Rect], row_overlap: float = 0.5) -> list[Rect]:
    """Rows top-to-bottom (rects overlapping vertically by >= row_overlap of the smaller height
    share a row), left-to-right within a row."""
    rows: list[list[Rect]] = []
    for r in sorted(rects, key=lambda r: (r[1] + r[3] / 2, r[0])):
        for row in rows:
            top = float(np.median([q[1] for q in row]))
            bottom = float(np.median([q[1] + q[3] for q in row]))
            overlap = min(bottom, r[1] + r[3]) - max(top, r[1])
            if overlap >= row_overlap * min(bottom - top, r[3]):
                row.append(r)
                break
        else:
            rows.append([r])
    rows.sort(key=lambda row: float(np.mean([q[1] + q[3] / 2 for q in row])))
    return [r for row in rows for r in sorted(row, key=lambda q: q[0])]


# ---- boxes -------------------------------------------------------------------------------------


def whole_image_box(image: np.ndarray) -> Box:
    """The box covering all of ``image`` (no-detect mode: the image is one line)."""
    h, w = image.shape[:2]
    return Box.from_rect(0.0, 0.0, float(w), float(h))


def _quarter_turns(pts: np.ndarray) -> int | None:
    """For a rectangle with edges parallel to the axes: the counter-clockwise quarter turns
    (``np.rot90``'s k) that bring its first edge (points 0 → 1) to the top, left to right; None for
    any other quadrilateral."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = pts
    if np.allclose([y0, x1, y2, x3], [y1, x2, y3, x0]) and x1 != x0 and y3 != y0:
        if x1 > x0 and y3 > y0:
            return 0  # upright
        if x1 < x0 and y3 < y0:
            return 2  # upside down
        return None
    if np.allclose([x0, y1, x2, y3], [x1, y2, x3, y0]) and y1 != y0 and x3 != x0:
        if y1 > y0 and x3 < x0:
            return 1  # first edge runs down the right side
        if y1 < y0 and x3 > x0:
            return 3  # first edge runs up the left side
    return None


def crop_box(image: np.ndarray, box: Box) -> np.ndarray:
    """Pixels of ``box`` as an upright crop (HxW or HxWx3, same dtype as ``image``).

    Rectangles with edges parallel to the axes are sliced (clipped to the image) and, when their
    first edge is not the top one (a line of a page turned by 90/180/270 degrees), turned by
    quarter turns: a turned page gives the very pixels of the upright one. Other quadrilaterals are
    warped by the
    perspective transform taking points 0..3 to the crop's corners, so the box's first edge
    becomes the crop's top; the crop is as wide and tall as the box's longer opposite edges.
    Points are pixel-edge coordinates, as in ``Box.from_rect``.
    """
    pts = np.asarray(box.points, dtype=np.float64)
    h, w = image.shape[:2]
    turns = _quarter_turns(pts)
    if turns is not None:
        x0, y0, x1, y1 = box.bounds
        xa, ya = max(0, int(np.floor(x0 + 1e-6))), max(0, int(np.floor(y0 + 1e-6)))
        xb, yb = min(w, int(np.ceil(x1 - 1e-6))), min(h, int(np.ceil(y1 - 1e-6)))
        if xb > xa and yb > ya:
            # A quarter-turned rectangle is sliced and turned too (the upright page's very pixels).
            return np.ascontiguousarray(np.rot90(image[ya:yb, xa:xb], turns))
        if turns == 0:
            raise ValueError(f"box {box.to_list()} does not overlap the {w}x{h} image")
    out_w = max(1, round(max(np.linalg.norm(pts[1] - pts[0]), np.linalg.norm(pts[2] - pts[3]))))
    out_h = max(1, round(max(np.linalg.norm(pts[3] - pts[0]), np.linalg.norm(pts[2] - pts[1]))))
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float64)
    # shift by half a pixel: edge coordinates -> OpenCV's pixel-centre coordinates
    m = cv2.getPerspectiveTransform((pts - 0.5).astype(np.float32), (dst - 0.5).astype(np.float32))
    return cv2.warpPerspective(
        image, m, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
