"""crnn_ocr: offline Chinese + English OCR on the CPU (a CRNN line recognizer over ONNX Runtime).

    from crnn_ocr import OCR, OCROptions
    page = OCR()("scan.png", OCROptions(detect=True))
    print(page.text)

``OCR`` is imported on first use, so ``import crnn_ocr.charset`` (or ``crnn_ocr.recognize``, which
the training side uses) does not load the detector and preprocessing stages.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from crnn_ocr import errors
from crnn_ocr.errors import ImageError, ModelError, OCRError, OptionsError
from crnn_ocr.types import (
    Box,
    CharConfidence,
    DecodeOptions,
    Document,
    DocumentOptions,
    Line,
    OCROptions,
    Page,
    PreprocessOptions,
    Recognition,
    Timings,
)

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR

try:
    __version__ = version("crnn-ocr")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "OCR",
    "Box",
    "CharConfidence",
    "DecodeOptions",
    "Document",
    "DocumentOptions",
    "ImageError",
    "Line",
    "ModelError",
    "OCRError",
    "OCROptions",
    "OptionsError",
    "Page",
    "PreprocessOptions",
    "Recognition",
    "Timings",
    "__version__",
    "errors",
]


def __getattr__(name: str) -> Any:
    if name == "OCR":
        from crnn_ocr.pipeline import OCR

        return OCR
    raise AttributeError(f"module 'crnn_ocr' has no attribute {name!r}")
