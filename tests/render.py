"""Shared test helper: render text lines and pages with real fonts, encode images to bytes.

Import it from any test module as ``from render import render_line, render_page, ...`` (pytest puts
``tests/`` on ``sys.path`` because the folder has no ``__init__.py``).

Every image is uint8 grey, HxW: dark text (``fg``) on a light background (``bg``) unless asked
otherwise. Fonts are Debian packages (fonts-wqy-microhei, fonts-dejavu-core, ...); the first file
that exists in each candidate list is used.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

_ZH_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic-gbsn00lp/gbsn00lp.ttf",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
_EN_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
)


def _first_existing(candidates: tuple[str, ...]) -> str:
    for path in candidates:
        if Path(path).is_file():
            return path
    raise FileNotFoundError(f"none of these fonts is installed: {', '.join(candidates)}")


#: A font with GB2312 hanzi and Latin glyphs.
FONT_ZH: str = _first_existing(_ZH_CANDIDATES)
#: A Latin-only sans font.
FONT_EN: str = _first_existing(_EN_CANDIDATES)


@functools.lru_cache(maxsize=64)
def font(path: str | Path, size: int) -> ImageFont.FreeTypeFont:
    """The font at ``path`` in pixel ``size`` (face 0 of a .ttc), loaded once per (path, size)."""
    return ImageFont.truetype(str(path), size)


def pick_font(text: str) -> str:
    """FONT_ZH when ``text`` has any non-ASCII character, else FONT_EN."""
    return FONT_EN if text.isascii() else FONT_ZH


def _draw_baseline_strip(text: str, font_path: str, size: int, fg: int, bg: int) -> np.ndarray:
    """One line drawn on a strip as tall as the font's ascent + descent (baseline at ascent).

    Returns HxW uint8; W is the advance width of ``text``. Keeping the font's full height (instead
    of the ink) keeps baselines of neighbouring lines aligned the way real documents are.
    """
    f = font(font_path, size)
    ascent, descent = f.getmetrics()
    x0, _, x1, _ = f.getbbox(text, anchor="ls")
    left = max(0, -int(x0))
    width = max(1, left + int(np.ceil(max(x1, f.getlength(text)))) + 1)
    canvas = Image.new("L", (width, ascent + descent), color=bg)
    ImageDraw.Draw(canvas).text((left, ascent), text, font=f, fill=fg, anchor="ls")
    return np.asarray(canvas, dtype=np.uint8)


def _ink_bbox(img: np.ndarray, bg: int) -> tuple[int, int, int, int] | None:
    """(x, y, w, h) of pixels that differ from ``bg`` by more than 64 grey levels, or None."""
    ink = np.abs(img.astype(np.int16) - bg) > 64
    if not ink.any():
        return None
    ys, xs = np.nonzero(ink)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def render_line(
    text: str,
    *,
    font_path: str | Path | None = None,
    size: int = 32,
    pad: int = 8,
    fg: int = 0,
    bg: int = 255,
    height: int | None = None,
) -> np.ndarray:
    """``text`` as one line: HxW uint8 grey, the ink bounding box plus ``pad`` pixels on each side.

    ``font_path=None`` picks FONT_ZH for text with non-ASCII characters, else FONT_EN. ``height``
    (optional) rescales the result to that many rows, aspect preserved. Text with no ink (spaces)
    gives a ``size``-tall blank strip.
    """
    path = str(font_path) if font_path is not None else pick_font(text)
    strip = _draw_baseline_strip(text, path, size, fg, bg)
    bbox = _ink_bbox(strip, bg)
    if bbox is None:
        ink = np.full((size, max(1, strip.shape[1])), bg, dtype=np.uint8)
    else:
        x, y, w, h = bbox
        ink = strip[y : y + h, x : x + w]
    out = cv2.copyMakeBorder(ink, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=int(bg))
    if height is not None:
        new_w = max(1, round(out.shape[1] * height / out.shape[0]))
        interp = cv2.INTER_AREA if height < out.shape[0] else cv2.INTER_CUBIC
        out = cv2.resize(out, (new_w, height), interpolation=interp)
    return np.ascontiguousarray(out)


def render_page(
    lines: list[str],
    *,
    size: int = 28,
    line_gap: int | None = None,
    margin: int | None = None,
    width: int | None = None,
    columns: int | None = None,
    column_gap: int | None = None,
    font_path: str | Path | None = None,
    fg: int = 0,
    bg: int = 255,
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A page of text lines and each line's true ink bbox (x, y, w, h), in the order of ``lines``.

    Lines are left-aligned, one per row, ``line_gap`` pixels (default ``size // 2``) between the
    font-height strips of consecutive rows, ``margin`` (default ``size``) around the page.
    ``columns=k`` lays the lines out row-major in k columns: ``lines[0]`` left of ``lines[1]`` on
    the first row (k=2), and so on, so list order is reading order of a detector that goes
    top-to-bottom then left-to-right. Columns are ``column_gap`` (default ``3 * size``) apart.
    ``width`` (optional) widens the page; it must fit the text. Lines with no ink are skipped in
    the bbox list (none is returned for them), so pass only lines with visible characters.
    """
    if not lines:
        raise ValueError("render_page needs at least one line")
    n_cols = columns or 1
    gap = size // 2 if line_gap is None else line_gap
    margin = size if margin is None else margin
    col_gap = 3 * size if column_gap is None else column_gap

    strips = [
        _draw_baseline_strip(t, str(font_path) if font_path else pick_font(t), size, fg, bg) for t in lines
    ]
    rows = [strips[i : i + n_cols] for i in range(0, len(strips), n_cols)]
    col_widths = [max(r[c].shape[1] for r in rows if c < len(r)) for c in range(n_cols)]
    row_heights = [max(s.shape[0] for s in r) for r in rows]

    needed_w = 2 * margin + sum(col_widths) + col_gap * (n_cols - 1)
    page_w = needed_w if width is None else width
    if page_w < needed_w:
        raise ValueError(f"width={width} is too narrow for the text: need at least {needed_w}")
    page_h = 2 * margin + sum(row_heights) + gap * (len(rows) - 1)
    page = np.full((page_h, page_w), bg, dtype=np.uint8)

    boxes: list[tuple[int, int, int, int]] = []
    y = margin
    for row, row_h in zip(rows, row_heights):
        x = margin
        for c, strip in enumerate(row):
            h, w = strip.shape
            page[y : y + h, x : x + w] = strip
            bbox = _ink_bbox(strip, bg)
            if bbox is not None:
                bx, by, bw, bh = bbox
                boxes.append((x + bx, y + by, bw, bh))
            x += col_widths[c] + col_gap
        y += row_h + gap
    return page, boxes


