"""What a request can name besides its bytes, and how it hears back: image URLs (SSRF-safe), the
model to read with, case-insensitive history search, the preprocessing-only preview, and
Server-Sent Events for a job's progress and for the pages of a long document.

The server runs around two tiny models (tests/tiny_model.py) named by a manifest in a temporary
model folder: ``tiny_a`` (the server's own) and ``tiny_b``, whose charset is ``tiny_a``'s reversed,
so the same image reads differently with each. Image URLs are served by a plain HTTP server on
loopback, reachable only through the allow-list.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from inputs_support import LINE_PNG, TEXT, TEXT_B, ImageServer, png, two_model_dir
from pdfs import image_pdf
from tiny_model import TINY_CHARS, render_code_line

from crnn_ocr.client import iter_events
from crnn_ocr.detect import ClassicalLineDetector
from crnn_ocr.pipeline import OCR
from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.urlfetch import UrlPolicy

LINE = {"detect": False, "auto_orient": False}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ---- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> Iterator[Path]:
    """A model folder with a manifest of two recognizers, set as $CRNN_OCR_MODEL_DIR."""
    folder = two_model_dir(tmp_path_factory.mktemp("two_models"), tiny_model_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRNN_OCR_MODEL_DIR", str(folder))
        mp.setenv("CRNN_OCR_LM", "none")
        yield folder


@pytest.fixture(scope="module")
def ocr_a(model_dir: Path) -> OCR:
    return OCR(model_dir / "tiny_a.onnx", threads=1, detector=ClassicalLineDetector())


@pytest.fixture(scope="module")
def images() -> Iterator[ImageServer]:
    server = ImageServer()
    yield server
    server.server.shutdown()


@pytest.fixture(scope="module")
def client(ocr_a: OCR, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The server with 127.0.0.1 allow-listed for image URLs, its own store, history on."""
    store = tmp_path_factory.mktemp("inputs_store") / "store.sqlite3"
    s = ServerSettings(store_path=str(store), url_allowed_hosts=["127.0.0.1"], max_bytes=1_000_000)
    with TestClient(create_app(s, ocr=ocr_a)) as c:
        yield c


@pytest.fixture(scope="module")
def closed_client(ocr_a: OCR) -> Iterator[TestClient]:
    """The server with the default URL policy: public addresses only."""
    with TestClient(create_app(ServerSettings(), ocr=ocr_a)) as c:
        yield c


def assert_error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code, body
    return body["error"]["message"]


# ---- image URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "allowed"), [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("127.8.9.10", False), ("::1", False), ("0.0.0.0", False), ("::", False),
    ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False), ("fc00::1", False),
    ("169.254.169.254", False), ("fe80::1", False), ("100.64.0.1", False), ("240.0.0.1", False),
    ("224.0.0.1", False), ("255.255.255.255", False), ("::ffff:127.0.0.1", False), ("::ffff:10.0.0.1", False),
])
def test_only_public_addresses_pass_the_default_policy(address: str, allowed: bool) -> None:
    assert UrlPolicy().address_allowed(ipaddress.ip_address(address)) is allowed


def test_the_allow_list_takes_addresses_networks_and_names() -> None:
    policy = UrlPolicy(allowed_hosts=("127.0.0.1", "10.1.0.0/16", "Images.Intranet."))
    assert policy.address_allowed(ipaddress.ip_address("127.0.0.1"))
    assert not policy.address_allowed(ipaddress.ip_address("127.0.0.2"))
    assert policy.address_allowed(ipaddress.ip_address("10.1.200.3"))
    assert not policy.address_allowed(ipaddress.ip_address("10.2.0.1"))
    assert policy.host_allowed("images.intranet") and not policy.host_allowed("intranet")


@pytest.mark.parametrize("url", [
    "{loopback}/line.png", "http://localhost:{port}/line.png", "http://[::1]:{port}/line.png",
    "http://10.0.0.1/line.png", "http://192.168.0.10/x.png", "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0:{port}/line.png", "file:///etc/passwd", "ftp://example.com/x.png", "gopher://127.0.0.1/",
])
def test_url_input_refuses_inner_addresses_and_other_schemes(
    closed_client: TestClient, images: ImageServer, url: str
) -> None:
    url = url.format(loopback=images.url, port=images.server.server_address[1])
    before = len(images.hits)
    message = assert_error(closed_client.post("/api/v1/ocr", json={"image_url": url, "options": LINE}), 422, "url_refused")
    assert "http" in message or "address" in message
    assert_error(closed_client.post("/ocr", files={"image_url": (None, url)}), 422, "url_refused")
    assert len(images.hits) == before, "a refused URL was fetched"


