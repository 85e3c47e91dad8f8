"""Page orientation (0/90/180/270) and vertical Chinese columns, decided by the recognizer itself.

No separate classifier: the recognizer reads upright text with high confidence and turned text
with low confidence, so each candidate reading of the page is scored by the recognizer's mean
confidence over a sample of its longest lines (``sample`` lines, empty readings count 0).

1. Candidates 0 and 180 degrees: the lines as detected, crops turned by 180 or not. An upright
   reading scoring ``accept_upright`` or more on a page that does not look sideways is taken at
   once (the common case costs one sample of recognitions).
2. When the page looks sideways (the ink's column profile sharper than its row profile, for the
   ink's aspect: ``sideways_score`` > ``sideways_ratio``) or neither reading is confident (best
   score < ``confident``): also 90 and 270 degrees (the page turned back, lines detected again),
   and vertical columns: the page turned a quarter turn counter-clockwise makes every column a
   horizontal strip whose left end is the column's top and puts the rightmost column first; each
   strip is cut into character cells, every cell turned upright, and the cells laid side by side
   as one horizontal line (``column_to_line``).
3. The best-scoring candidate wins; a candidate other than 0 degrees must beat it by ``margin``
   and reach ``min_score`` (when nothing reads well, e.g. poor boxes, the page is left as it is).
4. Line by line, after the page's orientation is settled: a line whose crop stands tall
   (``tall_ratio``) is text turned on its own (a form's serial number printed up the margin, a
   spine, a label on a chart's axis) or a short vertical Chinese column on a horizontal page. It
   is read three more ways (turned a quarter turn either way, and cut into cells as a column),
   and a reading of at least two characters whose confidence beats the upright reading's by
   ``margin`` and reaches ``min_score`` replaces it (a tall crop of a single glyph, "1" or "%",
   reads upright with a high confidence and stays as it is). This also covers no-detect mode, where the whole image is the line.

``orientation`` is the angle in degrees, counter-clockwise, by which the text stands turned on
the page (90: the page was turned a quarter turn to the left); the page is turned back by it
before reading. Boxes always come back in the input image's pixels, their points starting at the
text's own top-left, so ``crop_box`` cuts them upright.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from crnn_ocr.detect import LineDetector, crop_box
from crnn_ocr.preprocess import _foreground_points, _profile_score, to_gray
from crnn_ocr.recognize import pad_value
from crnn_ocr.types import Box

if TYPE_CHECKING:
    from crnn_ocr.recognize import Recognizer


@dataclass(frozen=True)
class OrientedLines:
    """Line boxes in the input image's pixels (reading order), whether each is a vertical column
    read cell by cell, and the page orientation in degrees (see the module docstring)."""

    boxes: tuple[Box, ...]
    vertical: tuple[bool, ...]
    orientation: int


@dataclass(frozen=True)
class OrientationConfig:
    sample: int = 8  # lines read per candidate
    margin: float = 0.05  # how much a non-upright candidate must beat upright by
    min_score: float = 0.5  # ... and the score it must reach (below: nothing reads well, stay put)
    # ... unless it is a clear winner: at least ``clear_ratio`` times the upright score and at least
    # ``clear_floor`` (a noisy form read sideways scores ~0.15, read upright ~0.49).
    clear_ratio: float = 2.0
    clear_floor: float = 0.3
    sideways_ratio: float = 1.0  # sideways_score above which quarter turns are tried
    confident: float = 0.55  # ... and below which (best of 0 and 180) they are tried as well
    # Upright readings this confident (and a page that does not look sideways) are accepted
    # without trying the other orientations: text read the wrong way up scores about 0.3-0.75.
    accept_upright: float = 0.85
    # A line whose crop is at least ``tall_ratio`` times taller than wide is also read turned a
    # quarter both ways and as a vertical column (``OrientationFinder.turn_tall``).
    tall_ratio: float = 1.5


def sideways_score(gray: np.ndarray) -> float:
    """Column-profile sharpness over row-profile sharpness of the ink (HxW uint8), corrected for
    the ink's aspect ratio; > 1 when the text runs vertically. 0.0 when there is no ink.

    Each profile's sum of squared differences grows with the square of the ink's extent across
    it and linearly with the extent along it, so the raw ratio is scaled by width / height
    (else a narrow receipt would look sideways).
    """
    pts = _foreground_points(gray, max_side=800)
    if len(pts) < 20:
        return 0.0
    rows, cols = _profile_score(pts, np.array([0.0, 90.0]))
    width, height = np.ptp(pts[:, 0]) + 1.0, np.ptp(pts[:, 1]) + 1.0
    return float(cols / rows * width / height) if rows > 0 else 0.0


#: ``horizontal_lines``: the median line box at least this many times wider than tall.
HORIZONTAL_ASPECT = 3.0


def horizontal_lines(boxes: Sequence[Box]) -> bool:
    """Whether the detected lines lie across the page: the median box (its extent in the image)
    is at least ``HORIZONTAL_ASPECT`` times wider than tall. On a page turned by 90 or 270
    degrees the lines are tall strips; on an upright page of short words this can be False."""
    if not boxes:
        return False
    aspects = []
    for b in boxes:
        x0, y0, x1, y1 = b.bounds
        aspects.append((x1 - x0) / max(1e-6, y1 - y0))
    return float(np.median(aspects)) >= HORIZONTAL_ASPECT


def turn_points(points: np.ndarray, turns: int, width: int, height: int) -> np.ndarray:
    """Points [K, 2] of an image of ``width`` x ``height`` → the same points after
    ``np.rot90(image, turns)`` (counter-clockwise quarter turns)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2).copy()
    w, h = width, height
    for _ in range(turns % 4):
        pts = np.stack([pts[:, 1], w - pts[:, 0]], axis=1)
        w, h = h, w
    return pts


