"""HTTP endpoints of corrected lines, datasets (``crnn_ocr.server.corrections``,
``crnn_ocr.server.dataset_files``) and the choice of the default model.

``POST   /api/v1/corrections``                  corrected lines of one page (JSON), stored as labelled lines
``DELETE /api/v1/corrections/{id}``             remove one corrected line
``GET    /api/v1/datasets``                     the caller's datasets, with counts
``GET    /api/v1/datasets/{name}/lines``        a dataset's lines, newest first
``DELETE /api/v1/datasets/{name}``              remove a dataset
``GET    /api/v1/datasets/{name}/export``       a zip: PaddleOCR recognition labels + crops (train and
                                               held-out), PPOCRLabel Label.txt + pages
``POST   /api/v1/datasets/{name}/import``       a zip (``application/zip``) of such labels and images
``POST   /api/v1/admin/models/default``         admin: the model the server starts with from now on

Every dataset belongs to an owner (the caller's key id; ``anonymous`` without API keys); another
owner's dataset answers 404 as if it did not exist. An admin key lists every owner's datasets and
names another owner's with ``?owner=``.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from crnn_ocr.errors import UnknownDatasetError
from crnn_ocr.models import set_default_model
from crnn_ocr.server.auth import Caller
from crnn_ocr.server.corrections import CorrectionStore
from crnn_ocr.server.dataset_files import ExportKind, ImportKind, export_zip, import_zip
from crnn_ocr.server.dataset_schemas import (
    CorrectionListResponse,
    CorrectionOut,
    CorrectionRequest,
    CorrectionsAdded,
    DatasetListResponse,
    DatasetOut,
    DefaultModelIn,
    DefaultModelOut,
    ImportOut,
)
from crnn_ocr.server.errors import ForbiddenError, InternalError, UnsupportedMediaTypeError
from crnn_ocr.server.reading import decode_base64_image
from crnn_ocr.server.routes.deps import MAX_PAGE, RECORD_ERRORS, CallerDep, ServiceDep, media_type
from crnn_ocr.server.schemas import ErrorResponse
from crnn_ocr.server.service import Service

router = APIRouter()

LineId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the corrected line's id")]
Dataset = Annotated[str, Path(min_length=1, max_length=64, description="the dataset's name")]
OwnerQuery = Annotated[str | None, Query(max_length=100, description="admin: another owner's (key id) dataset")]

DATASET_ERRORS = {
    **RECORD_ERRORS,
    400: {"model": ErrorResponse, "description": "a bad dataset name, text, box, image or label file"},
    403: {"model": ErrorResponse, "description": "owner given without an admin key"},
}
ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")


def _store(service: Service) -> CorrectionStore:
    if service.corrections is None:
        raise InternalError("corrections are not set up on this server")
    return service.corrections


def _owner(caller: Caller, owner: str | None) -> str:
    """Whose dataset a request names: the caller's, or ``owner``'s for an admin."""
    if owner is None or owner == caller.owner:
        return caller.owner
    if not caller.may_administer:
        raise ForbiddenError("naming another owner's dataset needs an admin key")
    return owner


@router.post("/api/v1/corrections", response_model=CorrectionsAdded, status_code=201, tags=["datasets"],
             summary="Store corrected lines of a page as labelled lines", responses=DATASET_ERRORS)
async def add_corrections(body: CorrectionRequest, service: ServiceDep, caller: CallerDep) -> CorrectionsAdded:
    """Each line's box (four corners in page pixels) and right text are kept in ``dataset``;
    with ``keep_training_data`` the page image and the line crops too. Correcting a line again
    (same page, same box) replaces its text. Answers the page's ``page_sha256``: send it instead
    of the image with more lines of the same page."""
    settings = service.settings
    image = None if body.image_base64 is None else decode_base64_image(body.image_base64, settings.max_bytes)
    corrections = [line.to_correction(i) for i, line in enumerate(body.lines)]
    done = await anyio.to_thread.run_sync(partial(
        _store(service).correct, caller.owner, body.dataset, corrections, image=image, page_sha256=body.page_sha256,
        keep=body.keep_training_data, max_pixels=settings.max_pixels,
    ))
    return CorrectionsAdded(
        dataset=body.dataset, page_sha256=done.page_sha256, page_image_kept=done.page_image_kept,
        lines=[CorrectionOut.of(line) for line in done.lines],
    )


@router.delete("/api/v1/corrections/{line_id}", tags=["datasets"], summary="Remove a corrected line",
               responses=RECORD_ERRORS)
async def delete_correction(line_id: LineId, service: ServiceDep, caller: CallerDep) -> JSONResponse:
    if not await anyio.to_thread.run_sync(_store(service).delete_line, line_id, caller.scope):
        raise UnknownDatasetError(f"no corrected line {line_id}")
    return JSONResponse({"id": line_id, "deleted": True})


@router.get("/api/v1/datasets", response_model=DatasetListResponse, tags=["datasets"],
            summary="The caller's datasets of corrected lines")
async def list_datasets(service: ServiceDep, caller: CallerDep) -> DatasetListResponse:
    datasets = await anyio.to_thread.run_sync(_store(service).datasets, caller.scope)
    return DatasetListResponse(datasets=[DatasetOut.of(d) for d in datasets])


@router.get("/api/v1/datasets/{dataset}/lines", response_model=CorrectionListResponse, tags=["datasets"],
            summary="A dataset's corrected lines, newest first", responses=DATASET_ERRORS)
async def list_lines(
    dataset: Dataset, service: ServiceDep, caller: CallerDep, owner: OwnerQuery = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1, page_size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> CorrectionListResponse:
    lines, total = await anyio.to_thread.run_sync(
        _store(service).lines, _owner(caller, owner), dataset, page, page_size
    )
    if total == 0:
        raise UnknownDatasetError(f"no dataset {dataset!r}")
    return CorrectionListResponse(
        dataset=dataset, lines=[CorrectionOut.of(line) for line in lines], page=page, page_size=page_size, total=total
    )


@router.delete("/api/v1/datasets/{dataset}", tags=["datasets"], summary="Remove a dataset", responses=DATASET_ERRORS)
async def delete_dataset(dataset: Dataset, service: ServiceDep, caller: CallerDep,
                         owner: OwnerQuery = None) -> JSONResponse:
    removed = await anyio.to_thread.run_sync(_store(service).delete_dataset, _owner(caller, owner), dataset)
    if not removed:
        raise UnknownDatasetError(f"no dataset {dataset!r}")
    return JSONResponse({"dataset": dataset, "deleted": True, "lines": removed})


@router.get(
    "/api/v1/datasets/{dataset}/export", tags=["datasets"], summary="A dataset as PaddleOCR label files (zip)",
    responses={**DATASET_ERRORS, 200: {"content": {"application/zip": {}}, "description": "the zip archive"}},
    response_class=Response,
)
async def export_dataset(
    dataset: Dataset, service: ServiceDep, caller: CallerDep, owner: OwnerQuery = None,
    kind: Annotated[ExportKind, Query(description="rec: recognition labels, det: Label.txt, all: both")] = "all",
) -> Response:
    """``rec/train/labels.tsv`` and ``rec/heldout/labels.tsv`` (``crops/<key>.png<TAB>text``) with the
    crops, and ``det/pages/Label.txt`` (PPOCRLabel) with the pages. Lines whose crop was not kept
    are not recognition samples; the ``X-Lines-Without-Crop`` header counts them."""
    data, summary = await anyio.to_thread.run_sync(
        partial(export_zip, _store(service), _owner(caller, owner), dataset, kind)
    )
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{dataset}-{kind}.zip"',
        "X-Train-Lines": str(summary.train), "X-Heldout-Lines": str(summary.heldout),
        "X-Pages": str(summary.pages), "X-Lines-Without-Crop": str(summary.without_crop),
    })


@router.post(
    "/api/v1/datasets/{dataset}/import", response_model=ImportOut, status_code=201, tags=["datasets"],
    summary="Add labelled lines from PaddleOCR label files (zip)", responses=DATASET_ERRORS,
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/zip": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def import_dataset(
    dataset: Dataset, request: Request, service: ServiceDep, caller: CallerDep, owner: OwnerQuery = None,
    kind: Annotated[ImportKind, Query(description="auto: Label.txt if there is one, else *.tsv / rec_gt*.txt")] = "auto",
) -> ImportOut:
    """A zip of recognition labels (``path<TAB>text`` in ``*.tsv`` or ``rec_gt*.txt``, paths relative
    to the label file) with their line images, or of PPOCRLabel ``Label.txt`` with the page images
    (lines are cut from them). All or nothing: one bad label or image refuses the whole upload."""
    if media_type(request) not in ZIP_TYPES:
        raise UnsupportedMediaTypeError(
            f"this endpoint reads a zip archive (application/zip), not {media_type(request) or 'a body without Content-Type'}"
        )
    data = await request.body()
    summary = await anyio.to_thread.run_sync(partial(
        import_zip, _store(service), _owner(caller, owner), dataset, data, kind=kind,
        max_pixels=service.settings.max_pixels,
    ))
    return ImportOut.of(dataset, summary)


@router.post("/api/v1/admin/models/default", response_model=DefaultModelOut, tags=["admin"],
             summary="Admin: the model the server starts with", responses=DATASET_ERRORS)
async def set_default(body: DefaultModelIn, service: ServiceDep, caller: CallerDep) -> DefaultModelOut:
    """Saved in the user manifest (``<data_dir>/models/manifest.json``) and used from the server's
    next start, unless it is started with ``--model``. Any request may name any model already
    (``options.model``)."""
    if not caller.may_administer:
        raise ForbiddenError("choosing the default model needs an admin key (crnn-ocr keys create --admin)")
    service.require_models().check(body.name)
    path = await anyio.to_thread.run_sync(set_default_model, service.settings.user_model_dir, body.name)
    return DefaultModelOut(default=body.name, saved_to=str(path))
