"""OCR: the whole pipeline, image in, Page out. ``OCR.__call__`` (its body: ``OCR._read``) lists
the stages in order: load, preprocess, detect, recognize, layout (rows, paragraphs, columns:
``crnn_ocr.layout``) and, when asked for, fields (``crnn_ocr.fields``). Characters carry boxes in
page pixels, estimated from their CTC frames (``char_spans``), for the hOCR, ALTO and
searchable-PDF writers.

Documents: ``OCR.read_pages`` is the one document loop: it reads the chosen pages of an open
document (``crnn_ocr.documents``: limits checked before any page is rendered) one at a time with
those stages, and hands back each numbered Page with its page image and the preprocessed image
(the preview, so it is not preprocessed twice). ``OCR.read_document``, the server's read unit
(``crnn_ocr.server.reading``) and ``crnn_ocr.batch`` all read documents through it.

Building: ``load_ocr(OCRConfig(...))`` is the one place an OCR is built from plain settings (the
server, its job workers, the batch worker processes and the CLI).
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from crnn_ocr.detect import ClassicalLineDetector, LineDetector, whole_image_box
from crnn_ocr.detect_learned import LearnedLineDetector
from crnn_ocr.documents import DEFAULT_MAX_PAGES, DocumentLimits, DocumentReader, PageImage, open_document
from crnn_ocr.engine import EngineConfig, ModelSpec, OnnxEngine
from crnn_ocr.errors import OptionsError
from crnn_ocr.field_reader import PageReader
from crnn_ocr.fields import find_fields
from crnn_ocr.io import DEFAULT_MAX_PIXELS, ImageSource, load_image
from crnn_ocr.layout import in_reading_order
from crnn_ocr.lm import CharLM
from crnn_ocr.models import resolve_detector_model, resolve_lm, resolve_model, sha256_file
from crnn_ocr.orientation import OrientationFinder, OrientedLines, line_crop
from crnn_ocr.preprocess import Preprocessed, Preprocessor, to_gray
from crnn_ocr.recognize import Recognizer, pad_value
from crnn_ocr.types import (
    DETECTOR_CHOICES,
    Box,
    CharConfidence,
    Document,
    DocumentOptions,
    Line,
    OCROptions,
    Page,
    PreprocessOptions,
    Recognition,
    Timings,
)

NO_LEARNED_DETECTOR = (
    "detector 'learned' needs a text-detector model, and none is loaded: pass det_model_path "
    "(an .onnx from crnn-ocr-det-export) or set $CRNN_OCR_DET_MODEL; or use detector 'classical' "
    "or 'auto'"
)


@dataclass(frozen=True)
class OCRConfig:
    """What an OCR is built from, as plain data (it is pickled for batch worker processes).

    ``model``: an .onnx path or a manifest name (None: the shipped default); ``det_model``: the
    learned detector's .onnx (None: ``$CRNN_OCR_DET_MODEL`` or the manifest's); ``lm``: the
    character language model (None: ``$CRNN_OCR_LM`` or the manifest's); ``threads``: ONNX
    Runtime intra-op threads (None: its default); the limits as ``OCR`` takes them.
    """

    model: str | None = None
    threads: int | None = None
    det_model: str | None = None
    lm: str | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_pages: int = DEFAULT_MAX_PAGES


def load_ocr(config: OCRConfig) -> OCR:
    """The OCR ``config`` describes (the one model builder; raises ModelError for a bad model)."""
    return OCR(
        config.model,
        threads=config.threads,
        det_model_path=config.det_model,
        lm_path=config.lm,
        max_pixels=config.max_pixels,
        max_pages=config.max_pages,
    )


@dataclass(frozen=True)
class ReadPage:
    """One page read by ``OCR.read_pages``: the result, the page image it was read from, and the
    preprocessed image the detector and recognizer saw (uint8 HxW or HxWx3: the preview)."""

    page: Page
    image: PageImage
    preprocessed: np.ndarray


class OCR:
    """Detects and reads the text lines of an image. Build once, call many times (thread-safe).

    ``model_path``: an .onnx file or a manifest model name; None resolves the shipped model (see
    ``crnn_ocr.models``). ``threads``: ONNX Runtime intra-op threads (None: its default).
    ``detector``, ``preprocessor``, ``recognizer``: replace the default stages (a given
    ``recognizer`` brings its own model, so ``model_path``/``threads`` must then be None).
    ``detector`` is the classical stage (``OCROptions.detector="classical"``).
    ``det_model_path``: the learned detector's .onnx (None: ``$CRNN_OCR_DET_MODEL``, else the
    manifest's optional ``detector`` entry, else no learned detector). ``learned_detector``:
    a ready learned stage instead (then ``det_model_path`` must be None). A given ``detector``
    without either of these means no learned detector: that detector reads every page.
    ``lm_path``: the character language model beam search fuses (``crnn_ocr.lm``; None:
    ``$CRNN_OCR_LM``, else the manifest's optional ``lm`` entry, hash-checked; else none). It
    belongs to the recognizer, so a given ``recognizer`` brings its own (then ``lm_path`` must be
    None).
    ``max_pixels``: largest width * height accepted by ``load_image`` (for a document: per page).
    ``max_pages``: most pages ``read_document`` reads from one document.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        threads: int | None = None,
        detector: LineDetector | None = None,
        preprocessor: Preprocessor | None = None,
        recognizer: Recognizer | None = None,
        det_model_path: str | os.PathLike | None = None,
        learned_detector: LineDetector | None = None,
        lm_path: str | os.PathLike | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        max_pages: int = DEFAULT_MAX_PAGES,
    ) -> None:
        self._model_sha256: str | None = None  # known from the manifest (checked), else hashed when asked
        if recognizer is None:
            model = resolve_model(model_path)
            self._model_sha256 = model.sha256
            lm_file = resolve_lm(lm_path)
            recognizer = Recognizer(
                OnnxEngine(model.path, EngineConfig(intra_op_threads=threads)),
                lm=None if lm_file is None else CharLM.load(lm_file),
            )
        elif model_path is not None or threads is not None or lm_path is not None:
            raise ValueError("pass either a recognizer or model_path/threads/lm_path, not both")
        self.recognizer = recognizer
        self.detector = detector if detector is not None else ClassicalLineDetector()
        if learned_detector is not None and det_model_path is not None:
            raise ValueError("pass either a learned_detector or det_model_path, not both")
        if learned_detector is None and (detector is None or det_model_path is not None):
            det_path = resolve_detector_model(det_model_path)
            if det_path is not None:
                learned_detector = LearnedLineDetector.from_path(det_path, EngineConfig(intra_op_threads=threads))
        self.learned_detector = learned_detector
        self.orientation = OrientationFinder(recognizer)
        self.preprocessor = preprocessor if preprocessor is not None else Preprocessor()
        self.max_pixels = max_pixels
        self.max_pages = max_pages

    @property
    def model(self) -> ModelSpec:
        return self.recognizer.spec

    @property
    def model_path(self) -> Path:
        return self.recognizer.engine.path

    @cached_property
    def model_sha256(self) -> str:
        """SHA-256 of the recognizer's model file: the manifest's (checked on load), else hashed once."""
        return self._model_sha256 or sha256_file(self.model_path)

    def __call__(self, image: ImageSource, options: OCROptions | None = None) -> Page:
        """Read ``image`` (path, bytes, array or PIL image). Raises ImageError, OptionsError."""
        return self._read(image, self._checked(options))[0]

    def _read(self, image: ImageSource, options: OCROptions) -> tuple[Page, np.ndarray]:
        """The stages in order (``options`` checked already): the Page, and the preprocessed image."""
        clock = _StageClock()
        with clock("load"):
            original = load_image(image, max_pixels=self.max_pixels)
        with clock("preprocess"):
            prepared = self.preprocessor.run(original, options.preprocess)
        with clock("detect"):
            detector = self.choose_detector(options) if options.detect else None
            found = self._find_lines(prepared.image, detector, options.auto_orient)
        with clock("recognize"):
            crops = [line_crop(prepared.image, b, v) for b, v in zip(found.boxes, found.vertical)]
            probs = self.recognizer.probabilities(crops)
            recognitions = self.recognizer.decode_page(crops, probs, options.decode)
        lines = _lines(found.boxes, crops, recognitions, prepared, original.shape[:2], options.decode.min_confidence)
        reader = None
        if options.fields:  # the fields step may read a line again, or beside it (crnn_ocr.field_reader)
            kept = [
                (box, p)
                for box, p, rec in zip(found.boxes, probs, recognitions)
                if rec.text and rec.confidence >= options.decode.min_confidence
            ]
            reader = PageReader.of(
                self.recognizer,
                prepared.image,
                lines,
                [box for box, _ in kept],
                [p for _, p in kept],
                lambda box: _to_original(box, prepared, original.shape[:2]),
            )
        del probs
        lines, blocks = in_reading_order(lines)
        fields = find_fields(blocks, reader) if options.fields else ()
        height, width = original.shape[:2]
        used = "" if detector is None else "learned" if detector is self.learned_detector else "classical"
        page = Page(
            width,
            height,
            lines,
            clock.timings(),
            tuple(prepared.steps),
            orientation=found.orientation,
            detector=used,
            blocks=blocks,
            fields=fields,
        )
        return page, prepared.image

    def read_document(
        self, src: ImageSource, options: OCROptions | None = None, document: DocumentOptions | None = None
    ) -> Document:
        """Read every chosen page of a PDF, a multi-page TIFF or an image (path or bytes).

        ``document``: the DPI PDF pages are rendered at and the page range. Limits (``max_pages``,
        ``max_pixels``) are checked before any page is rendered. Raises ImageError, OptionsError.
        """
        options = self._checked(options)
        source = str(src) if isinstance(src, (str, os.PathLike)) else ""
        with self.open_document(src, document) as doc:
            pages = tuple(read.page for read in self.read_pages(doc, options))
            return Document(pages, doc.page_count, source)

    def read_pages(
        self,
        doc: DocumentReader,
        options: OCROptions | None = None,
        numbers: Sequence[int] | None = None,
        *,
        before_page: Callable[[], None] | None = None,
    ) -> Iterator[ReadPage]:
        """Read the pages ``numbers`` (None: every chosen page, ``doc.numbers``) of an open
        document, one page image in memory at a time, each as soon as it is read.
        ``before_page`` is called before each page is rendered (it may raise to stop reading).
        Raises ImageError, OptionsError."""
        options = self._checked(options)
        for number in doc.numbers if numbers is None else numbers:
            if before_page is not None:
                before_page()
            image = doc.page(number)
            page, preprocessed = self._read(image.image, options)
            yield ReadPage(replace(page, number=image.number, dpi=image.dpi), image, preprocessed)

    def open_document(self, src: ImageSource, document: DocumentOptions | None = None) -> DocumentReader:
        """The document's pages, checked against this OCR's limits (see ``crnn_ocr.documents``)."""
        limits = DocumentLimits(max_pages=self.max_pages, max_pixels=self.max_pixels)
        return open_document(src, document, limits)

    def preprocess_preview(self, image: ImageSource, options: PreprocessOptions | None = None) -> np.ndarray:
        """The image the detector and recognizer would see (uint8 HxW or HxWx3), for display."""
        original = load_image(image, max_pixels=self.max_pixels)
        return self.preprocessor.run(original, options or PreprocessOptions()).image

    def choose_detector(self, options: OCROptions) -> LineDetector:
        """The detector ``options.detector`` names; for "auto" see ``choose_detector``."""
        if options.detector == "classical":
            return self.detector
        if options.detector == "learned":
            if self.learned_detector is None:
                raise OptionsError(NO_LEARNED_DETECTOR)
            return self.learned_detector
        return choose_detector(self.detector, self.learned_detector)

    def _find_lines(self, image: np.ndarray, detector: LineDetector | None, orient: bool) -> OrientedLines:
        """Line boxes in reading order (turned upright when ``orient``), or (no detector) the whole
        image as one line; with ``orient``, lines whose crops stand tall are read the way that
        scores best (``OrientationFinder.turn_tall``)."""
        if detector is None:
            lines = OrientedLines((whole_image_box(image),), (False,), 0)
        elif orient:
            lines = self.orientation.find(image, detector)
        else:
            boxes = tuple(detector.detect(image))
            return OrientedLines(boxes, (False,) * len(boxes), 0)
        return self.orientation.turn_tall(image, lines) if orient else lines

    def check_options(self, options: OCROptions | None) -> OCROptions:
        """``options`` (the defaults for None) if this OCR can honour them; OptionsError otherwise."""
        return self._checked(options)

    def _checked(self, options: OCROptions | None) -> OCROptions:
        """Fail on bad options before any work is done."""
        if options is None:
            options = OCROptions()
        if not isinstance(options, OCROptions):
            raise OptionsError(f"options must be an OCROptions; got {type(options).__name__}")
        if options.detector not in DETECTOR_CHOICES:
            raise OptionsError(
                f"unknown detector {options.detector!r}; expected one of {', '.join(DETECTOR_CHOICES)}"
            )
        if options.detector == "learned" and self.learned_detector is None:
            raise OptionsError(NO_LEARNED_DETECTOR)
        self.recognizer.check_options(options.decode)
        return options


def choose_detector(classical: LineDetector, learned: LineDetector | None) -> LineDetector:
    """The ``auto`` rule: the learned detector whenever one is loaded, else the classical one.

    Measured on synthetic pages of every kind the detector is trained on (documents, forms,
    receipts, screenshots, scene-like photos; ``benchmarks/detect_synth.py``), the learned
    detector finds lines better than the classical one on each kind, clean documents included, so
    ``auto`` needs no page test."""
    return classical if learned is None else learned


def _lines(
    boxes: Sequence[Box],
    crops: Sequence[np.ndarray],
    recognitions: Sequence[Recognition],
    prepared: Preprocessed,
    shape: tuple[int, int],
    min_confidence: float = 0.0,
) -> tuple[Line, ...]:
    """Lines with text read with at least ``min_confidence``; their boxes (and their characters'
    boxes) mapped back to the original image, clipped to its ``shape``."""
    return tuple(
        Line(
            rec.text,
            rec.confidence,
            _to_original(box, prepared, shape),
            _located_chars(box, crop, rec, prepared, shape),
        )
        for box, crop, rec in zip(boxes, crops, recognitions)
        if rec.text and rec.confidence >= min_confidence
    )


def _to_original(box: Box, prepared: Preprocessed, shape: tuple[int, int]) -> Box:
    points = prepared.to_original(np.asarray(box.points, dtype=np.float64))  # [4, 2]
    height, width = shape
    xs, ys = points[:, 0].clip(0, width), points[:, 1].clip(0, height)
    return Box(tuple((float(x), float(y)) for x, y in zip(xs, ys)))  # type: ignore[arg-type]


def _located_chars(
    box: Box, crop: np.ndarray, rec: Recognition, prepared: Preprocessed, shape: tuple[int, int]
) -> tuple[CharConfidence, ...]:
    """The characters of ``rec`` with their boxes: x-spans in the crop (``char_spans``) placed along
    the line's box (its top and bottom edges, interpolated), then mapped to the original image."""
    spans = char_spans(rec, crop)
    if spans is None:
        return rec.chars
    p0, p1, p2, p3 = (np.asarray(p, dtype=np.float64) for p in box.points)
    crop_w = crop.shape[1]
    located = []
    for char, (x0, x1) in zip(rec.chars, spans):
        t0, t1 = x0 / crop_w, x1 / crop_w
        corners = (p0 + t0 * (p1 - p0), p0 + t1 * (p1 - p0), p3 + t1 * (p2 - p3), p3 + t0 * (p2 - p3))
        quad = Box(tuple((float(x), float(y)) for x, y in corners))  # type: ignore[arg-type]
        located.append(replace(char, box=_to_original(quad, prepared, shape)))
    return tuple(located)


def char_spans(rec: Recognition, crop: np.ndarray) -> list[tuple[float, float]] | None:
    """Each character's (x0, x1) in its line ``crop``, from its CTC frames; None when a character
    has no frames or the frame width is unknown.

    CTC fires a character on one or a few frames (a peak), not over its whole glyph, and a
    bidirectional model may fire it a little before or after the glyph, so the spans are estimated:
    neighbouring characters meet half-way between their frames; the first and last reach out by
    half the median distance between character centres (a lone character: half the crop height, a
    square glyph). The whole row of spans is then stretched and shifted onto the crop's ink extent
    (columns differing from the crop's background), unless that would scale it by more than 1.5x,
    which means the extent is not the line's own.
    """
    chars = rec.chars
    if not chars or rec.frame_width <= 0 or any(c.frames is None for c in chars):
        return None
    first = np.array([c.frames[0] for c in chars], dtype=np.float64)  # type: ignore[index]
    last = np.array([c.frames[1] for c in chars], dtype=np.float64) + 1.0  # type: ignore[index]
    crop_h, crop_w = crop.shape[:2]
    centres = (first + last) / 2
    half = np.median(np.diff(centres)) / 2 if len(chars) > 1 else crop_h / rec.frame_width / 2
    edges = np.empty(len(chars) + 1)
    edges[1:-1] = (last[:-1] + first[1:]) / 2
    edges[0] = min(first[0], centres[0] - half)
    edges[-1] = max(last[-1], centres[-1] + half)
    edges *= rec.frame_width
    extent = ink_extent(crop)
    if extent is not None and edges[-1] > edges[0]:
        scale = (extent[1] - extent[0]) / (edges[-1] - edges[0])
        if 1 / 1.5 <= scale <= 1.5:
            edges = extent[0] + (edges - edges[0]) * scale
    edges = edges.clip(0, crop_w)
    return [(float(a), float(b)) for a, b in itertools.pairwise(edges)]


def ink_extent(crop: np.ndarray) -> tuple[float, float] | None:
    """(first, last + 1) column of ``crop`` holding ink: pixels at least half the crop's largest
    difference (and 40 grey levels) away from its background (``pad_value``); None if none."""
    gray = to_gray(crop)
    diff = np.abs(gray.astype(np.int16) - pad_value(gray))
    threshold = max(40, int(diff.max()) // 2)
    cols = np.flatnonzero((diff >= threshold).any(axis=0))
    if cols.size == 0 or diff.max() < 40:
        return None
    return float(cols[0]), float(cols[-1] + 1)


class _StageClock:
    """Milliseconds per named stage of one call, and the total since construction."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._ms[stage] = (time.perf_counter() - t0) * 1000.0

    def timings(self) -> Timings:
        total = (time.perf_counter() - self._start) * 1000.0
        return Timings(**{f"{stage}_ms": ms for stage, ms in self._ms.items()}, total_ms=total)