def test_an_allow_listed_loopback_server_is_fetched(client: TestClient, images: ImageServer) -> None:
    body = client.post("/api/v1/ocr", json={"image_url": f"{images.url}/line.png", "options": LINE}).json()
    assert body["text"] == TEXT
    form = client.post("/ocr", files={"image_url": (None, f"{images.url}/to-line")}, data={"detect": "false"}).json()
    assert form["text"] == TEXT  # a redirect inside the allowed host is followed


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/to-private", 422, "url_refused"),
    ("/to-link-local", 422, "url_refused"),
    ("/to-other-loopback", 422, "url_refused"),  # 127.0.0.2 is loopback and not allow-listed
    ("/to-file", 422, "url_refused"),
    ("/missing.png", 400, "url_fetch_failed"),
    ("/endless", 413, "image_too_large"),  # no Content-Length: stopped by counting while streaming
])
def test_redirects_into_inner_addresses_and_bad_answers_are_refused(
    client: TestClient, images: ImageServer, path: str, status: int, code: str
) -> None:
    assert_error(client.post("/api/v1/ocr", json={"image_url": images.url + path, "options": LINE}), status, code)


def test_exactly_one_image_source(client: TestClient, images: ImageServer) -> None:
    both = {"image_base64": b64(LINE_PNG), "image_url": f"{images.url}/line.png"}
    assert_error(client.post("/api/v1/ocr", json=both), 422, "invalid_options")
    assert_error(client.post("/api/v1/ocr", json={"options": LINE}), 422, "invalid_options")


def test_url_input_can_be_switched_off(ocr_a: OCR, images: ImageServer) -> None:
    s = ServerSettings(url_input=False, url_allowed_hosts=["127.0.0.1"])
    with TestClient(create_app(s, ocr=ocr_a)) as c:
        message = assert_error(c.post("/api/v1/ocr", json={"image_url": f"{images.url}/line.png"}), 422, "url_refused")
    assert "off" in message


def test_a_job_fetches_its_urls_and_fails_a_refused_one_alone(client: TestClient, images: ImageServer) -> None:
    body = {"images": [{"image_url": f"{images.url}/line.png"}, {"image_url": "http://10.0.0.1/x.png", "name": "inner"},
                       {"image_base64": b64(LINE_PNG), "name": "inline"}], "options": LINE}
    accepted = client.post("/api/v1/jobs", json=body)
    assert accepted.status_code == 202, accepted.text
    job = follow_job(client, accepted.json()["id"])[-1][1]
    items = job["items"]
    assert [i["name"] for i in items] == ["line.png", "inner", "inline"]
    assert items[0]["result"]["text"] == TEXT and items[2]["result"]["text"] == TEXT
    assert items[1]["status"] == "failed" and items[1]["error"]["code"] == "url_refused"


# ---- model choice ------------------------------------------------------------------------------


def test_models_lists_the_manifest_default_first(client: TestClient) -> None:
    models = {m["name"]: m for m in client.get("/api/v1/models").json()["models"]}
    assert list(models) == ["tiny_a", "tiny_b"]
    assert models["tiny_a"]["default"] and models["tiny_a"]["loaded"]
    b = models["tiny_b"]
    assert (b["version"], b["charset_size"], b["default"]) == ("0.0.2", len(TINY_CHARS), False)
    assert b["card"] == "The tiny model, read backwards." and len(b["sha256"]) == 64


def test_model_option_selects_the_model_and_is_recorded(client: TestClient) -> None:
    a = client.post("/api/v1/ocr", json={"image_base64": b64(LINE_PNG), "options": LINE}).json()
    b = client.post("/api/v1/ocr", json={"image_base64": b64(LINE_PNG), "options": {**LINE, "model": "tiny_b"}}).json()
    assert (a["text"], a["model"]["name"]) == (TEXT, "tiny_a")
    assert (b["text"], b["model"]["name"], b["model"]["version"]) == (TEXT_B, "tiny_b", "0.0.2")
    form = client.post("/ocr", files={"image": ("x.png", LINE_PNG, "image/png")}, data={"detect": "false", "model": "tiny_b"})
    assert form.json()["text"] == TEXT_B
    assert next(m for m in client.get("/api/v1/models").json()["models"] if m["name"] == "tiny_b")["loaded"]
    entries = client.get("/api/v1/history", params={"q": TEXT_B}).json()["entries"]
    assert entries and {e["model"] for e in entries} == {"tiny_b"}
    entry = client.get(f"/api/v1/history/{entries[0]['id']}").json()
    assert entry["options"]["model"] == "tiny_b" and entry["result"]["model"]["name"] == "tiny_b"


def test_unknown_model_is_422_listing_the_available_ones(client: TestClient) -> None:
    for response in (
        client.post("/api/v1/ocr", json={"image_base64": b64(LINE_PNG), "options": {"model": "crnn_v2"}}),
        client.post("/ocr", files={"image": ("x.png", LINE_PNG, "image/png")}, data={"model": "crnn_v2"}),
        client.post("/api/v1/jobs", json={"images": [{"image_base64": b64(LINE_PNG)}], "options": {"model": "crnn_v2"}}),
    ):
        message = assert_error(response, 422, "unknown_model")
        assert "crnn_v2" in message and "tiny_a, tiny_b" in message


