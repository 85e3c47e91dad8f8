"""Image clean-up steps before detection and recognition, and a Preprocessor that records them.

Every step is a pure function on a uint8 image, HxW (grey) or HxWx3 (BGR), returning a new one.
``Preprocessor.run`` applies the steps chosen in ``PreprocessOptions`` in one fixed order:

    grayscale → clahe → denoise → binarize → morph_close → deskew

and returns what it did plus the 2x3 affine that maps processed-image points back to the
original image, so boxes found after deskewing land on the right pixels of the input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from crnn_ocr.types import PreprocessOptions

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def _check(img: np.ndarray) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 numpy image, got {getattr(img, 'dtype', type(img))}")
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (3, 4)) or img.size == 0:
        raise ValueError(f"expected a HxW or HxWx3 image, got shape {img.shape}")


def odd_size(n: float, lo: int, hi: int) -> int:
    """``n`` rounded and clipped to [lo, hi], then made odd (lo and hi are odd)."""
    k = int(np.clip(round(n), lo, hi))
    return k if k % 2 else k + 1


# ---- steps -------------------------------------------------------------------------------------


def to_gray(img: np.ndarray) -> np.ndarray:
    """HxW, HxWx1, HxWx3 (BGR) or HxWx4 (BGRA) uint8 -> HxW uint8 (a copy)."""
    if isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    _check(img)
    if img.ndim == 2:
        return img.copy()
    code = cv2.COLOR_BGR2GRAY if img.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
    return cv2.cvtColor(img, code)


def is_dark_background(gray: np.ndarray) -> bool:
    """True when the background is darker than the text (light-on-dark), HxW uint8.

    The background is the majority class of an Otsu split; when the split is close to even the
    image border (usually background) decides.
    """
    t, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    light = float(np.count_nonzero(gray > t)) / gray.size
    if abs(light - 0.5) > 0.1:
        return light < 0.5
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    return float(np.median(border)) <= t


def clahe(img: np.ndarray, *, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation; colour images on the L channel of LAB.

    HxW -> HxW, HxWx3 BGR -> HxWx3 BGR.
    """
    _check(img)
    op = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tiles, tiles))
    if img.ndim == 2:
        return op.apply(img)
    lab = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2LAB)
    lab[..., 0] = op.apply(np.ascontiguousarray(lab[..., 0]))
    return cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)


def denoise(img: np.ndarray, *, ksize: int = 3) -> np.ndarray:
    """Median filter (``ksize`` x ``ksize``), per channel for colour. Same shape out.

    Why median: it removes the salt-and-pepper and speckle noise of scans and JPEG artefacts
    while keeping stroke edges sharp, and costs about a millisecond per megapixel on one core;
    fastNlMeans is better on camera noise but 100-1000x slower on a CPU, and bilateral filtering
    is ~20x slower and softens thin strokes more.
    """
    _check(img)
    return cv2.medianBlur(np.ascontiguousarray(img), ksize)


def binarize(img: np.ndarray, *, block_size: int | None = None, c: float = 10.0) -> np.ndarray:
    """Adaptive (local Gaussian mean) threshold: HxW uint8 of {0, 255}, text 0 on white 255.

    Colour input is converted to grey first; light-on-dark input is inverted so the text is
    always dark. ``block_size`` (odd) defaults to half the shorter side, clipped to 11..51 px;
    ``c`` is how much darker than its neighbourhood a pixel must be to count as text.
    """
    gray = to_gray(img)
    if is_dark_background(gray):
        gray = 255 - gray
    block = block_size if block_size is not None else odd_size(min(gray.shape) / 2, 11, 51)
    if block < 3 or block % 2 == 0:
        raise ValueError(f"block_size must be odd and >= 3, got {block}")
    return cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY, block, c)


