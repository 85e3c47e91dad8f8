"""Render one text line as a degraded grey crop of fixed height, deterministically from an rng.

Pipeline (each stage a small function below):
  ink mask (PIL, chosen face/size/spacing/stroke) + clutter masks (rules, underline, neighbouring lines)
  → geometry (rotation, perspective, curvature) → crop with random margins
  → compose on a background (paper texture, gradient, solid; dark-on-light or inverted)
  → photometric degradations (lighting, shadow, blur, noise, low resolution, JPEG, binarization)
  → resize to the model height, aspect kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .fonts import FontFace, FontSet

Rng = np.random.Generator


@dataclass(frozen=True)
class RenderConfig:
    height: int = 32
    max_width: int = 512
    min_font_px: int = 18
    max_font_px: int = 56
    latin_font_share: float = 0.6  # ASCII-only text: chance of a Latin (vs CJK) face
    degrade: float = 1.0  # 0 = clean renders only (scales every degradation probability)
    # Fax / low-dpi bilevel scans, half-tone shaded fields and smudges beside the text (added in
    # training session v1e; off by default so fixed sets such as eval/synth_heldout_fonts still
    # render exactly as committed).
    scan_effects: bool = False
    # Font augmentation (added with model v2): condensed/extended widths, heavier or lighter
    # strokes, slanted (oblique) lettering. Off by default for the same reason as scan_effects.
    font_styles: bool = False
    # Scene words composited onto real photographs (Debian's wallpaper packages, ``scene_photos``),
    # text levels taken from the background. Off by default like the flags above.
    photo_backgrounds: bool = False


@lru_cache(maxsize=2048)
def _pil_font(path: str, index: int, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size=size, index=index)


def _family(face: FontFace) -> str:
    return " ".join(face.name.split()[:2])


#: Debian's wallpaper packages (gnome-backgrounds, mate-backgrounds, ukui-wallpapers).
PHOTO_ROOT = Path("/usr/share/backgrounds")


def scene_photos(root: Path = PHOTO_ROOT, max_side: int = 1600) -> list[np.ndarray]:
    """The wallpapers under ``root`` in grey, longest side at most ``max_side``; raises if none."""
    photos = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")):
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None or min(img.shape) < 200 or float(img.std()) < 12:  # unreadable, tiny or flat
            continue
        f = max_side / max(img.shape)
        if f < 1:
            img = cv2.resize(img, (int(img.shape[1] * f), int(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
        photos.append(img)
    if not photos:
        raise RuntimeError(f"no photographs under {root}: run scripts/install-system-deps.sh (wallpaper packages)")
    return photos


class LineRenderer:
    def __init__(self, fonts: FontSet, config: RenderConfig = RenderConfig(), heldout: bool = False):
        self.config = config
        self.photos = scene_photos() if config.photo_backgrounds else []
        cjk = fonts.heldout if heldout else fonts.cjk
        self._cjk = self._by_family(cjk)
        self._latin = self._by_family(fonts.latin)

    @staticmethod
    def _by_family(faces) -> list[list[FontFace]]:
        groups: dict[str, list[FontFace]] = {}
        for f in faces:
            groups.setdefault(_family(f), []).append(f)
        return list(groups.values())

    def pick_face(self, text: str, rng: Rng) -> FontFace | None:
        ascii_only = text.isascii()
        pools = self._latin if ascii_only and rng.random() < self.config.latin_font_share else self._cjk
        for _ in range(6):
            family = pools[int(rng.integers(len(pools)))]
            face = family[int(rng.integers(len(family)))]
            if face.covers(text):
                return face
        candidates = [f for fam in pools for f in fam if f.covers(text)]
        return candidates[int(rng.integers(len(candidates)))] if candidates else None

    def render(self, text: str, rng: Rng) -> np.ndarray | None:
        """uint8 grey image of height ``config.height``; None if no face covers ``text`` or it is too wide."""
        face = self.pick_face(text, rng)
        if face is None:
            return None
        cfg = self.config
        size = int(rng.integers(cfg.min_font_px // 2, cfg.max_font_px // 2 + 1)) * 2
        font = _pil_font(face.path, face.index, size)
        ink, box = _ink_mask(text, font, size, rng)
        if box is None:
            return None
        return self._finish(ink, box, size, text, rng)

    def render_ink(self, coverage: np.ndarray, text: str, size: int, rng: Rng) -> np.ndarray | None:
        """Like ``render``, from ink another rasteriser drew: ``coverage`` uint8, 255 = ink, black
        text on white as a browser or PDF viewer drew it at ``size`` px (``raster_lines``). The same geometry,
        backgrounds and degradations follow."""
        pad = max(4, size)
        ink = cv2.copyMakeBorder(coverage, pad, pad, 2 * pad, 2 * pad, cv2.BORDER_CONSTANT, value=0).astype(np.float32) / 255.0
        inked = ink > 0.2
        cols, rows = np.flatnonzero(inked.any(axis=0)), np.flatnonzero(inked.any(axis=1))
        if len(cols) == 0:
            return None
        # Vertical extent from the em box around the crop's middle (a browser centres the glyphs
        # in the line box; PDF crops are cut around the baseline the same way), so "ace" and "Tg" crops share a frame as Pillow's lines do.
        mid = pad + coverage.shape[0] / 2
        top = min(int(rows[0]), int(mid - 0.55 * size))
        bottom = max(int(rows[-1]) + 1, int(np.ceil(mid + 0.55 * size)))
        return self._finish(ink, (int(cols[0]), max(0, top), int(cols[-1]) + 1, min(ink.shape[0], bottom)), size, text, rng)

    def _finish(self, ink: np.ndarray, box, size: int, text: str, rng: Rng) -> np.ndarray | None:
        """Ink mask + ink box → styles, clutter, geometry, crop, composition, degradations, resize."""
        cfg = self.config
        d = cfg.degrade
        if cfg.font_styles:
            ink, box = _font_style(ink, box, size, rng)
        clutter = _clutter_mask(ink.shape, box, size, rng, d, cfg.scan_effects)
        ink, clutter, box = _geometry(ink, clutter, box, rng, d)
        x0, y0, x1, y1 = _crop_box(box, ink.shape, rng)
        ink, clutter = ink[y0:y1, x0:x1], clutter[y0:y1, x0:x1]
        img = _compose(ink, clutter, rng, d, cfg.scan_effects)
        # Fax-sized text: Latin stays legible at 9 px, hanzi need about 14.
        fax_px = ((9, 16) if text.isascii() else (14, 22)) if cfg.scan_effects else None
        img = _photometric(img, rng, d, size, fax_px)
        if cfg.scan_effects and rng.random() < 0.12 * d:  # downscaled screenshot / distant photo
            img = _small_text(img, rng, size, (7, 12) if text.isascii() else (8, 15))
        h, w = img.shape
        out_w = max(8, int(round(w * cfg.height / h)))
        if out_w > cfg.max_width:
            return None
        interp = cv2.INTER_AREA if h > cfg.height else cv2.INTER_LINEAR
        return cv2.resize(img, (out_w, cfg.height), interpolation=interp)


# ---- stages ----------------------------------------------------------------------------------


def _ink_mask(text: str, font: ImageFont.FreeTypeFont, size: int, rng: Rng):
    """Float mask in [0,1] of the text ink on a generous canvas, and the text's ink box."""
    spacing = float(rng.uniform(-0.04, 0.35)) * size if rng.random() < 0.2 else 0.0
    stroke = 1 if rng.random() < 0.08 and size >= 24 else 0
    advances = [font.getlength(c) for c in text] if spacing else None
    width = int(font.getlength(text) + (spacing * len(text) if spacing else 0)) + 4 * size
    canvas = Image.new("L", (max(width, 8), size * 4), 0)
    draw = ImageDraw.Draw(canvas)
    x, y = 2 * size, int(1.5 * size)
    if advances is None:
        draw.text((x, y), text, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    else:
        for c, adv in zip(text, advances):
            draw.text((x, y), c, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
            x += adv + spacing
    mask = np.asarray(canvas, dtype=np.float32) / 255.0
    inked = mask > 0.2
    cols, rows = np.flatnonzero(inked.any(axis=0)), np.flatnonzero(inked.any(axis=1))
    if len(cols) == 0:
        return mask, None
    # Vertical extent from the font's line metrics, so "ace" and "Tg" crops share a baseline frame.
    ascent, descent = font.getmetrics()
    top = min(int(rows[0]), y + int(0.1 * ascent))
    bottom = max(int(rows[-1]) + 1, y + int(ascent + 0.6 * descent))
    return mask, (int(cols[0]), top, int(cols[-1]) + 1, bottom)


def _font_style(ink: np.ndarray, box, size: int, rng: Rng):
    """Faces the font list lacks: condensed or extended widths (receipts, invoices, signs),
    heavier or lighter strokes than the face's own weight, oblique slant."""
    x0, y0, x1, y1 = box
    h, w = ink.shape
    if rng.random() < 0.25:  # width scaling
        sx = float(rng.uniform(0.7, 1.3))
        ink = cv2.resize(ink, (max(8, int(w * sx)), h), interpolation=cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR)
        x0, x1 = int(x0 * sx), int(np.ceil(x1 * sx))
        h, w = ink.shape
    if rng.random() < 0.15 and size >= 20:  # weight by morphology
        k = max(1, int(round(size / float(rng.uniform(16, 28)))))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k + 1, k + 1))
        ink = cv2.dilate(ink, kernel) if rng.random() < 0.6 else cv2.erode(ink, kernel) * 0.5 + ink * 0.5
    if rng.random() < 0.08:  # slant
        k = float(rng.uniform(-0.25, 0.25))
        yc = (y0 + y1) / 2
        mat = np.float32([[1, -k, k * yc], [0, 1, 0]])
        ink = cv2.warpAffine(ink, mat, (w, h), flags=cv2.INTER_LINEAR)
        pad = int(np.ceil(abs(k) * (y1 - y0) / 2))
        x0, x1 = max(0, x0 - pad), min(w, x1 + pad)
    return ink, (x0, y0, x1, y1)


