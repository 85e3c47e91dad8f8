"""A Python client of the HTTP service, over httpx: ``OCRClient``.

```python
from crnn_ocr.client import OCRClient
from crnn_ocr import OCROptions, DecodeOptions

with OCRClient("http://127.0.0.1:8000", api_key=None) as client:
    page = client.read("scan.pdf")                               # the JSON result (a dict)
    hocr = client.read_as("scan.pdf", "hocr")                    # the result as a file (bytes)
    job = client.submit(["a.png", "b.pdf"], OCROptions(decode=DecodeOptions(method="greedy")))
    done = client.wait(job["id"], progress=lambda j: print(j["done"], "/", j["total"]))
    hits = client.history(q="发票")
    client.correct([{"box": [[0, 0], [300, 0], [300, 32], [0, 32]], "text": "Total 9.50"}],
                   image="scan.png", dataset="invoices", keep_training_data=True)
    labels_zip = client.export_dataset("invoices")                # PaddleOCR label files
```

Files go up as ``multipart/form-data`` (``POST /ocr``, ``POST /api/v1/jobs``): the bytes as
they are, no base64 (a third smaller on the wire than the JSON endpoints). Options are the
runtime's own dataclasses (``OCROptions``, ``DocumentOptions``), turned into the form fields in
one place (``form_fields``).

Retries (``RetryPolicy``): a request that never reached the server (connection refused, connect
timeout) is sent again, as is an answer 429 or 503 (refused before any work: rate limit, full
queue, model loading), after ``Retry-After`` when given, else an exponential backoff. A request
that is safe to repeat (every GET and DELETE, and reading with ``POST /ocr``) is also retried
after a broken connection, a read timeout, 502 or 504; submitting a job is not (it could be
stored twice). Errors raise ``ClientError`` with the server's status, error code and message.

No proxy is taken from the environment unless ``trust_env=True``.
"""

from __future__ import annotations

import base64
import email.utils
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from crnn_ocr.types import DocumentOptions, OCROptions

DEFAULT_SERVER = "http://127.0.0.1:8000"
FileFormat = Literal["text", "hocr", "alto", "pdf"]
#: A file to send: a path, (name, bytes), or an http(s) URL for the server to fetch.
Source = str | os.PathLike | tuple[str, bytes]


def is_url(source: object) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


