"""``crnn_ocr.client.OCRClient`` against a real server (uvicorn on loopback, the tiny test model):
multipart reads of an image and a PDF, a job submitted and waited for with progress, history;
its retries against a real HTTP server that refuses, and the request it sends (no base64)."""

from __future__ import annotations

import http.server
import io
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
import uvicorn
from jobs_support import free_port, wait_until
from pdfs import image_pdf
from tiny_model import render_code_line

from crnn_ocr.client import ClientError, OCRClient, RetryPolicy, form_fields, retry_after_s
from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.types import DecodeOptions, DocumentOptions, OCROptions, PreprocessOptions

LINE = OCROptions(detect=False, decode=DecodeOptions(method="greedy"))


def png(text: str) -> bytes:
    ok, buf = cv2.imencode(".png", render_code_line(text))
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def server_url(tiny_ocr, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = ServerSettings(
        store_path=tmp_path_factory.mktemp("client") / "store.sqlite3", cache=True, url_allowed_hosts=["127.0.0.1"]
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, ocr=tiny_ocr), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, 20, "uvicorn to start")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_reads_an_image_and_a_pdf_by_multipart(server_url: str, tmp_path: Path) -> None:
    path = tmp_path / "line.png"
    path.write_bytes(png("0123ab"))
    with OCRClient(server_url) as client:
        assert client.health() == {"status": "ok"} or client.health()["status"] == "ok"
        assert client.ready()["ready"] is True
        result = client.read(path, LINE)
        assert result["text"] == "0123ab" and result["page_count"] == 1
        text = client.read_as(("line.png", png("42")), "text", LINE)
        assert text.decode().strip() == "42"
        pdf = image_pdf([render_code_line("中文12"), render_code_line("ab34")])
        doc = client.read(("scan.pdf", pdf), LINE, DocumentOptions(dpi=100, pages="2"))
        assert doc["page_count"] == 2 and [p["page"] for p in doc["pages"]] == [2]
        assert doc["pages"][0]["text"] == "ab34"
        with pytest.raises(ClientError) as bad:
            client.read(("bad.png", b"\x89PNG\r\n\x1a\n truncated"), LINE)
        assert bad.value.status == 400 and bad.value.code == "corrupt_image"


def test_urls_go_to_the_server_and_a_model_is_named(server_url: str) -> None:
    from inputs_support import TEXT, ImageServer

    images = ImageServer()
    try:
        with OCRClient(server_url) as client:
            assert client.read(f"{images.url}/line.png", LINE)["text"] == TEXT
            job = client.submit([("a.png", png("42")), f"{images.url}/line.png"], LINE, model="tiny_test")
            done = client.wait(job["id"], timeout_s=30)
            assert [(i["name"], i["result"]["text"]) for i in done["items"]] == [("a.png", "42"), ("line.png", TEXT)]
            assert done["items"][0]["result"]["model"]["name"] == "tiny_test"
            first = client.models()["models"][0]  # then the manifest's recognizers
            assert (first["name"], first["default"], first["loaded"]) == ("tiny_test", True, True)
            with pytest.raises(ClientError) as unknown:
                client.read(("a.png", png("42")), LINE, model="crnn_v2")
            assert (unknown.value.status, unknown.value.code) == (422, "unknown_model")
            assert "tiny_test" in unknown.value.message
    finally:
        images.server.shutdown()


def test_submit_wait_with_progress_then_history(server_url: str) -> None:
    seen: list[tuple[str, int]] = []
    with OCRClient(server_url) as client:
        accepted = client.submit([("a.png", png("777")), ("b.png", png("ab中")), ("c.png", b"not an image")], LINE)
        assert accepted["status"] in ("pending", "running") and accepted["total"] == 3
        job = client.wait(accepted["id"], poll_s=0.05, timeout_s=30,
                          progress=lambda j: seen.append((j["status"], j["done"] + j["failed"])))
        assert job["status"] == "completed" and (job["done"], job["failed"]) == (2, 1)
        assert [i["name"] for i in job["items"]] == ["a.png", "b.png", "c.png"]
        assert [i["result"]["text"] if i["result"] else i["error"]["code"] for i in job["items"]] == [
            "777", "ab中", "unsupported_image"]
        assert seen[-1] == ("completed", 3) and all(n <= 3 for _, n in seen)
        assert any(j["id"] == accepted["id"] for j in client.jobs()["jobs"])

        found = client.history(q="ab中")
        entry = next(e for e in found["entries"] if e["job_id"] == accepted["id"])
        assert client.history_entry(entry["id"])["text"] == "ab中"
        client.delete_history(entry["id"])
        with pytest.raises(ClientError) as gone:
            client.history_entry(entry["id"])
        assert gone.value.status == 404
        client.delete_job(accepted["id"])
        with pytest.raises(ClientError):
            client.job(accepted["id"])


@pytest.mark.parametrize("options", [
    OCROptions(),
    OCROptions(detect=False, fields=True, decode=DecodeOptions(method="greedy", allowlist="0123", min_confidence=0.5)),
    OCROptions(detector="classical", auto_orient=False, decode=DecodeOptions(pattern="plate", beam_width=3, lm=False)),
    OCROptions(preprocess=PreprocessOptions(grayscale=False, clahe=True, binarize=True, deskew=True)),
])
def test_form_fields_are_read_back_by_the_server_as_the_same_options(options: OCROptions) -> None:
    from crnn_ocr.server.schemas import OCRForm

    document = DocumentOptions(dpi=150, pages="1-2")
    form = OCRForm.model_validate(form_fields(options, document)).to_options_in()
    assert form.to_options() == options and form.to_document() == document