def _clutter_mask(shape, box, size: int, rng: Rng, d: float, scan_effects: bool = False) -> np.ndarray:
    """Underlines, table rules and partial neighbouring lines, drawn as a separate mask."""
    h, w = shape
    x0, y0, x1, y1 = box
    th = y1 - y0
    m = np.zeros(shape, np.float32)
    thick = max(1, int(round(size / 18)))
    if rng.random() < 0.10 * d:  # underline
        yy = min(h - 1, y1 + int(rng.uniform(0.0, 0.25) * th))
        cv2.line(m, (0, yy), (w - 1, yy), 1.0, thick)
    if rng.random() < 0.08 * d:  # table rules above/below
        for yy in (y0 - int(rng.uniform(0.15, 0.5) * th), y1 + int(rng.uniform(0.15, 0.5) * th)):
            if 0 <= yy < h and rng.random() < 0.7:
                cv2.line(m, (0, yy), (w - 1, yy), 1.0, thick)
    if rng.random() < 0.06 * d:  # vertical cell borders
        for xx in (x0 - int(rng.uniform(0.2, 0.8) * th), x1 + int(rng.uniform(0.2, 0.8) * th)):
            if 0 <= xx < w:
                cv2.line(m, (xx, 0), (xx, h - 1), 1.0, thick)
    if rng.random() < 0.05 * d:  # a rule crossing the text (strike-through / form line)
        yy = int(y0 + rng.uniform(0.3, 0.8) * th)
        cv2.line(m, (0, yy), (w - 1, yy), 1.0, max(1, thick // 2))
    if scan_effects and rng.random() < 0.05 * d:  # a smudge or stamp edge before or after the text
        # Never punctuation-sized: small marks at a line's end are real full stops and hyphens.
        gap = int(rng.uniform(0.3, 0.7) * th)
        side = x0 - gap if rng.random() < 0.5 else x1 + gap
        yc = int(y0 + rng.uniform(0.2, 0.8) * th)
        ax, ay = max(1, int(rng.uniform(0.25, 0.5) * th)), max(1, int(rng.uniform(0.3, 0.6) * th))
        cv2.ellipse(m, (side, yc), (ax, ay), float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
    if rng.random() < 0.12 * d:  # fragments of the neighbouring lines (ascenders/descenders)
        for sign in (-1, 1):
            if rng.random() < 0.6:
                yc = (y0 if sign < 0 else y1) + sign * int(rng.uniform(0.25, 0.6) * th)
                n = int(rng.integers(3, 30))
                xs = np.sort(rng.integers(0, w, n))
                for xa in xs:
                    bw = int(rng.uniform(0.1, 0.7) * th)
                    bh = int(rng.uniform(0.1, 0.5) * th)
                    ya = yc - bh if sign < 0 else yc
                    cv2.rectangle(m, (int(xa), int(ya)), (int(xa) + bw, int(ya) + bh), 1.0, max(1, thick))
    return m


def _geometry(ink, clutter, box, rng: Rng, d: float):
    h, w = ink.shape
    x0, y0, x1, y1 = box
    pts = np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    r = rng.random()
    if r < 0.25 * d:  # small rotation about the text centre
        angle = float(rng.normal(0, 1.2))
        mat = cv2.getRotationMatrix2D(((x0 + x1) / 2, (y0 + y1) / 2), angle, 1.0)
        ink = cv2.warpAffine(ink, mat, (w, h), flags=cv2.INTER_LINEAR)
        clutter = cv2.warpAffine(clutter, mat, (w, h), flags=cv2.INTER_LINEAR)
        pts = cv2.transform(pts[None], mat)[0]
    elif r < 0.37 * d:  # perspective
        th = y1 - y0
        jitter = rng.uniform(-0.12, 0.12, (4, 2)).astype(np.float32) * th
        dst = pts + jitter
        mat = cv2.getPerspectiveTransform(pts, dst)
        ink = cv2.warpPerspective(ink, mat, (w, h), flags=cv2.INTER_LINEAR)
        clutter = cv2.warpPerspective(clutter, mat, (w, h), flags=cv2.INTER_LINEAR)
        pts = dst
    elif r < 0.43 * d:  # curvature (page curl / bottle labels)
        th = y1 - y0
        amp = float(rng.uniform(0.05, 0.2)) * th
        period = float(rng.uniform(1.5, 4.0)) * max(x1 - x0, 1)
        phase = float(rng.uniform(0, 2 * np.pi))
        xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        yy = yy + amp * np.sin(2 * np.pi * xx / period + phase)
        ink = cv2.remap(ink, xx, yy, cv2.INTER_LINEAR)
        clutter = cv2.remap(clutter, xx, yy, cv2.INTER_LINEAR)
        pts = pts + np.float32([[0, -amp], [0, -amp], [0, amp], [0, amp]])
    bx0, by0 = pts.min(axis=0)
    bx1, by1 = pts.max(axis=0)
    return ink, clutter, (int(bx0), int(by0), int(np.ceil(bx1)), int(np.ceil(by1)))


def _crop_box(box, shape, rng: Rng):
    """Margins like a detector's crops: a little room above/below, a little more at the ends."""
    h, w = shape
    x0, y0, x1, y1 = box
    th = max(1, y1 - y0)
    top = int(rng.uniform(0.02, 0.25) * th)
    bottom = int(rng.uniform(0.02, 0.25) * th)
    left = int(rng.uniform(0.0, 0.5) * th)
    right = int(rng.uniform(0.0, 0.5) * th)
    return max(0, x0 - left), max(0, y0 - top), min(w, x1 + right), min(h, y1 + bottom)


def _background(shape, rng: Rng, d: float) -> np.ndarray:
    h, w = shape
    level = float(rng.uniform(170, 255))
    kind = rng.random()
    if kind < 0.45 * d:  # paper texture: low-frequency noise plus fibres
        small = rng.normal(0, 1, (max(2, h // 8), max(2, w // 8))).astype(np.float32)
        tex = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        bg = level + tex * float(rng.uniform(2, 14)) + rng.normal(0, float(rng.uniform(0, 4)), (h, w))
    elif kind < 0.65 * d:  # gradient
        gx = np.linspace(0, 1, w, dtype=np.float32)[None, :]
        gy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        a, b = rng.uniform(-40, 40, 2)
        bg = level + a * gx + b * gy
    else:
        bg = np.full((h, w), level, np.float32)
    return bg.astype(np.float32)


def _compose(ink, clutter, rng: Rng, d: float, scan_effects: bool = False) -> np.ndarray:
    bg = _background(ink.shape, rng, d)
    bg_mean = float(bg.mean())
    contrast = float(rng.uniform(60, 230)) if rng.random() < 0.85 else float(rng.uniform(35, 60))
    fg = max(0.0, bg_mean - contrast)
    rule = max(0.0, bg_mean - float(rng.uniform(30, 200)))
    img = bg * (1 - clutter) + rule * clutter
    if scan_effects and rng.random() < 0.05 * d:  # a half-tone screened field (shaded form headers, fax cover boxes)
        img = img - _halftone(img.shape, rng) * float(rng.uniform(30, 110))
    img = img * (1 - ink) + fg * ink
    if rng.random() < 0.15:  # light text on a dark ground (signs, plates, dark-mode screens)
        img = 255.0 - img
    return img


def _halftone(shape, rng: Rng) -> np.ndarray:
    """A printer's dot screen in [0, 1] (1 = dot), usually at 45 degrees, over the whole crop or
    a band of it."""
    h, w = shape
    period = float(rng.uniform(0.1, 0.3)) * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = np.deg2rad(45.0 if rng.random() < 0.7 else float(rng.uniform(0, 90)))
    u = xx * np.cos(theta) + yy * np.sin(theta)
    v = -xx * np.sin(theta) + yy * np.cos(theta)
    wave = np.cos(2 * np.pi * u / period) + np.cos(2 * np.pi * v / period)
    dots = (wave > float(rng.uniform(-0.6, 1.2))).astype(np.float32)
    if rng.random() < 0.4:  # a band (a shaded field boundary) rather than the whole crop
        x = int(rng.integers(0, w))
        if rng.random() < 0.5:
            dots[:, x:] = 0
        else:
            dots[:, :x] = 0
    return dots


def _fax(img: np.ndarray, rng: Rng, size: int, text_px: tuple[int, int]) -> np.ndarray:
    """A fax or low-dpi bilevel scan: the line shrunk until the text is ``text_px`` pixels tall,
    noise, a hard threshold that thins or fattens the strokes, and back up to the working size."""
    h, w = img.shape
    f = float(rng.uniform(*text_px)) / max(size, 1)
    if f >= 1.0:
        return img
    small = cv2.resize(img, (max(4, int(w * f)), max(4, int(h * f))), interpolation=cv2.INTER_AREA).astype(np.float32)
    small += rng.normal(0, float(rng.uniform(0, 18)), small.shape).astype(np.float32)
    small = np.clip(small, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    _, small = cv2.threshold(small, float(np.clip(otsu + rng.uniform(-25, 25), 1, 254)), 255, cv2.THRESH_BINARY)
    if rng.random() < 0.2:  # toner spread or drop-out
        k = np.ones((2, 1) if rng.random() < 0.5 else (1, 2), np.uint8)
        small = cv2.erode(small, k) if rng.random() < 0.5 else cv2.dilate(small, k)
    interp = cv2.INTER_NEAREST if rng.random() < 0.5 else cv2.INTER_LINEAR
    return cv2.resize(small, (w, h), interpolation=interp)


def _small_text(img: np.ndarray, rng: Rng, size: int, text_px: tuple[int, int]) -> np.ndarray:
    """Text that reached the camera or the screenshot small: the line shrunk until the text is
    ``text_px`` pixels tall (hanzi 8-15, Latin 7-12), maybe a little blur, sensor noise and JPEG
    at that size. Returned small: the model-height resize blows it up as inference does."""
    h, w = img.shape
    f = float(rng.uniform(*text_px)) / max(size, 1)
    if f >= 1.0:
        return img
    small = cv2.resize(img, (max(4, int(round(w * f))), max(4, int(round(h * f)))), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.4:
        small = cv2.GaussianBlur(small, (0, 0), sigmaX=float(rng.uniform(0.25, 0.7)))
    if rng.random() < 0.5:
        noisy = small.astype(np.float32) + rng.normal(0, float(rng.uniform(1, 8)), small.shape).astype(np.float32)
        small = np.clip(noisy, 0, 255).astype(np.uint8)
    if rng.random() < 0.6:
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 71))])
        small = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return small


def _photometric(img: np.ndarray, rng: Rng, d: float, size: int, fax_px: tuple[int, int] | None = None) -> np.ndarray:
    """Lighting, shadow, blur, noise, low resolution, JPEG, binarisation; ``fax_px`` (text height
    range in pixels) turns on fax-like bilevel scans."""
    h, w = img.shape
    if rng.random() < 0.2 * d:  # uneven lighting
        gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
        a, b = rng.uniform(-0.35, 0.35, 2)
        img = img * (1 + a * gx + b * gy)
    if rng.random() < 0.08 * d:  # a soft shadow over part of the line
        x = int(rng.integers(0, w))
        shade = np.ones((h, w), np.float32)
        shade[:, x:] = float(rng.uniform(0.45, 0.8))
        shade = cv2.GaussianBlur(shade, (0, 0), sigmaX=max(1.0, w / 30))
        img = img * (shade if rng.random() < 0.5 else shade[:, ::-1])
    if rng.random() < 0.3 * d:
        sigma = float(rng.uniform(0.3, 1.0)) * size / 32
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma)
    elif rng.random() < 0.05 * d:  # motion blur
        k = int(rng.integers(3, 7))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        img = cv2.filter2D(img, -1, kernel)
    if rng.random() < 0.35 * d:
        img = img + rng.normal(0, float(rng.uniform(2, 14)), img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.2 * d:  # low resolution: down then up
        f = float(rng.uniform(0.35, 0.75))
        small = cv2.resize(img, (max(2, int(w * f)), max(2, int(h * f))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.25 * d:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    if fax_px is not None and rng.random() < 0.10 * d:  # fax / low-dpi bilevel scan
        img = _fax(img, rng, size, fax_px)
    elif rng.random() < 0.07 * d:  # binarized scan
        if rng.random() < 0.5:
            _, img = cv2.threshold(img, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        else:
            block = max(3, (h // 2) | 1)
            img = cv2.adaptiveThreshold(img, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, 10)
    if rng.random() < 0.03 * d:  # salt and pepper
        m = rng.random(img.shape)
        img = img.copy()
        img[m < 0.01] = 0
        img[m > 0.99] = 255
    return img


# ---- scene words (street signs, shop fronts, posters) ----------------------------------------


def _luma(rgb) -> float:
    r, g, b = rgb
    return 0.299 * r + 0.587 * g + 0.114 * b


def _scene_levels(rng: Rng) -> tuple[float, float]:
    """Background and text grey levels as a camera sees coloured signs: random colours, often
    light-on-dark, with the luminance contrast that survives grey conversion (sometimes little)."""
    for _ in range(20):
        bg = _luma(rng.integers(0, 256, 3))
        fg = _luma(rng.integers(0, 256, 3))
        if abs(bg - fg) >= 35:
            return bg, fg
    return 200.0, 40.0


def _scene_background(shape, level: float, rng: Rng) -> np.ndarray:
    h, w = shape
    kind = rng.random()
    if kind < 0.4:  # textured wall / photo clutter: low-frequency noise at two scales
        bg = np.full((h, w), level, np.float32)
        for scale, amp in ((max(2, h // 3), 25), (max(2, h // 12), 10)):
            small = rng.normal(0, 1, (max(2, h // scale), max(2, w // scale))).astype(np.float32)
            bg += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * float(rng.uniform(0, amp))
    elif kind < 0.7:  # gradient (lit signs, glossy panels)
        gx = np.linspace(0, 1, w, dtype=np.float32)[None, :]
        gy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        a, b = rng.uniform(-50, 50, 2)
        bg = level + a * gx + b * gy
    else:
        bg = np.full((h, w), level, np.float32)
    if rng.random() < 0.3:  # a panel boundary or sign edge crossing the crop
        edge_level = float(rng.uniform(0, 255))
        if rng.random() < 0.5:
            y = int(rng.integers(0, h))
            part = (slice(y, h), slice(None)) if rng.random() < 0.5 else (slice(0, y), slice(None))
        else:
            x = int(rng.integers(0, w))
            part = (slice(None), slice(x, w)) if rng.random() < 0.5 else (slice(None), slice(0, x))
        bg[part] = bg[part] * 0.4 + edge_level * 0.6
    return bg


def _photo_background(shape, photos: list[np.ndarray], rng: Rng) -> tuple[np.ndarray, float]:
    """A patch of a real photograph at a random scale (sometimes flattened towards its mean, as a
    painted sign or panel in the photo), and a text level that stands out from it."""
    h, w = shape
    photo = photos[int(rng.integers(len(photos)))]
    ph, pw = photo.shape
    scale = float(rng.uniform(0.4, 2.5))
    ch, cw = min(ph, max(4, int(h * scale))), min(pw, max(4, int(w * scale)))
    y, x = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    bg = cv2.resize(photo[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA if scale > 1 else cv2.INTER_LINEAR).astype(np.float32)
    if rng.random() < 0.5:  # a sign on the wall: the photo's texture, toned down
        a = float(rng.uniform(0.2, 0.7))
        bg = bg * a + float(rng.uniform(0, 255)) * (1 - a)
    mean = float(bg.mean())
    contrast = float(rng.uniform(45, 170))
    fg = mean - contrast if (mean > 128) == (rng.random() < 0.8) else mean + contrast
    return bg, float(np.clip(fg, 0, 255))


def render_scene(renderer: LineRenderer, text: str, rng: Rng) -> np.ndarray | None:
    """A scene-text word crop: bold display faces, tight crops that cut into the letters' extent,
    strong perspective and rotation, coloured grounds, outlines and shadows, camera blur."""
    cfg = renderer.config
    pools = renderer._latin if text.isascii() and rng.random() < 0.85 else renderer._cjk
    face = None
    for _ in range(8):
        family = pools[int(rng.integers(len(pools)))]
        bold = [f for f in family if "Bold" in f.name or "Black" in f.name or "Heavy" in f.name]
        group = bold if bold and rng.random() < 0.55 else family
        cand = group[int(rng.integers(len(group)))]
        if cand.covers(text):
            face = cand
            break
    if face is None:
        face = renderer.pick_face(text, rng)
        if face is None:
            return None
    size = int(rng.integers(14, 33)) * 2
    font = _pil_font(face.path, face.index, size)
    ink, box = _ink_mask(text, font, size, rng)
    if box is None:
        return None
    # Scene crops hug the ink, not the font's line box.
    inked = ink > 0.2
    rows = np.flatnonzero(inked.any(axis=1))
    box = (box[0], int(rows[0]), box[2], int(rows[-1]) + 1)
    x0, y0, x1, y1 = box
    th = y1 - y0
    h, w = ink.shape
    effect = rng.random()
    outline = np.zeros_like(ink)
    if effect < 0.15:  # outlined letters
        k = max(3, (size // 10) | 1)
        outline = np.clip(cv2.dilate(ink, np.ones((k, k), np.uint8)) - ink, 0, 1)
    elif effect < 0.30:  # drop shadow
        dx, dy = (int(v) for v in rng.integers(1, max(2, size // 10) + 1, 2))
        mat = np.float32([[1, 0, dx], [0, 1, dy]])
        outline = np.clip(cv2.warpAffine(ink, mat, (w, h)) - ink, 0, 1)
    elif effect < 0.38:  # extruded (3-D) letters: a stack of shifted copies behind the face
        steps = int(rng.integers(2, max(3, size // 6) + 1))
        ux, uy = rng.choice([-1.0, 1.0]) * float(rng.uniform(0.3, 1.0)), float(rng.uniform(0.3, 1.0))
        for k in range(1, steps + 1):
            mat = np.float32([[1, 0, ux * k], [0, 1, uy * k]])
            outline = np.maximum(outline, cv2.warpAffine(ink, mat, (w, h)))
        outline = np.clip(outline - ink, 0, 1)
    # Geometry: stronger than for documents.
    pts = np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    if rng.random() < 0.6:
        jitter = rng.uniform(-0.25, 0.25, (4, 2)).astype(np.float32) * th
        dst = pts + jitter
        mat = cv2.getPerspectiveTransform(pts, dst)
    else:
        angle = float(rng.normal(0, 3.0)) if rng.random() < 0.8 else float(rng.uniform(-18, 18))
        mat = np.vstack([cv2.getRotationMatrix2D(((x0 + x1) / 2, (y0 + y1) / 2), angle, 1.0), [0, 0, 1]]).astype(np.float32)
    if rng.random() < 0.3:  # oblique / italic display lettering: a horizontal shear about the centre
        k, cy = float(rng.uniform(-0.45, 0.45)), (y0 + y1) / 2
        mat = np.float32([[1, -k, k * cy], [0, 1, 0], [0, 0, 1]]) @ mat
    dst = cv2.perspectiveTransform(pts[None], mat)[0]
    ink = cv2.warpPerspective(ink, mat, (w, h), flags=cv2.INTER_LINEAR)
    outline = cv2.warpPerspective(outline, mat, (w, h), flags=cv2.INTER_LINEAR)
    bx0, by0 = dst.min(axis=0)
    bx1, by1 = dst.max(axis=0)
    # Tight, sometimes cutting crops; looser at the word ends.
    top, bottom = (float(v) * th for v in rng.uniform(-0.06, 0.18, 2))
    left, right = (float(v) * th for v in rng.uniform(-0.03, 0.45, 2))
    cx0, cy0 = max(0, int(bx0 - left)), max(0, int(by0 - top))
    cx1, cy1 = min(w, int(np.ceil(bx1 + right))), min(h, int(np.ceil(by1 + bottom)))
    if cx1 - cx0 < 4 or cy1 - cy0 < 4:
        return None
    ink, outline = ink[cy0:cy1, cx0:cx1], outline[cy0:cy1, cx0:cx1]
    if renderer.photos and rng.random() < 0.35:
        img, fg_level = _photo_background(ink.shape, renderer.photos, rng)
    else:
        bg_level, fg_level = _scene_levels(rng)
        img = _scene_background(ink.shape, bg_level, rng)
    if rng.random() < 0.15:  # letters of a neighbouring word peeking in at an end
        peek = np.zeros_like(ink)
        hh, ww = ink.shape
        bw = int(rng.uniform(0.15, 0.5) * hh)
        xs = 0 if rng.random() < 0.5 else ww - bw
        cv2.rectangle(peek, (xs, int(0.1 * hh)), (xs + bw, int(0.9 * hh)), 1.0, max(1, hh // 8))
        img = img * (1 - peek) + fg_level * peek
    edge_level = float(rng.uniform(0, 255))
    img = img * (1 - outline) + edge_level * outline
    img = img * (1 - ink) + fg_level * ink
    if rng.random() < 0.1:  # glow / bleeding of lit letters
        img = np.maximum(img, cv2.GaussianBlur(ink, (0, 0), sigmaX=max(1.0, size / 12)) * fg_level)
    img = _scene_photometric(img, rng, size)
    hh, ww = img.shape
    out_w = max(8, int(round(ww * cfg.height / hh)))
    if out_w > cfg.max_width:
        return None
    interp = cv2.INTER_AREA if hh > cfg.height else cv2.INTER_LINEAR
    return cv2.resize(img, (out_w, cfg.height), interpolation=interp)


def _scene_photometric(img: np.ndarray, rng: Rng, size: int) -> np.ndarray:
    h, w = img.shape
    if rng.random() < 0.35:  # uneven light / reflections
        gx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        gy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
        a, b = rng.uniform(-0.4, 0.4, 2)
        img = img * (1 + a * gx + b * gy)
    if rng.random() < 0.55:  # defocus
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=float(rng.uniform(0.4, 1.3)) * size / 32)
    elif rng.random() < 0.15:  # motion blur
        k = int(rng.integers(3, 9))
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        img = cv2.filter2D(img, -1, kernel)
    if rng.random() < 0.5:
        img = img + rng.normal(0, float(rng.uniform(2, 16)), img.shape).astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.45:  # small in the photo: down then up
        f = float(rng.uniform(0.3, 0.75))
        small = cv2.resize(img, (max(2, int(w * f)), max(2, int(h * f))), interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.4:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(15, 85))])
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    return img


# ---- licence plates --------------------------------------------------------------------------

# Chinese plate geometry (GA 36-2018, in mm): 440 x 140 plate, 45 x 90 characters on a 57 mm pitch,
# with a 34 mm gap holding a dot after the second character.
_PLATE_COLOURS = (  # (share, background grey range, text grey range)
    (0.70, (45, 120), (215, 255)),  # blue plate, white text
    (0.15, (160, 215), (10, 50)),  # yellow plate, black text
    (0.10, (140, 200), (10, 45)),  # green (new energy) plate, black text
    (0.05, (200, 245), (10, 45)),  # white plate, black text
)


def render_plate(renderer: LineRenderer, text: str, rng: Rng) -> np.ndarray | None:
    """A Chinese licence-plate crop as traffic cameras see it: tall narrow glyphs on a fixed pitch,
    a dot after the province and city letter, light-on-blue or dark-on-yellow/green, a frame,
    perspective, and very low resolution (LPR crops are about 94 x 24 pixels)."""
    cfg = renderer.config
    scale = float(rng.uniform(2.0, 3.2))  # pixels per mm / 10 while drawing
    cw, ch, pitch = int(45 * scale), int(90 * scale), 57 * scale
    gap = 34 * scale
    n = len(text)
    plate_w = int(2 * 15 * scale + (n - 1) * pitch + gap + cw)
    plate_h = int(140 * scale)
    r = rng.random()
    acc = 0.0
    for share, bg_range, fg_range in _PLATE_COLOURS:
        acc += share
        if r < acc:
            break
    bg = float(rng.uniform(*bg_range))
    fg = float(rng.uniform(*fg_range))
    ink = np.zeros((plate_h, plate_w), np.float32)
    x = 15 * scale
    y0 = int((plate_h - ch) / 2)
    # The plate typeface (GA 36) is a condensed sans of medium weight: bold and regular faces both.
    latin_pool = _plate_faces(renderer._latin, ("Sans", "Heros", "Gothic", "Helvetica"), need_bold=rng.random() < 0.5)
    cjk_pool = _plate_faces(renderer._cjk, ("Hei", "Sans", "Bold", "Black", "Medium", "Heavy"), need_bold=False)
    latin_face = latin_pool[int(rng.integers(len(latin_pool)))]
    squeeze = float(rng.uniform(0.7, 0.95))  # plate glyphs are narrower than a font's
    for i, c in enumerate(text):
        pool = cjk_pool if not c.isascii() else [latin_face]
        face = next((f for f in (pool[int(rng.integers(len(pool)))] for _ in range(6)) if f.covers(c)), None)
        if face is None:
            face = next((f for f in pool if f.covers(c)), None)
            if face is None:
                return None
        glyph = _PLATE_SHAPES[c](rng) if c in _PLATE_SHAPES and rng.random() < 0.7 else _glyph(face, c, rng)
        if glyph is None:
            return None
        gh, gw = glyph.shape
        w_i = cw if not c.isascii() else max(2, min(cw, int(gw * ch / gh * squeeze * 1.25)))
        cell = cv2.resize(glyph, (w_i, ch), interpolation=cv2.INTER_AREA)
        xi = int(x) + (cw - w_i) // 2
        ink[y0 : y0 + ch, xi : xi + w_i] = np.maximum(ink[y0 : y0 + ch, xi : xi + w_i], cell)
        x += pitch
        if i == 1:  # the separator dot
            cx, cy, rad = int(x - pitch + cw + gap / 2 + (pitch - cw) / 2), plate_h // 2, max(1, int(5 * scale))
            cv2.circle(ink, (cx, cy), rad, 1.0, -1)
            x += gap
    if bg < fg and rng.random() < 0.8:  # the white frame of blue plates
        t = max(1, int(3 * scale))
        cv2.rectangle(ink, (t * 2, t * 2), (plate_w - 2 * t - 1, plate_h - 2 * t - 1), 1.0, t)
    # Surroundings (car body), then the plate, then geometry and a loose or cutting crop.
    pad_x, pad_y = int(plate_w * 0.15), int(plate_h * 0.35)
    H, W = plate_h + 2 * pad_y, plate_w + 2 * pad_x
    body = float(rng.uniform(0, 255))
    img = np.full((H, W), body, np.float32) + rng.normal(0, 6, (H, W)).astype(np.float32)
    plate = np.full((plate_h, plate_w), bg, np.float32)
    if rng.random() < 0.4:  # gradient / reflection on the plate
        plate += np.linspace(-1, 1, plate_w, dtype=np.float32)[None, :] * float(rng.uniform(-25, 25))
    plate = plate * (1 - ink) + fg * ink
    img[pad_y : pad_y + plate_h, pad_x : pad_x + plate_w] = plate
    src = np.float32([[pad_x, pad_y], [pad_x + plate_w, pad_y], [pad_x + plate_w, pad_y + plate_h], [pad_x, pad_y + plate_h]])
    # Cameras look at plates from the side and from above: the plate turns in the image (up to about
    # 12 degrees) and its glyphs lean (a horizontal shear), on top of a small perspective jitter.
    centre = src.mean(axis=0)
    angle = np.deg2rad(float(rng.normal(0, 5.0)) if rng.random() < 0.7 else float(rng.uniform(-12, 12)))
    shear = float(rng.uniform(-0.35, 0.35)) if rng.random() < 0.6 else 0.0
    rel = src - centre
    rel[:, 0] += shear * rel[:, 1]
    rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = (rel @ rot.T + centre).astype(np.float32)
    dst += rng.uniform(-1, 1, (4, 2)).astype(np.float32) * np.float32([0.025 * plate_w, 0.1 * plate_h])
    mat = cv2.getPerspectiveTransform(src, dst)
    img = cv2.warpPerspective(img, mat, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    bx0, by0 = dst.min(axis=0)
    bx1, by1 = dst.max(axis=0)
    mx, my = (bx1 - bx0) * rng.uniform(-0.03, 0.06, 2), (by1 - by0) * rng.uniform(-0.08, 0.15, 2)
    x0, x1 = max(0, int(bx0 - mx[0])), min(W, int(bx1 + mx[1]))
    y0c, y1c = max(0, int(by0 - my[0])), min(H, int(by1 + my[1]))
    img = img[y0c:y1c, x0:x1]
    if img.shape[0] < 8 or img.shape[1] < 16:
        return None
    # Camera: blur, noise, down to LPR size and back, JPEG.
    if rng.random() < 0.5:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=float(rng.uniform(0.5, 2.0)) * scale / 2.5)
    img = np.clip(img + rng.normal(0, float(rng.uniform(0, 10)), img.shape), 0, 255).astype(np.uint8)
    h, w = img.shape
    th = int(rng.integers(18, 40))
    # LPR pipelines warp every plate's bounding box to one size (94 x 24 is common), whatever its
    # shape in the photo: a turned plate is squashed, and the glyphs come out wider than drawn.
    out_aspect = float(rng.uniform(3.3, 4.3)) if rng.random() < 0.5 else w / h
    small = cv2.resize(img, (max(16, int(th * out_aspect)), th), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.6:
        ok, buf = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        small = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    out_w = max(8, int(round(small.shape[1] * cfg.height / small.shape[0])))
    if out_w > cfg.max_width:
        return None
    return cv2.resize(small, (out_w, cfg.height), interpolation=cv2.INTER_LINEAR)


def _plate_faces(families, words: tuple[str, ...], need_bold: bool = True) -> list[FontFace]:
    """Upright faces whose name has one of ``words`` (and Bold, if asked); all upright ones if none."""
    upright = [f for fam in families for f in fam if not any(x in f.name for x in ("Italic", "Oblique"))]
    chosen = [
        f for f in upright
        if any(w in f.name for w in words) and (not need_bold or any(b in f.name for b in ("Bold", "Black", "Heavy")))
    ]
    return chosen or upright or [f for fam in families for f in fam]


def _plate_a(rng: Rng) -> np.ndarray:
    """The plate A: two straight legs under a flat top (a trapezoid, not a point), and a bar."""
    h, w = 64, int(64 * float(rng.uniform(0.5, 0.62)))
    t = max(4, int(round(h * float(rng.uniform(0.1, 0.15)))))
    top = int(w * float(rng.uniform(0.22, 0.32)))
    g = np.zeros((h, w), np.float32)
    cv2.line(g, (top, t // 2), (t // 2, h - 1), 1.0, t)
    cv2.line(g, (w - 1 - top, t // 2), (w - 1 - t // 2, h - 1), 1.0, t)
    cv2.line(g, (top, t // 2), (w - 1 - top, t // 2), 1.0, t)
    y = int(h * float(rng.uniform(0.58, 0.68)))
    cv2.line(g, (int(top * (1 - y / h)) + t // 2, y), (w - 1 - int(top * (1 - y / h)) - t // 2, y), 1.0, max(3, t - 2))
    return g


def _plate_zero(rng: Rng) -> np.ndarray:
    """The plate 0: a narrow stadium (straight sides, round ends)."""
    h, w = 64, int(64 * float(rng.uniform(0.48, 0.58)))
    t = max(4, int(round(h * float(rng.uniform(0.1, 0.15)))))
    g = np.zeros((h, w), np.float32)
    r = w // 2 - t // 2
    cv2.ellipse(g, (w // 2, r + t // 2), (r, r), 0, 180, 360, 1.0, t)
    cv2.ellipse(g, (w // 2, h - 1 - r - t // 2), (r, r), 0, 0, 180, 1.0, t)
    for x in (t // 2, w - 1 - t // 2):
        cv2.line(g, (x, r + t // 2), (x, h - 1 - r - t // 2), 1.0, t)
    return g


def _plate_one(rng: Rng) -> np.ndarray:
    """The plate typeface's 1 (GA 36): a bare vertical stroke, sometimes with a short flag, no foot."""
    h = 64
    stroke = int(round(h * float(rng.uniform(0.1, 0.16))))
    flag = int(round(h * float(rng.uniform(0.08, 0.18)))) if rng.random() < 0.35 else 0
    g = np.zeros((h, stroke + flag), np.float32)
    g[:, flag:] = 1.0
    if flag:
        cv2.line(g, (flag, 0), (0, int(flag * 1.2)), 1.0, max(1, stroke // 2))
    return g


def _glyph(face: FontFace, c: str, rng: Rng) -> np.ndarray | None:
    """The ink of one character cropped to its bounding box, float in [0, 1]."""
    size = 64
    font = _pil_font(face.path, face.index, size)
    stroke = 1 if rng.random() < 0.5 else 0
    canvas = Image.new("L", (size * 2, size * 2), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 2), c, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    mask = np.asarray(canvas, dtype=np.float32) / 255.0
    rows, cols = np.flatnonzero((mask > 0.2).any(axis=1)), np.flatnonzero((mask > 0.2).any(axis=0))
    if len(rows) == 0:
        return None
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


# Plate-typeface characters whose shape differs from ordinary sans faces.
_PLATE_SHAPES = {"1": _plate_one, "A": _plate_a, "0": _plate_zero}