def test_a_job_reads_with_the_model_it_names(ocr_a: OCR, tmp_path: Path) -> None:
    s = ServerSettings(store_path=str(tmp_path / "store.sqlite3"), cache=True)
    body = {"images": [{"image_base64": b64(LINE_PNG)}], "options": {**LINE, "model": "tiny_b"}}
    with TestClient(create_app(s, ocr=ocr_a)) as c:
        first, again = (follow_job(c, c.post("/api/v1/jobs", json=body).json()["id"])[-1][1] for _ in range(2))
    assert (first["items"][0]["result"]["text"], first["items"][0]["result"]["model"]["name"]) == (TEXT_B, "tiny_b")
    assert not first["items"][0]["cached"] and again["items"][0]["cached"]  # the cache knows which model read it
    assert again["items"][0]["result"]["text"] == TEXT_B


# ---- history search over the API ---------------------------------------------------------------


def test_history_search_ignores_case_and_finds_chinese(client: TestClient) -> None:
    client.post("/api/v1/ocr", json={"image_base64": b64(png(render_code_line("ab0中文"))), "options": LINE})
    upper = client.get("/api/v1/history", params={"q": "AB0"}).json()
    assert upper["total"] >= 1 and all("ab0" in e["text"] for e in upper["entries"])
    chinese = client.get("/api/v1/history", params={"q": "0中文", "page_size": 1}).json()
    assert chinese["total"] >= 1 and len(chinese["entries"]) == 1 and "0中文" in chinese["entries"][0]["text"]


# ---- preprocessing preview ---------------------------------------------------------------------


def test_preprocess_preview_runs_no_recognition(client: TestClient) -> None:
    noisy = cv2.GaussianBlur(render_code_line(TEXT, scale=2), (5, 5), 0)
    before = client.get("/api/v1/history").json()["total"]
    response = client.post("/api/v1/preprocess", json={
        "image_base64": b64(png(noisy)), "options": {"preprocess": {"binarize": True}}})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert "binarize" in response.headers["x-preprocessing"].split(",")
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape[:2] == noisy.shape[:2] and set(np.unique(image)) <= {0, 255}
    assert client.get("/api/v1/history").json()["total"] == before  # nothing was read


# ---- Server-Sent Events ------------------------------------------------------------------------


def follow_job(client: TestClient, job_id: str) -> list[tuple[str, dict]]:
    with client.stream("GET", f"/api/v1/jobs/{job_id}/events") as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = list(iter_events(response.iter_lines()))
    assert events[-1][0] == "result"
    return events


def test_job_events_deliver_progress_in_order_then_the_result(client: TestClient) -> None:
    lines = ["0123", "ab", "中文", "9876"]
    body = {"images": [{"image_base64": b64(png(render_code_line(t))), "name": t} for t in lines], "options": LINE}
    events = follow_job(client, client.post("/api/v1/jobs", json=body).json()["id"])
    names = [name for name, _ in events]
    assert names[:-1] == ["progress"] * (len(events) - 1) and names[-1] == "result"
    finished = [d["done"] + d["failed"] for name, d in events if name == "progress"]
    assert finished == sorted(finished) and len(set(finished)) == len(finished)  # an event per change
    assert events[-2][1]["status"] == "completed" and finished[-1] == len(lines)
    assert all(i["result"] is None for i in events[-2][1]["items"])  # progress carries states only
    result = events[-1][1]
    assert [i["result"]["text"] for i in result["items"]] == lines


def test_job_events_of_an_unknown_job_are_404(client: TestClient) -> None:
    assert_error(client.get("/api/v1/jobs/nosuchjob/events"), 404, "not_found")


def test_a_long_document_streams_its_pages_then_the_result(client: TestClient) -> None:
    texts = ["0123", "ab中文", "4567"]
    pdf = image_pdf([render_code_line(t, scale=2) for t in texts], dpi=100)
    with client.stream("POST", "/api/v1/ocr/stream", json={"image_base64": b64(pdf), "options": LINE}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = list(iter_events(response.iter_lines()))
    assert [name for name, _ in events] == ["page", "page", "page", "result"]
    pages = [data for _, data in events[:-1]]
    assert [(p["page"], p["read"], p["total"], p["page_count"]) for p in pages] == [(1, 1, 3, 3), (2, 2, 3, 3), (3, 3, 3, 3)]
    assert [p["result"]["text"] for p in pages] == texts
    assert events[-1][1]["text"] == "\f".join(texts) and events[-1][1]["page_count"] == 3


def test_a_stream_refused_before_reading_answers_its_status(client: TestClient) -> None:
    assert_error(client.post("/api/v1/ocr/stream", json={"image_base64": b64(b"not an image")}), 400, "unsupported_image")
