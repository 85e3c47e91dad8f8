"""Learned detection: DB targets, post-processing, ONNX export parity, detector selection.

Orientation and vertical columns are in tests/test_orientation.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_ENGINE_CONFIG
from render import render_page

from crnn_ocr.detect import ClassicalLineDetector
from crnn_ocr.detect_learned import (
    DBPostConfig,
    DetectorEngine,
    LearnedLineDetector,
    db_boxes,
    order_points,
    prepare_page,
    reading_order_boxes,
    unclip_distance,
)
from crnn_ocr.detect_metrics import convex_iou, match_boxes, prh
from crnn_ocr.engine import SessionEngine
from crnn_ocr.errors import ModelError, OptionsError
from crnn_ocr.models import DET_MODEL_ENV, resolve_detector_model
from crnn_ocr.types import Box, OCROptions

torch = pytest.importorskip("torch")
pytest.importorskip("pyclipper")

from crnn_ocr_train.det_data import SHRINK_RATIO, db_targets, shrink_distance
from crnn_ocr_train.det_export import export_onnx, parity
from crnn_ocr_train.det_model import DBNet, DBNetConfig, count_parameters, db_loss
from crnn_ocr_train.det_pages import TextRegion, _edge_polygon

# ---- targets -----------------------------------------------------------------------------------


def _rect_region(x0: float, y0: float, x1: float, y1: float, ignore: bool = False) -> TextRegion:
    return TextRegion(_edge_polygon(x0, y0, x1, y1), "text", ignore=ignore)


def test_shrink_distance_of_a_rectangle() -> None:
    poly = _edge_polygon(40, 80, 260, 120)  # 220 x 40
    assert shrink_distance(poly, 0.6) == pytest.approx(220 * 40 * (1 - 0.36) / 520, rel=1e-4)


def test_db_targets_on_a_known_rectangle() -> None:
    t = db_targets((200, 300), [_rect_region(40, 80, 260, 120)])
    d = 220 * 40 * (1 - SHRINK_RATIO**2) / 520  # 10.83 px
    ys, xs = np.nonzero(t.prob)
    # the kernel polygon is filled with its (rounded) vertices included
    assert (xs.min(), xs.max()) == (round(40 + d), round(260 - d))
    assert (ys.min(), ys.max()) == (round(80 + d), round(120 - d))
    assert set(np.unique(t.prob)) == {0.0, 1.0}
    assert t.prob_mask.min() == 1.0  # nothing ignored
    # threshold map: 0.3 away from text, 0.7 on the border, only inside the dilated polygon
    assert t.thresh.min() == pytest.approx(0.3) and t.thresh.max() == pytest.approx(0.7, abs=0.02)
    assert t.thresh[100, 40] == pytest.approx(0.7, abs=0.03)  # on the left border
    assert t.thresh[100, 150] == pytest.approx(0.3, abs=1e-6)  # deep inside: > d from the border
    assert t.thresh_mask[100, 40 - 5] == 1.0 and t.thresh_mask[100, 40 - 15] == 0.0


def test_ignored_regions_are_masked_not_negative() -> None:
    t = db_targets((100, 100), [_rect_region(10, 10, 90, 30, ignore=True)])
    assert t.prob.max() == 0.0
    assert t.prob_mask[20, 50] == 0.0 and t.prob_mask[60, 50] == 1.0


# ---- post-processing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("box", "scale"),
    [
        ((40, 80, 260, 120), (1.0, 1.0)),  # a long line
        ((100, 20, 130, 180), (1.0, 1.0)),  # a tall column
        ((10, 10, 40, 30), (1.0, 1.0)),  # a short word
        ((40, 80, 260, 120), (2.5, 0.5)),  # map pixels -> original pixels
    ],
)
def test_post_processing_inverts_the_targets(box: tuple[int, int, int, int], scale: tuple[float, float]) -> None:
    """A perfect probability map (the target kernel) gives back the line's box, scaled."""
    t = db_targets((200, 300), [_rect_region(*box)])
    (found,) = db_boxes(t.prob, DBPostConfig(), scale=scale)
    x0, y0, x1, y1 = box
    expected = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64) * scale
    np.testing.assert_allclose(found, expected, atol=1.5 * max(scale))


def test_post_processing_drops_faint_and_tiny_blobs() -> None:
    prob = np.zeros((100, 200), np.float32)
    prob[20:30, 20:120] = 0.4  # above bin_thresh, below box_thresh
    prob[60:62, 20:120] = 0.9  # 2 px tall: below min_size
    prob[80:90, 150:190] = 0.95
    boxes = db_boxes(prob, DBPostConfig(bin_thresh=0.3, box_thresh=0.5))
    assert len(boxes) == 1 and boxes[0][:, 0].min() > 140