class ClientError(Exception):
    """The server answered an error, or could not be reached (``status`` 0)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}" if status else message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry (see the module docstring for what is retried)."""

    attempts: int = 4  # tries in all
    backoff_s: float = 0.5  # before the 2nd try; doubled for each one after
    max_backoff_s: float = 10.0  # also caps a server's Retry-After
    refused_statuses: frozenset[int] = frozenset({429, 503})  # the server did no work
    repeat_statuses: frozenset[int] = frozenset({502, 504})  # retried only when safe to repeat

    def delay_s(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds before try ``attempt + 1`` (``attempt`` counts from 1)."""
        backoff = min(self.backoff_s * 2 ** (attempt - 1), self.max_backoff_s)
        if response is None:
            return backoff
        after = retry_after_s(response.headers.get("retry-after"))
        return backoff if after is None else min(after, self.max_backoff_s)


NO_RETRIES = RetryPolicy(attempts=1)


def retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds or an HTTP date) in seconds; None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def http_client(
    timeout_s: float, *, base_url: str = "", headers: dict[str, str] | None = None, trust_env: bool = False
) -> httpx.Client:
    """The httpx client of every caller in the project (this client, job webhooks): redirects not
    followed automatically, no proxy from the environment unless asked."""
    return httpx.Client(
        base_url=base_url, headers=headers or {}, timeout=timeout_s, follow_redirects=False, trust_env=trust_env
    )


def send(
    client: httpx.Client, request: httpx.Request, policy: RetryPolicy, *, repeatable: bool,
    sleep: Callable[[float], None] = time.sleep,
) -> httpx.Response:
    """Send ``request`` with ``policy``'s retries; the last answer (any status), or the last
    transport error raised. ``repeatable``: sending it twice does no harm."""
    for attempt in range(1, policy.attempts + 1):
        last = attempt == policy.attempts
        try:
            response = client.send(request)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if last:
                raise
            sleep(policy.delay_s(attempt, None))
            continue
        except (httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.WriteError):
            if last or not repeatable:
                raise
            sleep(policy.delay_s(attempt, None))
            continue
        status = response.status_code
        if last or not (status in policy.refused_statuses or (repeatable and status in policy.repeat_statuses)):
            return response
        response.close()
        sleep(policy.delay_s(attempt, response))
    raise AssertionError("unreachable: the last attempt returns or raises")


def form_fields(
    options: OCROptions | None = None, document: DocumentOptions | None = None, model: str | None = None
) -> dict[str, str]:
    """The form fields of ``POST /ocr`` and multipart ``POST /api/v1/jobs`` for these options
    (``model``: a model of ``GET /api/v1/models``; None: the server's default)."""
    # The form is OCROptions.to_dict() flattened: preprocess.* and decode.* at the top, the decoding
    # method named "decode" (schemas.OCRForm), so a new option needs no change here.
    nested = (options or OCROptions()).to_dict()
    preprocess, decode = nested.pop("preprocess"), nested.pop("decode")
    d = document or DocumentOptions()
    values: dict[str, object] = {
        **nested, **preprocess, **{("decode" if k == "method" else k): v for k, v in decode.items()},
        "dpi": d.dpi, "pages": d.pages, "model": model,
    }
    return {
        name: ("true" if v else "false") if isinstance(v, bool) else str(v)
        for name, v in values.items() if v is not None
    }


def _file(source: Source) -> tuple[str, bytes]:
    if isinstance(source, tuple):
        return source
    path = Path(source)
    return path.name, path.read_bytes()


@dataclass
class OCRClient:
    """A client of one server (``base_url``), with an optional API key."""

    base_url: str = DEFAULT_SERVER
    api_key: str | None = None
    timeout_s: float = 120.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    trust_env: bool = False

    def __post_init__(self) -> None:
        headers = {"User-Agent": "crnn-ocr-client"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        self._http = http_client(
            self.timeout_s, base_url=self.base_url.rstrip("/"), headers=headers, trust_env=self.trust_env
        )

    def __enter__(self) -> OCRClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # ---- the calls -----------------------------------------------------------------------------

    def health(self) -> dict:
        return self._json("GET", "/healthz")

    def ready(self) -> dict:
        """``/readyz``'s answer, also while not ready (503)."""
        response = self._call("GET", "/readyz", ok=(200, 503))
        return response.json()

    def info(self) -> dict:
        return self._json("GET", "/api/v1/info")

    def metrics(self) -> str:
        """The Prometheus text of ``/metrics`` (an admin key once the server has keys)."""
        return self._call("GET", "/metrics").text

    def read(
        self, source: Source, options: OCROptions | None = None, document: DocumentOptions | None = None,
        model: str | None = None,
    ) -> dict:
        """Read an image or PDF, or the image at an http(s) URL (``POST /ocr``): the JSON result."""
        return self._read(source, options, document, "json", model).json()

    def read_as(
        self, source: Source, fmt: FileFormat, options: OCROptions | None = None,
        document: DocumentOptions | None = None, model: str | None = None,
    ) -> bytes:
        """Read an image or PDF, the result as a file: text, hOCR, ALTO or a searchable PDF."""
        return self._read(source, options, document, fmt, model).content

    def submit(
        self, sources: Sequence[Source], options: OCROptions | None = None, document: DocumentOptions | None = None,
        webhook_url: str | None = None, model: str | None = None,
    ) -> dict:
        """Send files (and URLs for the server to fetch) as one job (``POST /api/v1/jobs``,
        multipart): ``{"id", "status", "total", "url"}``."""
        files: list[tuple[str, tuple]] = [
            ("images", (name, data, "application/octet-stream"))
            for name, data in map(_file, [s for s in sources if not is_url(s)])
        ]
        files += [("image_url", (None, str(url))) for url in sources if is_url(url)]
        data = form_fields(options, document, model)
        if webhook_url is not None:
            data["webhook_url"] = webhook_url
        return self._call("POST", "/api/v1/jobs", files=files, data=data, repeatable=False, ok=(202,)).json()

    def job(self, job_id: str, results: bool = True) -> dict:
        return self._json("GET", f"/api/v1/jobs/{job_id}", params={"results": str(results).lower()})

    def jobs(self, page: int = 1, page_size: int = 20) -> dict:
        return self._json("GET", "/api/v1/jobs", params={"page": page, "page_size": page_size})

    def delete_job(self, job_id: str) -> dict:
        """Cancel an unfinished job, or remove a finished one."""
        return self._json("DELETE", f"/api/v1/jobs/{job_id}")

    def wait(
        self, job_id: str, *, poll_s: float = 0.5, timeout_s: float | None = None,
        progress: Callable[[dict], None] | None = None, sleep: Callable[[float], None] = time.sleep,
    ) -> dict:
        """Follow the job's progress events (``GET /api/v1/jobs/{id}/events``, Server-Sent
        Events) until it is completed or cancelled, calling ``progress`` with the job (statuses
        only) at each event; answer the whole job with its results. A dropped stream is opened
        again after ``poll_s``. ClientError after ``timeout_s``."""
        start = time.monotonic()
        while True:
            try:
                for name, data in self.events(f"/api/v1/jobs/{job_id}/events"):
                    if name == "progress" and progress is not None:
                        progress(data)
                    elif name == "result":
                        return data
                    elif name == "error":
                        raise ClientError(0, str(data.get("code", "error")), str(data.get("message", "")))
                    if timeout_s is not None and time.monotonic() - start > timeout_s:
                        break
            except httpx.TransportError:
                pass  # the stream broke: open it again (below), while time is left
            if timeout_s is not None and time.monotonic() - start > timeout_s:
                raise ClientError(0, "timeout", f"job {job_id} did not finish within {timeout_s:g} s")
            sleep(poll_s)

    def events(self, path: str, **kwargs: Any) -> Iterator[tuple[str, dict]]:
        """(name, data) of each Server-Sent Event of ``GET path``; ClientError for an error status."""
        with self._http.stream("GET", path, headers={"Accept": "text/event-stream"}, **kwargs) as response:
            if response.status_code != 200:
                response.read()
                raise _error("GET", str(response.request.url), response)
            yield from iter_events(response.iter_lines())

    def models(self) -> dict:
        """The models the server can read with (``GET /api/v1/models``)."""
        return self._json("GET", "/api/v1/models")

    def history(self, q: str | None = None, page: int = 1, page_size: int = 20) -> dict:
        params: dict[str, Any] = {"page": page, "page_size": page_size}
        if q:
            params["q"] = q
        return self._json("GET", "/api/v1/history", params=params)

    def history_entry(self, entry_id: int) -> dict:
        return self._json("GET", f"/api/v1/history/{entry_id}")

    def delete_history(self, entry_id: int) -> dict:
        return self._json("DELETE", f"/api/v1/history/{entry_id}")

    def purge(self, owner: str | None = None) -> dict:
        """Admin: remove every job and history entry (or one key's)."""
        return self._json("POST", "/api/v1/admin/purge", params={"owner": owner} if owner else None)

    # ---- corrections and datasets (README "Teach it your documents") ---------------------------

    def correct(
        self, lines: Sequence[dict], *, image: Source | None = None, page_sha256: str | None = None,
        dataset: str = "default", keep_training_data: bool = False,
    ) -> dict:
        """Store corrected ``lines`` (``{"box": [[x, y] * 4], "text": ..., "original_text"?,
        "confidence"?}``) of a page: ``image`` (a path or (name, bytes)) the first time, then the
        ``page_sha256`` the answer gave. ``keep_training_data``: the opt-in to keeping the page
        image and the line crops. Repeating it stores the same lines again (by their keys)."""
        body: dict[str, Any] = {"dataset": dataset, "keep_training_data": keep_training_data, "lines": list(lines)}
        if image is not None:
            body["image_base64"] = base64.b64encode(_file(image)[1]).decode("ascii")
        if page_sha256 is not None:
            body["page_sha256"] = page_sha256
        return self._json("POST", "/api/v1/corrections", json=body, ok=(201,))

    def datasets(self) -> dict:
        return self._json("GET", "/api/v1/datasets")

    def dataset_lines(self, dataset: str, page: int = 1, page_size: int = 50) -> dict:
        return self._json("GET", f"/api/v1/datasets/{dataset}/lines", params={"page": page, "page_size": page_size})

    def export_dataset(self, dataset: str, kind: Literal["all", "rec", "det"] = "all") -> bytes:
        """The dataset as a zip of PaddleOCR label files (recognition labels, PPOCRLabel Label.txt)."""
        return self._call("GET", f"/api/v1/datasets/{dataset}/export", params={"kind": kind}).content

    def import_dataset(self, dataset: str, archive: Source, kind: Literal["auto", "rec", "det"] = "auto") -> dict:
        """Add the labelled lines of a zip (a path or (name, bytes)) to ``dataset``."""
        return self._json(
            "POST", f"/api/v1/datasets/{dataset}/import", content=_file(archive)[1], params={"kind": kind},
            headers={"Content-Type": "application/zip"}, ok=(201,),
        )

    def delete_correction(self, line_id: int) -> dict:
        return self._json("DELETE", f"/api/v1/corrections/{line_id}")

    def delete_dataset(self, dataset: str) -> dict:
        return self._json("DELETE", f"/api/v1/datasets/{dataset}")

    def set_default_model(self, name: str) -> dict:
        """Admin: the model the server starts with from its next start."""
        return self._json("POST", "/api/v1/admin/models/default", json={"name": name})

    # ---- plumbing ------------------------------------------------------------------------------

    def _read(
        self, source: Source, options: OCROptions | None, document: DocumentOptions | None, fmt: str,
        model: str | None,
    ) -> httpx.Response:
        if is_url(source):  # a plain multipart field (no file name): the server fetches it
            files: dict[str, tuple] = {"image_url": (None, str(source))}
        else:
            name, data = _file(source)
            files = {"image": (name, data, "application/octet-stream")}
        params = None if fmt == "json" else {"format": fmt}
        return self._call("POST", "/ocr", files=files, data=form_fields(options, document, model), params=params)

    def _json(self, method: str, path: str, **kwargs: Any) -> dict:
        return self._call(method, path, **kwargs).json()

    def _call(
        self, method: str, path: str, *, repeatable: bool = True, ok: Iterable[int] = (200,), **kwargs: Any
    ) -> httpx.Response:
        request = self._http.build_request(method, path, **kwargs)
        try:
            response = send(self._http, request, self.retry, repeatable=repeatable)
        except httpx.HTTPError as exc:
            raise ClientError(0, "unreachable", f"{method} {request.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code not in tuple(ok):
            raise _error(method, str(request.url), response)
        return response


def iter_events(lines: Iterable[str]) -> Iterator[tuple[str, dict]]:
    """(name, data) of each Server-Sent Event in a stream's text lines (data: one JSON value)."""
    name, data = "message", []
    for line in lines:
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith(":"):
            continue  # a comment: keep-alive
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def _error(method: str, url: str, response: httpx.Response) -> ClientError:
    try:
        error = response.json()["error"]
        return ClientError(response.status_code, str(error["code"]), str(error["message"]))
    except (ValueError, KeyError, TypeError):
        return ClientError(response.status_code, "http_error", f"{method} {url}: HTTP {response.status_code}")
