"""Typed values passed between the pipeline's stages, and its per-call options.

Results are frozen dataclasses with ``to_dict()`` giving plain JSON-serialisable data.
Options are frozen dataclasses too: per-call arguments, never mutations of shared state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Literal

from crnn_ocr.errors import OptionsError

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

    @classmethod
    def union(cls, boxes: Sequence[Box]) -> Box:
        """The axis-aligned box around ``boxes`` (at least one)."""
        bounds = [b.bounds for b in boxes]
        x0, y0 = min(b[0] for b in bounds), min(b[1] for b in bounds)
        x1, y1 = max(b[2] for b in bounds), max(b[3] for b in bounds)
        return cls.from_rect(float(x0), float(y0), float(x1 - x0), float(y1 - y0))


@dataclass(frozen=True)
class CharConfidence:
    """One character read, how sure the model is, and where it was read.

    ``frames``: first and last CTC frame (inclusive) the character occupies on the decoded path,
    set by the decoders (``crnn_ocr.ctc``). ``box``: the character's box in original-image pixels,
    set by the pipeline from the frames. Either is None when not known.
    """

    char: str
    confidence: float
    frames: tuple[int, int] | None = None
    box: Box | None = None

    def to_dict(self) -> dict:
        out: dict = {"char": self.char, "confidence": round(float(self.confidence), 4)}
        if self.box is not None:
            out["box"] = self.box.to_list()
        return out


@dataclass(frozen=True)
class Recognition:
    """What the recognizer reads from one line crop.

    ``frame_width``: line-crop pixels per CTC frame (the model's width stride, scaled back from the
    model's input height to the crop's), so that ``chars[i].frames`` map to crop x-coordinates;
    0.0 when not known.
    """

    text: str
    confidence: float
    chars: tuple[CharConfidence, ...]
    frame_width: float = 0.0


@dataclass(frozen=True)
class Line:
    """A line read: ``confidence`` is the geometric mean of its characters' confidences (see
    ``crnn_ocr.ctc``); ``mean_char_confidence`` and ``min_char_confidence`` summarise them too."""

    text: str
    confidence: float
    box: Box
    chars: tuple[CharConfidence, ...] = ()

    @property
    def mean_char_confidence(self) -> float:
        return sum(c.confidence for c in self.chars) / len(self.chars) if self.chars else self.confidence

    @property
    def min_char_confidence(self) -> float:
        return min((c.confidence for c in self.chars), default=self.confidence)

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "confidence": round(float(self.confidence), 4),
            "mean_char_confidence": round(float(self.mean_char_confidence), 4),
            "min_char_confidence": round(float(self.min_char_confidence), 4),
            "box": self.box.to_list(),
            "chars": [c.to_dict() for c in self.chars],
        }


@dataclass(frozen=True)
class Row:
    """Lines side by side on one visual row (a label and its value, table cells), left to right."""

    lines: tuple[Line, ...]

    @property
    def box(self) -> Box:
        return Box.union([line.box for line in self.lines])

    def text(self, sep: str = "\t") -> str:
        """The cells' texts joined by ``sep``."""
        return sep.join(line.text for line in self.lines)


@dataclass(frozen=True)
class Block:
    """A paragraph: rows one below another, close together, in one column, in reading order.

    ``column``: the page column (0-based, in reading order) the block stands in; blocks spanning
    several columns (a title over two columns) and pages of one column have column 0.
    """

    rows: tuple[Row, ...]
    column: int = 0

    @property
    def lines(self) -> tuple[Line, ...]:
        return tuple(line for row in self.rows for line in row.lines)

    @property
    def box(self) -> Box:
        return Box.union([line.box for line in self.lines])

    @property
    def text(self) -> str:
        """Each line on its own text line."""
        return "\n".join(line.text for line in self.lines)