@pytest.mark.parametrize(
    ("w", "h", "r"),
    [(200.0, 20.0, 0.6), (30.0, 160.0, 0.6), (20.0, 20.0, 0.4), (500.0, 5.0, 0.6)],
)
def test_unclip_distance_undoes_the_shrink(w: float, h: float, r: float) -> None:
    big_w, big_h = w + 2 * unclip_distance(w, h, r), h + 2 * unclip_distance(w, h, r)
    d = big_w * big_h * (1 - r * r) / (2 * (big_w + big_h))
    assert (big_w - 2 * d, big_h - 2 * d) == pytest.approx((w, h), rel=1e-6)


@pytest.mark.parametrize(
    ("points", "first"),
    [
        ([[10, 0], [10, 5], [0, 5], [0, 0]], [0, 0]),  # axis-aligned, any order
        ([[0, 10], [50, 0], [52, 10], [2, 20]], [0, 10]),  # tilted up to the right
        ([[20, 0], [30, 100], [20, 100], [30, 0]], [20, 0]),  # tall: the top edge goes first
    ],
)
def test_order_points_is_clockwise_from_the_top_left(points, first) -> None:
    out = order_points(np.array(points, dtype=np.float64))
    assert out[0].tolist() == first
    x, y = out[:, 0], out[:, 1]
    assert np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0  # clockwise on screen (y down)


def test_reading_order_rows_then_left_to_right() -> None:
    def rect(x: float, y: float, w: float, h: float) -> np.ndarray:
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)

    boxes = [rect(300, 52, 100, 20), rect(10, 10, 100, 20), rect(10, 50, 100, 22), rect(200, 12, 50, 18)]
    order = reading_order_boxes(boxes)
    assert [b[0].tolist() for b in order] == [[10, 10], [200, 12], [10, 50], [300, 52]]


def test_detection_matching_scores() -> None:
    gt = [np.array([[0, 0], [100, 0], [100, 20], [0, 20]], float), np.array([[0, 50], [100, 50], [100, 70], [0, 70]], float)]
    pred = [np.array([[2, 1], [104, 1], [104, 22], [2, 22]], float), np.array([[0, 100], [50, 100], [50, 120], [0, 120]], float)]
    assert convex_iou(gt[0], gt[0]) == pytest.approx(1.0)
    assert match_boxes(pred, gt) == (1, 2, 2)
    assert prh(1, 2, 2) == pytest.approx((0.5, 0.5, 0.5))
    # a prediction lying on an ignored region is not counted
    assert match_boxes(pred, gt, ignore=[pred[1]]) == (1, 1, 2)


# ---- model, export, engine ---------------------------------------------------------------------

TINY = DBNetConfig(channels=(8, 8, 16, 16, 24), blocks=(1, 1, 1, 1), expand=2, fpn=16)


@pytest.fixture(scope="module")
def tiny_detector_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = DBNet(TINY)
    out = export_onnx(model, tmp_path_factory.mktemp("det") / "tiny_det.onnx", "tiny_det", "0")
    assert parity(model, out) < 1e-4
    return out


def test_training_step_runs_and_the_loss_is_finite() -> None:
    torch.manual_seed(0)
    model = DBNet(TINY)
    assert count_parameters(model) < 1_500_000
    t = db_targets((64, 96), [_rect_region(10, 20, 80, 36)])
    x = torch.zeros(1, 1, 64, 96)
    loss, parts = db_loss(model(x), *(torch.from_numpy(a)[None] for a in (t.prob, t.prob_mask, t.thresh, t.thresh_mask)))
    loss.backward()
    assert np.isfinite(loss.item()) and set(parts) == {"prob", "binary", "thresh"}


def test_exported_detector_runs_in_the_engine(tiny_detector_path: Path) -> None:
    engine = DetectorEngine(tiny_detector_path, TEST_ENGINE_CONFIG)
    assert engine.spec.stride == 32 and engine.spec.post.shrink_ratio == pytest.approx(SHRINK_RATIO)
    detector = LearnedLineDetector(engine)
    page, _ = render_page(["Total 12.00"], size=24)
    batch, (fx, fy) = detector.prepare(page)
    assert batch.shape[2] % 32 == 0 and batch.shape[3] % 32 == 0
    assert fx == pytest.approx(page.shape[1] / batch.shape[3]) and fy == pytest.approx(page.shape[0] / batch.shape[2])
    prob = engine.run(batch)
    assert prob.shape == batch.shape[2:] and 0.0 <= prob.min() <= prob.max() <= 1.0
    for box in detector.detect(page):  # random weights: any boxes must lie inside the page
        pts = np.asarray(box.points)
        assert pts[:, 0].min() >= 0 and pts[:, 0].max() <= page.shape[1] and pts[:, 1].max() <= page.shape[0]


