"""Hostile input against the service (issue 23): no input can stall it, no webhook redirect leaves
the allow-list, no library error or unbounded value answers 500, and the published API is valid.

Every hostile file is built here (``tests/hostile.py``); the webhook targets are HTTP servers on
loopback. The real app runs around the tiny test model. The Redis-mode poison item (``kill -9``)
is in ``test_jobs_celery.py``; the bounded decoder fuzz and the schemathesis run are at the end.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import io
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from fastapi.testclient import TestClient
from hostile import chained_tiff, chunk_bomb_png, com_bomb_jpeg, damaged_pdf
from jobs_support import free_port, wait_until
from tiny_model import render_code_line

from crnn_ocr.documents import DocumentLimits, open_document
from crnn_ocr.errors import CorruptImageError, TooManyPagesError, reason
from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.server.errors import RequestTimeoutError
from crnn_ocr.server.inference import InferenceGate
from crnn_ocr.server.webhooks import WebhookError, post_webhook
from crnn_ocr.structure import count_tiff_pages

NO_DETECT = {"detect": False}
TESTS = Path(__file__).parent


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def line_png() -> bytes:
    ok, buf = cv2.imencode(".png", render_code_line("0123ab"))
    assert ok
    return buf.tobytes()


def assert_error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text[:2000]
    body = r.json()
    assert body["success"] is False and body["error"]["code"] == code, body
    return body["error"]


@pytest.fixture()
def client(tiny_ocr, tmp_path: Path) -> Iterator[TestClient]:
    settings = ServerSettings(
        store_path=tmp_path / "store.sqlite3", max_pages=50, webhook_allowed_hosts=["localhost"],
    )
    with TestClient(create_app(settings, ocr=tiny_ocr)) as c:
        yield c


# ---- inputs that grow work with the file -------------------------------------------------------


class CountingReader(io.BytesIO):
    """A stream that counts the reads made on it."""

    reads = 0

    def read(self, *args) -> bytes:  # type: ignore[override]
        self.reads += 1
        return super().read(*args)


def test_a_170k_page_tiff_is_counted_only_to_the_limit() -> None:
    data = chained_tiff(170_000)
    assert len(data) > 19_000_000
    fp = CountingReader(data)
    assert count_tiff_pages(fp, stop_at=51, label="t") == 51
    assert fp.reads <= 2 * 51 + 2, "the walk must stop at the limit, not follow the whole chain"
    with pytest.raises(TooManyPagesError, match="more than 50 pages"):
        open_document(data, None, DocumentLimits(max_pages=50))
    # A TIFF within the limit still reads every page.
    with open_document(chained_tiff(3), None, DocumentLimits(max_pages=3)) as doc:
        assert doc.page_count == 3 and [p.image.shape for p in doc.pages()] == [(8, 8)] * 3


def test_a_looping_tiff_chain_is_corrupt() -> None:
    data = bytearray(chained_tiff(2))
    last_next = len(data) - 4
    data[last_next:] = (8 + 64).to_bytes(4, "little")  # page 2 points back to page 1
    with pytest.raises(CorruptImageError, match="loop back"):
        count_tiff_pages(io.BytesIO(bytes(data)), stop_at=10, label="t")


def test_a_tiff_page_with_too_many_tags_is_corrupt() -> None:
    data = bytearray(chained_tiff(1))
    data[8 + 64:8 + 64 + 2] = (60_000).to_bytes(2, "little")  # the page directory's tag count
    with pytest.raises(CorruptImageError, match="60000 tags"):
        open_document(bytes(data) + b"\0" * 720_000)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        pytest.param(lambda: chunk_bomb_png(1_660_000), "more than 1024 chunks before the image data", id="png-chunks"),
        pytest.param(lambda: com_bomb_jpeg(5_000_000), "more than 1024 marker segments", id="jpeg-com"),
    ],
)
def test_header_bombs_are_refused_from_a_bounded_walk(client: TestClient, data, what: str) -> None:
    bomb = data()
    assert len(bomb) > 19_000_000
    r = client.post("/ocr", files={"image": ("bomb", bomb, "application/octet-stream")}, data=NO_DETECT)
    assert what in assert_error(r, 400, "corrupt_image")["message"]


def test_a_few_chunks_and_markers_are_still_fine(client: TestClient) -> None:
    for data in (chunk_bomb_png(200), com_bomb_jpeg(200)):
        r = client.post("/api/v1/ocr", json={"image_base64": b64(data), "options": NO_DETECT})
        assert r.status_code == 200, r.text


def test_a_170k_page_tiff_is_413_for_requests_and_jobs(client: TestClient) -> None:
    tiff = chained_tiff(170_000)
    r = client.post("/ocr", files={"image": ("pages.tif", tiff, "image/tiff")}, data=NO_DETECT)
    assert "more than 50 pages" in assert_error(r, 413, "too_many_pages")["message"]
    job = client.post("/api/v1/jobs", files=[("images", ("pages.tif", tiff, "image/tiff"))]).json()
    job = client.get(f"/api/v1/jobs/{job['id']}").json()
    assert job["status"] == "completed" and job["items"][0]["error"]["code"] == "too_many_pages"


def test_input_is_inspected_off_the_event_loop(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from crnn_ocr.server import reading

    seen: list[bool] = []
    real = reading.check_input

    def spy(*args, **kwargs):
        try:
            asyncio.get_running_loop()
            seen.append(True)  # called on the event loop's thread
        except RuntimeError:
            seen.append(False)
        return real(*args, **kwargs)

    monkeypatch.setattr(reading, "check_input", spy)
    r = client.post("/api/v1/ocr", json={"image_base64": b64(line_png()), "options": NO_DETECT})
    assert r.status_code == 200 and seen == [False]


def test_a_damaged_pdf_is_400(client: TestClient) -> None:
    pdf = damaged_pdf()
    r = client.post("/ocr", files={"image": ("bad.pdf", pdf, "application/pdf")})
    assert "damaged PDF" in assert_error(r, 400, "corrupt_image")["message"]


# ---- work that outlives its request ------------------------------------------------------------


def test_a_timed_out_call_is_cancelled_and_frees_its_slot() -> None:
    gate = InferenceGate(max_concurrency=1, max_queue=1, timeout_s=0.3)
    stopped, queued_ran = threading.Event(), threading.Event()

    def slow(*, cancelled: threading.Event) -> None:
        while not cancelled.wait(0.01):  # a page loop checking between pages
            pass
        stopped.set()

    def queued(*, cancelled: threading.Event) -> None:
        queued_ran.set()

    async def main() -> None:
        results = await asyncio.gather(gate.run(slow), gate.run(queued), return_exceptions=True)
        assert [type(r) for r in results] == [RequestTimeoutError, RequestTimeoutError]

    asyncio.run(main())
    assert stopped.wait(5), "the running call was not told to stop"
    wait_until(lambda: gate.in_flight == 0, 5, "the slots to be free")
    assert not queued_ran.is_set(), "a call whose request timed out while queued must never start"
    gate.close()


def test_reading_stops_before_the_next_page_once_cancelled(tiny_ocr) -> None:
    from crnn_ocr.server.reading import ReadRequest, read_bytes

    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(RequestTimeoutError):
        read_bytes(tiny_ocr, chained_tiff(5), ReadRequest(), DocumentLimits(max_pages=5), 64, cancelled=cancelled)


# ---- webhooks ----------------------------------------------------------------------------------


class Target:
    """An HTTP server on loopback that records each POST and answers ``reply(path)``:
    (status, headers)."""

    def __init__(self, reply=lambda path: (204, {})) -> None:
        self.received: list[tuple[str, bytes]] = []
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target.received.append((self.path, body))
                status, headers = reply(self.path)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def targets() -> Iterator[list[Target]]:
    made: list[Target] = []
    yield made
    for t in made:
        t.close()


def test_a_redirect_off_the_allow_list_is_not_followed(targets: list[Target]) -> None:
    inside = Target()
    outside = Target()  # 127.0.0.1 is not "localhost" on the allow-list
    hop = Target(lambda path: (302, {"Location": f"http://127.0.0.1:{outside.port}/redirected"}))
    targets += [inside, outside, hop]
    with pytest.raises(WebhookError, match="refused hop"):
        post_webhook(f"http://localhost:{hop.port}/hook", {"a": 1}, ["localhost"], timeout_s=5)
    assert [p for p, _ in hop.received] == ["/hook"] and outside.received == []
    # A redirect within the allow-list is followed, the payload posted again, each hop checked.
    hop2 = Target(lambda path: (307, {"Location": f"http://localhost:{inside.port}/final"}))
    targets.append(hop2)
    assert post_webhook(f"http://localhost:{hop2.port}/hook", {"a": 1}, ["localhost"], timeout_s=5) == 204
    assert inside.received == [("/final", b'{"a": 1}')]


def test_redirect_loops_stop(targets: list[Target]) -> None:
    loop = Target(lambda path: (308, {"Location": path}))
    targets.append(loop)
    with pytest.raises(WebhookError, match="more than 3 redirects"):
        post_webhook(f"http://localhost:{loop.port}/again", {}, ["localhost"], timeout_s=5)
    assert len(loop.received) == 4


def test_no_proxy_is_taken_from_the_environment(targets: list[Target], monkeypatch: pytest.MonkeyPatch) -> None:
    proxy, hook = Target(), Target()
    targets += [proxy, hook]
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    post_webhook(f"http://localhost:{hook.port}/h", {}, ["localhost"], timeout_s=5)
    assert proxy.received == [] and len(hook.received) == 1


@pytest.mark.parametrize("bad", ["\r\n", "\n", "\x00", " ", "\t"])
def test_a_webhook_url_with_control_characters_is_refused_at_submit(client: TestClient, bad: str) -> None:
    url = f"http://localhost:9/hook{bad}INFO forged log line"
    r = client.post("/api/v1/jobs", json={"images": [{"image_base64": b64(line_png())}], "webhook_url": url})
    assert "control character" in assert_error(r, 422, "invalid_options")["message"]


def test_a_job_finished_at_submission_calls_its_webhook(client: TestClient, targets: list[Target]) -> None:
    hook = Target()
    targets.append(hook)
    body = {"images": [{"image_base64": b64(b"not an image"), "name": "junk"}],
            "webhook_url": f"http://localhost:{hook.port}/done"}
    r = client.post("/api/v1/jobs", json=body)
    assert r.status_code == 202 and r.json()["status"] == "completed"
    wait_until(lambda: hook.received, 10, "the webhook call")
    payload = json.loads(hook.received[0][1])
    assert payload["id"] == r.json()["id"] and payload["status"] == "completed" and payload["failed"] == 1


# ---- smaller findings --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs?page=9223372036854775808",
        "/api/v1/history?page=9223372036854775808",
        "/api/v1/history/9223372036854775808",
        "/api/v1/history/-1",
        "/api/v1/jobs?page=99999999999999999999999999",
    ],
)
def test_huge_integers_in_paths_and_queries_are_422(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 422, "invalid_options")


def test_a_422_answer_does_not_grow_with_the_request(client: TestClient) -> None:
    body = json.dumps({"images": [{"image_base64": 1, "extra": "x" * 10}] * 40_000}).encode()
    assert len(body) > 1_000_000
    r = client.post("/api/v1/jobs", content=body, headers={"content-type": "application/json"})
    error = assert_error(r, 422, "invalid_options")
    assert len(r.content) < 10_000 and len(error["details"]) <= 2  # validation stops at the first bad item
    options = {f"unknown_{i}": i for i in range(5_000)}
    r = client.post("/api/v1/ocr", json={"image_base64": "AAAA", "options": options})
    error = assert_error(r, 422, "invalid_options")
    assert len(r.content) < 10_000 and len(error["details"]) == 20 and "and 4980 more problems" in error["message"]
    long_key = "k" * 100_000
    r = client.post("/api/v1/ocr", json={"image_base64": "AAAA", "options": {long_key: 1}})
    assert len(assert_error(r, 422, "invalid_options")["message"]) < 1_000


@pytest.mark.parametrize(
    "data",
    [b"BM" + b"\x00" * 60, b"\x89PNG\r\n\x1a\n" + b"\x00" * 60, b"RIFF\x00\x00\x00\x00WEBP" + b"\x01" * 40,
     b"II*\x00" + b"\xff" * 60, b"\xff\xd8\xff" + b"\x00" * 60],
)
def test_decode_errors_carry_no_object_reprs(client: TestClient, data: bytes) -> None:
    r = client.post("/api/v1/ocr", json={"image_base64": b64(data)})
    assert r.status_code == 400, r.text
    assert " at 0x" not in r.text and "<_io" not in r.text


def test_reason_drops_object_reprs() -> None:
    exc = OSError("cannot identify image file <_io.BytesIO object at 0x7f3a5c1b2e30>")
    assert reason(exc) == "cannot identify image file the input"


def test_store_files_are_private(tiny_ocr, tmp_path: Path) -> None:
    folder = tmp_path / "new" / "crnn-ocr"
    settings = ServerSettings(store_path=folder / "store.sqlite3", cache=True)
    with TestClient(create_app(settings, ocr=tiny_ocr)) as c:
        assert c.post("/api/v1/ocr", json={"image_base64": b64(line_png()), "options": NO_DETECT}).status_code == 200
        files = sorted(folder.iterdir())
        assert {f.name for f in files} >= {"store.sqlite3", "store.sqlite3-wal"}
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for f in files:
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_an_old_world_readable_store_is_made_private(tiny_ocr, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    store.touch(mode=0o644)
    os.chmod(store, 0o644)
    with TestClient(create_app(ServerSettings(store_path=store), ocr=tiny_ocr)) as c:
        assert c.get("/healthz").status_code == 200
    assert stat.S_IMODE(store.stat().st_mode) == 0o600


def test_405_names_every_allowed_method(client: TestClient) -> None:
    r = client.put("/api/v1/jobs/abc")
    assert_error(r, 405, "method_not_allowed")
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "DELETE"}
    r = client.put("/api/v1/jobs")
    assert set(r.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_a_second_image_file_is_refused(client: TestClient) -> None:
    png = line_png()
    r = client.post("/ocr", files=[("image", ("a.png", png, "image/png")), ("image", ("b.png", png, "image/png"))])
    message = assert_error(r, 422, "invalid_options")["message"]
    assert "one file" in message and "/api/v1/jobs" in message


def test_the_openapi_document_is_valid_and_callable(client: TestClient) -> None:
    from openapi_spec_validator import validate

    spec = client.get("/openapi.json").json()
    validate(spec)
    ocr = spec["paths"]["/ocr"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "allOf" not in ocr and "$ref" not in ocr
    assert ocr["required"] == ["image"] and "image" in ocr["properties"] and "dpi" in ocr["properties"]
    jobs = spec["paths"]["/api/v1/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert jobs["required"] == ["images"] and "webhook_url" in jobs["properties"]


# ---- exposure and shutdown, on real sockets ----------------------------------------------------


def _outside_address() -> str | None:
    """An address of this machine beyond loopback, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def _serve(tmp_path: Path, args: list[str], env: dict[str, str], log: str) -> tuple[subprocess.Popen, Path]:
    path = tmp_path / log
    proc = subprocess.Popen(
        args, stdout=path.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), **env},
    )
    return proc, path


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)


