"""Preprocessing steps, one table each, and the Preprocessor's order, record and transform."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from render import render_line, render_page, rotate_image

from crnn_ocr.preprocess import (
    Preprocessed,
    Preprocessor,
    binarize,
    clahe,
    denoise,
    deskew,
    estimate_skew,
    is_dark_background,
    morph_close,
    resize_to_height,
    rotate,
    to_gray,
)
from crnn_ocr.types import PreprocessOptions

PAGE_LINES = [
    "第一行文字识别测试内容",
    "Second line here with words",
    "第三行 mixed text 混合排版",
    "Another English line, longer",
    "最后一行，结束。",
]


@pytest.fixture(scope="module")
def line() -> np.ndarray:
    return render_line("识别 OCR 测试 text", size=32, pad=12)


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    img, _ = render_page(PAGE_LINES, size=28)
    return img


def colour(gray: np.ndarray, fg=(30, 60, 200), bg=(230, 240, 250)) -> np.ndarray:
    """Grey text image -> BGR with text colour ``fg`` on ``bg``."""
    t = (255 - gray.astype(np.float32)) / 255.0
    out = np.array(bg, np.float32) * (1 - t[..., None]) + np.array(fg, np.float32) * t[..., None]
    return np.rint(out).astype(np.uint8)


# ---- single steps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("img", "expected"),
    [
        (np.full((2, 3), 77, np.uint8), np.full((2, 3), 77, np.uint8)),
        (np.full((2, 3, 3), (255, 0, 0), np.uint8), np.full((2, 3), 29, np.uint8)),  # blue
        (np.full((2, 3, 3), (0, 0, 255), np.uint8), np.full((2, 3), 76, np.uint8)),  # red
        (np.full((2, 3, 4), (0, 255, 0, 9), np.uint8), np.full((2, 3), 150, np.uint8)),  # green BGRA
        (np.full((2, 3, 1), 77, np.uint8), np.full((2, 3), 77, np.uint8)),  # one channel (a line crop)
    ],
)
def test_to_gray(img: np.ndarray, expected: np.ndarray) -> None:
    out = to_gray(img)
    assert out.shape == expected.shape
    assert np.abs(out.astype(int) - expected).max() <= 1


@pytest.mark.parametrize(
    "bad", [np.zeros((3, 3), np.float32), np.zeros((3, 3, 2), np.uint8), np.zeros((0, 3), np.uint8)]
)
def test_steps_reject_bad_arrays(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        to_gray(bad)


@pytest.mark.parametrize(("make", "dark"), [(lambda p: p, False), (lambda p: 255 - p, True)])
def test_is_dark_background(page: np.ndarray, make, dark: bool) -> None:
    assert is_dark_background(make(page)) is dark


@pytest.mark.parametrize("as_colour", [False, True])
def test_clahe_raises_contrast_of_a_dull_image(line: np.ndarray, as_colour: bool) -> None:
    dull = (110 + line.astype(np.float32) * (40 / 255)).astype(np.uint8)  # text 110, paper 150
    img = cv2.cvtColor(dull, cv2.COLOR_GRAY2BGR) if as_colour else dull
    out = clahe(img)
    assert out.shape == img.shape
    text = line < 100
    before = to_gray(img)[~text].mean() - to_gray(img)[text].mean()
    after = to_gray(out)[~text].mean() - to_gray(out)[text].mean()
    assert after > 1.25 * before


@pytest.mark.parametrize("as_colour", [False, True])
@pytest.mark.parametrize("amount", [0.02, 0.05])
def test_denoise_removes_salt_and_pepper(line: np.ndarray, as_colour: bool, amount: float) -> None:
    rng = np.random.default_rng(0)
    noisy = line.copy()
    mask = rng.random(line.shape) < amount
    noisy[mask] = rng.choice([0, 255], mask.sum()).astype(np.uint8)
    img = cv2.cvtColor(noisy, cv2.COLOR_GRAY2BGR) if as_colour else noisy
    out = denoise(img)
    assert out.shape == img.shape
    paper = cv2.erode(line, np.ones((5, 5), np.uint8)) > 250  # paper at least 2 px from ink
    text = cv2.dilate(line, np.ones((3, 3), np.uint8)) < 64  # stroke cores
    specks_before = np.mean(to_gray(img)[paper] < 128)
    specks_after = np.mean(to_gray(out)[paper] < 128)
    assert specks_before > amount / 3
    assert specks_after < 0.05 * specks_before
    assert np.mean(to_gray(out)[text] < 128) > 0.9  # strokes survive


@pytest.mark.parametrize(
    "make",
    [
        lambda g: g,  # black on white
        lambda g: 255 - g,  # white on black
        lambda g: (60 + g.astype(np.float32) * 0.5).astype(np.uint8),  # low contrast, dim
        lambda g: colour(g),  # colour input
        lambda g: np.clip(
            g.astype(np.int16) + np.linspace(-60, 0, g.shape[1], dtype=np.int16), 0, 255
        ).astype(np.uint8),  # uneven lighting
    ],
    ids=["dark-on-light", "light-on-dark", "low-contrast", "colour", "gradient"],
)
def test_binarize_gives_dark_text_on_white(line: np.ndarray, make) -> None:
    out = binarize(make(line))
    assert out.shape == line.shape and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 255}
    text = line < 64
    paper = cv2.erode(line, np.ones((7, 7), np.uint8)) > 250  # paper at least 3 px from ink
    assert (out[text] == 0).mean() > 0.85
    assert (out[paper] == 255).mean() > 0.98


def test_binarize_rejects_even_block() -> None:
    with pytest.raises(ValueError):
        binarize(np.full((20, 20), 200, np.uint8), block_size=10)


@pytest.mark.parametrize("gap", [1, 2])
def test_morph_close_fills_gaps_in_dark_strokes(gap: int) -> None:
    img = np.full((20, 40), 255, np.uint8)
    img[8:12, 5:35] = 0
    img[8:12, 20 : 20 + gap] = 255  # a break in the stroke
    img[9, 10] = 255  # a pinhole
    out = morph_close(img, ksize=3)
    assert (out[8:12, 5:35] == 0).all()
    assert (out[:6] == 255).all() and (out[14:] == 255).all()  # the stroke does not grow


def test_morph_close_keeps_colour_shape(line: np.ndarray) -> None:
    assert morph_close(colour(line)).shape == line.shape + (3,)


# ---- skew --------------------------------------------------------------------------------------


@pytest.mark.parametrize("angle", [-10.0, -6.5, -3.0, -1.2, 0.0, 0.8, 2.5, 5.0, 7.3, 10.0])
def test_estimate_skew_recovers_known_angle(page: np.ndarray, angle: float) -> None:
    assert abs(estimate_skew(rotate_image(page, angle)) - angle) <= 0.5


@pytest.mark.parametrize(
    ("make", "angle"),
    [
        (lambda p: 255 - p, 4.0),  # light on dark
        (lambda p: colour(p), -6.0),  # colour
        (lambda p: render_line("单行的文本 single line of text", size=32), 6.0),  # one line
    ],
    ids=["inverted", "colour", "single-line"],
)
def test_estimate_skew_variants(page: np.ndarray, make, angle: float) -> None:
    img = make(page)
    bg = 0 if img.ndim == 2 and img[0, 0] < 128 else 255
    assert abs(estimate_skew(rotate_image(img, angle, bg=bg)) - angle) <= 0.5


def test_estimate_skew_of_blank_image_is_zero() -> None:
    assert estimate_skew(np.full((50, 80), 255, np.uint8)) == 0.0


@pytest.mark.parametrize("angle", [-9.0, -4.0, 3.0, 8.0])
def test_deskew_straightens_the_page(page: np.ndarray, angle: float) -> None:
    out, found = deskew(rotate_image(page, angle))
    assert abs(found - angle) <= 0.5
    assert abs(estimate_skew(out)) <= 0.3
    assert out[0, 0] == 255 and out[-1, -1] == 255  # corners filled with the paper colour


def test_deskew_leaves_straight_text_alone(page: np.ndarray) -> None:
    out, found = deskew(page)
    assert found == 0.0
    np.testing.assert_array_equal(out, page)


def test_rotate_matrix_maps_points(page: np.ndarray) -> None:
    out, m = rotate(page, 7.0)
    h, w = page.shape
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    mapped = corners @ m[:, :2].T + m[:, 2]
    assert (
        mapped.min() > -1 and mapped[:, 0].max() < out.shape[1] + 1 and mapped[:, 1].max() < out.shape[0] + 1
    )


# ---- resize ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "height", "expected"),
    [
        ((32, 100), 48, (48, 150)),
        ((64, 200), 32, (32, 100)),
        ((32, 100, 3), 16, (16, 50, 3)),
        ((40, 1), 20, (20, 1)),
        ((100, 3), 10, (10, 1)),  # min width 1
        ((32, 100), 32, (32, 100)),
    ],
)
def test_resize_to_height_keeps_aspect(
    shape: tuple[int, ...], height: int, expected: tuple[int, ...]
) -> None:
    out = resize_to_height(np.full(shape, 128, np.uint8), height)
    assert out.shape == expected
    assert out.dtype == np.uint8


def test_resize_to_height_shrinks_without_aliasing() -> None:
    stripes = np.zeros((64, 64), np.uint8)
    stripes[:, ::2] = 255  # 1-px stripes: area averaging gives flat grey, nearest would keep stripes
    out = resize_to_height(stripes, 16)
    assert np.abs(out.astype(int) - 128).max() <= 2


def test_resize_to_height_rejects_zero() -> None:
    with pytest.raises(ValueError):
        resize_to_height(np.zeros((4, 4), np.uint8), 0)


# ---- Preprocessor ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "colour_input", "steps", "ndim"),
    [
        (PreprocessOptions(), True, ("grayscale",), 2),
        (PreprocessOptions(), False, (), 2),  # already grey: nothing to do
        (PreprocessOptions(grayscale=False), True, (), 3),
        (PreprocessOptions(grayscale=False, clahe=True, denoise=True), True, ("clahe", "denoise"), 3),
        (
            PreprocessOptions(clahe=True, denoise=True, binarize=True, morph_close=True),
            True,
            ("grayscale", "clahe", "denoise", "binarize", "morph_close"),
            2,
        ),
        (PreprocessOptions(grayscale=False, binarize=True), True, ("binarize",), 2),
        (PreprocessOptions(grayscale=False, morph_close=True), True, ("morph_close",), 3),
    ],
)
def test_preprocessor_records_steps_in_order(
    page: np.ndarray, options: PreprocessOptions, colour_input: bool, steps: tuple[str, ...], ndim: int
) -> None:
    img = colour(page) if colour_input else page
    result = Preprocessor().run(img, options)
    assert isinstance(result, Preprocessed)
    assert result.steps == steps
    assert result.image.ndim == ndim and result.image.dtype == np.uint8
    assert result.angle == 0.0
    np.testing.assert_array_equal(result.transform, [[1, 0, 0], [0, 1, 0]])
    if "binarize" in steps:
        assert set(np.unique(result.image)) <= {0, 255}
    assert not np.shares_memory(result.image, img)


@pytest.mark.parametrize("angle", [-8.0, 5.0])
@pytest.mark.parametrize("grayscale", [True, False])
def test_preprocessor_deskew_transform_maps_back(page: np.ndarray, angle: float, grayscale: bool) -> None:
    # Mark one point of the page, rotate, deskew, and find the mark again in both images.
    marked = cv2.cvtColor(page, cv2.COLOR_GRAY2BGR)
    cv2.circle(marked, (60, 45), 4, (0, 0, 255), -1)
    skewed = rotate_image(marked, angle)
    result = Preprocessor().run(skewed, PreprocessOptions(grayscale=grayscale, binarize=True, deskew=True))
    assert result.steps == (("grayscale",) if grayscale else ()) + ("binarize", "deskew")
    assert abs(result.angle - angle) <= 0.5

    def red_centre(bgr: np.ndarray) -> np.ndarray:
        ys, xs = np.nonzero((bgr[..., 2] > 150) & (bgr[..., 1] < 100))
        return np.array([xs.mean(), ys.mean()])

    original_mark = red_centre(skewed)
    # Where the mark lands in the processed image: redo the same rotation on the colour image.
    straight, _ = rotate(skewed, -result.angle)
    assert straight.shape[:2] == result.image.shape[:2]
    processed_mark = red_centre(straight)
    back = result.to_original(processed_mark)[0]
    assert np.linalg.norm(back - original_mark) < 1.5
    # The transform is not the identity: mapping without it would be far off.
    assert np.linalg.norm(processed_mark - original_mark) > 3


def test_preprocessor_deskew_on_straight_page_is_identity(page: np.ndarray) -> None:
    result = Preprocessor().run(page, PreprocessOptions(deskew=True))
    assert result.steps == () and result.angle == 0.0
    np.testing.assert_array_equal(result.transform, [[1, 0, 0], [0, 1, 0]])
