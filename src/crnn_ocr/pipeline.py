"""OCR: the whole pipeline, image in, Page out. ``OCR.__call__`` lists the stages in order."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from crnn_ocr.detect import ClassicalLineDetector, LineDetector, crop_box, whole_image_box
from crnn_ocr.engine import EngineConfig, ModelSpec, OnnxEngine
from crnn_ocr.errors import OptionsError
from crnn_ocr.io import DEFAULT_MAX_PIXELS, ImageSource, load_image
from crnn_ocr.models import resolve_model
from crnn_ocr.preprocess import Preprocessed, Preprocessor
from crnn_ocr.recognize import Recognizer
from crnn_ocr.types import Box, Line, OCROptions, Page, PreprocessOptions, Recognition, Timings


class OCR:
    """Detects and reads the text lines of an image. Build once, call many times (thread-safe).

    ``model_path``: an .onnx file or a manifest model name; None resolves the shipped model (see
    ``crnn_ocr.models``). ``threads``: ONNX Runtime intra-op threads (None: its default).
    ``detector``, ``preprocessor``, ``recognizer``: replace the default stages (a given
    ``recognizer`` brings its own model, so ``model_path``/``threads`` must then be None).
    ``max_pixels``: largest width * height accepted by ``load_image``.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        threads: int | None = None,
        detector: LineDetector | None = None,
        preprocessor: Preprocessor | None = None,
        recognizer: Recognizer | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        if recognizer is None:
            model = resolve_model(model_path)
            recognizer = Recognizer(OnnxEngine(model.path, EngineConfig(intra_op_threads=threads)))
        elif model_path is not None or threads is not None:
            raise ValueError("pass either a recognizer or model_path/threads, not both")
        self.recognizer = recognizer
        self.detector = detector if detector is not None else ClassicalLineDetector()
        self.preprocessor = preprocessor if preprocessor is not None else Preprocessor()
        self.max_pixels = max_pixels

    @property
    def model(self) -> ModelSpec:
        return self.recognizer.spec

    @property
    def model_path(self) -> Path:
        return self.recognizer.engine.path

    def __call__(self, image: ImageSource, options: OCROptions | None = None) -> Page:
        """Read ``image`` (path, bytes, array or PIL image). Raises ImageError, OptionsError."""
        options = self._checked(options)
        clock = _StageClock()
        with clock("load"):
            original = load_image(image, max_pixels=self.max_pixels)
        with clock("preprocess"):
            prepared = self.preprocessor.run(original, options.preprocess)
        with clock("detect"):
            boxes = self._find_lines(prepared.image, options.detect)
        with clock("recognize"):
            crops = [crop_box(prepared.image, box) for box in boxes]
            recognitions = self.recognizer.recognize(crops, options.decode)
        lines = _lines(boxes, recognitions, prepared, original.shape[:2])
        height, width = original.shape[:2]
        return Page(width, height, lines, clock.timings(), tuple(prepared.steps))

    def preprocess_preview(self, image: ImageSource, options: PreprocessOptions | None = None) -> np.ndarray:
        """The image the detector and recognizer would see (uint8 HxW or HxWx3), for display."""
        original = load_image(image, max_pixels=self.max_pixels)
        return self.preprocessor.run(original, options or PreprocessOptions()).image

    def _find_lines(self, image: np.ndarray, detect: bool) -> list[Box]:
        """Line boxes in reading order, or (no detection) the whole image as one line."""
        return self.detector.detect(image) if detect else [whole_image_box(image)]

    def _checked(self, options: OCROptions | None) -> OCROptions:
        """Fail on bad options before any work is done."""
        if options is None:
            options = OCROptions()
        if not isinstance(options, OCROptions):
            raise OptionsError(f"options must be an OCROptions; got {type(options).__name__}")
        self.recognizer.check_options(options.decode)
        return options


def _lines(
    boxes: Sequence[Box],
    recognitions: Sequence[Recognition],
    prepared: Preprocessed,
    shape: tuple[int, int],
) -> tuple[Line, ...]:
    """Lines with text; their boxes mapped back to the original image, clipped to its ``shape``."""
    return tuple(
        Line(rec.text, rec.confidence, _to_original(box, prepared, shape), rec.chars)
        for box, rec in zip(boxes, recognitions)
        if rec.text
    )


def _to_original(box: Box, prepared: Preprocessed, shape: tuple[int, int]) -> Box:
    points = prepared.to_original(np.asarray(box.points, dtype=np.float64))  # [4, 2]
    height, width = shape
    xs, ys = points[:, 0].clip(0, width), points[:, 1].clip(0, height)
    return Box(tuple((float(x), float(y)) for x, y in zip(xs, ys)))  # type: ignore[arg-type]


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
