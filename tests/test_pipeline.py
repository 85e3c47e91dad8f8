"""OCR pipeline over the tiny model: Page structure, stages, coordinates, options and errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from render import rotate_image, to_png_bytes
from tiny_model import render_code_line

from crnn_ocr import OCR, DecodeOptions, OCROptions, Page, PreprocessOptions
from crnn_ocr.detect import ClassicalLineDetector
from crnn_ocr.errors import ImageError, ImageTooLargeError, OptionsError
from crnn_ocr.preprocess import Preprocessed
from crnn_ocr.recognize import Recognizer
from crnn_ocr.types import Box

PAGE_LINES = ["0123456789", "ab中文ab", "98765", "11"]


def code_page(lines: list[str] = PAGE_LINES) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A white page of code lines and each line's bar rect (x, y, w, h)."""
    page = np.full((60 + 70 * len(lines), 420), 255, np.uint8)
    rects = []
    for i, text in enumerate(lines):
        line = render_code_line(text)
        x, y = 30 + 17 * i, 40 + 70 * i
        page[y : y + 32, x : x + line.shape[1]] = line
        rects.append((x + 8, y + 4, line.shape[1] - 16, 24))  # the bars: margins 8 px, rows 4..28
    return page, rects


def covers(box: Box, rect: tuple[int, int, int, int], slack: float = 1.0) -> bool:
    x0, y0, x1, y1 = box.bounds
    x, y, w, h = rect
    return x0 <= x + slack and y0 <= y + slack and x1 >= x + w - slack and y1 >= y + h - slack


# ---- whole flow --------------------------------------------------------------------------------


def test_page_of_lines_is_detected_and_read_in_order(tiny_ocr: OCR) -> None:
    page_img, rects = code_page()
    page = tiny_ocr(page_img)
    assert isinstance(page, Page)
    assert (page.width, page.height) == (page_img.shape[1], page_img.shape[0])
    assert [line.text for line in page.lines] == PAGE_LINES
    assert page.text == "\n".join(PAGE_LINES)
    for line, rect in zip(page.lines, rects):
        assert covers(line.box, rect)
        assert line.box.bounds[3] - line.box.bounds[1] < 40  # one line, not the page
        assert [c.char for c in line.chars] == list(line.text)
        assert 0.99 < line.confidence <= 1.0