def morph_close(img: np.ndarray, *, ksize: int = 3) -> np.ndarray:
    """Close small gaps and pinholes in dark strokes on a light background. Same shape out.

    A morphological closing of the (dark) text is an opening of the light background: erode the
    light pixels (min filter, grows the text), then dilate them back.
    """
    _check(img)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (ksize, ksize))
    return cv2.morphologyEx(img, cv2.MORPH_OPEN, kernel)


def _foreground_points(gray: np.ndarray, max_side: int = 1200) -> np.ndarray:
    """Nx2 float (x, y) of text pixels of HxW ``gray`` after shrinking its longer side to max_side."""
    scale = min(1.0, max_side / max(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    if is_dark_background(gray):
        gray = 255 - gray
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    ys, xs = np.nonzero(ink)
    step = max(1, len(xs) // 150_000)
    return np.stack([xs[::step], ys[::step]], axis=1).astype(np.float64)


def _profile_score(pts: np.ndarray, degrees: np.ndarray) -> np.ndarray:
    """For each candidate skew, sharpness of the row profile after undoing it (Postl's criterion).

    pts: Nx2 (x, y); degrees: (K,). Returns (K,) sums of squared differences of adjacent rows.
    """
    scores = np.empty(len(degrees))
    x, y = pts[:, 0] - pts[:, 0].mean(), pts[:, 1] - pts[:, 1].mean()
    for i, a in enumerate(np.deg2rad(degrees)):
        rows = x * np.sin(a) + y * np.cos(a)  # y after rotating the points clockwise by a
        hist = np.bincount(np.round(rows - rows.min()).astype(np.int64))
        scores[i] = float(np.sum(np.diff(hist.astype(np.float64)) ** 2))
    return scores


def estimate_skew(gray: np.ndarray, *, max_angle: float = 15.0) -> float:
    """Skew of the text lines of ``gray`` (HxW uint8; BGR is converted) in degrees.

    Counter-clockwise positive (lines rising to the right), the convention of
    ``cv2.getRotationMatrix2D``; 0.0 when there is no text. Projection-profile search over
    [-max_angle, max_angle]: 0.5 degree steps, then 0.05 degree steps around the best.
    """
    pts = _foreground_points(to_gray(gray))
    if len(pts) < 20:
        return 0.0
    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.5)
    best = coarse[int(np.argmax(_profile_score(pts, coarse)))]
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, 0.05)
    return round(float(fine[int(np.argmax(_profile_score(pts, fine)))]), 2)


def border_fill(img: np.ndarray) -> tuple[int, ...]:
    """Median colour of the outermost pixel ring: the fill for areas uncovered by rotation."""
    ring = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]]).reshape(
        -1, 1 if img.ndim == 2 else img.shape[2]
    )
    return tuple(int(v) for v in np.median(ring, axis=0))


