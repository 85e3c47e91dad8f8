"""Learned text-line detection: a DB (differentiable binarization) network over ONNX Runtime.

    grey page uint8 HxW  → ``prepare_page``: resized so the long side <= max_side, sides
                           multiples of the stride, (x / 255 - pixel_mean) / pixel_std
                                                                     float32 [1, 1, H', W']
    ``DetectorEngine``   → probability map                           float32 [1, 1, H', W']
    ``db_boxes``         → prob > bin_thresh → contours → cv2.minAreaRect → score (mean
                           probability inside the contour) >= box_thresh → unclip: the rect grown
                           by d on every side, the exact inverse of the training targets' shrink
                           D = A (1 - r^2) / L for a rectangle (``unclip_distance``), times
                           ``unclip_scale`` → 4 points in page pixels
    ``LearnedLineDetector`` → + the recognizer's crop margins → Boxes in reading order

Boxes are quadrilaterals (rotated rectangles): ``crop_box`` warps them upright. Points run
clockwise from the corner whose outgoing edge points most to the right, which is the text's
top-left for text that is not turned by more than 45 degrees (``crnn_ocr.orientation`` handles
the rest).

Model contract (written by ``crnn_ocr_train.det_export``): input ``image`` float32 [N, 1, H, W]
(H, W dynamic multiples of ``stride``), output ``prob`` float32 [N, 1, H, W] in [0, 1]; metadata
``model_kind`` = "db_detector", ``pixel_mean``, ``pixel_std``, ``stride``, ``bin_thresh``,
``box_thresh``, ``shrink_ratio``, ``unclip_scale``, ``max_side``, ``model_name``,
``model_version``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from crnn_ocr.detect import MarginedDetector
from crnn_ocr.engine import EngineConfig, SessionEngine
from crnn_ocr.errors import ModelError
from crnn_ocr.preprocess import to_gray
from crnn_ocr.types import Box

DETECTOR_KIND = "db_detector"
_REQUIRED = ("model_kind", "pixel_mean", "pixel_std", "stride")


@dataclass(frozen=True)
class DBPostConfig:
    """Post-processing tunables; the model's metadata supplies its own defaults."""

    bin_thresh: float = 0.3  # probability above which a pixel is text kernel
    box_thresh: float = 0.5  # mean probability a kernel must reach to be a line
    shrink_ratio: float = 0.6  # r of the training targets (the kernel is the line shrunk by
    # D = A (1 - r^2) / L)
    unclip_scale: float = 1.0  # x the distance that exactly undoes the shrink
    min_size: float = 3.0  # kernels with a shorter side (input pixels) are dropped
    max_candidates: int = 1000


@dataclass(frozen=True)
class DetectorSpec:
    """What a detector model promises, read from its metadata."""

    pixel_mean: float
    pixel_std: float
    stride: int
    post: DBPostConfig
    max_side: int
    name: str
    version: str

    @classmethod
    def from_metadata(cls, meta: dict[str, str], where: str) -> DetectorSpec:
        missing = [k for k in _REQUIRED if k not in meta]
        if missing:
            raise ModelError(f"{where}: not a text-detector model; its metadata lacks {', '.join(missing)}")
        if meta["model_kind"] != DETECTOR_KIND:
            raise ModelError(f"{where}: model_kind is {meta['model_kind']!r}, expected {DETECTOR_KIND!r}")
        try:
            base = DBPostConfig()
            post = DBPostConfig(
                bin_thresh=float(meta.get("bin_thresh", base.bin_thresh)),
                box_thresh=float(meta.get("box_thresh", base.box_thresh)),
                shrink_ratio=float(meta.get("shrink_ratio", base.shrink_ratio)),
                unclip_scale=float(meta.get("unclip_scale", base.unclip_scale)),
            )
            spec = cls(
                pixel_mean=float(meta["pixel_mean"]),
                pixel_std=float(meta["pixel_std"]),
                stride=int(meta["stride"]),
                post=post,
                max_side=int(meta.get("max_side", 960)),
                name=meta.get("model_name", Path(where).stem),
                version=meta.get("model_version", "unknown"),
            )
        except ValueError as exc:
            raise ModelError(f"{where}: invalid detector metadata: {exc}") from exc
        if spec.stride < 1 or spec.pixel_std <= 0 or spec.max_side < spec.stride:
            raise ModelError(f"{where}: invalid detector metadata (stride {spec.stride}, std {spec.pixel_std}, max_side {spec.max_side})")
        return spec