@pytest.mark.parametrize("scale", [2, 3])
def test_bigger_page_reads_the_same(tiny_ocr: OCR, scale: int) -> None:
    page_img, _ = code_page()
    big = cv2.resize(page_img, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    assert [line.text for line in tiny_ocr(big).lines] == PAGE_LINES


def test_no_detect_reads_the_whole_image_as_one_line(tiny_ocr: OCR) -> None:
    img = render_code_line("2024ab")
    page = tiny_ocr(img, OCROptions(detect=False))
    assert [line.text for line in page.lines] == ["2024ab"]
    h, w = img.shape
    assert page.lines[0].box.points == ((0, 0), (w, 0), (w, h), (0, h))


def test_to_dict_is_json_and_carries_timings_and_steps(tiny_ocr: OCR) -> None:
    bgr = cv2.cvtColor(code_page()[0], cv2.COLOR_GRAY2BGR)
    page = tiny_ocr(bgr, OCROptions(preprocess=PreprocessOptions(clahe=True)))
    data = json.loads(json.dumps(page.to_dict()))
    assert data["text"] == "\n".join(PAGE_LINES)
    assert data["preprocessing"] == ["grayscale", "clahe"]
    assert set(data["timings"]) == {"load_ms", "preprocess_ms", "detect_ms", "recognize_ms", "total_ms"}
    t = page.timings
    assert all(v >= 0 for v in data["timings"].values())
    assert t.total_ms >= t.load_ms + t.preprocess_ms + t.detect_ms + t.recognize_ms
    assert data["lines"][0]["box"] == page.lines[0].box.to_list()
    assert [c["char"] for c in data["lines"][1]["chars"]] == list(PAGE_LINES[1])


@pytest.mark.parametrize("kind", ["path", "bytes", "array"])
def test_every_input_kind_is_accepted(tiny_ocr: OCR, tmp_path: Path, kind: str) -> None:
    img = render_code_line("777")
    png = to_png_bytes(img)
    source = {"path": tmp_path / "line.png", "bytes": png, "array": img}[kind]
    (tmp_path / "line.png").write_bytes(png)
    assert tiny_ocr(source, OCROptions(detect=False)).text == "777"


def test_blank_image_gives_a_page_without_lines(tiny_ocr: OCR) -> None:
    white = np.full((120, 300), 255, np.uint8)
    assert tiny_ocr(white).lines == ()
    assert tiny_ocr(white, OCROptions(detect=False)).lines == ()  # "" recognitions are dropped


def test_decode_options_reach_the_recognizer(tiny_ocr: OCR) -> None:
    img = render_code_line("5文")
    options = OCROptions(detect=False, decode=DecodeOptions(method="beam", denylist="文"))
    assert tiny_ocr(img, options).text == "5中"


# ---- coordinates: boxes land on the original image ---------------------------------------------


class FixedDetector:
    """Returns the same boxes for every image."""

    def __init__(self, boxes: list[Box]) -> None:
        self.boxes = boxes

    def detect(self, image: np.ndarray) -> list[Box]:
        return list(self.boxes)


class DoublingPreprocessor:
    """Enlarges the image 2x; its transform maps processed points back by halving them."""

    def run(self, image: np.ndarray, options: PreprocessOptions | None = None) -> Preprocessed:
        big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        return Preprocessed(big, ("double",), 0.0, np.array([[0.5, 0, 0], [0, 0.5, 0]]))


def test_boxes_are_mapped_back_through_the_preprocessing_transform(tiny_recognizer: Recognizer) -> None:
    page_img, rects = code_page(["42", "ab"])
    # boxes in the doubled image around each line: 16 px white margin, rows 0..64 of the line
    boxes = [Box.from_rect(2 * (x - 8), 2 * (y - 4), 2 * (w + 16), 64) for x, y, w, _ in rects]
    ocr = OCR(detector=FixedDetector(boxes), preprocessor=DoublingPreprocessor(), recognizer=tiny_recognizer)
    page = ocr(page_img)
    assert [line.text for line in page.lines] == ["42", "ab"]
    assert page.preprocessing == ("double",)
    for line, (x, y, w, _) in zip(page.lines, rects):
        left, top, right, bottom = x - 8, y - 4, x + w + 8, y + 28
        assert line.box.to_list() == [[left, top], [right, top], [right, bottom], [left, bottom]]


def test_boxes_are_clipped_to_the_original_image(tiny_recognizer: Recognizer) -> None:
    img = render_code_line("12")
    h, w = img.shape
    ocr = OCR(detector=FixedDetector([Box.from_rect(-10, -10, 2 * w + 20, 2 * h + 20)]),
              preprocessor=DoublingPreprocessor(), recognizer=tiny_recognizer)
    assert ocr(img).lines[0].box.bounds == (0, 0, w, h)


def test_empty_recognitions_are_dropped_and_lines_come_in_reading_order(tiny_recognizer: Recognizer) -> None:
    page_img, rects = code_page(["3", "4"])
    (x1, y1, _, _), (x2, y2, _, _) = rects
    boxes = [
        Box.from_rect(x2 - 8, y2 - 4, 40, 32),
        Box.from_rect(300, 5, 60, 30),  # white paper only
        Box.from_rect(x1 - 8, y1 - 4, 40, 32),
    ]
    ocr = OCR(detector=FixedDetector(boxes), recognizer=tiny_recognizer)
    page = ocr(page_img)
    assert [line.text for line in page.lines] == ["3", "4"]  # top to bottom (the layout's), white box gone
    assert [ln.text for block in page.blocks for ln in block.lines] == ["3", "4"]


def test_deskew_maps_boxes_onto_the_rotated_input(tiny_ocr: OCR) -> None:
    page_img, rects = code_page()
    angle = 4.0
    rotated = rotate_image(page_img, angle)
    h, w = page_img.shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    m[0, 2] += (int(np.ceil(w * cos + h * sin)) - w) / 2
    m[1, 2] += (int(np.ceil(w * sin + h * cos)) - h) / 2

    page = tiny_ocr(rotated, OCROptions(preprocess=PreprocessOptions(deskew=True)))
    assert "deskew" in page.preprocessing
    assert (page.width, page.height) == (rotated.shape[1], rotated.shape[0])
    assert len(page.lines) == len(PAGE_LINES)
    for line, (x, y, bw, bh) in zip(page.lines, rects):
        true_centre = m @ np.array([x + bw / 2, y + bh / 2, 1.0])
        centre = np.mean(np.asarray(line.box.points), axis=0)
        assert np.hypot(*(centre - true_centre)) < 6, (line.text, centre, true_centre)
        # the box is turned with the text: its top edge rises with the page's rotation
        (x0, y0), (x1, y1) = line.box.points[:2]
        assert np.degrees(np.arctan2(y0 - y1, x1 - x0)) == pytest.approx(angle, abs=1.0)


# ---- preview, options, errors, construction -----------------------------------------------------


def test_preprocess_preview_returns_the_processed_image(tiny_ocr: OCR) -> None:
    bgr = cv2.cvtColor(code_page()[0], cv2.COLOR_GRAY2BGR)
    assert tiny_ocr.preprocess_preview(bgr).ndim == 2  # grayscale by default
    binary = tiny_ocr.preprocess_preview(bgr, PreprocessOptions(binarize=True))
    assert set(np.unique(binary)) <= {0, 255}


def test_read_pages_hands_back_each_page_with_its_preprocessed_image(tiny_ocr: OCR) -> None:
    from pdfs import multipage_tiff

    first, second = code_page()[0], code_page(PAGE_LINES[:1])[0]
    options = OCROptions(preprocess=PreprocessOptions(binarize=True))
    with tiny_ocr.open_document(multipage_tiff([first, second], dpi=150)) as doc:
        reads = list(tiny_ocr.read_pages(doc, options))
        only_second = [r.page.number for r in tiny_ocr.read_pages(doc, options, (2,))]
    assert [r.page.number for r in reads] == [1, 2] and only_second == [2]
    assert [r.page.dpi for r in reads] == [150, 150]
    for read, image in zip(reads, (first, second)):
        assert np.array_equal(read.image.image, image)
        assert np.array_equal(read.preprocessed, tiny_ocr.preprocess_preview(image, options.preprocess))
        assert read.page.text == tiny_ocr(image, options).text
    document = tiny_ocr.read_document(multipage_tiff([first, second], dpi=150), options)
    assert [p.text for p in document.pages] == [r.page.text for r in reads]


def test_read_pages_stops_when_before_page_raises(tiny_ocr: OCR) -> None:
    from pdfs import multipage_tiff

    seen: list[int] = []

    def stop_after_one() -> None:
        if seen:
            raise OptionsError("stop")
        seen.append(1)

    with tiny_ocr.open_document(multipage_tiff([code_page()[0]] * 3)) as doc:
        pages = tiny_ocr.read_pages(doc, before_page=stop_after_one)
        assert next(pages).page.number == 1
        with pytest.raises(OptionsError, match="stop"):
            next(pages)


def test_load_ocr_builds_from_plain_config_and_hashes_the_model_once(tiny_model_path: Path) -> None:
    from crnn_ocr.models import sha256_file
    from crnn_ocr.pipeline import OCRConfig, load_ocr

    ocr = load_ocr(OCRConfig(model=str(tiny_model_path), threads=1, max_pixels=1234, max_pages=7))
    assert ocr.model_path == tiny_model_path and (ocr.max_pixels, ocr.max_pages) == (1234, 7)
    assert ocr.model_sha256 == sha256_file(tiny_model_path)
    assert "model_sha256" in vars(ocr)  # cached: asked again, the file is not hashed again


def test_bad_options_fail_before_the_image_is_read(tiny_ocr: OCR) -> None:
    with pytest.raises(OptionsError, match="unknown decoding method"):
        bad = DecodeOptions(method="viterbi")  # type: ignore[arg-type]
        tiny_ocr("/no/such/file.png", OCROptions(decode=bad))
    with pytest.raises(OptionsError, match="OCROptions"):
        tiny_ocr(render_code_line("1"), {"detect": False})  # type: ignore[arg-type]


@pytest.mark.parametrize("source", [b"not an image", "/no/such/file.png", np.zeros((0, 5), np.uint8)])
def test_unreadable_images_are_image_errors(tiny_ocr: OCR, source) -> None:
    with pytest.raises(ImageError):
        tiny_ocr(source)


def test_max_pixels_is_enforced(tiny_model_path: Path) -> None:
    ocr = OCR(tiny_model_path, threads=1, max_pixels=1000)
    with pytest.raises(ImageTooLargeError):
        ocr(np.full((40, 40), 255, np.uint8))


def test_defaults_and_model_information(tiny_ocr: OCR, tiny_model_path: Path) -> None:
    assert isinstance(tiny_ocr.detector, ClassicalLineDetector)
    assert tiny_ocr.model.name == "tiny_test"
    assert tiny_ocr.model_path == tiny_model_path


def test_a_recognizer_excludes_model_arguments(tiny_recognizer: Recognizer, tiny_model_path: Path) -> None:
    with pytest.raises(ValueError, match="either a recognizer or model_path"):
        OCR(tiny_model_path, recognizer=tiny_recognizer)


def test_shipped_model_reads_a_rendered_line(shipped_ocr: OCR) -> None:
    from render import render_line

    page = shipped_ocr(render_line("Hello 2024"), OCROptions(detect=False))
    assert len(page.lines) == 1 and page.lines[0].text
