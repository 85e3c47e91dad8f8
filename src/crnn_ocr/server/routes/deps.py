"""What every route module shares: the app's ``Service`` and the ``Caller`` as FastAPI
dependencies, Content-Type checks, multipart form parsing, and the answers about stored records
(jobs, history entries): bounded pages, 404."""

from __future__ import annotations

from importlib import metadata
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from crnn_ocr.server.auth import Caller
from crnn_ocr.server.errors import InternalError, UnsupportedMediaTypeError
from crnn_ocr.server.jobs.service import JobService
from crnn_ocr.server.schemas import ErrorResponse
from crnn_ocr.server.service import Service

FormT = TypeVar("FormT", bound=BaseModel)

#: Every integer in a path or query is bounded, so none reaches SQLite beyond its 64-bit range.
MAX_PAGE = 1_000_000

RECORD_ERRORS = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        401: "no API key, or not a valid one (once the server has keys)",
        404: "no such job or entry (or it belongs to someone else)",
        413: "request body too large",
        415: "wrong Content-Type",
        422: "invalid options, too many images, or a webhook host not allowed",
    }.items()
}


def jobs_of(service: Service) -> JobService:
    if service.jobs is None:
        raise InternalError("jobs are not set up on this server")
    return service.jobs


def not_found(what: str, key: object) -> StarletteHTTPException:
    return StarletteHTTPException(404, f"no {what} {key}")


def get_service(request: Request) -> Service:
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise InternalError("the app was used without its lifespan (use `with TestClient(app)`)")
    return service


ServiceDep = Annotated[Service, Depends(get_service)]

_bearer = HTTPBearer(auto_error=False, description="an API key from `crnn-ocr keys create`")


def get_caller(
    request: Request, _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """Who is asking (checked by ``AuthMiddleware`` before the body was read): owns the jobs,
    results, history and cache entries it makes. Without API keys every caller is ``anonymous``."""
    caller = getattr(request.state, "caller", None)
    if caller is None:
        raise InternalError("the request was not authenticated (the app runs without AuthMiddleware)")
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_json(request: Request) -> None:
    media = media_type(request)
    if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
        raise UnsupportedMediaTypeError(
            f"this endpoint reads application/json, not {media or 'a body without Content-Type'}; "
            "send the image as multipart/form-data to POST /ocr instead"
        )


def require_multipart(request: Request) -> None:
    media = media_type(request)
    if media != "multipart/form-data":
        raise UnsupportedMediaTypeError(
            f"this endpoint reads multipart/form-data with a file field 'image', not "
            f"{media or 'a body without Content-Type'}; send JSON to POST /api/v1/ocr instead"
        )


def form_schema(form: type[BaseModel], files: dict[str, dict], required: list[str]) -> dict:
    """The OpenAPI schema of a multipart body: ``files`` (name -> schema) next to the fields of
    ``form``, as one flat object (an ``allOf`` with a form that forbids other fields would
    forbid the files too, and no client could send a valid body)."""
    properties = {**form.model_json_schema()["properties"], **files}
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def parse_form(form: type[FormT], fields: dict[str, str]) -> FormT:
    """``fields`` as ``form``, or the 422 a body parameter would answer."""
    try:
        return form.model_validate(fields)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False, include_url=False)) from None


def package_version() -> str:
    try:
        return metadata.version("crnn-ocr")
    except metadata.PackageNotFoundError:
        return "unknown"