class DetectorEngine(SessionEngine[DetectorSpec]):
    """The DB detector's engine (``crnn_ocr.engine.SessionEngine``: same session settings and
    checks as the recognizer's); ``run`` maps a normalised [1, 1, H, W] batch to the probability
    map [H, W]."""

    def _read_spec(self, meta: dict[str, str]) -> DetectorSpec:
        return DetectorSpec.from_metadata(meta, str(self.path))

    def _check_batch(self, batch: np.ndarray) -> None:
        s = self.spec.stride
        if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[:2] != (1, 1) or batch.shape[2] % s or batch.shape[3] % s:
            raise ValueError(f"batch must be float32 [1, 1, H, W] with H, W multiples of {s}; got {batch.dtype} {batch.shape}")

    def _expected_output(self, batch_shape: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
        return tuple(batch_shape), "expected the same shape"

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Probability map [H, W] for a float32 batch [1, 1, H, W] (H, W multiples of the stride)."""
        return super().run(batch)[0, 0]


def prepare_page(image: np.ndarray, max_side: int, stride: int, pixel_mean: float, pixel_std: float) -> tuple[np.ndarray, tuple[float, float]]:
    """uint8 HxW / HxWx3 page → the network input float32 [1, 1, H', W'] (long side <= ``max_side``,
    sides multiples of ``stride``, ``(x / 255 - pixel_mean) / pixel_std``) and the (x, y) factors from
    input pixels back to page pixels. The detector's one input preparation: inference
    (``LearnedLineDetector.prepare``) and the detector's training validation both call it."""
    gray = to_gray(image)
    h, w = gray.shape
    f = min(1.0, max_side / max(h, w))
    nh, nw = max(stride, round(h * f / stride) * stride), max(stride, round(w * f / stride) * stride)
    interp = cv2.INTER_AREA if nh < h else cv2.INTER_LINEAR
    x = cv2.resize(gray, (nw, nh), interpolation=interp) if (nh, nw) != (h, w) else gray
    x = (x.astype(np.float32) / 255.0 - pixel_mean) / pixel_std
    return x[None, None].astype(np.float32), (w / nw, h / nh)


# ---- post-processing (pure functions) -----------------------------------------------------------


def order_points(pts: np.ndarray) -> np.ndarray:
    """[4, 2] corners → clockwise (on screen, y down), starting at the corner whose outgoing edge
    points most to the right (+x)."""
    pts = np.asarray(pts, dtype=np.float64).reshape(4, 2)
    c = pts.mean(0)
    angles = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    pts = pts[np.argsort(angles)]  # increasing angle with y down = clockwise on screen
    edges = np.roll(pts, -1, axis=0) - pts
    rightness = edges[:, 0] / np.maximum(np.linalg.norm(edges, axis=1), 1e-9)
    return np.roll(pts, -int(np.argmax(rightness)), axis=0)


def _grown_rect(rect, d_long: float, d_short: float | None = None):
    """A cv2 RotatedRect grown by ``d_long`` at both ends of its longer side and ``d_short``
    (default: the same) on both sides of its shorter one."""
    (cx, cy), (w, h), angle = rect
    d_short = d_long if d_short is None else d_short
    if w >= h:
        return (cx, cy), (w + 2 * d_long, h + 2 * d_short), angle
    return (cx, cy), (w + 2 * d_short, h + 2 * d_long), angle


def db_boxes(prob: np.ndarray, config: DBPostConfig = DBPostConfig(), scale: tuple[float, float] = (1.0, 1.0)) -> list[np.ndarray]:
    """Probability map [H, W] → text boxes, each float64 [4, 2] (``order_points``) in the map's
    pixels times ``scale`` (x, y factors to the original image). Unordered."""
    bitmap = (prob > config.bin_thresh).astype(np.uint8)
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    h, w = prob.shape
    boxes = []
    for contour in contours[: config.max_candidates]:
        if len(contour) < 3:
            continue
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < config.min_size:
            continue
        if _kernel_score(prob, contour) < config.box_thresh:
            continue
        (cx, cy), (rw, rh), angle = rect
        rect = (cx, cy), (rw + 1.0, rh + 1.0), angle  # contour runs through pixel centres
        d = unclip_distance(rw + 1.0, rh + 1.0, config.shrink_ratio) * config.unclip_scale
        grown = _grown_rect(rect, d)
        if min(grown[1]) < config.min_size + 2:
            continue
        pts = cv2.boxPoints(grown).astype(np.float64)
        pts[:, 0] = np.clip(pts[:, 0], 0, w) * scale[0]
        pts[:, 1] = np.clip(pts[:, 1], 0, h) * scale[1]
        boxes.append(order_points(pts))
    return boxes


def unclip_distance(w: float, h: float, shrink_ratio: float) -> float:
    """How far to grow a w x h kernel on every side to undo the training shrink.

    A W x H line was shrunk by D = W H k / (2 (W + H)), k = 1 - r^2, to w = W - 2D, h = H - 2D;
    substituting gives (8 - 4k) D^2 + 2 (1 - k)(w + h) D - k w h = 0, whose positive root is D
    (its area / perimeter form: for a long line D -> h k / (2 r^2)).
    """
    k = 1.0 - shrink_ratio**2
    a, b, c = 8.0 - 4.0 * k, 2.0 * (1.0 - k) * (w + h), -k * w * h
    return float((-b + np.sqrt(b * b - 4 * a * c)) / (2 * a))


def _kernel_score(prob: np.ndarray, contour: np.ndarray) -> float:
    """Mean probability inside ``contour`` (the pixels its polygon covers)."""
    x, y, w, h = cv2.boundingRect(contour)
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [contour.reshape(-1, 2) - [x, y]], 1)
    return float(cv2.mean(prob[y : y + h, x : x + w], mask)[0])


