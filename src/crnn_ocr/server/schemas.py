"""Request and response bodies of the HTTP API (pydantic), and their conversions.

``OptionsIn`` is the one options schema: it converts to the pipeline's frozen option dataclasses
(``crnn_ocr.types``) in one place, ``OptionsIn.to_request`` (a ``crnn_ocr.server.reading.ReadRequest``,
whose ``options_json`` is the stored form an ``OptionsIn`` reads back). The multipart forms
(``OCRForm``, ``JobForm``) carry the same options flattened, as an HTML form sends them, and only
turn into an ``OptionsIn``. Responses are built from the pipeline's ``Page``. Defaults come from
the dataclasses so the layers cannot drift apart.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, FailFast, Field, field_validator, model_validator

from crnn_ocr.documents import MAX_DPI, MIN_DPI
from crnn_ocr.server.reading import OutputFormat, ReadRequest
from crnn_ocr.server.settings import MAX_JOB_ITEMS
from crnn_ocr.stream import StreamConfig
from crnn_ocr.types import DecodeOptions, Document, DocumentOptions, OCROptions, Page, PreprocessOptions

_PRE = PreprocessOptions()
_DEC = DecodeOptions()
_DOC = DocumentOptions()
_STREAM = StreamConfig()

MAX_PAGE_RANGE = 200  # characters in a page range

MAX_BEAM_WIDTH = 64
MAX_CHARLIST = 20_000  # characters in an allowlist / denylist
MAX_PATTERN = 500  # characters in a field pattern (a regular expression)
MAX_URL = 2000  # characters in an image URL
MAX_MODEL_NAME = 100


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- requests ----------------------------------------------------------------------------------


class PreprocessIn(_Strict):
    """Steps applied in this fixed order: grayscale → clahe → denoise → binarize → morph_close → deskew."""

    grayscale: bool = _PRE.grayscale
    clahe: bool = _PRE.clahe
    denoise: bool = _PRE.denoise
    binarize: bool = _PRE.binarize
    morph_close: bool = _PRE.morph_close
    deskew: bool = _PRE.deskew


class DecodeIn(_Strict):
    method: Literal["greedy", "beam"] = _DEC.method
    beam_width: int = Field(_DEC.beam_width, ge=1, le=MAX_BEAM_WIDTH)
    allowlist: str | None = Field(_DEC.allowlist, max_length=MAX_CHARLIST, description="only these characters")
    denylist: str | None = Field(_DEC.denylist, max_length=MAX_CHARLIST, description="never these characters")
    page_script: bool = Field(
        _DEC.page_script, description="on a page read in Latin letters, re-read unsure CJK characters without CJK"
    )
    lm: bool = Field(_DEC.lm, description="beam search fuses the character language model")
    pattern: str | None = Field(
        _DEC.pattern,
        max_length=MAX_PATTERN,
        description="read each line as a field: plate, date, time, amount, phone, uscc, email, url, digits, or a regex",
    )
    min_confidence: float = Field(
        _DEC.min_confidence, ge=0.0, le=1.0, description="drop lines whose confidence is below this (0..1)"
    )


class OptionsIn(_Strict):
    detect: bool = Field(True, description="false: the whole image is one text line")
    detector: Literal["auto", "classical", "learned"] = Field(
        "auto", description="line detector: learned needs a detector model loaded by the server"
    )
    auto_orient: bool = Field(True, description="undo 90/180/270 turns and read vertical Chinese columns")
    fields: bool = Field(False, description="also extract typed, validated fields (receipts, Chinese VAT invoices)")
    preprocess: PreprocessIn = Field(default_factory=PreprocessIn)
    decode: DecodeIn = Field(default_factory=DecodeIn)
    dpi: float = Field(_DOC.dpi, ge=MIN_DPI, le=MAX_DPI, description="resolution PDF pages are rendered at")
    pages: str | None = Field(
        _DOC.pages, max_length=MAX_PAGE_RANGE, description="pages of a PDF or TIFF to read, e.g. '1-3,5' (all)"
    )
    model: str | None = Field(
        None, max_length=MAX_MODEL_NAME, description="the recognition model to read with (GET /api/v1/models); "
        "null: the server's default"
    )

    def to_request(self, preview: bool = False, format: OutputFormat = "json") -> ReadRequest:
        """These options as the pipeline's dataclasses (the one conversion of options)."""
        document = DocumentOptions(dpi=self.dpi, pages=self.pages or None)
        options = OCROptions.from_dict(self.model_dump(exclude={"dpi", "pages", "model"}))
        return ReadRequest(options, document, self.model, preview, format)

    def to_options(self) -> OCROptions:
        """``to_request().options``."""
        return self.to_request().options

    def to_document(self) -> DocumentOptions:
        """``to_request().document``."""
        return self.to_request().document


