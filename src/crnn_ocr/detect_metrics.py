"""Scoring text detection: polygon IoU and one-to-one matching at an IoU threshold (ICDAR style).

    match_boxes(predicted, ground_truth, ignore) -> (matched, n_predicted, n_ground_truth)

precision = matched / n_predicted, recall = matched / n_ground_truth, H-mean their harmonic mean.
Predictions covering an ``ignore`` region by more than half of their own area are not counted.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def polygon_area(poly: np.ndarray) -> float:
    return abs(float(cv2.contourArea(np.asarray(poly, dtype=np.float32).reshape(-1, 2))))


def convex_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two polygons [K, 2], each taken as its convex hull."""
    ha = cv2.convexHull(np.asarray(a, dtype=np.float32).reshape(-1, 1, 2))
    hb = cv2.convexHull(np.asarray(b, dtype=np.float32).reshape(-1, 1, 2))
    inter, _ = cv2.intersectConvexConvex(ha, hb)
    union = polygon_area(ha) + polygon_area(hb) - inter
    return float(inter / union) if union > 0 else 0.0


def _covered_fraction(a: np.ndarray, b: np.ndarray) -> float:
    ha = cv2.convexHull(np.asarray(a, dtype=np.float32).reshape(-1, 1, 2))
    hb = cv2.convexHull(np.asarray(b, dtype=np.float32).reshape(-1, 1, 2))
    inter, _ = cv2.intersectConvexConvex(ha, hb)
    area = polygon_area(ha)
    return float(inter / area) if area > 0 else 0.0


def match_boxes(
    predicted: Sequence[np.ndarray],
    ground_truth: Sequence[np.ndarray],
    ignore: Sequence[np.ndarray] = (),
    iou: float = 0.5,
) -> tuple[int, int, int]:
    """(matched, counted predictions, ground-truth boxes): greedy one-to-one matching, highest IoU
    first, pairs with IoU >= ``iou``."""
    preds = [p for p in predicted if not any(_covered_fraction(p, g) > 0.5 for g in ignore)]
    pairs = []
    for i, p in enumerate(preds):
        pb = np.asarray(p).reshape(-1, 2)
        for j, g in enumerate(ground_truth):
            gb = np.asarray(g).reshape(-1, 2)
            if pb[:, 0].max() < gb[:, 0].min() or gb[:, 0].max() < pb[:, 0].min():
                continue
            if pb[:, 1].max() < gb[:, 1].min() or gb[:, 1].max() < pb[:, 1].min():
                continue
            v = convex_iou(pb, gb)
            if v >= iou:
                pairs.append((v, i, j))
    pairs.sort(reverse=True)
    used_p, used_g = set(), set()
    for _, i, j in pairs:
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
    return len(used_p), len(preds), len(ground_truth)


def prh(matched: int, n_pred: int, n_gt: int) -> tuple[float, float, float]:
    """(precision, recall, H-mean)."""
    p = matched / n_pred if n_pred else 0.0
    r = matched / n_gt if n_gt else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)
