"""HTTP API of ``crnn_ocr.server``: both OCR endpoints, their options, and every error status.

The app is built with ``create_app(settings, ocr=...)`` around a real ``OCR`` on the tiny test model
(tests/tiny_model.py), driven through FastAPI's TestClient. Tests on the shipped model run once
models/manifest.json exists.
"""

from __future__ import annotations

import base64
import logging
import re
import struct
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import starlette.responses
from fastapi.testclient import TestClient
from tiny_model import render_code_line

from crnn_ocr.pipeline import OCR
from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.server.errors import STATUS_BY_ERROR, status_for
from crnn_ocr.server.reading import decode_base64_image

REPO = Path(__file__).resolve().parents[1]
STATIC = REPO / "src" / "crnn_ocr" / "server" / "static"

CODE_TEXT = "0123ab中文"


# ---- fixtures ----------------------------------------------------------------------------------


# ``tiny_model_path``, ``tiny_ocr`` and ``shipped_model`` come from conftest.py.


def settings(**overrides: object) -> ServerSettings:
    return ServerSettings(**overrides)


@pytest.fixture(scope="module")
def client(tiny_ocr: OCR):
    with TestClient(create_app(settings(), ocr=tiny_ocr)) as c:
        yield c


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def padded(img: np.ndarray, pad: int = 16) -> np.ndarray:
    return cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)


@pytest.fixture(scope="module")
def line_png() -> bytes:
    """One code line the tiny model reads exactly as CODE_TEXT (whole image = one line)."""
    return png(render_code_line(CODE_TEXT))


PAGE_PAD, PAGE_GAP = 40, 40


@pytest.fixture(scope="module")
def page_png() -> bytes:
    """Two code lines on white, for detection: rows PAGE_PAD..+64 and PAGE_PAD+64+PAGE_GAP..+64."""
    top = render_code_line("0123", scale=2)
    bottom = render_code_line("ab01", scale=2)
    width = max(top.shape[1], bottom.shape[1])
    rows = [cv2.copyMakeBorder(r, 0, 0, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=255) for r in (top, bottom)]
    gap = np.full((PAGE_GAP, width), 255, np.uint8)
    return png(padded(np.vstack([rows[0], gap, rows[1]]), PAGE_PAD))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def post_json(client: TestClient, data: bytes, **body: object):
    return client.post("/api/v1/ocr", json={"image_base64": b64(data), **body})