def reading_order_boxes(boxes: list[np.ndarray], row_overlap: float = 0.5) -> list[np.ndarray]:
    """Boxes in rows top-to-bottom (vertical overlap >= ``row_overlap`` of the smaller height of
    their bounding rectangles), left-to-right within a row."""
    items = sorted(boxes, key=lambda b: (b[:, 1].mean(), b[:, 0].min()))
    rows: list[list[np.ndarray]] = []
    for b in items:
        top, bottom = b[:, 1].min(), b[:, 1].max()
        for row in rows:
            rt = float(np.median([q[:, 1].min() for q in row]))
            rb = float(np.median([q[:, 1].max() for q in row]))
            if min(rb, bottom) - max(rt, top) >= row_overlap * min(rb - rt, bottom - top):
                row.append(b)
                break
        else:
            rows.append([b])
    rows.sort(key=lambda row: float(np.mean([q[:, 1].mean() for q in row])))
    return [b for row in rows for b in sorted(row, key=lambda q: q[:, 0].min())]


@dataclass(frozen=True)
class LearnedDetectorConfig:
    """Tunables of LearnedLineDetector (None: the model's metadata decides)."""

    max_side: int | None = None  # longer side of the network input
    post: DBPostConfig | None = None
    margin_y_h: float = 0.1  # crop margin above/below, x the box's height (the recognizer's)
    margin_x_h: float = 0.25  # crop margin at both ends, x the box's height


class LearnedLineDetector(MarginedDetector):
    """DB network + post-processing (see the module docstring); a ``LineDetector``."""

    def __init__(self, engine: DetectorEngine, config: LearnedDetectorConfig = LearnedDetectorConfig()) -> None:
        self.engine = engine
        self.config = config
        spec = engine.spec
        self.max_side = config.max_side or spec.max_side
        self.post = config.post or spec.post

    @classmethod
    def from_path(cls, path: str | Path, engine_config: EngineConfig = EngineConfig()) -> LearnedLineDetector:
        return cls(DetectorEngine(path, engine_config))

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
        """uint8 HxW / HxWx3 → normalised [1, 1, H', W'] and the (x, y) factors back to the image
        (``prepare_page`` with this model's stride and normalisation)."""
        spec = self.engine.spec
        return prepare_page(image, self.max_side, spec.stride, spec.pixel_mean, spec.pixel_std)

    def _detect(self, image: np.ndarray, margins: bool) -> list[Box]:
        batch, scale = self.prepare(image)
        prob = self.engine.run(batch)
        boxes = reading_order_boxes(db_boxes(prob, self.post, scale))
        h, w = image.shape[:2]
        return [self._padded(b, w, h, margins) for b in boxes]

    def _padded(self, pts: np.ndarray, width: int, height: int, margins: bool = True) -> Box:
        rect = cv2.minAreaRect(pts.astype(np.float32))
        th = min(rect[1]) if margins else 0.0
        grown = _grown_rect(rect, self.config.margin_x_h * th, self.config.margin_y_h * th)
        out = cv2.boxPoints(grown).astype(np.float64)
        out[:, 0] = out[:, 0].clip(0, width)
        out[:, 1] = out[:, 1].clip(0, height)
        return Box(tuple((float(x), float(y)) for x, y in order_points(out)))  # type: ignore[arg-type]


def with_post(detector: LearnedLineDetector, **changes: float) -> LearnedLineDetector:
    """A detector sharing ``detector``'s engine with some post-processing settings changed."""
    return LearnedLineDetector(detector.engine, replace(detector.config, post=replace(detector.post, **changes)))
