"""DB (differentiable binarization) training targets, and a deterministic stream of page batches.

Targets for one image (Liao et al., "Real-time Scene Text Detection with Differentiable
Binarization", 2020), every map [H, W] float32:

- ``prob``: 1 inside each text polygon shrunk by D = A (1 - r^2) / L (A area, L perimeter,
  r = ``shrink_ratio``), else 0;
- ``prob_mask``: 0 on ignored polygons (too small, too faint), 1 elsewhere;
- ``thresh``: in the band between the polygon shrunk and dilated by D, ``thresh_min`` +
  (``thresh_max`` - ``thresh_min``) x (1 - distance to the polygon's border / D), else
  ``thresh_min``;
- ``thresh_mask``: 1 inside the dilated polygons.

The runtime inverts the shrink exactly for rectangles (``crnn_ocr.detect_learned.unclip_distance``),
so ``SHRINK_RATIO`` is written into the exported model's metadata.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
import pyclipper
import torch
from torch.utils.data import IterableDataset, get_worker_info

from crnn_ocr.charset import Charset

from .det_pages import DetPage, PageConfig, PageRenderer, TextRegion

SHRINK_RATIO = 0.6
THRESH_MIN, THRESH_MAX = 0.3, 0.7
PIXEL_MEAN, PIXEL_STD = 0.5, 0.5


@dataclass(frozen=True)
class DBTargets:
    prob: np.ndarray
    prob_mask: np.ndarray
    thresh: np.ndarray
    thresh_mask: np.ndarray


def shrink_distance(poly: np.ndarray, ratio: float = SHRINK_RATIO) -> float:
    """D = A (1 - r^2) / L for a polygon [K, 2]."""
    area = abs(float(cv2.contourArea(poly.astype(np.float32))))
    perimeter = float(cv2.arcLength(poly.astype(np.float32), True))
    return area * (1 - ratio**2) / max(perimeter, 1e-6)


def _offset(poly: np.ndarray, distance: float) -> list[np.ndarray]:
    """Polygon offset by ``distance`` pixels (negative: shrink), rounded joins; pieces [K, 2]."""
    pco = pyclipper.PyclipperOffset()
    pco.AddPath([tuple(p) for p in np.round(poly).astype(np.int64).tolist()], pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return [np.asarray(p, dtype=np.float32) for p in pco.Execute(distance) if len(p) >= 3]


def _segment_distance(xs: np.ndarray, ys: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of points (xs, ys) [h, w] to the segment a-b."""
    ab = b - a
    t = ((xs - a[0]) * ab[0] + (ys - a[1]) * ab[1]) / max(float(ab @ ab), 1e-6)
    t = np.clip(t, 0.0, 1.0)
    return np.hypot(xs - (a[0] + t * ab[0]), ys - (a[1] + t * ab[1]))


def db_targets(
    shape: tuple[int, int],
    regions: list[TextRegion] | tuple[TextRegion, ...],
    shrink_ratio: float = SHRINK_RATIO,
    thresh_min: float = THRESH_MIN,
    thresh_max: float = THRESH_MAX,
    min_size: float = 3.0,
) -> DBTargets:
    """DB targets (see the module docstring) for polygons in an image of ``shape`` (h, w)."""
    h, w = shape
    prob = np.zeros((h, w), np.float32)
    prob_mask = np.ones((h, w), np.float32)
    thresh = np.zeros((h, w), np.float32)
    thresh_mask = np.zeros((h, w), np.float32)
    for region in regions:
        poly = region.polygon.astype(np.float32)
        x0, y0 = poly.min(0)
        x1, y1 = poly.max(0)
        if x1 < 0 or y1 < 0 or x0 >= w or y0 >= h:
            continue
        if region.ignore or min(x1 - x0, y1 - y0) < min_size:
            cv2.fillPoly(prob_mask, [np.round(poly).astype(np.int32)], 0.0)
            continue
        d = shrink_distance(poly, shrink_ratio)
        shrunk = _offset(poly, -d)
        if not shrunk:
            cv2.fillPoly(prob_mask, [np.round(poly).astype(np.int32)], 0.0)
            continue
        cv2.fillPoly(prob, [np.round(s).astype(np.int32) for s in shrunk], 1.0)
        _draw_border(poly, d, thresh, thresh_mask)
    thresh = thresh * (thresh_max - thresh_min) + thresh_min
    return DBTargets(prob, prob_mask, thresh, thresh_mask)


