"""Typed values passed between the pipeline's stages, and its per-call options.

Results are frozen dataclasses with ``to_dict()`` giving plain JSON-serialisable data.
Options are frozen dataclasses too: per-call arguments, never mutations of shared state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Point = tuple[float, float]


@dataclass(frozen=True)
class Box:
    """A quadrilateral in original-image pixel coordinates.

    ``points`` are four (x, y) pairs, clockwise from the top-left corner of the text.
    """

    points: tuple[Point, Point, Point, Point]

    @classmethod
    def from_rect(cls, x: float, y: float, w: float, h: float) -> Box:
        return cls(((x, y), (x + w, y), (x + w, y + h), (x, y + h)))

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """Axis-aligned (x_min, y_min, x_max, y_max)."""
        xs = [p[0] for p in self.points]
        ys = [p[1] for p in self.points]
        return min(xs), min(ys), max(xs), max(ys)

    def to_list(self) -> list[list[float]]:
        return [[round(float(x), 2), round(float(y), 2)] for x, y in self.points]


@dataclass(frozen=True)
class CharConfidence:
    char: str
    confidence: float


@dataclass(frozen=True)
class Recognition:
    """What the recognizer reads from one line crop."""

    text: str
    confidence: float
    chars: tuple[CharConfidence, ...]


@dataclass(frozen=True)
class Line:
    text: str
    confidence: float
    box: Box
    chars: tuple[CharConfidence, ...] = ()

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "confidence": round(float(self.confidence), 4),
            "box": self.box.to_list(),
            "chars": [{"char": c.char, "confidence": round(float(c.confidence), 4)} for c in self.chars],
        }


@dataclass(frozen=True)
class Timings:
    """Milliseconds spent in each stage of one call."""

    load_ms: float = 0.0
    preprocess_ms: float = 0.0
    detect_ms: float = 0.0
    recognize_ms: float = 0.0
    total_ms: float = 0.0

    def to_dict(self) -> dict:
        return {k: round(float(v), 2) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Page:
    """The result of one OCR call on one image: its lines in reading order."""

    width: int
    height: int
    lines: tuple[Line, ...]
    timings: Timings = field(default_factory=Timings)
    preprocessing: tuple[str, ...] = ()  # names of the steps applied, in order

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "width": self.width,
            "height": self.height,
            "lines": [line.to_dict() for line in self.lines],
            "timings": self.timings.to_dict(),
            "preprocessing": list(self.preprocessing),
        }


# ---- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PreprocessOptions:
    """Which preprocessing steps to apply, in this fixed order.

    grayscale → clahe → denoise → binarize → morph_close → deskew. Resizing to the model height
    (aspect preserved) and chunking of long lines always happen in the recognizer.
    """

    grayscale: bool = True
    clahe: bool = False
    denoise: bool = False
    binarize: bool = False
    morph_close: bool = False
    deskew: bool = False


@dataclass(frozen=True)
class DecodeOptions:
    method: Literal["greedy", "beam"] = "greedy"
    beam_width: int = 8
    allowlist: str | None = None  # only these characters may be produced
    denylist: str | None = None  # these characters are never produced


@dataclass(frozen=True)
class OCROptions:
    detect: bool = True  # False: the whole image is one line
    preprocess: PreprocessOptions = field(default_factory=PreprocessOptions)
    decode: DecodeOptions = field(default_factory=DecodeOptions)