@dataclass(frozen=True)
class Field:
    """A typed field read off a page (``crnn_ocr.fields``): an invoice number, a date, a total.

    ``name``: the field's key (e.g. "date", "total", "invoice_number"); ``value``: its normalised
    value (a date as YYYY-MM-DD, an amount as "1234.50"); ``text``: the text it was read from;
    ``box``: where (None when the value is derived, not read); ``confidence``: the recognizer's
    confidence in the characters it came from; ``valid``: the verdict of its validator (None: no
    validator applies), and ``check``: what the validator found, in words.
    """

    name: str
    value: str
    text: str
    box: Box | None
    confidence: float
    valid: bool | None = None
    check: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "value": self.value,
            "text": self.text,
            "box": None if self.box is None else self.box.to_list(),
            "confidence": round(float(self.confidence), 4),
            "valid": self.valid,
            "check": self.check,
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
    """The result of one OCR call on one image: its lines in reading order.

    ``blocks``: the lines grouped into paragraphs of rows, in reading order (``crnn_ocr.layout``;
    ``lines`` is their lines in that order); () when not analysed (a hand-made Page).
    ``fields``: typed fields found on the page (``crnn_ocr.fields``), when asked for.

    ``number``: 1-based page number in the document the image came from (1 for a lone image).
    ``dpi``: pixels per inch of the image (the rendering resolution of a PDF page, or the
    resolution stored in an image file); None when unknown.
    """

    width: int
    height: int
    lines: tuple[Line, ...]
    timings: Timings = field(default_factory=Timings)
    preprocessing: tuple[str, ...] = ()  # names of the steps applied, in order
    number: int = 1
    dpi: float | None = None
    orientation: int = 0  # degrees (0/90/180/270, counter-clockwise) the text stood turned; undone
    detector: str = ""  # the line detector used: "classical", "learned" or "" (no detection)
    blocks: tuple[Block, ...] = ()
    fields: tuple[Field, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict:
        return {
            "page": self.number,
            "text": self.text,
            "width": self.width,
            "height": self.height,
            "dpi": None if self.dpi is None else round(float(self.dpi), 2),
            "lines": [line.to_dict() for line in self.lines],
            "timings": self.timings.to_dict(),
            "preprocessing": list(self.preprocessing),
            "orientation": self.orientation,
            "detector": self.detector,
            "blocks": self._blocks_dict(),
            "fields": [f.to_dict() for f in self.fields],
        }

    def _blocks_dict(self) -> list[dict]:
        """Blocks -> rows -> indices into ``lines`` (each line is written once, in ``lines``)."""
        index = {id(line): i for i, line in enumerate(self.lines)}
        return [
            {
                "column": block.column,
                "box": block.box.to_list(),
                "rows": [
                    {"box": row.box.to_list(), "lines": [index[id(line)] for line in row.lines]}
                    for row in block.rows
                ],
            }
            for block in self.blocks
        ]


@dataclass(frozen=True)
class Document:
    """The result of reading a document (a PDF, a multi-page TIFF, or one image): its pages read.

    ``pages`` are the pages read, in document order (all of them, or the chosen page range);
    ``page_count`` is how many pages the source has. ``source`` names it (a file name) for output
    metadata; "" when unnamed.
    """

    pages: tuple[Page, ...]
    page_count: int
    source: str = ""

    @property
    def text(self) -> str:
        """Each page's lines joined by newlines; pages separated by a form feed (as pdftotext)."""
        return "\f".join(page.text for page in self.pages)

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "page_count": self.page_count,
            "text": self.text,
            "pages": [page.to_dict() for page in self.pages],
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
    """How line probabilities become text, and which lines are kept.

    ``method``: "greedy" (best path) or "beam" (prefix beam search; with ``lm`` it fuses the
    recognizer's character language model, ``crnn_ocr.lm``, when one is loaded, as the shipped
    one is by default; a recognizer without one searches without).
    ``pattern``: read every line as a field of this grammar (``crnn_ocr.grammar``: a built-in name
    such as "plate", "date", "uscc", or a regular expression); the best path the grammar accepts,
    overriding ``method``. ``min_confidence``: lines whose confidence (0..1, the geometric mean of
    their characters' confidences) is below it are dropped from the result.
    """

    method: Literal["greedy", "beam"] = "beam"  # beam + LM by default: see README "Decoding"
    beam_width: int = 8
    lm: bool = True
    pattern: str | None = None
    min_confidence: float = 0.0
    allowlist: str | None = None  # only these characters may be produced
    denylist: str | None = None  # these characters are never produced
    # A page read almost all in Latin letters: CJK characters read without confidence are read
    # again without CJK (crnn_ocr.script). Applies to pages (OCR calls), not to single crops.
    page_script: bool = True


@dataclass(frozen=True)
class DocumentOptions:
    """How to turn a document into page images (per call).

    ``dpi``: resolution PDF pages are rendered at (images keep their own pixels).
    ``pages``: which pages to read, 1-based, e.g. "1-3,5,9-" (None: all of them).
    """

    dpi: float = 200.0
    pages: str | None = None


DetectorChoice = Literal["auto", "classical", "learned"]
DETECTOR_CHOICES: tuple[str, ...] = ("auto", "classical", "learned")


@dataclass(frozen=True)
class OCROptions:
    """Per-call options.

    ``detector``: which line detector finds the lines. "classical" (morphology, no model; clean
    documents and screenshots), "learned" (the DB network; photos, receipts, rotated and curved
    text; an OptionsError when no detector model is loaded), "auto" (learned when a detector model
    is loaded, as the shipped one is, else classical; see ``crnn_ocr.pipeline.choose_detector``).
    ``fields``: run the fields step (``crnn_ocr.fields``) on each page read.
    ``auto_orient``: find the page orientation (0/90/180/270) and vertical Chinese columns and
    read them upright (``crnn_ocr.orientation``); False reads the page as it stands.
    """

    detect: bool = True  # False: the whole image is one line
    preprocess: PreprocessOptions = field(default_factory=PreprocessOptions)
    decode: DecodeOptions = field(default_factory=DecodeOptions)
    detector: DetectorChoice = "auto"
    auto_orient: bool = True
    fields: bool = False  # also extract typed fields (invoices, receipts): Page.fields

    def to_dict(self) -> dict:
        """The plain-data form (JSON-serialisable): ``preprocess`` and ``decode`` nested."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> OCROptions:
        """The inverse of ``to_dict``; keys left out keep their defaults.

        Raises ``crnn_ocr.errors.OptionsError`` naming any unknown key, so that a misspelt option
        is an error rather than silently ignored. Values are not checked here: the pipeline checks
        them where they are used (``crnn_ocr.recognize.check_decode_options`` and the detector).
        """
        data = dict(data)
        nested = {
            "preprocess": _options_from_dict(PreprocessOptions, data.pop("preprocess", None) or {}, "preprocess."),
            "decode": _options_from_dict(DecodeOptions, data.pop("decode", None) or {}, "decode."),
        }
        top = _options_from_dict(cls, data, "", build=False)
        return cls(**top, **nested)


def _options_from_dict(cls: type, data: dict, prefix: str, build: bool = True):
    if not isinstance(data, dict):
        raise OptionsError(f"options {prefix.rstrip('.') or 'root'} must be an object, got {type(data).__name__}")
    known = {f.name for f in fields(cls)} - ({"preprocess", "decode"} if cls is OCROptions else set())
    unknown = sorted(set(data) - known)
    if unknown:
        raise OptionsError(
            f"unknown option(s) {', '.join(prefix + k for k in unknown)}; known: {', '.join(sorted(known))}"
        )
    return cls(**data) if build else data