class OCRRequest(_Strict):
    """Body of ``POST /api/v1/ocr``: the image as ``image_base64`` or as ``image_url`` (one of them)."""

    image_base64: str | None = Field(
        None, description="the encoded image (PNG, JPEG, BMP, TIFF, WebP) or PDF in base64; a data: URL is accepted"
    )
    image_url: str | None = Field(
        None, max_length=MAX_URL, description="an http(s) URL the server fetches the image or PDF from "
        "(public addresses only, unless allow-listed; see url_allowed_hosts)"
    )
    options: OptionsIn = Field(default_factory=OptionsIn)
    return_processed_image: bool = Field(
        False, description="also answer the preprocessed image as base64 PNG (processed_image_base64)"
    )

    @model_validator(mode="after")
    def _one_source(self) -> OCRRequest:
        if (self.image_base64 is None) == (self.image_url is None):
            raise ValueError("send exactly one of image_base64 and image_url")
        return self


class OCRForm(BaseModel):
    """Form fields of ``POST /ocr`` besides the ``image`` file: the options, flattened."""

    # FastAPI hands the whole form, file included, to this model: allow ``image``, refuse the rest.
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    detect: bool = True
    detector: Literal["auto", "classical", "learned"] = "auto"
    auto_orient: bool = True
    fields: bool = False
    grayscale: bool = _PRE.grayscale
    clahe: bool = _PRE.clahe
    denoise: bool = _PRE.denoise
    binarize: bool = _PRE.binarize
    morph_close: bool = _PRE.morph_close
    deskew: bool = _PRE.deskew
    decode: Literal["greedy", "beam"] = _DEC.method
    beam_width: int = Field(_DEC.beam_width, ge=1, le=MAX_BEAM_WIDTH)
    allowlist: str | None = Field(_DEC.allowlist, max_length=MAX_CHARLIST)
    denylist: str | None = Field(_DEC.denylist, max_length=MAX_CHARLIST)
    page_script: bool = _DEC.page_script
    lm: bool = _DEC.lm
    pattern: str | None = Field(_DEC.pattern, max_length=MAX_PATTERN)
    min_confidence: float = Field(_DEC.min_confidence, ge=0.0, le=1.0)
    dpi: float = Field(_DOC.dpi, ge=MIN_DPI, le=MAX_DPI)
    pages: str | None = Field(_DOC.pages, max_length=MAX_PAGE_RANGE)
    model: str | None = Field(None, max_length=MAX_MODEL_NAME)
    image_url: str | None = Field(None, max_length=MAX_URL, description="instead of the file: an http(s) URL to fetch")
    return_processed_image: bool = False

    @model_validator(mode="after")
    def _no_unknown_fields(self) -> OCRForm:
        unknown = sorted(set(self.model_extra or ()) - {"image"})
        if unknown:
            raise ValueError(f"unknown form field(s): {', '.join(unknown)}")
        return self

    @field_validator("allowlist", "denylist", "pages", "pattern", "model", "image_url", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        """An HTML form sends an empty text box as ""; that means "no list"."""
        return None if v == "" else v

    def to_options_in(self) -> OptionsIn:
        """The same options as the JSON endpoint's ``options`` object."""
        return OptionsIn(
            detect=self.detect,
            detector=self.detector,
            auto_orient=self.auto_orient,
            fields=self.fields,
            preprocess=PreprocessIn(
                grayscale=self.grayscale,
                clahe=self.clahe,
                denoise=self.denoise,
                binarize=self.binarize,
                morph_close=self.morph_close,
                deskew=self.deskew,
            ),
            decode=DecodeIn(
                method=self.decode,
                beam_width=self.beam_width,
                allowlist=self.allowlist,
                denylist=self.denylist,
                page_script=self.page_script,
                lm=self.lm,
                pattern=self.pattern,
                min_confidence=self.min_confidence,
            ),
            dpi=self.dpi,
            pages=self.pages,
            model=self.model,
        )


# ---- responses ---------------------------------------------------------------------------------


class CharOut(BaseModel):
    char: str
    confidence: float
    box: list[list[float]] | None = Field(
        None, description="four [x, y] corners in page pixels, estimated from the CTC frames"
    )


class LineOut(BaseModel):
    text: str
    confidence: float = Field(description="geometric mean of the character confidences, 0..1 (see README 'Confidence')")
    mean_char_confidence: float = Field(description="arithmetic mean of the character confidences")
    min_char_confidence: float = Field(description="the least sure character's confidence")
    box: list[list[float]] = Field(description="four [x, y] corners, clockwise from top-left, in pixels")
    chars: list[CharOut]


class DocumentLineOut(LineOut):
    page: int = Field(description="the page (1-based) the line is on; its box is in that page's pixels")


class RowOut(BaseModel):
    box: list[list[float]]
    lines: list[int] = Field(description="indices into the page's lines, left to right")


class BlockOut(BaseModel):
    column: int = Field(description="the page column the block stands in (0-based, reading order)")
    box: list[list[float]]
    rows: list[RowOut] = Field(description="visual rows, top to bottom")


class FieldOut(BaseModel):
    name: str = Field(description="e.g. date, total, invoice_number, buyer_tax_id")
    value: str = Field(description="normalised value: dates YYYY-MM-DD, amounts 1234.50")
    text: str = Field(description="the text it was read from")
    box: list[list[float]] | None
    confidence: float
    valid: bool | None = Field(description="its validator's verdict; null when none applies")
    check: str = Field(description="what the validator found")


class ImageInfo(BaseModel):
    width: int
    height: int


class TimingsOut(BaseModel):
    load_ms: float
    preprocess_ms: float
    detect_ms: float
    recognize_ms: float
    total_ms: float


class ModelInfo(BaseModel):
    name: str = Field(description="the model's name (its manifest name; GET /api/v1/models)")
    version: str


class ModelOut(BaseModel):
    name: str = Field(description="what to pass as options.model")
    version: str | None = Field(description="model_version from the ONNX metadata")
    charset_size: int | None = Field(description="characters the model can read (the blank not counted)")
    sha256: str
    default: bool = Field(description="read with when options.model is not given")
    loaded: bool = Field(description="loaded already (else loaded on first use, then kept)")
    card: str | None = Field(None, description="the first paragraph of its model card")
    user: bool = Field(False, description="a user model (fine-tuned), listed in the data folder's manifest")


class ModelListResponse(BaseModel):
    models: list[ModelOut]


class PageOut(BaseModel):
    page: int = Field(description="page number in the document, 1-based")
    width: int
    height: int
    dpi: float | None = Field(description="pixels per inch of the page image (the PDF rendering resolution)")
    text: str
    lines: list[LineOut]
    orientation: int = Field(0, description="degrees (0/90/180/270) the page stood turned; undone before reading")
    detector: str = Field("", description="the line detector used: classical, learned, or '' (no detection)")
    blocks: list[BlockOut] = Field(
        default_factory=list, description="paragraphs of rows in reading order (the lines are already in it)"
    )
    fields: list[FieldOut] = Field(default_factory=list, description="typed fields, when options.fields was set")
    processed_image_base64: str | None = None


class OCRResponse(BaseModel):
    success: Literal[True] = True
    text: str = Field(description="all lines joined by newlines; pages separated by a form feed (\\f)")
    lines: list[DocumentLineOut] = Field(description="the lines of every page read, in order")
    cost_time_ms: float = Field(description="time the server spent on the request, queueing included")
    image: ImageInfo = Field(description="size of the (first) page image")
    timings: TimingsOut = Field(description="time spent in each pipeline stage (summed over pages)")
    preprocessing: list[str] = Field(description="preprocessing steps applied, in order")
    model: ModelInfo | None = None
    processed_image_base64: str | None = Field(
        None, description="the (first page's) preprocessed image as base64 PNG, when return_processed_image was set"
    )
    page_count: int = Field(1, description="pages in the document (1 for an image)")
    pages: list[PageOut] = Field(description="per-page results, in page order")
    cached: bool = Field(
        False, description="answered from the cache: the same image, options and model were read before"
    )

    @classmethod
    def from_document(
        cls, document: Document, *, cost_time_ms: float, model: ModelInfo | None, previews: list[bytes | None]
    ) -> OCRResponse:
        pages = [page_out(page, png) for page, png in zip(document.pages, previews)]
        first = document.pages[0]
        totals = {k: round(sum(p.timings.to_dict()[k] for p in document.pages), 2) for k in TimingsOut.model_fields}
        return cls(
            text=document.text,
            lines=[DocumentLineOut(page=p.page, **line.model_dump()) for p in pages for line in p.lines],
            cost_time_ms=round(cost_time_ms, 2),
            image=ImageInfo(width=first.width, height=first.height),
            timings=TimingsOut(**totals),
            preprocessing=list(first.preprocessing),
            model=model,
            processed_image_base64=pages[0].processed_image_base64,
            page_count=document.page_count,
            pages=pages,
        )

    @classmethod
    def from_page(
        cls, page: Page, *, cost_time_ms: float, model: ModelInfo | None, processed_png: bytes | None
    ) -> OCRResponse:
        return cls.from_document(
            Document((page,), 1), cost_time_ms=cost_time_ms, model=model, previews=[processed_png]
        )


def page_out(page: Page, png: bytes | None) -> PageOut:
    d = page.to_dict()
    return PageOut(
        page=page.number,
        width=page.width,
        height=page.height,
        dpi=d["dpi"],
        text=d["text"],
        lines=[LineOut(**line) for line in d["lines"]],
        orientation=d.get("orientation", 0),
        detector=d.get("detector", ""),
        blocks=[BlockOut(**b) for b in d["blocks"]],
        fields=[FieldOut(**f) for f in d["fields"]],
        processed_image_base64=base64.b64encode(png).decode("ascii") if png else None,
    )


class ErrorBody(BaseModel):
    code: str = Field(description="stable machine-readable code, e.g. corrupt_image, overloaded")
    message: str = Field(description="what went wrong, in plain words")


class ErrorResponse(BaseModel):
    success: Literal[False] = False
    error: ErrorBody


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    ready: bool
    status: Literal["starting", "loading", "ready", "failed"]
    model: ModelInfo | None = None
    error: str | None = None
    in_flight: int = Field(0, description="requests running or waiting for an inference slot")
    capacity: int = Field(0, description="max_concurrency + max_queue; beyond this, 503 at once")


class LimitsOut(BaseModel):
    max_bytes: int
    max_pixels: int
    max_pages: int
    max_concurrency: int
    max_queue: int


class InfoResponse(BaseModel):
    name: str = "crnn-ocr"
    version: str
    model: ModelInfo | None
    limits: LimitsOut
    default_options: OptionsIn


# ---- jobs and history --------------------------------------------------------------------------


class JobImageIn(_Strict):
    image_base64: str | None = Field(None, description="the image or PDF in base64 (a data: URL is accepted)")
    image_url: str | None = Field(None, max_length=MAX_URL, description="or an http(s) URL to fetch it from")
    name: str = Field("", max_length=500, description="a name to find it by in the result (e.g. the file name)")

    @model_validator(mode="after")
    def _one_source(self) -> JobImageIn:
        if (self.image_base64 is None) == (self.image_url is None):
            raise ValueError("send exactly one of image_base64 and image_url")
        return self


class JobRequest(_Strict):
    """Body of ``POST /api/v1/jobs`` as JSON."""

    # Bounded, and the first bad item stops validation: 40,000 bad items cost one error, not
    # 80,000 (building those held the GIL for a quarter of a second per request).
    images: Annotated[list[JobImageIn], FailFast()] = Field(
        min_length=1, max_length=MAX_JOB_ITEMS, description="the images (or PDFs) to read"
    )
    options: OptionsIn = Field(default_factory=OptionsIn, description="the same options as /api/v1/ocr")
    webhook_url: str | None = Field(
        None, max_length=2000, description="POSTed a JSON summary when the job finishes (allowed hosts only)"
    )


class JobForm(OCRForm):
    """Form fields of ``POST /api/v1/jobs`` as multipart: the files in ``images``, options flattened."""

    webhook_url: str | None = Field(None, max_length=2000)

    @model_validator(mode="after")
    def _no_unknown_fields(self) -> JobForm:
        unknown = sorted(set(self.model_extra or ()) - {"images"})
        if unknown:
            raise ValueError(f"unknown form field(s): {', '.join(unknown)}")
        return self

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _blank_url_is_none(cls, v: object) -> object:
        return None if v == "" else v


JobStatusName = Literal["pending", "running", "completed", "cancelled"]


class JobAccepted(BaseModel):
    id: str
    status: JobStatusName
    total: int
    url: str = Field(description="where to follow the job: GET this")


class ItemOut(BaseModel):
    index: int = Field(description="position in the submitted list, 0-based")
    name: str
    sha256: str = Field(description="SHA-256 of the submitted bytes")
    status: Literal["pending", "running", "done", "failed", "cancelled"]
    cached: bool = False
    attempts: int = Field(0, description="times a worker started it (more than 1 after a worker died)")
    result: OCRResponse | None = Field(None, description="the same result as POST /api/v1/ocr, when done")
    error: ErrorBody | None = Field(None, description="why it failed (the same codes as POST /api/v1/ocr)")
    enqueued_at: float = Field(description="Unix time it was queued")
    started_at: float | None = Field(None, description="Unix time a worker first started it")
    finished_at: float | None = None
    worker: str | None = Field(None, description="host:pid of the worker that last started it")


class JobOut(BaseModel):
    id: str
    status: JobStatusName
    total: int
    done: int = Field(description="items read")
    failed: int = Field(description="items that failed (each with its error)")
    cancelled: int
    progress: float = Field(description="(done + failed + cancelled) / total")
    created_at: float
    finished_at: float | None
    items: list[ItemOut] | None = Field(None, description="per-item status and results (not in listings)")


class JobListResponse(BaseModel):
    jobs: list[JobOut]
    page: int
    page_size: int
    total: int


class HistoryEntryOut(BaseModel):
    id: int
    created_at: float
    source: Literal["sync", "job"]
    job_id: str | None
    name: str
    sha256: str
    options: OptionsIn
    text: str
    total_ms: float
    cached: bool
    model: str | None = Field(None, description="the model that read it")
    result: OCRResponse | None = Field(None, description="the full result (GET /api/v1/history/{id} only)")


class HistoryListResponse(BaseModel):
    entries: list[HistoryEntryOut]
    page: int
    page_size: int
    total: int
    query: str | None = None


# ---- live streams (WS /api/v1/stream) ------------------------------------------------------------


class StreamStart(_Strict):
    """The first message of ``WS /api/v1/stream`` (text, JSON). ``dpi`` and ``pages`` of the
    options do not apply to frames."""

    type: Literal["start"] = "start"
    api_key: str | None = Field(
        None, max_length=200, description="the API key, for clients that cannot send Authorization (browsers)"
    )
    options: OptionsIn = Field(default_factory=OptionsIn)
    confirm_frames: int = Field(
        _STREAM.confirm_frames, ge=1, le=30, description="frames a line must be seen in before it is reported"
    )
    change_pixels: float = Field(
        _STREAM.change_pixels, ge=0.0, le=1.0,
        description="fraction of a frame's thumbnail that must change for it to be read again (0: read every frame)",
    )

    def to_config(self) -> StreamConfig:
        return replace(_STREAM, confirm_frames=self.confirm_frames, change_pixels=self.change_pixels)


# ---- fine-tune jobs (crnn_ocr.server.finetune_jobs, routes/finetune.py) -------------------------


class FinetuneIn(_Strict):
    """``POST /api/v1/admin/finetune``: fine-tune the server's model on labelled lines."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$",
        description="the fine-tuned model's name (its manifest entry in the user models folder and NAME.onnx)",
    )
    train_labels: str = Field(min_length=1, description="labels.tsv on the server (relative/path<TAB>text) to train on")
    heldout_labels: str | None = Field(
        None, min_length=1, description="labels.tsv of held-out lines: early stopping and the report use them"
    )
    minutes: float = Field(5.0, gt=0, le=600, description="training time (preparing, averaging and export come on top)")


class FinetuneJobOut(BaseModel):
    id: str
    name: str
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    phase: str | None = Field(description="prepare, train, average, export, done")
    progress: float = Field(description="0..1 of the whole run")
    detail: str = Field(description="the trainer's latest progress note")
    train_labels: str
    heldout_labels: str | None
    minutes: float
    error: str | None
    report: dict | None = Field(
        description="when done: the trainer's finetune.json (base and fine-tuned CER on the held-out lines and a "
        "synthetic dev set, the WiSE-FT weight alpha, the ONNX file)"
    )
    created_at: float
    finished_at: float | None


class FinetuneListResponse(BaseModel):
    jobs: list[FinetuneJobOut]