def test_uvicorn_on_all_interfaces_without_keys_refuses_outside_requests(tiny_model_path: Path, tmp_path: Path) -> None:
    """``uvicorn --factory ... --host 0.0.0.0`` skips ``crnn-ocr serve``'s start-up check (the
    settings still say 127.0.0.1); the address each request arrived on is checked instead."""
    import httpx

    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no address beyond loopback")
    port = free_port()
    proc, log = _serve(
        tmp_path,
        [sys.executable, "-m", "uvicorn", "--factory", "crnn_ocr.server.app:app_from_env", "--host", "0.0.0.0",
         "--port", str(port), "--log-level", "warning"],
        {"CRNN_OCR_MODEL_PATH": str(tiny_model_path), "CRNN_OCR_STORE_PATH": str(tmp_path / "s.sqlite3"),
         "CRNN_OCR_THREADS": "1"},
        "uvicorn.log",
    )
    try:
        def up() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, 60, "uvicorn to be ready", interval_s=0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/info", timeout=5).status_code == 200
        r = httpx.get(f"http://{outside}:{port}/api/v1/info", timeout=5)
        assert r.status_code == 403 and "answers only on loopback" in r.json()["error"]["message"]
        assert httpx.get(f"http://{outside}:{port}/healthz", timeout=5).status_code == 200
    finally:
        _stop(proc)


