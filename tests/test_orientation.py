"""Page orientation (0/90/180/270) and vertical Chinese columns, with the shipped recognizer.

Golden pages rendered in fixtures: a page turned by a quarter turn, half a turn or three quarters
reads exactly as the upright page, and a page of vertical columns reads right to left.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from render import FONT_ZH, font, render_line, render_page

from crnn_ocr.orientation import column_to_line, sideways_score, turn_points
from crnn_ocr.types import Box, OCROptions

LINES = ["Invoice number 2024-117", "发票号码 12345678", "Total amount 998.00", "开票日期 2024年5月6日"]
COLUMNS = ["处处闻啼鸟", "夜来风雨声", "花落知多少"]  # read right to left


@pytest.fixture(scope="module")
def upright_page() -> np.ndarray:
    page, _ = render_page(LINES, size=28)
    return page


def _column_page(columns: list[str], size: int = 32, pitch: int = 40, spacing: int = 60) -> np.ndarray:
    """Vertical columns, the first one rightmost, characters upright top to bottom."""
    n = max(len(c) for c in columns)
    im = Image.new("L", (spacing * len(columns) + 60, pitch * n + 60), 255)
    draw = ImageDraw.Draw(im)
    for i, text in enumerate(columns):
        x = spacing * (len(columns) - i) - size // 2
        for j, ch in enumerate(text):
            draw.text((x, 30 + j * pitch), ch, font=font(FONT_ZH, size), fill=0)
    return np.asarray(im)


@pytest.mark.parametrize(
    ("turns", "points"),
    [(0, [[1, 2]]), (1, [[2, 9]]), (2, [[9, 8]]), (3, [[8, 1]])],
)
def test_turn_points_follows_np_rot90(turns: int, points: list[list[int]]) -> None:
    """In a 10 x 10 image, pixel-edge point (1, 2) after np.rot90(image, turns)."""
    img = np.zeros((10, 10), np.uint8)
    img[2, 1] = 255  # the pixel whose top-left corner is (1, 2)
    turned = np.rot90(img, turns)
    ys, xs = np.nonzero(turned)
    moved = turn_points(np.array([[1.5, 2.5]]), turns, 10, 10)  # the pixel's centre
    assert moved.tolist() == [[xs[0] + 0.5, ys[0] + 0.5]]
    corner = turn_points(np.array([[1.0, 2.0]]), turns, 10, 10)
    assert corner.tolist() == points


def test_sideways_score_separates_rows_from_columns(upright_page: np.ndarray) -> None:
    assert sideways_score(upright_page) < 1.0
    assert sideways_score(np.rot90(upright_page).copy()) > 1.0
    # a few short vertical columns are not clearly sideways by their profiles (about 0.9): their
    # upright reading is not confident, which tries the quarter turns and columns as well
    assert sideways_score(np.full((50, 50), 255, np.uint8)) == 0.0


def test_column_to_line_lays_cells_side_by_side() -> None:
    """A column of 3 squares (top one smallest) turned to a strip becomes 3 upright cells."""
    column = np.full((150, 50), 255, np.uint8)
    for i, s in enumerate((10, 20, 30)):
        column[10 + 45 * i : 10 + 45 * i + s, 10 : 10 + s] = 0
    strip = np.rot90(column).copy()  # column top at the left, as the orientation step cuts it
    line = column_to_line(strip)
    assert line.shape[0] < line.shape[1]
    ink_cols = np.flatnonzero((line < 128).any(axis=0))
    runs = np.split(ink_cols, np.flatnonzero(np.diff(ink_cols) > 1) + 1)
    assert [len(r) for r in runs] == [10, 20, 30]  # in reading order, each glyph upright and whole


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_a_turned_page_reads_as_the_upright_one(shipped_ocr, upright_page: np.ndarray, turns: int) -> None:
    upright = shipped_ocr(upright_page)
    assert upright.orientation == 0
    assert [line.text for line in upright.lines] == LINES
    turned = shipped_ocr(np.ascontiguousarray(np.rot90(upright_page, turns)))
    assert turned.orientation == 90 * turns
    assert [line.text for line in turned.lines] == LINES
    # boxes are in the turned image's pixels, starting at the text's own top-left corner
    first = np.asarray(turned.lines[0].box.points)
    h, w = upright_page.shape
    expected = np.asarray(upright.lines[0].box.points[0])
    np.testing.assert_allclose(first[0], turn_points(expected[None], turns, w, h)[0], atol=6)


def test_orientation_off_reads_the_page_as_it_stands(shipped_ocr, upright_page: np.ndarray) -> None:
    page = shipped_ocr(np.ascontiguousarray(np.rot90(upright_page, 2)), OCROptions(auto_orient=False))
    assert page.orientation == 0
    assert [line.text for line in page.lines] != LINES


def test_vertical_columns_read_right_to_left(shipped_ocr) -> None:
    page = shipped_ocr(_column_page(COLUMNS))
    assert page.orientation == 0
    assert [line.text for line in page.lines] == COLUMNS
    first = np.asarray(page.lines[0].box.points)
    assert first[:, 0].min() > page.width / 2  # the first column read is the rightmost
    assert first[:, 1].max() - first[:, 1].min() > 3 * (first[:, 0].max() - first[:, 0].min())  # tall


def test_horizontal_lines_overrule_the_ink_profiles() -> None:
    from crnn_ocr.orientation import horizontal_lines

    wide = [Box.from_rect(10, 10 + 40 * i, 300, 30) for i in range(3)]  # lines across the page
    tall = [Box.from_rect(10 + 40 * i, 10, 30, 300) for i in range(3)]  # a page turned sideways
    words = [Box.from_rect(10 + 60 * i, 10, 50, 30) for i in range(3)]  # short words
    assert horizontal_lines(wide) and not horizontal_lines(tall) and not horizontal_lines(words)
    assert not horizontal_lines([])


def test_a_short_wide_page_is_read_upright_without_trying_turns(tiny_recognizer) -> None:
    """Three wide lines close together: the ink profiles alone call the page sideways, the
    detected strips overrule them, and the upright reading is kept after one detection."""
    from tiny_model import render_code_line

    from crnn_ocr.orientation import OrientationFinder

    rows = [render_code_line(t) for t in ("0123456789ab", "ab01ab01ab01", "012340123401")]
    page = np.full((20 + 36 * len(rows), max(r.shape[1] for r in rows) + 40), 255, np.uint8)
    boxes = []
    for i, r in enumerate(rows):
        page[10 + 36 * i : 10 + 36 * i + r.shape[0], 20 : 20 + r.shape[1]] = r
        boxes.append(Box.from_rect(20, 10 + 36 * i, r.shape[1], r.shape[0]))
    assert sideways_score(page) > 1.0  # what the profiles alone would say

    class CountingDetector:
        def __init__(self) -> None:
            self.calls = 0

        def detect(self, image: np.ndarray) -> list[Box]:
            self.calls += 1
            return boxes

    detector = CountingDetector()
    found = OrientationFinder(tiny_recognizer).find(page, detector)
    assert found.orientation == 0 and detector.calls == 1 and not any(found.vertical)


@pytest.mark.parametrize(
    ("score", "upright", "turn"),
    [
        (0.90, 0.03, True),  # a clean page read sideways: clear
        (0.49, 0.15, True),  # a noisy form: below min_score, but three times the upright reading
        (0.49, 0.30, False),  # not twice the upright reading: stay put
        (0.25, 0.05, False),  # nothing reads well either way: stay put
        (0.62, 0.60, False),  # within the margin
    ],
)
def test_a_turned_reading_must_clearly_beat_the_upright_one(tiny_recognizer, score, upright, turn) -> None:
    from crnn_ocr.orientation import OrientationFinder

    assert OrientationFinder(tiny_recognizer)._beats_upright(score, upright) is turn


@pytest.mark.parametrize("turns", [1, 3])
def test_a_line_turned_on_its_own_reads_upright(shipped_ocr, turns: int) -> None:
    """A serial number printed up (or down) a form's margin: in no-detect mode the tall crop is
    read turned back, and on an upright page its tall box is read turned back too."""
    line = np.ascontiguousarray(np.rot90(render_line("82092117", size=28), turns))
    assert line.shape[0] > 3 * line.shape[1]
    assert shipped_ocr(line, OCROptions(detect=False)).lines[0].text == "82092117"
    page, _ = render_page(LINES, size=28)
    margin = np.full((page.shape[0], 80), 255, np.uint8)
    margin[40 : 40 + line.shape[0], 20 : 20 + line.shape[1]] = line[: page.shape[0] - 40]
    texts = [ln.text for ln in shipped_ocr(np.hstack([page, margin])).lines]
    assert "82092117" in texts
    assert [t for t in texts if t != "82092117"] == LINES


def test_a_short_vertical_column_reads_in_no_detect_mode(shipped_ocr) -> None:
    column = _column_page(["夜来风雨声"])
    assert shipped_ocr(column, OCROptions(detect=False)).lines[0].text == "夜来风雨声"


@pytest.mark.parametrize("text", ["I", "l", "|", "!"])
def test_a_tall_single_glyph_stays_upright(shipped_ocr, text: str) -> None:
    """One glyph reads confidently in almost any orientation: a tall crop of one is not turned."""
    glyph = render_line(text, size=40, pad=3)
    assert glyph.shape[0] >= 1.5 * glyph.shape[1]
    turned = shipped_ocr(glyph, OCROptions(detect=False)).lines[0]
    as_is = shipped_ocr(glyph, OCROptions(detect=False, auto_orient=False)).lines[0]
    assert (turned.text, turned.box) == (as_is.text, as_is.box)
    assert turned.box.points[0] == (0.0, 0.0)


def test_tall_lines_keep_their_reading_with_orientation_off(shipped_ocr) -> None:
    line = np.ascontiguousarray(np.rot90(render_line("82092117", size=28), 1))
    assert shipped_ocr(line, OCROptions(detect=False, auto_orient=False)).lines[0].text != "82092117"