# ---- retries, against a real HTTP server -------------------------------------------------------


class Flaky(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next status of ``plan`` (then 200), recording what it got."""

    plan: list[int] = []
    got: list[tuple[str, str, str, int]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        type(self).got.append((self.command, self.path, self.headers.get("Content-Type", ""), len(body)))
        status = type(self).plan.pop(0) if type(self).plan else 200
        payload = b'{"status": "ok"}' if status < 400 else b'{"success": false, "error": {"code": "x", "message": "m"}}'
        self.send_response(status)
        if status in (429, 503):
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def flaky() -> Iterator[tuple[str, type[Flaky]]]:
    Flaky.plan, Flaky.got = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}", Flaky
    server.shutdown()
    server.server_close()


FAST = RetryPolicy(attempts=4, backoff_s=0.01, max_backoff_s=0.05)


def test_refused_requests_are_retried(flaky) -> None:
    url, handler = flaky
    handler.plan = [503, 429, 503]
    with OCRClient(url, retry=FAST) as client:
        assert client.health() == {"status": "ok"}
    assert len(handler.got) == 4


def test_gives_up_after_the_last_attempt_with_the_servers_error(flaky) -> None:
    url, handler = flaky
    handler.plan = [503] * 10
    with OCRClient(url, retry=FAST) as client, pytest.raises(ClientError) as err:
        client.health()
    assert err.value.status == 503 and err.value.code == "x" and len(handler.got) == 4


def test_a_job_is_not_resubmitted_after_a_502_but_a_read_is(flaky) -> None:
    url, handler = flaky
    handler.plan = [502]
    with OCRClient(url, retry=FAST) as client, pytest.raises(ClientError) as err:
        client.submit([("a.png", b"x" * 3000)])
    assert err.value.status == 502 and len(handler.got) == 1
    handler.plan, handler.got[:] = [502], []
    with OCRClient(url, retry=FAST) as client:
        client.read(("a.png", b"y" * 3000))
    assert len(handler.got) == 2


def test_uploads_are_multipart_not_base64(flaky) -> None:
    url, handler = flaky
    data = bytes(range(256)) * 400  # 100 KiB
    handler.plan = [202]
    with OCRClient(url, retry=FAST) as client:
        client.submit([("a.bin", data), ("b.bin", data)])
    method, path, content_type, length = handler.got[0]
    assert (method, path) == ("POST", "/api/v1/jobs") and content_type.startswith("multipart/form-data")
    assert 2 * len(data) < length < 2 * len(data) + 4000  # base64 would be 4/3 as big


def test_an_unreachable_server_is_tried_again_then_reported() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with OCRClient(url, retry=FAST) as client, pytest.raises(ClientError) as err:
        client.info()
    assert err.value.status == 0 and err.value.code == "unreachable"
    assert time.monotonic() - start >= 0.01 + 0.02 + 0.04  # three backoffs


@pytest.mark.parametrize(("header", "seconds"), [("3", 3.0), ("0", 0.0), ("junk", None), (None, None), ("-5", 0.0)])
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert retry_after_s(header) == seconds


def test_form_fields_name_every_option_field_of_the_http_form():
    from crnn_ocr.client import form_fields
    from crnn_ocr.server.schemas import OCRForm
    from crnn_ocr.types import DecodeOptions, DocumentOptions, OCROptions

    sent = form_fields(
        OCROptions(decode=DecodeOptions(method="greedy", allowlist="0123456789", denylist="O", pattern="date")),
        DocumentOptions(pages="1-2"), model="m",
    )
    # Every field the client sends is one the form knows, and it sends every option field.
    assert set(sent) == set(OCRForm.model_fields) - {"image_url", "return_processed_image"}
    form = OCRForm(**sent)
    assert form.decode == "greedy" and form.allowlist == "0123456789" and form.pages == "1-2"
    assert form.to_options_in().to_request().options.decode.pattern == "date"


def test_corrections_and_datasets_round_trip(server_url: str) -> None:
    line = png("0123ab")
    height, width = render_code_line("0123ab").shape
    box = [[0, 0], [width, 0], [width, height], [0, height]]
    with OCRClient(server_url) as client:
        added = client.correct([{"box": box, "text": "0123ab", "original_text": "0l23ab"}],
                               image=("line.png", line), dataset="client", keep_training_data=True)
        assert added["page_image_kept"] is True and added["lines"][0]["text"] == "0123ab"
        again = client.correct([{"box": box, "text": "0123ac"}], page_sha256=added["page_sha256"], dataset="client")
        assert again["lines"][0]["id"] == added["lines"][0]["id"]
        assert [d["name"] for d in client.datasets()["datasets"]] == ["client"]
        assert [x["text"] for x in client.dataset_lines("client")["lines"]] == ["0123ac"]
        archive = client.export_dataset("client", kind="rec")
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            texts = [row.split("\t")[1] for side in ("train", "heldout")
                     for row in z.read(f"rec/{side}/labels.tsv").decode().splitlines()]
        assert texts == ["0123ac"]
        imported = client.import_dataset("copy", ("client.zip", archive))
        assert (imported["kind"], imported["lines"]) == ("rec", 1)
        assert client.delete_dataset("copy") == {"dataset": "copy", "deleted": True, "lines": 1}
        assert client.delete_correction(added["lines"][0]["id"]) == {"id": added["lines"][0]["id"], "deleted": True}
        with pytest.raises(ClientError) as caught:
            client.dataset_lines("client")
        assert (caught.value.status, caught.value.code) == (404, "unknown_dataset")