@pytest.mark.parametrize(
    "batch",
    [np.zeros((1, 1, 40, 64), np.float32), np.zeros((1, 1, 64, 64), np.float64), np.zeros((2, 1, 64, 64), np.float32)],
)
def test_the_detector_engine_checks_its_batches(tiny_detector_path: Path, batch: np.ndarray) -> None:
    engine = DetectorEngine(tiny_detector_path, TEST_ENGINE_CONFIG)
    assert isinstance(engine, SessionEngine)  # the one engine class, the detector's contract
    with pytest.raises(ValueError, match=r"float32 \[1, 1, H, W\] with H, W multiples of 32"):
        engine.run(batch)


@pytest.mark.parametrize(
    ("shape", "max_side", "size"),
    [((100, 200), 64, (32, 64)), ((40, 50), 960, (32, 64)), ((1000, 700), 640, (640, 448)), ((64, 96), 960, (64, 96))],
)
def test_prepare_page_sizes_to_the_stride(shape: tuple[int, int], max_side: int, size: tuple[int, int]) -> None:
    """Long side within max_side, sides rounded to multiples of the stride, factors back to the page."""
    page = np.full(shape, 255, np.uint8)
    batch, (fx, fy) = prepare_page(page, max_side, 32, 0.5, 0.5)
    assert batch.dtype == np.float32 and batch.shape == (1, 1, *size)
    assert (fx, fy) == pytest.approx((shape[1] / size[1], shape[0] / size[0]))
    np.testing.assert_allclose(batch, 1.0)  # white: (1 - 0.5) / 0.5