def _box_back(box: Box, turns: int, turned_shape: tuple[int, ...]) -> Box:
    """A box found in ``np.rot90(image, turns)`` → the same box in ``image``'s pixels."""
    h, w = turned_shape[:2]
    pts = turn_points(np.asarray(box.points), -turns % 4, w, h)
    return Box(tuple((float(x), float(y)) for x, y in pts))  # type: ignore[arg-type]


def _turn_box(box: Box, quarter_turns: int) -> Box:
    """The same quadrilateral with its points started ``quarter_turns`` corners later: the crop
    ``crop_box`` cuts comes out turned by that many quarter turns counter-clockwise."""
    pts = list(box.points)
    k = quarter_turns % 4
    return Box(tuple(pts[k:] + pts[:k]))  # type: ignore[arg-type]


def column_to_line(strip: np.ndarray) -> np.ndarray:
    """A vertical column as a horizontal strip (column top at the left, characters lying on
    their left side; uint8 HxW) → a horizontal line of upright characters (uint8 H'xW').

    Character cells are cut in the gaps between characters: from each cut, the next one goes in
    the empty run of columns, 0.6 to 1.6 character sizes on (the ink's height: a CJK character is
    square), that is widest once its distance from one character size on is discounted; with no
    empty run in reach (touching characters), at the emptiest column there. Each cell is turned
    upright (a quarter turn clockwise) and the cells are laid side by side, padded with the strip's
    background.
    """
    gray = to_gray(strip)
    bg = pad_value(gray)
    diff = np.abs(gray.astype(np.int16) - bg)
    ink = diff >= max(30, int(diff.max()) // 2)
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    if len(rows) == 0 or len(cols) == 0:
        return np.ascontiguousarray(np.rot90(gray, -1))
    size = max(4.0, float(rows[-1] - rows[0] + 1))
    profile = ink.sum(axis=0)
    empty = np.concatenate([[0], (profile == 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(empty))
    gaps = [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]  # [start, end) empty runs
    cuts = [int(cols[0])]
    end = int(cols[-1]) + 1
    while end - cuts[-1] > 1.6 * size:
        lo, hi = cuts[-1] + 0.6 * size, cuts[-1] + 1.6 * size
        reach = [(b - a - 0.5 * abs((a + b) / 2 - cuts[-1] - size), (a + b) // 2) for a, b in gaps if lo <= (a + b) / 2 <= hi]
        if reach:
            cuts.append(int(max(reach)[1]))
        else:
            window = profile[int(lo) : int(hi) + 1]
            cuts.append(int(lo) + int(np.argmin(window)))
    cuts.append(end)
    pitch = size
    top, bottom = max(0, int(rows[0]) - 2), min(gray.shape[0], int(rows[-1]) + 3)
    cells = [np.rot90(gray[top:bottom, a:b], -1) for a, b in itertools.pairwise(cuts) if b > a]
    height = max(c.shape[0] for c in cells)
    gap = max(1, int(0.15 * pitch))
    parts = []
    for c in cells:
        pad = height - c.shape[0]
        parts.append(np.pad(c, ((pad // 2, pad - pad // 2), (0, gap)), constant_values=bg))
    line = np.concatenate(parts, axis=1)
    margin = max(1, int(0.15 * pitch))
    return np.pad(line, ((margin, margin), (margin, 0)), constant_values=bg)


def line_crop(image: np.ndarray, box: Box, vertical: bool) -> np.ndarray:
    """The crop the recognizer reads for ``box``: upright, and for a vertical column its cells
    laid side by side."""
    crop = crop_box(image, box)
    return column_to_line(crop) if vertical else crop


class OrientationFinder:
    """Finds the page orientation and the lines to read (see the module docstring)."""

    def __init__(self, recognizer: Recognizer, config: OrientationConfig = OrientationConfig()) -> None:
        self.recognizer = recognizer
        self.config = config

    def find(self, image: np.ndarray, detector: LineDetector) -> OrientedLines:
        """Lines of ``image`` (uint8 HxW or HxWx3) in reading order, read the right way up."""
        upright = tuple(detector.detect(image))
        if not upright:
            return OrientedLines((), (), 0)
        upright_score = self._score(image, upright, False)
        # The ink profiles can call a short, wide page of a few lines sideways; lines the detector
        # found as wide horizontal strips overrule them.
        sideways = sideways_score(to_gray(image)) > self.config.sideways_ratio and not horizontal_lines(upright)
        if upright_score >= self.config.accept_upright and not sideways:
            return OrientedLines(upright, (False,) * len(upright), 0)
        candidates: list[tuple[int, tuple[Box, ...], bool]] = [
            (0, upright, False),
            (180, tuple(_turn_box(b, 2) for b in upright), False),
        ]
        scores = [upright_score, self._score(image, candidates[1][1], False)]
        if max(scores) < self.config.confident or sideways:
            for orientation, turns in ((90, 3), (270, 1)):
                turned = np.ascontiguousarray(np.rot90(image, turns))
                boxes = tuple(_box_back(b, turns, turned.shape) for b in detector.detect(turned))
                candidates.append((orientation, boxes, False))
                if orientation == 270:  # the same strips, read as vertical columns
                    candidates.append((0, boxes, True))
            scores += [self._score(image, boxes, vertical) for _, boxes, vertical in candidates[2:]]
        best = int(np.argmax(scores))
        if best != 0 and not self._beats_upright(scores[best], scores[0]):
            best = 0
        orientation, boxes, vertical = candidates[best]
        if orientation == 180:  # detect again on the turned page, for its reading order
            turned = np.ascontiguousarray(np.rot90(image, 2))
            boxes = tuple(_box_back(b, 2, turned.shape) for b in detector.detect(turned))
        return OrientedLines(boxes, (vertical,) * len(boxes), orientation)

    def turn_tall(self, image: np.ndarray, lines: OrientedLines) -> OrientedLines:
        """``lines`` with each tall horizontal line read the way that scores best (module
        docstring, step 4); every other line, and the page orientation, stay as they are."""
        tall = [
            i for i, (b, v) in enumerate(zip(lines.boxes, lines.vertical))
            if not v and _box_height(b) >= self.config.tall_ratio * _box_width(b) and _box_width(b) >= 4
        ]
        if not tall:
            return lines
        # per tall line: upright, turned a quarter counter-clockwise / clockwise, a vertical column
        options = [
            [(b, False), (_turn_box(b, 1), False), (_turn_box(b, 3), False), (_turn_box(b, 1), True)]
            for b in (lines.boxes[i] for i in tall)
        ]
        crops = [line_crop(image, b, v) for opts in options for b, v in opts]
        recs = self.recognizer.recognize(crops)
        boxes, vertical = list(lines.boxes), list(lines.vertical)
        cfg = self.config
        for k, i in enumerate(tall):
            # A tall crop of one glyph ("1", "%") reads upright with its full confidence, and a
            # turned reading must be of two characters or more to count.
            upright = recs[4 * k].confidence if recs[4 * k].text else 0.0
            turned = [r.confidence if len(r.text) >= 2 else 0.0 for r in recs[4 * k + 1 : 4 * k + 4]]
            best = int(np.argmax(turned))
            if turned[best] >= upright + cfg.margin and turned[best] >= cfg.min_score:
                boxes[i], vertical[i] = options[k][best + 1]
        return OrientedLines(tuple(boxes), tuple(vertical), lines.orientation)

    def _beats_upright(self, score: float, upright: float) -> bool:
        """Whether a turned reading scoring ``score`` should replace the upright one."""
        cfg = self.config
        if score < upright + cfg.margin:
            return False
        return score >= cfg.min_score or (score >= cfg.clear_floor and score >= cfg.clear_ratio * upright)

    def _score(self, image: np.ndarray, boxes: tuple[Box, ...], vertical: bool) -> float:
        """Mean recognizer confidence over the ``sample`` largest boxes (empty readings: 0)."""
        if not boxes:
            return 0.0
        chosen = sorted(boxes, key=lambda b: _box_width(b) * _box_height(b), reverse=True)[: self.config.sample]
        crops = [line_crop(image, b, vertical) for b in chosen]
        recs = self.recognizer.recognize(crops)
        return float(np.mean([_reading_score(r.text, r.confidence) for r in recs]))


def _reading_score(text: str, confidence: float) -> float:
    """How well a crop reads: the recognizer's confidence, halved for a single character (one
    glyph reads confidently in almost any orientation), 0 for nothing read."""
    return confidence if len(text) >= 2 else 0.5 * confidence if text else 0.0


def _box_width(box: Box) -> float:
    """The length of the box's first edge: the width of the crop ``crop_box`` cuts."""
    pts = np.asarray(box.points)
    return float(np.linalg.norm(pts[1] - pts[0]))


def _box_height(box: Box) -> float:
    """The length of the box's left edge: the height of the crop ``crop_box`` cuts."""
    pts = np.asarray(box.points)
    return float(np.linalg.norm(pts[3] - pts[0]))