def rotate_image(img: np.ndarray, degrees: float, *, bg: int = 255) -> np.ndarray:
    """``img`` rotated counter-clockwise by ``degrees`` on a canvas grown to hold all of it."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    new_w, new_h = int(np.ceil(w * cos + h * sin)), int(np.ceil(w * sin + h * cos))
    m[0, 2] += new_w / 2 - w / 2
    m[1, 2] += new_h / 2 - h / 2
    fill = (bg,) * (3 if img.ndim == 3 else 1)
    return cv2.warpAffine(
        img, m, (new_w, new_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=fill
    )


def to_png_bytes(img: np.ndarray) -> bytes:
    """PNG encoding of a grey HxW or BGR HxWx3 uint8 image."""
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def to_jpeg_bytes(img: np.ndarray, quality: int = 90) -> bytes:
    """JPEG encoding (``quality`` 1..100) of a grey HxW or BGR HxWx3 uint8 image."""
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


#: Lines of the scrolling-text video (live streams: tests/test_live_browser.py, benchmarks/stream.py),
#: each read exactly by the shipped model in a 640x360 frame.
SCROLL_LINES = (
    "实时字幕测试 Live OCR",
    "第二行文字 Second line",
    "Hello world 2026",
    "中文识别很快",
    "摄像头对准文档",
    "Camera pointed at text",
    "屏幕共享也可以",
    "Screen sharing works",
    "最后一行 The end",
)


def scrolling_text_frames(
    lines: tuple[str, ...] | list[str] = SCROLL_LINES,
    *,
    width: int = 640,
    height: int = 360,
    fps: int = 5,
    hold_s: float = 1.6,
    step_lines: int = 1,
    size: int | None = None,
) -> list[np.ndarray]:
    """Grey frames of ``lines`` scrolling up like a page under a scroll wheel: the view holds
    still ``hold_s`` seconds, then scrolls ``step_lines`` lines in two frames (half a step, then
    the rest), until the last line has been in view; then it holds once more. ``size`` (default
    height / 10) is the font size; the text starts ``size`` from the left and top."""
    size = size or height // 10
    page, boxes = render_page(list(lines), size=size, width=width)
    step = (boxes[1][1] - boxes[0][1]) * step_lines
    last = max(0, page.shape[0] - height)
    page = cv2.copyMakeBorder(page, 0, max(0, height - page.shape[0]) + step, 0, 0, cv2.BORDER_CONSTANT, value=255)
    hold = max(1, round(hold_s * fps))
    frames, top = [], 0
    while True:
        frames += [page[top : top + height]] * hold
        if top >= last:
            return [np.ascontiguousarray(f) for f in frames]
        frames.append(page[top + step // 2 : top + step // 2 + height])
        top = min(top + step, last)