def test_detector_training_resumes_and_exports(tmp_path: Path) -> None:
    """crnn-ocr-det-train on a tiny config: log.csv, curves.png, last.pt / best.pt, --resume
    continues the count; crnn-ocr-det-export writes the model and names it the manifest's detector."""
    import json

    from crnn_ocr_train.det_export import main as export_main
    from crnn_ocr_train.det_train import main as train_main

    config = tmp_path / "tiny.toml"
    config.write_text(
        "batch_size = 2\nsize = 128\nworkers = 0\nthreads = 1\nwarmup_steps = 1\nval_every_samples = 4\n"
        "val_pages = 2\nval_max_side = 256\nchannels = [8, 8, 16, 16, 24]\nblocks = [1, 1, 1, 1]\nfpn = 16\n"
        "[page]\nmin_side = 300\nmax_side = 640\n",
        encoding="utf-8",
    )
    run = tmp_path / "run"
    common = ["--config", str(config), "--run-dir", str(run), "--cpu"]
    train_main([*common, "--max-samples", "4"])
    ckpt = torch.load(run / "last.pt", weights_only=False)
    assert ckpt["state"]["samples"] == 4 and ckpt["state"]["step"] == 2 and ckpt["optimizer"] is not None
    assert "charset" not in ckpt and ckpt["state"]["best_hmean"] is not None
    log = (run / "log.csv").read_text(encoding="utf-8").splitlines()
    assert log[0] == (
        "step,samples,wall_s,loss,loss_prob,loss_binary,loss_thresh,lr,samples_per_s,"
        "val_loss,val_precision,val_recall,val_hmean"
    )
    assert len(log) == 2 and (run / "curves.png").stat().st_size > 0 and (run / "best.pt").exists()
    train_main([*common, "--resume", "--max-samples", "6"])
    assert torch.load(run / "last.pt", weights_only=False)["state"]["samples"] == 6
    assert len((run / "log.csv").read_text(encoding="utf-8").splitlines()) == 3  # appended to

    out = tmp_path / "models" / "det.onnx"
    export_main([str(run / "best.pt"), str(out), "--name", "tiny_det", "--manifest"])
    manifest = json.loads((out.parent / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["detector"] == "tiny_det" and manifest["models"]["tiny_det"]["file"] == "det.onnx"
    assert DetectorEngine(out, TEST_ENGINE_CONFIG).spec.stride == 32


def test_a_recognizer_model_is_not_a_detector(tiny_model_path: Path) -> None:
    with pytest.raises(ModelError, match="not a text-detector model"):
        DetectorEngine(tiny_model_path, TEST_ENGINE_CONFIG)


# ---- detector selection ------------------------------------------------------------------------


class _FixedDetector:
    """A LineDetector that finds one fixed box and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Box]:
        self.calls += 1
        return [Box.from_rect(0, 0, image.shape[1], image.shape[0])]


def test_learned_without_a_model_is_an_options_error(tiny_ocr, monkeypatch: pytest.MonkeyPatch) -> None:
    assert tiny_ocr.learned_detector is None  # built with a classical detector only
    page, _ = render_page(["Hello"], size=24)
    with pytest.raises(OptionsError, match="needs a text-detector model"):
        tiny_ocr(page, OCROptions(detector="learned"))
    with pytest.raises(OptionsError, match="unknown detector 'magic'"):
        tiny_ocr(page, OCROptions(detector="magic"))  # type: ignore[arg-type]
    assert tiny_ocr(page, OCROptions(detector="auto")).detector == "classical"


def test_detector_model_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DET_MODEL_ENV, raising=False)
    with pytest.raises(ModelError, match="detector model file not found"):
        resolve_detector_model(tmp_path / "missing.onnx")
    monkeypatch.setenv(DET_MODEL_ENV, str(tmp_path / "gone.onnx"))
    with pytest.raises(ModelError, match=DET_MODEL_ENV):
        resolve_detector_model()


def test_auto_is_learned_when_a_detector_is_loaded(tiny_model_path: Path) -> None:
    from crnn_ocr.pipeline import OCR

    learned = _FixedDetector()
    ocr = OCR(tiny_model_path, threads=1, learned_detector=learned)
    clean, _ = render_page(["Invoice 2024"], size=24)
    assert ocr(clean, OCROptions(detector="auto", auto_orient=False)).detector == "learned"
    assert learned.calls == 1
    assert ocr(clean, OCROptions(detector="classical", auto_orient=False)).detector == "classical"
    assert isinstance(ocr.detector, ClassicalLineDetector)
    # A given (classical) detector and no learned one: auto reads with the given one.
    without = OCR(tiny_model_path, threads=1, detector=ClassicalLineDetector())
    assert without.learned_detector is None
    assert without(clean, OCROptions(detector="auto", auto_orient=False)).detector == "classical"


# ---- synthetic pages ---------------------------------------------------------------------------

CACHE = Path(__file__).resolve().parents[1] / "data" / "cache"


@pytest.fixture(scope="module")
def page_renderer():
    from crnn_ocr.charset import Charset
    from crnn_ocr_train.det_pages import PageRenderer

    return PageRenderer.from_cache(Charset.default(), CACHE)


@pytest.mark.parametrize("kind", ["document", "form", "receipt", "screenshot", "scene"])
def test_synthetic_pages_are_deterministic_by_seed(page_renderer, kind: str) -> None:
    a = page_renderer.render(np.random.default_rng([7, 1]), kind)
    b = page_renderer.render(np.random.default_rng([7, 1]), kind)
    assert a.kind == kind and a.image.dtype == np.uint8 and a.image.ndim == 2
    np.testing.assert_array_equal(a.image, b.image)
    assert [r.text for r in a.regions] == [r.text for r in b.regions] and a.regions
    for ra, rb in zip(a.regions, b.regions):
        np.testing.assert_array_equal(ra.polygon, rb.polygon)
    w = a.image.shape[1]
    inside = [r for r in a.regions if r.polygon[:, 0].min() >= -1 and r.polygon[:, 0].max() <= w + 1]
    assert len(inside) >= len(a.regions) // 2  # lines lie on the page (rotation may push a few out)


def test_quarter_turn_moves_polygons_with_the_page(page_renderer) -> None:
    from crnn_ocr_train.det_pages import quarter_turn

    page = page_renderer.render(np.random.default_rng([3, 3]), "document")
    turned, regions = quarter_turn(page.image, list(page.regions), 1)
    assert turned.shape == page.image.shape[::-1]
    for before, after in zip(page.regions, regions):  # the polygon still starts at the text's top-left
        x, y = before.polygon[0]
        np.testing.assert_allclose(after.polygon[0], [y, page.image.shape[1] - x], atol=1e-3)


def test_det_batches_render_in_a_worker_shape_and_targets(page_renderer) -> None:
    from crnn_ocr.charset import Charset
    from crnn_ocr_train.det_data import DetBatches, DetSynthConfig

    cfg = DetSynthConfig(seed=5, batch_size=2, size=128, cache_dir=str(CACHE))
    batch = next(iter(DetBatches(Charset.default(), cfg)))
    assert batch.images.shape == (2, 1, 128, 128) and batch.prob.shape == (2, 128, 128)
    assert float(batch.images.min()) >= -1.0 and float(batch.images.max()) <= 1.0
    assert set(np.unique(batch.prob.numpy())) <= {0.0, 1.0}
    again = next(iter(DetBatches(Charset.default(), cfg)))
    assert torch.equal(batch.images, again.images)  # deterministic by seed
