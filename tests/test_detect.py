"""ClassicalLineDetector on rendered pages (count, overlap, reading order), its helpers, crop_box."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from render import render_line, render_page, rotate_image, to_jpeg_bytes

from crnn_ocr.detect import (
    ClassicalLineDetector,
    DetectorConfig,
    LineDetector,
    crop_box,
    estimate_line_height,
    ink_masks,
    merge_row_neighbours,
    paper_fraction,
    reading_order,
    split_rows,
    whole_image_box,
)
from crnn_ocr.io import load_image
from crnn_ocr.preprocess import Preprocessor
from crnn_ocr.types import Box, PreprocessOptions

ZH = ["第一行文字识别测试内容", "二三行", "第三行，混合排版", "最后一行。"]
EN = [
    "The quick brown fox",
    "jumps over the lazy dog",
    "Pack my box with five",
    "dozen liquor jugs, ok?",
    "Typography gypsy",
]
MIXED = [
    "发票号码 No. 20240131",
    "Invoice total: 1,234.56 元",
    "购买方名称：北京某某科技有限公司",
    "Address: 88 Zhongguancun St.",
    "日期 2024年1月31日",
    "Remarks: paid in full",
    "备注：已全额付款。",
    "Thank you!",
]
TABLE = [
    "名称",
    "数量",
    "单价",
    "苹果 Apple",
    "120",
    "3.50",
    "香蕉",
    "700",
    "12.80",
    "Orange 橙",
    "300",
    "1.20",
]
COLS = ["左栏第一行", "右栏第一行 right", "left two 左二", "右栏第二行", "左栏第三行文字", "Right three"]


def rect_of(box: Box) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box.bounds
    return x0, y0, x1 - x0, y1 - y0


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


def contains(outer, inner, tol: float = 1.0) -> bool:
    ox, oy, ow, oh = outer
    ix, iy, iw, ih = inner
    return ox <= ix + tol and oy <= iy + tol and ox + ow >= ix + iw - tol and oy + oh >= iy + ih - tol


def with_rules(page: np.ndarray, truth) -> np.ndarray:
    """The page with a frame around it and a rule under the first line."""
    out = page.copy()
    h, w = out.shape
    cv2.rectangle(out, (6, 6), (w - 7, h - 7), 0, 2)
    x, y, _, bh = truth[0]
    out[y + bh + 5 : y + bh + 7, x : w - 20] = 0
    return out


def with_photo(page: np.ndarray, *, banded: bool = False) -> np.ndarray:
    """The page with a textured picture below the text; ``banded``: with two light bands, which
    break it into line-sized pieces of ink."""
    w = page.shape[1]
    rng = np.random.default_rng(0)
    photo_h = 240 if banded else 160
    photo = cv2.GaussianBlur(rng.integers(0, 256, (photo_h, w - 60)).astype(np.uint8), (3, 3), 0)
    photo = cv2.normalize(photo, None, 0, 255, cv2.NORM_MINMAX)
    if banded:
        for a, b in [(60, 100), (160, 200)]:
            photo[a:b] = cv2.normalize(photo[a:b], None, 150, 230, cv2.NORM_MINMAX)
    extra = np.full((photo_h + 40, w), 255, np.uint8)
    extra[20 : 20 + photo_h, 30 : w - 30] = photo
    return np.vstack([page, extra])


def with_table_rules(page: np.ndarray, truth) -> np.ndarray:
    """The page (laid out in columns) drawn as a ruled table: a rule left of every column and
    above every row, plus the closing right and bottom rules."""
    out = page.copy()
    h, w = out.shape
    xs = sorted({x for x, _, _, _ in truth})
    ys = sorted({y for _, y, _, _ in truth})
    for x in [*(x - 14 for x in xs), w - 12]:
        out[10 : h - 10, x : x + 2] = 0
    for y in [*(y - 10 for y in ys), h - 14]:
        out[y : y + 2, 10 : w - 10] = 0
    return out


def noisy_jpeg(page: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(0)
    noisy = np.clip(page.astype(np.int16) + rng.normal(0, 12, page.shape), 0, 255).astype(np.uint8)
    return load_image(to_jpeg_bytes(noisy, 40))


PAGES = {
    "zh": (ZH, {}, lambda p, t: p),
    "en": (EN, {}, lambda p, t: p),
    "mixed-8": (MIXED, {"size": 24}, lambda p, t: p),
    "two-columns": (COLS, {"columns": 2}, lambda p, t: p),
    "light-on-dark": (MIXED[:5], {}, lambda p, t: 255 - p),
    "colour": (EN, {}, lambda p, t: cv2.merge([p // 2 + 60, p // 2 + 100, np.full_like(p, 250)])),
    "noisy-jpeg": (ZH + EN[:2], {}, lambda p, t: noisy_jpeg(p)),
    "small-font": (MIXED[:6], {"size": 14}, lambda p, t: p),
    "large-font": (ZH[:3], {"size": 64}, lambda p, t: p),
    "tight-lines": (EN + ZH[:2], {"line_gap": 0}, lambda p, t: p),
    "rules-and-frame": (MIXED[:4], {"margin": 40}, with_rules),
    "photo-below": (ZH, {}, lambda p, t: with_photo(p)),
    "banded-photo-below": (ZH, {}, lambda p, t: with_photo(p, banded=True)),
    "ruled-table": (TABLE, {"columns": 3, "column_gap": 60, "line_gap": 20}, with_table_rules),
}


@pytest.fixture(scope="module")
def detector() -> ClassicalLineDetector:
    return ClassicalLineDetector()


@pytest.mark.parametrize("name", list(PAGES))
def test_detects_every_line_in_reading_order(detector: ClassicalLineDetector, name: str) -> None:
    lines, kwargs, make = PAGES[name]
    page, truth = render_page(lines, **kwargs)
    img = make(page, truth)
    boxes = detector.detect(img)
    assert len(boxes) == len(truth), [rect_of(b) for b in boxes]
    h, w = img.shape[:2]
    for box, true in zip(boxes, truth):
        got = rect_of(box)
        assert iou(got, true) > 0.5, (got, true)
        assert contains(got, true, tol=2.0), (got, true)  # the margin never cuts into the text
        x0, y0, x1, y1 = box.bounds
        assert 0 <= x0 and 0 <= y0 and x1 <= w and y1 <= h


def test_two_blocks_on_one_row_stay_separate_left_then_right(detector: ClassicalLineDetector) -> None:
    page, truth = render_page(["名称 Name", "张三 Zhang San"], columns=2, column_gap=120)
    boxes = detector.detect(page)
    assert len(boxes) == 2
    left, right = (rect_of(b) for b in boxes)
    assert left[0] + left[2] < right[0]
    assert iou(left, truth[0]) > 0.5 and iou(right, truth[1]) > 0.5


def assert_matches(boxes: list[Box], truth) -> None:
    assert len(boxes) == len(truth), [rect_of(b) for b in boxes]
    for box, true in zip(boxes, truth):
        assert iou(rect_of(box), true) > 0.5, (rect_of(box), true)


@pytest.mark.parametrize("gap", [20, 40])
def test_text_beside_a_photo_survives(detector: ClassicalLineDetector, gap: int) -> None:
    page, truth = render_page(ZH + EN[:3])
    h = page.shape[0]
    rng = np.random.default_rng(0)
    photo = cv2.GaussianBlur(rng.integers(0, 256, (h - 40, 200)).astype(np.uint8), (3, 3), 0)
    left = np.full((h, 220 + gap), 255, np.uint8)
    left[20 : h - 20, 20:220] = cv2.normalize(photo, None, 0, 255, cv2.NORM_MINMAX)
    x0 = truth[0][0]
    img = np.hstack([left, page[:, x0:]])
    shift = left.shape[1] - x0
    assert_matches(detector.detect(img), [(x + shift, y, w, hh) for x, y, w, hh in truth])


def test_heading_words_stay_one_line(detector: ClassicalLineDetector) -> None:
    head, head_truth = render_page(["大标题 Heading"], size=56, margin=20)
    body, body_truth = render_page(EN[:4], size=20, margin=20)
    width = max(head.shape[1], body.shape[1])
    pad = lambda a: cv2.copyMakeBorder(a, 0, 0, 0, width - a.shape[1], cv2.BORDER_CONSTANT, value=255)
    img = np.vstack([pad(head), pad(body)])
    truth = head_truth + [(x, y + head.shape[0], w, h) for x, y, w, h in body_truth]
    assert_matches(detector.detect(img), truth)


@pytest.mark.parametrize(("size", "pad"), [(20, 30), (32, 30), (48, 40)])
def test_margins_follow_the_line_height(detector: ClassicalLineDetector, size: int, pad: int) -> None:
    img = render_line("边距测试 margin", size=size, pad=pad)
    (box,) = detector.detect(img)
    x, y, w, h = rect_of(box)
    ink_h, ink_w = img.shape[0] - 2 * pad, img.shape[1] - 2 * pad
    assert y == pytest.approx(pad - 0.15 * ink_h, abs=2)
    assert h == pytest.approx(1.3 * ink_h, abs=3)
    assert x == pytest.approx(pad - 0.3 * ink_h, abs=2)
    assert w == pytest.approx(ink_w + 0.6 * ink_h, abs=3)


@pytest.mark.parametrize("size", [20, 48])
def test_detect_text_is_the_box_without_margins(detector: ClassicalLineDetector, size: int) -> None:
    pad = 40
    img = render_line("边距测试 margin", size=size, pad=pad)
    (box,) = detector.detect_text(img)
    x, y, w, h = rect_of(box)
    ink_h, ink_w = img.shape[0] - 2 * pad, img.shape[1] - 2 * pad
    assert (x, y) == (pytest.approx(pad, abs=2), pytest.approx(pad, abs=2))
    assert (w, h) == (pytest.approx(ink_w, abs=3), pytest.approx(ink_h, abs=3))


def test_margins_are_clipped_to_the_image(detector: ClassicalLineDetector) -> None:
    img = render_line("贴边 edge", size=32, pad=1)
    (box,) = detector.detect(img)
    assert box.bounds == (0.0, 0.0, float(img.shape[1]), float(img.shape[0]))


@pytest.mark.parametrize("angle", [-5.0, 5.0])
def test_rotated_page_after_deskew(detector: ClassicalLineDetector, angle: float) -> None:
    page, truth = render_page(MIXED[:6], size=26)
    skewed = rotate_image(page, angle)
    pre = Preprocessor().run(skewed, PreprocessOptions(deskew=True))
    boxes = detector.detect(pre.image)
    assert len(boxes) == len(truth)
    # Box centres mapped back to the skewed image land on the skewed true centres, in order.
    h, w = page.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[0, 2] += (skewed.shape[1] - w) / 2
    m[1, 2] += (skewed.shape[0] - h) / 2
    true_centres = np.array([[x + bw / 2, y + bh / 2] for x, y, bw, bh in truth]) @ m[:, :2].T + m[:, 2]
    centres = pre.to_original(np.array([np.mean(b.points, axis=0) for b in boxes]))
    assert np.abs(centres - true_centres).max() < 6


def test_downscaled_detection_maps_boxes_back(detector: ClassicalLineDetector) -> None:
    page, truth = render_page(EN, size=40)
    small = ClassicalLineDetector(DetectorConfig(max_side=page.shape[1] // 2))
    boxes = small.detect(page)
    assert len(boxes) == len(truth)
    assert all(iou(rect_of(b), t) > 0.5 for b, t in zip(boxes, truth))


@pytest.mark.parametrize(
    "img",
    [
        np.full((80, 120), 255, np.uint8),
        np.zeros((80, 120), np.uint8),
        np.full((80, 120, 3), 128, np.uint8),
        np.full((1, 1), 255, np.uint8),
    ],
    ids=["white", "black", "grey-colour", "one-pixel"],
)
def test_blank_images_have_no_lines(detector: ClassicalLineDetector, img: np.ndarray) -> None:
    assert detector.detect(img) == []


def test_is_a_line_detector() -> None:
    assert isinstance(ClassicalLineDetector(), LineDetector)


def test_boxes_are_clockwise_from_top_left(detector: ClassicalLineDetector) -> None:
    page, _ = render_page(EN[:2])
    for box in detector.detect(page):
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = box.points
        assert x0 < x1 and y1 < y2 and x2 > x3 and y3 > y0
        assert (y0, x1, y2, x3) == (y1, x2, y3, x0)


# ---- helpers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [14, 24, 40, 64])
@pytest.mark.parametrize("lines", [ZH, EN], ids=["zh", "en"])
def test_estimate_line_height_scales_with_the_font(size: int, lines: list[str]) -> None:
    page, truth = render_page(lines, size=size)
    ink, _ = ink_masks(page)
    line_h = estimate_line_height(ink)
    true_h = float(np.median([t[3] for t in truth]))
    assert line_h == pytest.approx(true_h, rel=0.25)


@pytest.mark.parametrize(
    ("patch", "low", "high"),
    [
        (render_line("墨水和纸 ink and paper", size=24, pad=6), 0.7, 1.0),
        (cv2.GaussianBlur(render_line("模糊的小字 blurred", size=12, pad=4), (7, 7), 0), 0.4, 1.0),
        (np.tile(np.linspace(0, 255, 200).astype(np.uint8), (30, 1)), 0.0, 0.3),  # a gradient
        (
            cv2.GaussianBlur(
                np.random.default_rng(0).integers(0, 256, (30, 200)).astype(np.uint8), (5, 5), 0
            ),
            0.0,
            0.3,
        ),  # photo texture
        (np.full((30, 200), 128, np.uint8), 0.0, 0.0),  # no contrast at all
    ],
    ids=["sharp-text", "blurred-small-text", "gradient", "texture", "flat"],
)
def test_paper_fraction(patch: np.ndarray, low: float, high: float) -> None:
    assert low <= paper_fraction(patch) <= high


@pytest.mark.parametrize(("size", "blur"), [(12, 5), (12, 7), (16, 7), (24, 3)])
@pytest.mark.parametrize("lines", [ZH, EN], ids=["zh", "en"])
def test_blurred_small_text_is_kept(detector: ClassicalLineDetector, size: int, blur: int, lines) -> None:
    page, truth = render_page(lines, size=size)
    assert_matches(detector.detect(cv2.GaussianBlur(page, (blur, blur), 0)), truth)


def test_estimate_line_height_of_nothing() -> None:
    assert estimate_line_height(np.zeros((30, 30), np.uint8)) is None


def _bars(rows: list[tuple[int, int]], height: int = 60, width: int = 50) -> np.ndarray:
    m = np.zeros((height, width), bool)
    for a, b in rows:
        m[a:b, 5:45] = True
    return m


def _touching() -> np.ndarray:
    m = _bars([(5, 20), (21, 36)])
    m[20, 30] = True  # a descender touching the line below
    return m


def _speck_between() -> np.ndarray:
    m = _bars([(5, 20), (30, 45)])
    m[20:30, 12] = True  # a thin vertical speck bridging the gap
    return m


@pytest.mark.parametrize(
    ("mask", "expected"),
    [
        (_bars([(5, 20)]), [(5, 5, 40, 15)]),
        (_bars([(5, 20), (30, 45)]), [(5, 5, 40, 15), (5, 30, 40, 15)]),
        (_bars([(2, 4), (6, 20), (30, 45)]), [(5, 2, 40, 18), (5, 30, 40, 15)]),  # dot joins its line
        (_touching(), [(5, 5, 40, 15), (5, 20, 40, 16)]),
        (_speck_between(), [(5, 5, 40, 20), (5, 25, 40, 20)]),  # cut mid-gap
        (np.zeros((10, 10), bool), []),
    ],
    ids=["one", "two", "i-dot", "touching", "speck-between", "empty"],
)
def test_split_rows(mask: np.ndarray, expected) -> None:
    assert split_rows(mask, line_h=15.0) == expected


@pytest.mark.parametrize(
    ("rects", "expected"),
    [
        ([(0, 50, 10, 10), (0, 0, 10, 10)], [(0, 0, 10, 10), (0, 50, 10, 10)]),
        (
            [(100, 2, 40, 10), (0, 0, 40, 12), (0, 30, 40, 10)],
            [(0, 0, 40, 12), (100, 2, 40, 10), (0, 30, 40, 10)],
        ),
        (
            [(100, 30, 40, 10), (0, 0, 40, 12), (0, 31, 40, 10), (100, 1, 40, 10)],
            [(0, 0, 40, 12), (100, 1, 40, 10), (0, 31, 40, 10), (100, 30, 40, 10)],
        ),
        ([(0, 0, 40, 10), (50, 6, 40, 10)], [(0, 0, 40, 10), (50, 6, 40, 10)]),  # overlap 4 < 5: two rows
    ],
    ids=["top-first", "row-left-right", "two-columns", "barely-overlapping"],
)
def test_reading_order(rects, expected) -> None:
    assert reading_order(rects) == expected


@pytest.mark.parametrize(
    ("rects", "expected"),
    [
        ([(0, 0, 50, 40), (80, 2, 50, 40)], [(0, 0, 130, 42)]),  # gap 30 < 40: one heading
        ([(0, 0, 50, 40), (100, 0, 50, 40)], [(0, 0, 50, 40), (100, 0, 50, 40)]),  # gap 50: two blocks
        ([(0, 0, 50, 40), (60, 30, 50, 40)], [(0, 0, 50, 40), (60, 30, 50, 40)]),  # different rows
        ([(0, 0, 50, 40), (60, 0, 50, 40), (120, 0, 50, 40)], [(0, 0, 170, 40)]),
    ],
)
def test_merge_row_neighbours(rects, expected) -> None:
    assert sorted(merge_row_neighbours(rects)) == expected


# ---- crops -------------------------------------------------------------------------------------


def test_whole_image_box() -> None:
    img = np.zeros((30, 70, 3), np.uint8)
    assert whole_image_box(img).bounds == (0.0, 0.0, 70.0, 30.0)
    np.testing.assert_array_equal(crop_box(img, whole_image_box(img)), img)


@pytest.mark.parametrize(
    ("rect", "expected_slice"),
    [
        ((10, 5, 20, 8), (slice(5, 13), slice(10, 30))),
        ((-5, -5, 20, 20), (slice(0, 15), slice(0, 15))),  # clipped
        ((90, 40, 50, 50), (slice(40, 50), slice(90, 100))),
    ],
)
def test_crop_axis_aligned_is_a_slice(rect, expected_slice) -> None:
    img = np.arange(50 * 100, dtype=np.uint32).reshape(50, 100).astype(np.uint8)
    np.testing.assert_array_equal(crop_box(img, Box.from_rect(*rect)), img[expected_slice])


def test_crop_outside_the_image_fails() -> None:
    with pytest.raises(ValueError, match="does not overlap"):
        crop_box(np.zeros((10, 10), np.uint8), Box.from_rect(20, 20, 5, 5))


def test_crop_quadrilateral_matches_slice_when_axis_aligned_by_warp() -> None:
    img = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (60, 90)).astype(np.uint8), (3, 3), 0)
    # A quadrilateral that is a rectangle but listed with a tiny shear goes through the warp path.
    quad = Box(((10.0, 5.0), (50.0, 5.0), (50.0, 25.0), (10.0, 25.001)))
    warped = crop_box(img, quad)
    assert warped.shape == (20, 40)
    assert np.abs(warped.astype(int) - img[5:25, 10:50]).max() <= 1


@pytest.mark.parametrize("angle", [-20.0, 8.0, 90.0])
def test_crop_rotated_box_straightens_the_line(angle: float) -> None:
    line = render_line("旋转裁剪 rotated crop", size=32, pad=10)
    h, w = line.shape
    canvas = np.full((h + 2 * w, 3 * w), 255, np.uint8)
    ox, oy = w, w
    canvas[oy : oy + h, ox : ox + w] = line
    cx, cy = ox + w / 2, oy + h / 2
    m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    rotated = cv2.warpAffine(canvas, m, canvas.shape[::-1], flags=cv2.INTER_CUBIC, borderValue=255)
    corners = np.array([[ox, oy], [ox + w, oy], [ox + w, oy + h], [ox, oy + h]], np.float64)
    # rotate corners as pixel-edge coordinates (OpenCV rotates pixel centres)
    pts = (corners - 0.5) @ m[:, :2].T + m[:, 2] + 0.5
    crop = crop_box(rotated, Box(tuple(map(tuple, pts))))
    assert crop.shape == line.shape
    assert np.abs(crop.astype(int) - line).mean() < 12
    upside_down = crop_box(rotated, Box(tuple(map(tuple, pts[[2, 3, 0, 1]]))))
    assert np.abs(upside_down[::-1, ::-1].astype(int) - line).mean() < 12


@pytest.mark.parametrize("k", [1, 2, 3])
def test_crop_of_a_quarter_turned_box_is_the_upright_crop(k: int) -> None:
    """A line of a page turned by k quarter turns crops to exactly the upright line's pixels."""
    from crnn_ocr.detect import crop_box

    rng = np.random.default_rng(k)
    page = rng.integers(0, 256, (60, 90), dtype=np.uint8)
    upright = Box.from_rect(10.4, 7.6, 50.2, 20.1)  # not on whole pixels
    turned = np.ascontiguousarray(np.rot90(page, k))
    def turn_point(x: float, y: float) -> tuple[float, float]:
        """Edge coordinates on the page -> on the page turned by np.rot90(k)."""
        width = page.shape[1]
        for i in range(k):
            x, y = y, width - x  # one counter-clockwise quarter turn
            width = page.shape[0] if i % 2 == 0 else page.shape[1]
        return x, y

    box = Box(tuple(turn_point(x, y) for x, y in upright.points))  # type: ignore[arg-type]
    np.testing.assert_array_equal(crop_box(turned, box), crop_box(page, upright))