def _draw_border(poly: np.ndarray, d: float, thresh: np.ndarray, thresh_mask: np.ndarray) -> None:
    """Threshold-map band of one polygon: 1 - (distance to its border / d), clipped to [0, 1],
    inside the polygon dilated by d; the maximum over overlapping polygons is kept."""
    dilated = _offset(poly, d)
    if not dilated:
        return
    big = max(dilated, key=lambda p: len(p))
    cv2.fillPoly(thresh_mask, [np.round(big).astype(np.int32)], 1.0)
    h, w = thresh.shape
    bx0, by0 = np.floor(big.min(0)).astype(int)
    bx1, by1 = np.ceil(big.max(0)).astype(int)
    cx0, cy0, cx1, cy1 = max(0, bx0), max(0, by0), min(w - 1, bx1), min(h - 1, by1)
    if cx1 < cx0 or cy1 < cy0:
        return
    ys, xs = np.mgrid[cy0 : cy1 + 1, cx0 : cx1 + 1].astype(np.float32)
    dist = np.full(xs.shape, np.inf, np.float32)
    for i in range(len(poly)):
        dist = np.minimum(dist, _segment_distance(xs, ys, poly[i], poly[(i + 1) % len(poly)]))
    band = np.clip(1.0 - dist / max(d, 1e-6), 0.0, 1.0)
    thresh[cy0 : cy1 + 1, cx0 : cx1 + 1] = np.maximum(thresh[cy0 : cy1 + 1, cx0 : cx1 + 1], band)


# ---- crops of pages -> batches ---------------------------------------------------------------


def random_crop(page: DetPage, size: int, rng: np.random.Generator, scale_range: tuple[float, float] = (0.6, 1.4)) -> tuple[np.ndarray, list[TextRegion]]:
    """Scale the page so its long side is about ``size`` x U(scale_range), pad to at least
    ``size``, and cut a ``size`` x ``size`` crop (mostly one that holds text)."""
    img = page.image
    h, w = img.shape
    f = size * float(rng.uniform(*scale_range)) / max(h, w)
    nh, nw = max(8, round(h * f)), max(8, round(w * f))
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
    regions = [TextRegion(r.polygon * np.float32([nw / w, nh / h]), r.text, r.vertical, r.ignore) for r in page.regions]
    ph, pw = max(nh, size), max(nw, size)
    if (ph, pw) != (nh, nw):
        fill = int(np.median(np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])))
        img = cv2.copyMakeBorder(img, 0, ph - nh, 0, pw - nw, cv2.BORDER_CONSTANT, value=fill)
    x, y = 0, 0
    for _ in range(8):  # prefer a crop that shows some text
        x, y = int(rng.integers(0, pw - size + 1)), int(rng.integers(0, ph - size + 1))
        if not regions or any(
            (r.polygon[:, 0].max() > x) and (r.polygon[:, 0].min() < x + size) and (r.polygon[:, 1].max() > y) and (r.polygon[:, 1].min() < y + size)
            for r in regions
        ):
            break
    crop = img[y : y + size, x : x + size]
    shifted = [TextRegion(r.polygon - np.float32([x, y]), r.text, r.vertical, r.ignore) for r in regions]
    return np.ascontiguousarray(crop), shifted


@dataclass
class DetBatch:
    images: torch.Tensor  # [N, 1, S, S] normalised (x / 255 - 0.5) / 0.5
    prob: torch.Tensor  # [N, S, S]
    prob_mask: torch.Tensor
    thresh: torch.Tensor
    thresh_mask: torch.Tensor


def make_det_batch(samples: list[tuple[np.ndarray, DBTargets]]) -> DetBatch:
    imgs = np.stack([s[0] for s in samples]).astype(np.float32)[:, None]
    imgs = (imgs / 255.0 - PIXEL_MEAN) / PIXEL_STD

    def stack(name: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([getattr(t, name) for _, t in samples]))

    return DetBatch(torch.from_numpy(imgs), stack("prob"), stack("prob_mask"), stack("thresh"), stack("thresh_mask"))


@dataclass(frozen=True)
class DetSynthConfig:
    seed: int = 0
    batch_size: int = 8
    size: int = 448
    page: PageConfig = PageConfig()
    cache_dir: str = "data/cache"


class DetBatches(IterableDataset):
    """Endless batches of rendered page crops with DB targets. Worker ``k`` of a run started at
    ``start_samples`` seeds its rng with (seed, start_samples, k): reproducible, and a resumed run
    sees new pages."""

    def __init__(self, charset: Charset, cfg: DetSynthConfig, start_samples: int = 0):
        self.charset = charset
        self.cfg = cfg
        self.start_samples = start_samples

    def __iter__(self) -> Iterator[DetBatch]:
        info = get_worker_info()
        wid = info.id if info else 0
        cv2.setNumThreads(1)
        renderer = PageRenderer.from_cache(self.charset, self.cfg.cache_dir, self.cfg.page)
        rng = np.random.default_rng([self.cfg.seed, self.start_samples, wid])
        while True:
            samples = []
            for _ in range(self.cfg.batch_size):
                page = renderer.render(rng)
                crop, regions = random_crop(page, self.cfg.size, rng)
                samples.append((crop, db_targets(crop.shape, regions)))
            yield make_det_batch(samples)


def render_val_pages(charset: Charset, cfg: DetSynthConfig, n: int, seed: int) -> list[DetPage]:
    """A fixed list of ``n`` rendered pages (the validation set), deterministic in ``seed``."""
    renderer = PageRenderer.from_cache(charset, cfg.cache_dir, cfg.page)
    rng = np.random.default_rng([seed, 4242])
    return [renderer.render(rng) for _ in range(n)]