def post_file(client: TestClient, data: bytes, form: dict | None = None, filename: str = "x.png"):
    return client.post("/ocr", files={"image": (filename, data, "image/png")}, data=form or {})


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert "Traceback" not in response.text
    return body["error"]


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` (8-bit grey), with an empty IDAT."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


class GatedOCR:
    """The real tiny OCR, but each call waits until ``release`` is set (to hold a slot busy)."""

    def __init__(self, ocr: OCR) -> None:
        self._ocr = ocr
        self.model = ocr.model
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, image, options=None):
        self.entered.set()
        assert self.release.wait(20), "test never released the gated OCR call"
        return self._ocr(image, options)

    def read_pages(self, doc, options=None, numbers=None, **kwargs):
        self.entered.set()
        assert self.release.wait(20), "test never released the gated OCR call"
        yield from self._ocr.read_pages(doc, options, numbers, **kwargs)

    def preprocess_preview(self, image, options=None):
        return self._ocr.preprocess_preview(image, options)


class BuggyOCR:
    """An OCR whose call hits an unexpected bug (not an OCRError)."""

    def __init__(self, ocr: OCR) -> None:
        self._ocr = ocr
        self.model = ocr.model

    def __call__(self, image, options=None):
        raise RuntimeError("secret internal detail /srv/private/path")

    def read_pages(self, doc, options=None, numbers=None, **kwargs):
        raise RuntimeError("secret internal detail /srv/private/path")

    def preprocess_preview(self, image, options=None):
        return self._ocr.preprocess_preview(image, options)


def in_thread(fn, *args, **kwargs) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        out["response"] = fn(*args, **kwargs)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


# ---- health and docs ---------------------------------------------------------------------------


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_readyz_reports_the_loaded_model(client: TestClient) -> None:
    r = client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["ready"] is True and body["status"] == "ready"
    assert body["model"] == {"name": "tiny_test", "version": "0.0.1"}
    assert body["capacity"] == ServerSettings().max_concurrency + ServerSettings().max_queue


def test_readyz_is_503_before_the_lifespan_runs(tiny_ocr: OCR) -> None:
    client = TestClient(create_app(settings(), ocr=tiny_ocr))  # not entered: no lifespan yet
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["ready"] is False and r.json()["status"] == "starting"
    assert client.get("/healthz").status_code == 200


def test_lifespan_loads_the_model_once_and_becomes_ready(tiny_model_path: Path, line_png: bytes) -> None:
    app = create_app(settings(model_path=str(tiny_model_path), threads=1))
    with TestClient(app) as client:
        body = wait_until_not_loading(client)
        assert body["status"] == "ready", body
        ocr = app.state.service.ocr
        for _ in range(3):
            assert post_json(client, line_png, options={"detect": False}).json()["text"] == CODE_TEXT
        assert app.state.service.ocr is ocr  # the same model object served every request


def test_model_that_fails_to_load_gives_503_with_the_reason(tmp_path: Path, line_png: bytes) -> None:
    missing = tmp_path / "no_such_model.onnx"
    with TestClient(create_app(settings(model_path=str(missing)))) as client:
        body = wait_until_not_loading(client)
        assert body["status"] == "failed" and body["ready"] is False
        assert "no_such_model.onnx" in body["error"]
        assert client.get("/readyz").status_code == 503
        assert_error(post_json(client, line_png), 503, "not_ready")
        assert client.get("/healthz").status_code == 200


def wait_until_not_loading(client: TestClient, timeout_s: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get("/readyz").json()
        if body["status"] != "loading":
            return body
        time.sleep(0.02)
    raise AssertionError("the model was still loading after 20 s")


def test_openapi_documents_both_endpoints(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/ocr", "/ocr", "/healthz", "/readyz"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/ocr"]["post"]["requestBody"]["content"]
    assert "application/json" in spec["paths"]["/api/v1/ocr"]["post"]["requestBody"]["content"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs.text) + re.findall(r"url: '([^']+)'", docs.text)
    assert assets and all(a.startswith("/") for a in assets), assets  # offline: nothing from a CDN
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_info_gives_limits_and_default_options(client: TestClient) -> None:
    body = client.get("/api/v1/info").json()
    assert body["limits"]["max_bytes"] == ServerSettings().max_bytes
    assert body["default_options"]["decode"]["method"] == "beam" and body["default_options"]["decode"]["lm"] is True
    assert body["model"]["name"] == "tiny_test"


# ---- web page assets ---------------------------------------------------------------------------


def external_references() -> list[str]:
    """URLs in the page's files that point off the server (the SVG namespace is a name, not a fetch)."""
    found = []
    for path in sorted(p for p in STATIC.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8").replace('"http://www.w3.org/2000/svg"', "")
        name = path.relative_to(STATIC).as_posix()
        found += [f"{name}: {m}" for m in re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"')]*", text)]
    return found


def test_index_page_and_its_local_assets(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for asset, kind in (("/static/app.js", "javascript"), ("/static/app.css", "text/css")):
        a = client.get(asset)
        assert a.status_code == 200 and kind in a.headers["content-type"], asset
    assert external_references() == []


def test_every_page_module_is_served_as_javascript(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Browsers run a module script (and what it imports) only when served with a JavaScript type,
    whatever the host's MIME table says (here: that every file is plain text)."""
    monkeypatch.setattr(starlette.responses, "guess_type", lambda *_a, **_k: ("text/plain", None))
    assert client.get("/static/app.css").headers["content-type"].startswith("text/plain")  # the table is used
    modules = sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*.js"))
    assert "app.js" in modules and "views/read.js" in modules
    for module in modules:
        r = client.get(f"/static/{module}")
        assert r.status_code == 200 and r.headers["content-type"] == "text/javascript; charset=utf-8", module


# ---- OCR: both endpoints -----------------------------------------------------------------------


def check_ocr_body(body: dict, text: str, width: int, height: int) -> None:
    assert body["success"] is True
    assert body["text"] == text
    assert body["image"] == {"width": width, "height": height}
    assert body["cost_time_ms"] > 0
    assert set(body["timings"]) == {"load_ms", "preprocess_ms", "detect_ms", "recognize_ms", "total_ms"}
    assert body["model"] == {"name": "tiny_test", "version": "0.0.1"}
    assert body["processed_image_base64"] is None
    for line in body["lines"]:
        assert set(line) >= {"text", "confidence", "box"}
        assert 0.0 <= line["confidence"] <= 1.0
        assert len(line["box"]) == 4 and all(len(p) == 2 for p in line["box"])


def test_json_endpoint_reads_a_line(client: TestClient, line_png: bytes) -> None:
    r = post_json(client, line_png, options={"detect": False})
    assert r.status_code == 200, r.text
    h, w = render_code_line(CODE_TEXT).shape
    body = r.json()
    check_ocr_body(body, CODE_TEXT, w, h)
    assert body["lines"][0]["box"] == [[0, 0], [w, 0], [w, h], [0, h]]
    assert [c["char"] for c in body["lines"][0]["chars"]] == list(CODE_TEXT)
    assert body["preprocessing"] == []  # the image is grey already: nothing to do


def test_multipart_endpoint_reads_a_line(client: TestClient, line_png: bytes) -> None:
    r = post_file(client, line_png, {"detect": "false"})
    assert r.status_code == 200, r.text
    h, w = render_code_line(CODE_TEXT).shape
    check_ocr_body(r.json(), CODE_TEXT, w, h)


@pytest.mark.parametrize("endpoint", ["json", "multipart"])
def test_detection_finds_each_line(client: TestClient, page_png: bytes, endpoint: str) -> None:
    # The tiny model reads exactly only frame-aligned crops (see tiny_model.py), so this checks the
    # boxes and the shape of the answer; exact text is checked with detect=False above.
    r = post_json(client, page_png) if endpoint == "json" else post_file(client, page_png)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["lines"]) == 2
    assert body["text"] == "\n".join(line["text"] for line in body["lines"])
    expected_rows = [(PAGE_PAD, PAGE_PAD + 64), (PAGE_PAD + 64 + PAGE_GAP, PAGE_PAD + 128 + PAGE_GAP)]
    for line, (top, bottom) in zip(body["lines"], expected_rows):  # reading order, original pixels
        ys = [y for _, y in line["box"]]
        assert line["text"]
        assert top - 8 <= min(ys) <= top + 8 and bottom - 8 <= max(ys) <= bottom + 8, line["box"]


def test_data_url_is_accepted(client: TestClient, line_png: bytes) -> None:
    r = client.post(
        "/api/v1/ocr",
        json={"image_base64": "data:image/png;base64," + b64(line_png), "options": {"detect": False}},
    )
    assert r.status_code == 200 and r.json()["text"] == CODE_TEXT


def test_uploaded_file_name_is_never_used_as_a_path(client: TestClient, line_png: bytes) -> None:
    r = post_file(client, line_png, {"detect": "false"}, filename="../../../../etc/passwd")
    assert r.status_code == 200 and r.json()["text"] == CODE_TEXT
    assert "passwd" not in r.text


# ---- options -----------------------------------------------------------------------------------

# (JSON options, the same as form fields, a check on the response)
OPTION_CASES = [
    pytest.param(
        {"decode": {"method": "beam", "beam_width": 4}},
        {"decode": "beam", "beam_width": "4"},
        lambda b: b["text"] == CODE_TEXT,
        id="beam",
    ),
    pytest.param(
        {"decode": {"allowlist": "0123"}},
        {"allowlist": "0123"},
        lambda b: b["text"] and set(b["text"]) <= set("0123"),
        id="allowlist",
    ),
    pytest.param(
        {"decode": {"denylist": "ab中"}},
        {"denylist": "ab中"},
        lambda b: not set(b["text"]) & set("ab中") and b["text"].startswith("0123"),
        id="denylist",
    ),
    pytest.param(
        {"preprocess": {"grayscale": True, "clahe": True, "denoise": True}},
        {"clahe": "true", "denoise": "true"},
        lambda b: b["preprocessing"] == ["clahe", "denoise"],
        id="preprocess-steps",
    ),
    pytest.param(
        {"preprocess": {"binarize": True, "morph_close": True}},
        {"binarize": "1", "morph_close": "on"},
        lambda b: b["preprocessing"] == ["binarize", "morph_close"] and b["text"] != CODE_TEXT,
        id="binarize-changes-the-reading",
    ),
    pytest.param(
        {"preprocess": {"grayscale": False}},
        {"grayscale": "false"},
        lambda b: b["preprocessing"] == [] and b["text"] == CODE_TEXT,
        id="no-preprocessing",
    ),
]


@pytest.mark.parametrize(("json_options", "form_fields", "check"), OPTION_CASES)
def test_options_reach_the_pipeline(
    client: TestClient, line_png: bytes, json_options: dict, form_fields: dict, check
) -> None:
    via_json = post_json(client, line_png, options={"detect": False, **json_options})
    via_form = post_file(client, line_png, {"detect": "false", **form_fields})
    assert via_json.status_code == 200, via_json.text
    assert via_form.status_code == 200, via_form.text
    assert check(via_json.json()), via_json.json()
    drop = ("cost_time_ms", "timings")
    assert {k: v for k, v in via_json.json().items() if k not in drop} == {
        k: v for k, v in via_form.json().items() if k not in drop
    }


@pytest.mark.parametrize("endpoint", ["json", "multipart"])
def test_processed_image_preview(client: TestClient, line_png: bytes, endpoint: str) -> None:
    if endpoint == "json":
        r = post_json(
            client, line_png, options={"detect": False, "preprocess": {"binarize": True}}, return_processed_image=True
        )
    else:
        r = post_file(client, line_png, {"detect": "false", "binarize": "true", "return_processed_image": "true"})
    assert r.status_code == 200, r.text
    preview = cv2.imdecode(np.frombuffer(base64.b64decode(r.json()["processed_image_base64"]), np.uint8), -1)
    h, w = render_code_line(CODE_TEXT).shape
    assert preview.shape[:2] == (h, w)
    assert set(np.unique(preview)) <= {0, 255}  # binarized


def test_preview_is_scaled_down_to_the_limit(tiny_ocr: OCR) -> None:
    big = padded(render_code_line("0123", scale=8), 8)  # 272 x ~496
    with TestClient(create_app(settings(preview_max_side=100), ocr=tiny_ocr)) as c:
        r = post_json(c, png(big), return_processed_image=True)
    preview = cv2.imdecode(np.frombuffer(base64.b64decode(r.json()["processed_image_base64"]), np.uint8), -1)
    assert max(preview.shape[:2]) == 100
    assert r.json()["image"] == {"width": big.shape[1], "height": big.shape[0]}


# ---- 400: bad images ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(b"", "empty_image", id="zero-bytes"),
        pytest.param("truncated", "corrupt_image", id="truncated-png"),
        pytest.param(b"hello, this is a text file\n" * 20, "unsupported_image", id="text-file"),
        pytest.param(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30, "corrupt_image", id="damaged-header"),
    ],
)
@pytest.mark.parametrize("endpoint", ["json", "multipart"])
def test_bad_images_are_400(client: TestClient, line_png: bytes, data, code: str, endpoint: str) -> None:
    if data == "truncated":
        data = line_png[: len(line_png) // 2]
    r = post_json(client, data) if endpoint == "json" else post_file(client, data)
    assert_error(r, 400, code)


@pytest.mark.parametrize("text", ["not base64 at all!", "iVBORw0KGgo=====", "data:image/png,plain"])
def test_bad_base64_is_400(client: TestClient, text: str) -> None:
    assert_error(client.post("/api/v1/ocr", json={"image_base64": text}), 400, "invalid_base64")


def test_malformed_json_is_400(client: TestClient) -> None:
    r = client.post("/api/v1/ocr", content=b'{"image_base64": ', headers={"content-type": "application/json"})
    assert_error(r, 400, "invalid_json")


# ---- 413: too large ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_limits_client(tiny_ocr: OCR):
    with TestClient(create_app(settings(max_bytes=2000, max_pixels=50_000), ocr=tiny_ocr)) as c:
        yield c


@pytest.fixture(scope="module")
def noisy_png() -> bytes:
    """An incompressible 100x100 PNG: ~10 kB, under the pixel limit, over max_bytes=2000."""
    data = png(np.random.default_rng(0).integers(0, 256, (100, 100), dtype=np.uint8))
    assert len(data) > 5000
    return data


@pytest.mark.parametrize("endpoint", ["json", "multipart"])
def test_too_many_bytes_is_413(small_limits_client: TestClient, noisy_png: bytes, endpoint: str) -> None:
    c = small_limits_client
    r = post_json(c, noisy_png) if endpoint == "json" else post_file(c, noisy_png)
    err = assert_error(r, 413, "image_too_large")
    assert "2000" in err["message"]


def test_request_body_over_the_limit_is_413_before_reading(small_limits_client: TestClient) -> None:
    limit = ServerSettings(max_bytes=2000).max_body_bytes
    r = small_limits_client.post(
        "/api/v1/ocr", content=b"x" * (limit + 1), headers={"content-type": "application/json"}
    )
    assert_error(r, 413, "payload_too_large")


def test_streamed_body_over_the_limit_is_413_while_reading(small_limits_client: TestClient) -> None:
    limit = ServerSettings(max_bytes=2000).max_body_bytes

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(limit // 1000 + 2):
            yield b"x" * 1000

    r = small_limits_client.post("/api/v1/ocr", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_error(r, 413, "payload_too_large")


@pytest.mark.parametrize("endpoint", ["json", "multipart"])
@pytest.mark.parametrize(("width", "height"), [(60000, 60000), (300, 300)])
def test_too_many_pixels_is_413_from_the_header(
    small_limits_client: TestClient, endpoint: str, width: int, height: int
) -> None:
    data = png_header(width, height)  # a few dozen bytes; decoding it would need width*height
    c = small_limits_client
    r = post_json(c, data) if endpoint == "json" else post_file(c, data)
    err = assert_error(r, 413, "image_too_large")
    assert f"{width}x{height}" in err["message"] or "pixels" in err["message"].lower()


# ---- 415: wrong content type -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        pytest.param("/api/v1/ocr", {"content": b"hello", "headers": {"content-type": "text/plain"}}, id="json-text"),
        pytest.param("/api/v1/ocr", {"files": {"image": ("a.png", b"\x89PNG", "image/png")}}, id="json-multipart"),
        pytest.param("/api/v1/ocr", {"content": b'{"image_base64": "AA=="}'}, id="json-no-type"),
        pytest.param("/ocr", {"json": {"image_base64": "AA=="}}, id="multipart-json"),
        pytest.param("/ocr", {"content": b"\x89PNG", "headers": {"content-type": "image/png"}}, id="multipart-raw"),
    ],
)
def test_wrong_content_type_is_415(client: TestClient, path: str, kwargs: dict) -> None:
    assert_error(client.post(path, **kwargs), 415, "unsupported_media_type")


# ---- 422: invalid options ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"decode": {"beam_width": 0}}, id="beam-width-0"),
        pytest.param({"decode": {"beam_width": 10_000}}, id="beam-width-huge"),
        pytest.param({"decode": {"method": "fast"}}, id="unknown-method"),
        pytest.param({"detect": "maybe"}, id="not-a-bool"),
        pytest.param({"preprocess": {"sharpen": True}}, id="unknown-step"),
        pytest.param({"colour": "red"}, id="unknown-option"),
        pytest.param({"decode": {"allowlist": "xyz"}}, id="allowlist-outside-charset"),  # OptionsError
        pytest.param({"decode": {"denylist": "0123456789ab中文"}}, id="denylist-everything"),  # OptionsError
    ],
)
def test_invalid_json_options_are_422(client: TestClient, line_png: bytes, options: dict) -> None:
    assert_error(post_json(client, line_png, options=options), 422, "invalid_options")


@pytest.mark.parametrize(
    "fields",
    [
        {"beam_width": "abc"},
        {"decode": "fast"},
        {"detect": "maybe"},
        {"allowlist": "xyz"},
        {"unknown_field": "1"},
    ],
)
def test_invalid_form_options_are_422(client: TestClient, line_png: bytes, fields: dict) -> None:
    assert_error(post_file(client, line_png, fields), 422, "invalid_options")


def test_missing_image_is_422(client: TestClient) -> None:
    assert_error(client.post("/api/v1/ocr", json={"options": {}}), 422, "invalid_options")
    assert_error(client.post("/ocr", data={"detect": "true"}, files={"other": ("a", b"x")}), 422, "invalid_options")


# ---- 404 / 405 ---------------------------------------------------------------------------------


def test_unknown_path_is_json_404(client: TestClient) -> None:
    assert_error(client.get("/no/such/page"), 404, "not_found")
    assert_error(client.get("/static/missing.js"), 404, "not_found")


def test_wrong_method_is_json_405(client: TestClient) -> None:
    r = client.get("/api/v1/ocr")
    assert_error(r, 405, "method_not_allowed")
    assert "POST" in r.headers.get("allow", "")
    assert_error(client.delete("/ocr"), 405, "method_not_allowed")


# ---- 503 overload, 504 timeout, 500 bugs -------------------------------------------------------


def test_overload_is_503_at_once(tiny_ocr: OCR, line_png: bytes) -> None:
    gated = GatedOCR(tiny_ocr)
    with TestClient(create_app(settings(max_concurrency=1, max_queue=0), ocr=gated)) as c:
        busy, out = in_thread(post_json, c, line_png, options={"detect": False})
        assert gated.entered.wait(10)
        t0 = time.monotonic()
        r = post_json(c, line_png)
        assert time.monotonic() - t0 < 2.0  # refused at once, not queued
        assert_error(r, 503, "overloaded")
        assert r.headers.get("retry-after") == "1"
        assert c.get("/readyz").json()["in_flight"] == 1
        gated.release.set()
        busy.join(20)
        assert out["response"].status_code == 200 and out["response"].json()["text"] == CODE_TEXT
        assert post_json(c, line_png, options={"detect": False}).status_code == 200  # slot free again


def test_queue_admits_up_to_max_queue_then_refuses(tiny_ocr: OCR, line_png: bytes) -> None:
    gated = GatedOCR(tiny_ocr)
    with TestClient(create_app(settings(max_concurrency=1, max_queue=1), ocr=gated)) as c:
        first, out1 = in_thread(post_json, c, line_png, options={"detect": False})
        assert gated.entered.wait(10)
        second, out2 = in_thread(post_json, c, line_png, options={"detect": False})  # waits in the queue
        deadline = time.monotonic() + 10
        while c.get("/readyz").json()["in_flight"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert_error(post_json(c, line_png), 503, "overloaded")
        gated.release.set()
        first.join(20)
        second.join(20)
        assert out1["response"].status_code == 200 and out2["response"].status_code == 200


def test_timeout_is_504_and_the_slot_stays_counted(tiny_ocr: OCR, line_png: bytes) -> None:
    gated = GatedOCR(tiny_ocr)
    with TestClient(create_app(settings(max_concurrency=1, max_queue=0, request_timeout_s=0.2), ocr=gated)) as c:
        assert_error(post_json(c, line_png), 504, "timeout")
        assert c.get("/readyz").json()["in_flight"] == 1  # the call still runs on its thread
        assert_error(post_json(c, line_png), 503, "overloaded")
        gated.release.set()
        deadline = time.monotonic() + 10
        while c.get("/readyz").json()["in_flight"]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert post_json(c, line_png, options={"detect": False}).json()["text"] == CODE_TEXT


def test_unexpected_error_is_a_generic_500_logged_server_side(
    tiny_ocr: OCR, line_png: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(settings(), ocr=BuggyOCR(tiny_ocr)), raise_server_exceptions=False) as c:
        with caplog.at_level(logging.ERROR, logger="crnn_ocr.server"):
            r = post_json(c, line_png)
        err = assert_error(r, 500, "internal_error")
        assert "secret" not in r.text and "RuntimeError" not in r.text
        assert "secret internal detail" in caplog.text  # the traceback went to the log
        assert any(rec.exc_info for rec in caplog.records)
        assert "server log" in err["message"]
        assert c.get("/healthz").status_code == 200  # the server keeps serving


def test_one_bad_request_does_not_affect_others(tiny_ocr: OCR, line_png: bytes) -> None:
    truncated = line_png[: len(line_png) // 2]
    with TestClient(create_app(settings(max_concurrency=2, max_queue=16), ocr=tiny_ocr)) as c:
        jobs = [
            in_thread(post_json, c, truncated if i % 3 == 0 else line_png, options={"detect": False})
            for i in range(12)
        ]
        for i, (thread, out) in enumerate(jobs):
            thread.join(30)
            r = out["response"]
            if i % 3 == 0:
                assert_error(r, 400, "corrupt_image")
            else:
                assert r.status_code == 200 and r.json()["text"] == CODE_TEXT


def test_memory_stays_flat_over_many_requests(client: TestClient, line_png: bytes) -> None:
    psutil = pytest.importorskip("psutil")
    proc = psutil.Process()
    for _ in range(50):
        post_json(client, line_png, options={"detect": False})
    before = proc.memory_info().rss
    for i in range(400):
        r = post_json(client, line_png, options={"detect": i % 2 == 0}, return_processed_image=i % 5 == 0)
        assert r.status_code == 200
    growth_mb = (proc.memory_info().rss - before) / 2**20
    assert growth_mb < 25, f"RSS grew {growth_mb:.1f} MB over 400 requests"


# ---- the error table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc_name", "status"),
    [
        ("EmptyImageError", 400),
        ("UnsupportedImageError", 400),
        ("CorruptImageError", 400),
        ("ImageNotFoundError", 400),
        ("ImageTooLargeError", 413),
        ("OptionsError", 422),
        ("ModelError", 503),
        ("OCRError", 500),
    ],
)
def test_every_package_error_has_one_status(exc_name: str, status: int) -> None:
    import crnn_ocr.errors as errors

    assert status_for(getattr(errors, exc_name)("x")) == status
    assert errors.OCRError in STATUS_BY_ERROR


@pytest.mark.parametrize(
    ("text", "expected"),
    [("AAEC", b"\x00\x01\x02"), ("AA EC\n", b"\x00\x01\x02"), ("data:image/png;base64,AAEC", b"\x00\x01\x02")],
)
def test_decode_base64_image(text: str, expected: bytes) -> None:
    assert decode_base64_image(text, max_bytes=10) == expected


# ---- the shipped model -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped_client(shipped_model: Path):  # skips while models/manifest.json is missing
    app = create_app(settings(threads=1))  # no model given: the lifespan resolves the shipped one
    with TestClient(app) as c:
        body = wait_until_not_loading(c, timeout_s=120)
        assert body["status"] == "ready", body
        yield c


@pytest.mark.parametrize("endpoint", ["json", "multipart"])
def test_shipped_model_reads_a_rendered_page(shipped_client: TestClient, endpoint: str) -> None:
    from render import render_page, to_png_bytes

    from crnn_ocr.metrics import normalized_edit_distance

    lines = ["CRNN OCR 2024", "中文识别测试", "Hello, world!"]
    page, _ = render_page(lines)
    data = to_png_bytes(page)
    r = post_json(shipped_client, data) if endpoint == "json" else post_file(shipped_client, data)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["lines"]) == len(lines), body["text"]
    assert normalized_edit_distance("\n".join(lines), body["text"]) < 0.15, body["text"]


def test_shipped_model_is_reported_ready(shipped_client: TestClient) -> None:
    body = shipped_client.get("/readyz").json()
    assert body["ready"] and body["model"]["name"] != "tiny_test"


def test_shipped_models_are_listed_with_their_card(shipped_client: TestClient) -> None:
    models = shipped_client.get("/api/v1/models").json()["models"]
    assert [m["name"] for m in models] == ["crnn_zh_en_v1"]  # the detector and the LM are not recognizers
    (model,) = models
    assert model["default"] and model["loaded"] and model["charset_size"] == 6930
    assert model["card"].startswith("A CRNN line recognizer for printed Simplified Chinese + English")


# ---- `crnn-ocr serve` --------------------------------------------------------------------------


def serve_args(argv: list[str]):
    import argparse

    from crnn_ocr.server.cli import add_serve_parser

    parser = argparse.ArgumentParser()
    add_serve_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["serve", *argv])


def test_serve_flags_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from crnn_ocr.server.cli import run_serve, settings_from_args

    monkeypatch.setenv("CRNN_OCR_MAX_CONCURRENCY", "3")
    monkeypatch.setenv("CRNN_OCR_PORT", "9999")
    args = serve_args(["--port", "8123", "--max-queue", "0", "--model", "m.onnx", "--timeout", "5"])
    assert args.func is run_serve
    s = settings_from_args(args)
    assert (s.port, s.max_queue, s.model_path, s.request_timeout_s) == (8123, 0, "m.onnx", 5.0)
    assert s.max_concurrency == 3  # from the environment
    assert s.host == "127.0.0.1" and s.workers == 1  # defaults


def test_serve_rejects_bad_settings(capsys: pytest.CaptureFixture) -> None:
    from crnn_ocr.server.cli import run_serve

    assert run_serve(serve_args(["--workers", "0"])) == 2
    assert "workers" in capsys.readouterr().err


def test_crnn_ocr_serve_starts_a_real_server(tiny_model_path: Path, line_png: bytes, tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "crnn_ocr.cli", "serve", "--port", str(port), "--model", str(tiny_model_path),
           "--threads", "1", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "crnn-ocr serve was not ready within 30 s"
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        r = httpx.post(f"{url}/ocr", files={"image": ("a.png", line_png)}, data={"detect": "false"}, timeout=10)
        assert r.status_code == 200 and r.json()["text"] == CODE_TEXT
        assert httpx.get(f"{url}/", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.mark.parametrize("endpoint", ["json", "multipart"])
def test_detector_option_classical_and_learned_without_a_model(client: TestClient, page_png: bytes, endpoint: str) -> None:
    post = (lambda opts: post_json(client, page_png, options=opts)) if endpoint == "json" else (
        lambda opts: post_file(client, page_png, {k: str(v).lower() for k, v in opts.items()})
    )
    ok = post({"detector": "classical", "auto_orient": False})
    assert ok.status_code == 200, ok.text
    (page,) = ok.json()["pages"]
    assert (page["detector"], page["orientation"]) == ("classical", 0) and len(page["lines"]) == 2
    # No detector model is loaded by this server: "learned" is refused with the reason.
    r = post({"detector": "learned"})
    assert r.status_code == 422 and "detector model" in r.json()["error"]["message"]
    bad = post({"detector": "neural"})
    assert bad.status_code == 422


# ---- the read unit's options: one stored form --------------------------------------------------


@pytest.mark.parametrize("options", [
    {},
    {"detect": False, "fields": True, "dpi": 300, "pages": "1-2", "model": "tiny_test",
     "decode": {"method": "greedy", "allowlist": "0123", "min_confidence": 0.5},
     "preprocess": {"binarize": True, "grayscale": False}},
])
def test_read_request_options_json_is_the_api_options_object_and_reads_back(options: dict) -> None:
    import json

    from crnn_ocr.server.reading import ReadRequest, canonical_json
    from crnn_ocr.server.schemas import OptionsIn

    given = OptionsIn.model_validate(options)
    request = given.to_request(preview=True, format="hocr")
    stored = request.options_json()
    # The same string as the API's options object: cache keys and stored jobs stay valid.
    assert stored == canonical_json(given.model_dump(mode="json"))
    assert OptionsIn.model_validate(json.loads(stored)) == given
    back = ReadRequest.from_options_json(stored)
    assert (back.options, back.document, back.model) == (request.options, request.document, request.model)
    assert (back.preview, back.format) == (False, "json")  # not part of the stored options


def test_read_request_refuses_an_unknown_stored_option() -> None:
    from crnn_ocr.errors import OptionsError
    from crnn_ocr.server.reading import ReadRequest

    with pytest.raises(OptionsError, match="decode.beam"):
        ReadRequest.from_options_json('{"decode": {"beam": 3}, "dpi": 200, "pages": null, "model": null}')
