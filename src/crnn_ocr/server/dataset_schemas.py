"""Request and response bodies of the corrections, datasets and user-model endpoints
(``crnn_ocr.server.routes.corrections``), and their conversions to the store's values
(``crnn_ocr.server.corrections``).

Only the shape is checked here (types, lengths, counts: a 422 like any body); what the data
means (a blank text, a box off the page, a bad dataset name) is checked by ``crnn_ocr.datasets``
and answers 400 with a message naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from crnn_ocr.datasets import box_from_points
from crnn_ocr.server.corrections import Correction, DatasetSummary, LineRecord
from crnn_ocr.server.dataset_files import ImportSummary

MAX_LINES_PER_REQUEST = 1000
DEFAULT_DATASET = "default"

Point = Annotated[list[float], Field(min_length=2, max_length=2)]
Quad = Annotated[list[Point], Field(min_length=4, max_length=4, description="four [x, y] corners in page pixels, "
                                    "clockwise from the text's top-left")]
DatasetName = Annotated[str, Field(min_length=1, max_length=64, description="letters, digits, '.', '_', '-'")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineCorrectionIn(_Strict):
    box: Quad
    text: str = Field(max_length=1000, description="the line's right text")
    original_text: str | None = Field(None, max_length=1000, description="what the model had read")
    confidence: float | None = Field(None, ge=0.0, le=1.0, description="the model's confidence in that reading")

    def to_correction(self, index: int) -> Correction:
        return Correction(box_from_points(self.box, f"lines[{index}].box"), self.text, self.original_text,
                          self.confidence)


class CorrectionRequest(_Strict):
    """Body of ``POST /api/v1/corrections``: corrected lines of one page, the page sent as
    ``image_base64`` (the first time) or named by the ``page_sha256`` an earlier answer gave."""

    dataset: DatasetName = DEFAULT_DATASET
    image_base64: str | None = Field(None, description="the page image (PNG, JPEG, BMP, TIFF, WebP) in base64")
    page_sha256: str | None = Field(None, pattern="^[0-9a-f]{64}$", description="a page stored before")
    keep_training_data: bool = Field(
        False, description="opt-in: keep the page image and the line crops (a recognizer can only be trained "
        "on lines whose crop is kept); without it only the texts, boxes and the page's hash are kept"
    )
    lines: list[LineCorrectionIn] = Field(min_length=1, max_length=MAX_LINES_PER_REQUEST)

    @model_validator(mode="after")
    def _one_page(self) -> CorrectionRequest:
        if (self.image_base64 is None) == (self.page_sha256 is None):
            raise ValueError("send exactly one of image_base64 and page_sha256")
        return self


class CorrectionOut(BaseModel):
    id: int
    dataset: str
    page_sha256: str | None = Field(description="null for a line imported as a crop")
    key: str = Field(description="the line's stable key: SHA-256 of its page's hash and its box")
    box: list[list[float]]
    text: str
    original_text: str | None
    confidence: float | None
    crop_kept: bool
    heldout: bool = Field(description="kept for evaluation, never trained on (decided by the key)")
    created_at: float

    @classmethod
    def of(cls, line: LineRecord) -> CorrectionOut:
        return cls(
            id=line.id, dataset=line.dataset, page_sha256=line.page_sha256, key=line.key, box=line.box.to_list(),
            text=line.text, original_text=line.original_text, confidence=line.confidence, crop_kept=line.has_crop,
            heldout=line.heldout, created_at=line.created_at,
        )


class CorrectionsAdded(BaseModel):
    dataset: str
    page_sha256: str = Field(description="send it as page_sha256 with more lines of this page")
    page_image_kept: bool
    lines: list[CorrectionOut]


class CorrectionListResponse(BaseModel):
    dataset: str
    lines: list[CorrectionOut]
    page: int
    page_size: int
    total: int


class DatasetOut(BaseModel):
    name: str
    owner: str
    lines: int
    crops: int = Field(description="lines whose crop is kept: the recognition samples")
    heldout: int = Field(description="lines kept for evaluation")
    pages: int
    page_images: int = Field(description="pages whose image is kept: the detection samples")
    updated_at: float

    @classmethod
    def of(cls, d: DatasetSummary) -> DatasetOut:
        return cls(name=d.name, owner=d.owner, lines=d.lines, crops=d.crops, heldout=d.heldout, pages=d.pages,
                   page_images=d.page_images, updated_at=d.updated_at)


class DatasetListResponse(BaseModel):
    datasets: list[DatasetOut]


class ImportOut(BaseModel):
    dataset: str
    kind: Literal["rec", "det"]
    lines: int
    pages: int
    skipped: int = Field(description="lines marked ### or difficult")

    @classmethod
    def of(cls, dataset: str, s: ImportSummary) -> ImportOut:
        return cls(dataset=dataset, kind=s.kind, lines=s.lines, pages=s.pages, skipped=s.skipped)


class DefaultModelIn(_Strict):
    name: str = Field(min_length=1, max_length=100, description="a name GET /api/v1/models lists")


class DefaultModelOut(BaseModel):
    default: str
    saved_to: str = Field(description="the user manifest that keeps it")
    applies: Literal["next_start"] = Field(
        "next_start", description="the server reads with it from its next start (unless started with --model)"
    )