def rotate(
    img: np.ndarray, degrees: float, *, fill: tuple[int, ...] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate counter-clockwise by ``degrees`` on a canvas grown to keep every pixel.

    Returns the rotated image and the 2x3 float64 affine mapping input (x, y) to output (x, y).
    Uncovered corners get ``fill`` (default: the border's median colour).
    """
    _check(img)
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    new_w = int(np.ceil(w * cos + h * sin - 1e-6))
    new_h = int(np.ceil(w * sin + h * cos - 1e-6))
    m[0, 2] += (new_w - w) / 2.0
    m[1, 2] += (new_h - h) / 2.0
    value = fill if fill is not None else border_fill(img)
    out = cv2.warpAffine(
        img, m, (new_w, new_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_CONSTANT, borderValue=value
    )
    return out, m


def deskew(img: np.ndarray, *, max_angle: float = 15.0, min_angle: float = 0.2) -> tuple[np.ndarray, float]:
    """Straighten text lines: (rotated image, the skew that was removed in degrees).

    The skew is measured on a grey copy; colour images are rotated in colour. Skews below
    ``min_angle`` are left alone (returns a copy and 0.0) to avoid needless resampling.
    """
    angle = estimate_skew(to_gray(img), max_angle=max_angle)
    if abs(angle) < min_angle:
        return img.copy(), 0.0
    out, _ = rotate(img, -angle)
    return out, angle


def resize_to_height(img: np.ndarray, height: int) -> np.ndarray:
    """Scale to ``height`` rows, aspect preserved (width >= 1).

    INTER_AREA when shrinking (no aliasing), INTER_CUBIC when enlarging. HxW(xC) -> height x W'(xC).
    """
    _check(img)
    if height < 1:
        raise ValueError(f"height must be >= 1, got {height}")
    h, w = img.shape[:2]
    new_w = max(1, round(w * height / h))
    if (h, w) == (height, new_w):
        return img.copy()
    interp = cv2.INTER_AREA if height < h else cv2.INTER_CUBIC
    return cv2.resize(img, (new_w, height), interpolation=interp)


# ---- the pipeline stage ------------------------------------------------------------------------


@dataclass(frozen=True)
class PreprocessConfig:
    """Tunables of the preprocessing steps (the per-call choice of steps is PreprocessOptions)."""

    clahe_clip_limit: float = 2.0
    clahe_tiles: int = 8
    denoise_ksize: int = 3
    binarize_block_size: int | None = None  # None: derived from the image size
    binarize_c: float = 10.0
    morph_ksize: int = 3
    max_skew: float = 15.0
    min_skew: float = 0.2


@dataclass(frozen=True)
class Preprocessed:
    """What ``Preprocessor.run`` produced.

    image: the processed uint8 image (HxW, or HxWx3 BGR when kept in colour).
    steps: names of the steps actually applied, in order.
    angle: skew removed by deskew in degrees (counter-clockwise positive), 0.0 if none.
    transform: 2x3 float64 affine mapping processed-image (x, y) to original-image (x, y).
    """

    image: np.ndarray
    steps: tuple[str, ...] = ()
    angle: float = 0.0
    transform: np.ndarray = field(default_factory=lambda: IDENTITY.copy())

    def to_original(self, points: np.ndarray) -> np.ndarray:
        """Nx2 processed-image points -> Nx2 original-image points."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return pts @ self.transform[:, :2].T + self.transform[:, 2]


class Preprocessor:
    """Applies the steps chosen per call, in the fixed order, and records what it did."""

    def __init__(self, config: PreprocessConfig | None = None) -> None:
        self.config = config or PreprocessConfig()

    def run(self, image: np.ndarray, options: PreprocessOptions | None = None) -> Preprocessed:
        """uint8 HxW or HxWx3 BGR -> Preprocessed (see its fields)."""
        _check(image)
        opts = options or PreprocessOptions()
        cfg = self.config
        img = image if image.ndim == 2 or image.shape[2] == 3 else cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        steps: list[str] = []

        if opts.grayscale and img.ndim == 3:
            img = to_gray(img)
            steps.append("grayscale")
        if opts.clahe:
            img = clahe(img, clip_limit=cfg.clahe_clip_limit, tiles=cfg.clahe_tiles)
            steps.append("clahe")
        if opts.denoise:
            img = denoise(img, ksize=cfg.denoise_ksize)
            steps.append("denoise")
        if opts.binarize:
            img = binarize(img, block_size=cfg.binarize_block_size, c=cfg.binarize_c)
            steps.append("binarize")
        if opts.morph_close:
            img = morph_close(img, ksize=cfg.morph_ksize)
            steps.append("morph_close")

        angle, transform = 0.0, IDENTITY.copy()
        if opts.deskew:
            skew = estimate_skew(to_gray(img), max_angle=cfg.max_skew)
            if abs(skew) >= cfg.min_skew:
                img, forward = rotate(img, -skew)
                transform = cv2.invertAffineTransform(forward)
                angle = skew
                steps.append("deskew")
        if img is image:
            img = image.copy()
        return Preprocessed(image=img, steps=tuple(steps), angle=angle, transform=transform)