def test_sigterm_with_a_request_in_flight_exits_within_the_shutdown_timeout(
    tiny_model_path: Path, tmp_path: Path
) -> None:
    """A request that would run for minutes (many big pages) is cancelled at its next page once
    the shutdown timeout has passed; the server exits long before the request would have ended."""
    import httpx
    import numpy as np

    from pdfs import image_pdf

    rng = np.random.default_rng(0)
    pages = [np.where(rng.random((400, 300)) < 0.5, 0, 255).astype(np.uint8) for _ in range(50)]
    pdf = image_pdf(pages, dpi=30)  # 50 noisy pages of 10 x 13 inches: 21 Mpx, about 1 s each at 400 dpi
    port = free_port()
    proc, log = _serve(
        tmp_path,
        [sys.executable, "-m", "crnn_ocr.cli", "serve", "--port", str(port), "--model", str(tiny_model_path),
         "--threads", "1", "--store", str(tmp_path / "s.sqlite3"), "--timeout", "600", "--shutdown-timeout", "2",
         "--log-level", "warning"],
        {},
        "serve.log",
    )
    try:
        def ready() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, 60, "the server to be ready", interval_s=0.1)
        outcome: list[object] = []

        def send() -> None:
            try:
                outcome.append(httpx.post(f"http://127.0.0.1:{port}/ocr", files={"image": ("d.pdf", pdf)},
                                          data={"dpi": "400"}, timeout=600).status_code)
            except httpx.HTTPError as exc:
                outcome.append(exc)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).json()["in_flight"] == 1, 30,
                   "the request to be running", interval_s=0.05)
        start = time.monotonic()
        proc.terminate()
        proc.wait(60)
        took = time.monotonic() - start
        assert took < 20, f"the server took {took:.1f} s to exit (the request alone runs for about a minute)"
        sender.join(10)
        assert outcome and outcome[0] != 200, outcome
    finally:
        _stop(proc)


# ---- bounded fuzz of the decoders --------------------------------------------------------------


def test_decoder_fuzz() -> None:
    """20,000 mutations of the committed seeds (tests/fuzz_seeds) through ``open_document`` and
    every page's decoding: each decodes or raises one of the package's errors, none is slow. In a
    subprocess with a timeout, so a crash or hang fails this test only."""
    done = subprocess.run(
        [sys.executable, str(TESTS / "fuzz_decoders.py"), "--cases", "20000", "--budget", "90", "--seed", "23"],
        capture_output=True, text=True, timeout=240, check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode in (0, 1), f"the fuzz crashed (exit {done.returncode}):\n{done.stderr[-3000:]}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["finding_count"] == 0, summary["findings"]
    assert summary["cases"] >= 2000, summary  # the budget allowed a real run
