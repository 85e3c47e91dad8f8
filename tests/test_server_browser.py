"""The web page, driven in headless Chromium (Debian's /usr/bin/chromium) through Playwright.

A real uvicorn server runs in a thread on a free loopback port, loading the tiny test model in its
lifespan (or the shipped model once models/manifest.json exists). Screenshots go to
artifacts/browser/ (gitignored). Never downloads a browser: ``executable_path`` is the system one.
"""

from __future__ import annotations

import contextlib
import os

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
import uvicorn
from jobs_support import free_port
from tiny_model import render_code_line

from crnn_ocr.client import form_fields
from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.server.schemas import OCRForm
from crnn_ocr.types import DecodeOptions, DocumentOptions, OCROptions, PreprocessOptions

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "browser"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt install chromium)"),
]
playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (pip install -e '.[test]')"
)

CODE_TEXT = "0123ab中文"


class ServerThread:
    """uvicorn serving ``create_app(settings)`` on 127.0.0.1 in a daemon thread."""

    def __init__(self, settings: ServerSettings) -> None:
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.url = f"http://127.0.0.1:{settings.port}"
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise RuntimeError("the server thread exited during start-up")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the server was not ready within 120 s")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="module")
def tiny_server(tiny_model_path: Path) -> Iterator[ServerThread]:
    """The real server on the tiny model, loaded by the app's lifespan, with the classical detector
    only (the tiny model's code glyphs are not text the shipped learned detector knows)."""
    settings = ServerSettings(port=free_port(), model_path=str(tiny_model_path), threads=1)
    with contextlib.ExitStack() as stack:
        saved = os.environ.get("CRNN_OCR_MODEL_DIR")
        os.environ["CRNN_OCR_MODEL_DIR"] = str(tiny_model_path.parent)  # no manifest there: no detector model
        try:
            server = stack.enter_context(ServerThread(settings))  # returns once the models are loaded
        finally:
            if saved is None:
                os.environ.pop("CRNN_OCR_MODEL_DIR", None)
            else:
                os.environ["CRNN_OCR_MODEL_DIR"] = saved
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture()
def page(browser, tiny_server: ServerThread):
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    pg = context.new_page()
    script_errors: list[str] = []  # uncaught exceptions in the page's JavaScript
    requests: list[str] = []
    pg.on("pageerror", lambda exc: script_errors.append(str(exc)))
    pg.on("request", lambda req: requests.append(req.url))
    pg.set_default_timeout(30_000)
    yield pg
    context.close()
    assert script_errors == []
    # Everything is served by the app itself: no CDN, no other host.
    off_site = [u for u in requests if not u.startswith((tiny_server.url + "/", "data:", "blob:"))]
    assert off_site == []


def shot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def upload(pg, data: bytes, name: str = "line.png", mime: str = "image/png") -> None:
    pg.set_input_files("#file-input", files=[{"name": name, "mimeType": mime, "buffer": data}])


def wait_for_result(pg) -> None:
    pg.wait_for_function("() => document.querySelector('#timing').textContent.length > 0")
    pg.wait_for_selector("#progress", state="hidden")


def rerun(pg, action) -> dict:
    """Do ``action`` (which makes the page send POST /ocr); the JSON answer once it is shown."""
    with pg.expect_response(lambda r: r.url.endswith("/ocr") and r.request.method == "POST") as info:
        action()
    pg.wait_for_selector("#progress", state="hidden")
    return info.value.json()


def test_upload_shows_lines_boxes_and_copies_the_text(tiny_server: ServerThread, page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=tiny_server.url)
    page.goto(tiny_server.url + "/")
    page.wait_for_selector("#model-status[data-state=ready]")
    assert "tiny_test" in page.inner_text("#model-status")

    # Whole image as one line: the tiny model reads it exactly.
    page.uncheck("input[name=detect]")
    upload(page, png(render_code_line(CODE_TEXT)))
    wait_for_result(page)
    assert page.is_hidden("#error")
    texts = page.locator("#lines li .text").all_inner_texts()
    assert texts == [CODE_TEXT]
    assert page.locator("#overlay polygon").count() == 1
    assert page.input_value("#all-text") == CODE_TEXT
    assert "ms" in page.inner_text("#timing")
    confidence = page.inner_text("#lines li .conf")
    assert confidence.endswith("%") and float(confidence[:-1]) > 90

    # Click the line: its box is highlighted.
    page.click("#lines li button")
    assert page.locator("#overlay polygon.selected").count() == 1
    assert page.locator("#lines li.selected").count() == 1

    # Copy all text: it lands on the clipboard.
    page.click("#copy")
    page.wait_for_function("() => document.querySelector('#copy-status').textContent.length > 0")
    assert page.inner_text("#copy-status") == "Copied to the clipboard."
    assert page.evaluate("navigator.clipboard.readText()") == CODE_TEXT
    shot(page, "line_result")

    # Greedy decoding from the decoding menu (beam search is the default): the same reading.
    assert page.is_enabled("input[name=beam_width]")
    body = rerun(page, lambda: page.select_option("select[name=decode]", "greedy"))
    assert body["text"] == CODE_TEXT
    assert page.is_disabled("input[name=beam_width]")

    # Toggle the processed view and a preprocessing step: the page re-runs and shows the new image.
    body = rerun(page, lambda: page.check("input[name=return_processed_image]"))
    assert body["processed_image_base64"]
    body = rerun(page, lambda: page.check("input[name=binarize]"))
    assert body["preprocessing"] == ["binarize"]
    assert page.get_attribute("#view-image", "src") == "data:image/png;base64," + body["processed_image_base64"]
    assert "processed" in page.inner_text("#view-kind")
    assert page.locator("#lines li .text").all_inner_texts() == [line["text"] for line in body["lines"]]
    shot(page, "processed_view")

    # Chinese UI.
    page.click("#lang-toggle")
    assert page.inner_text("#copy") == "复制全部文字"
    assert page.inner_text("h1") == "CRNN-OCR 文字识别"
    shot(page, "chinese_ui")


def multipart_fields(body: bytes) -> dict[str, str]:
    """The plain fields of a multipart/form-data body (files left out)."""
    fields = re.finditer(rb'name="(\w+)"\r\n\r\n(.*?)\r\n--', body, re.S)
    return {m.group(1).decode(): m.group(2).decode() for m in fields}


def test_the_page_sends_the_options_as_the_client_names_them(tiny_server: ServerThread, page) -> None:
    """options.js and crnn_ocr.client.form_fields follow one naming rule: the form's defaults are
    the library's defaults, and options chosen on the page reach POST /ocr as the client sends them."""
    page.goto(tiny_server.url + "/")
    page.wait_for_selector("#model-status[data-state=ready]")
    # An image URL (not a file: Chromium does not report a body that carries a file); the server
    # may not fetch it, which does not matter here.
    page.fill("#image-url", "http://127.0.0.1:9/line.png")
    with page.expect_request(lambda r: r.url.endswith("/ocr") and r.method == "POST") as info:
        page.click("#url-form button[type=submit]")
    sent = multipart_fields(info.value.post_data_buffer)
    assert sent.pop("image_url") == "http://127.0.0.1:9/line.png"
    assert sent.pop("return_processed_image") == "true"  # the browser has no image of its own to show
    assert sent.keys() == form_fields().keys()
    assert OCRForm(**sent).to_options_in() == OCRForm(**form_fields()).to_options_in()

    page.uncheck("input[name=detect]")
    page.select_option("select[name=detector]", "classical")
    page.check("input[name=clahe]")
    page.fill("input[name=allowlist]", "0123ab中文")
    page.fill("input[name=pattern]", "any")
    page.fill("input[name=pages]", "1")
    with page.expect_request(lambda r: r.url.endswith("/ocr") and r.method == "POST") as info:
        page.select_option("select[name=decode]", "greedy")
    sent = multipart_fields(info.value.post_data_buffer)
    del sent["image_url"], sent["return_processed_image"]
    chosen = OCROptions(
        detect=False, detector="classical", preprocess=PreprocessOptions(clahe=True),
        decode=DecodeOptions(method="greedy", allowlist="0123ab中文", pattern="any"),
    )
    expected = form_fields(chosen, DocumentOptions(pages="1"))
    assert sent.keys() == expected.keys() - {"beam_width"}  # greedy decoding has no beam width
    assert OCRForm(**sent).to_options_in() == OCRForm(**expected).to_options_in()
    page.wait_for_selector("#error", state="visible")  # the URL refused


def test_detection_draws_a_box_per_line(tiny_server: ServerThread, page) -> None:
    page.goto(tiny_server.url + "/")
    page.wait_for_selector("#model-status[data-state=ready]")
    rows = [render_code_line(t, scale=2) for t in ("0123", "ab01", "中文0")]
    width = max(r.shape[1] for r in rows)
    blank = np.full((40, width), 255, np.uint8)
    stacked = []
    for r in rows:
        stacked += [cv2.copyMakeBorder(r, 0, 0, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=255), blank]
    doc = cv2.copyMakeBorder(np.vstack(stacked), 40, 0, 40, 40, cv2.BORDER_CONSTANT, value=255)
    upload(page, png(doc), "page.png")
    wait_for_result(page)
    assert page.locator("#lines li").count() == 3
    assert page.locator("#overlay polygon").count() == 3
    # Low-confidence lines are marked in the list and drawn dashed.
    low = page.locator("#lines li.low").count()
    assert low == page.locator("#overlay polygon.low").count()
    page.locator("#overlay polygon").nth(2).dispatch_event("click")
    assert page.get_attribute("#lines li.selected", "data-index") == "2"
    shot(page, "detected_page")


def test_field_format_and_confidence_slider(tiny_server: ServerThread, page) -> None:
    page.goto(tiny_server.url + "/")
    page.wait_for_selector("#model-status[data-state=ready]")
    page.uncheck("input[name=detect]")
    upload(page, png(render_code_line(CODE_TEXT)))
    wait_for_result(page)
    assert page.locator("#lines li .text").all_inner_texts() == [CODE_TEXT]

    # A field format: only digits can come out (the line reads "0123ab中文" without one).
    body = rerun(page, lambda: (page.fill("input[name=pattern]", "digits"), page.press("input[name=pattern]", "Tab")))
    assert body["text"].isdigit()
    body = rerun(page, lambda: (page.fill("input[name=pattern]", ""), page.press("input[name=pattern]", "Tab")))
    assert body["text"] == CODE_TEXT

    # The confidence slider: at 100% every line (confidence just under 1) is hidden.
    set_slider = "v => { const s = document.querySelector('input[name=min_confidence]'); s.value = v;" \
        " s.dispatchEvent(new Event('input', {bubbles: true})); s.dispatchEvent(new Event('change', {bubbles: true})); }"
    body = rerun(page, lambda: page.evaluate(set_slider, "1"))
    assert body["lines"] == [] and page.locator("#lines li").count() == 0
    assert page.inner_text("#min-confidence-value") == "100%"
    body = rerun(page, lambda: page.evaluate(set_slider, "0.5"))
    assert [line["text"] for line in body["lines"]] == [CODE_TEXT]


def test_errors_are_shown_in_plain_words(tiny_server: ServerThread, page) -> None:
    page.goto(tiny_server.url + "/")
    page.wait_for_selector("#model-status[data-state=ready]")
    upload(page, b"this is a text file, not an image\n", "notes.png")
    page.wait_for_selector("#error", state="visible")
    assert "not an image we can read" in page.inner_text("#error-title")
    assert page.locator("#lines li").count() == 0
    upload(page, png(render_code_line("0123"))[:60], "cut.png")
    page.wait_for_function("() => document.querySelector('#error-title').textContent.includes('damaged')")
    shot(page, "error_message")
    # The line-finder choice reaches the server: this server has no learned detector.
    with page.expect_response(lambda r: r.url.endswith("/ocr") and r.request.method == "POST"):
        page.select_option("select[name=detector]", "learned")  # re-reads the current (damaged) file
    with page.expect_response(lambda r: r.url.endswith("/ocr") and r.request.method == "POST") as info:
        upload(page, png(render_code_line("0123")), "ok.png")
    assert info.value.status == 422 and "text-detector model" in info.value.json()["error"]["message"]
    page.wait_for_function("() => document.querySelector('#error-detail').textContent.includes('text-detector model')")


def test_paste_from_the_clipboard(tiny_server: ServerThread, page) -> None:
    page.goto(tiny_server.url + "/")
    page.wait_for_selector("#model-status[data-state=ready]")
    page.uncheck("input[name=detect]")
    data = list(png(render_code_line(CODE_TEXT)))
    page.evaluate(
        """(bytes) => {
            const file = new File([new Uint8Array(bytes)], "pasted.png", {type: "image/png"});
            const dt = new DataTransfer();
            dt.items.add(file);
            document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true}));
        }""",
        data,
    )
    wait_for_result(page)
    assert page.locator("#lines li .text").all_inner_texts() == [CODE_TEXT]


def test_drag_and_drop(tiny_server: ServerThread, page) -> None:
    page.goto(tiny_server.url + "/")
    page.wait_for_selector("#model-status[data-state=ready]")
    page.uncheck("input[name=detect]")
    data = list(png(render_code_line(CODE_TEXT)))
    handle = page.evaluate_handle(
        """(bytes) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], "dropped.png", {type: "image/png"}));
            return dt;
        }""",
        data,
    )
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": handle})
    wait_for_result(page)
    assert page.locator("#lines li .text").all_inner_texts() == [CODE_TEXT]


def test_api_docs_render_offline(tiny_server: ServerThread, page) -> None:
    page.goto(tiny_server.url + "/docs")
    page.wait_for_selector(".opblock")
    body = page.inner_text("body")
    assert "/api/v1/ocr" in body and "/ocr" in body and "/readyz" in body
    shot(page, "api_docs")


def test_shipped_model_in_the_browser(browser, shipped_model: Path) -> None:  # skips without a manifest
    from render import render_page, to_png_bytes

    lines = ["CRNN OCR 2024", "中文识别测试", "Hello, world!"]
    doc, _ = render_page(lines)
    settings = ServerSettings(port=free_port(), threads=2)  # no model_path: the shipped model
    with ServerThread(settings) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(60_000)
        pg.goto(server.url + "/")
        pg.wait_for_selector("#model-status[data-state=ready]")
        with pg.expect_response(lambda r: r.url.endswith("/ocr") and r.request.method == "POST") as info:
            upload(pg, to_png_bytes(doc), "page.png")
        assert info.value.json()["pages"][0]["detector"] == "learned"  # auto, with the shipped detector
        wait_for_result(pg)
        assert pg.locator("#lines li").count() == len(lines)
        assert pg.locator("#overlay polygon").count() == len(lines)
        assert pg.is_hidden("#fields")
        shot(pg, "shipped_model_page")

        # Fields: a receipt, its fields in a table beside the lines, each with its verdict.
        receipt, _ = render_page(["KEDAI MAJU TRADING", "DATE: 25/12/2018", "TOTAL: 12.50"])
        pg.check("input[name=fields]")
        with pg.expect_response(lambda r: r.url.endswith("/ocr") and r.request.method == "POST") as info:
            upload(pg, to_png_bytes(receipt), "receipt.png")
        fields = {f["name"]: f for f in info.value.json()["pages"][0]["fields"]}
        assert fields["date"]["value"] == "2018-12-25" and fields["total"]["value"] == "12.50"
        pg.wait_for_selector("#fields tbody tr[data-name=total]")
        assert pg.is_visible("#fields")
        assert pg.inner_text("#fields tr[data-name=date] td.value") == "2018-12-25"
        assert pg.inner_text("#fields tr[data-name=total] td.value") == "12.50"
        assert "valid" in pg.inner_text("#fields tr[data-name=date] td.check")
        shot(pg, "fields_table")
        context.close()


def test_pdf_upload_pages_and_downloads(tiny_server: ServerThread, page, tmp_path: Path) -> None:
    from pdfs import image_pdf

    page.goto(tiny_server.url + "/")
    page.wait_for_selector("#model-status[data-state=ready]")
    page.uncheck("input[name=detect]")  # each page is one line: the tiny model reads it exactly
    pdf = image_pdf([render_code_line("0123"), render_code_line("ab中文")], dpi=72)
    upload(page, pdf, "two pages.pdf", "application/pdf")
    wait_for_result(page)
    assert page.is_hidden("#error")
    assert page.inner_text("#page-label") == "Page 1 of 2"
    assert page.locator("#lines li .text").all_inner_texts() == ["0123"]
    assert page.get_attribute("#view-image", "src").startswith("data:image/png;base64,")  # the server's render
    assert page.input_value("#all-text") == "0123\n\nab中文"
    page.click("#next-page")
    assert page.inner_text("#page-label") == "Page 2 of 2"
    assert page.locator("#lines li .text").all_inner_texts() == ["ab中文"]
    assert page.locator("#overlay polygon").count() == 1
    shot(page, "pdf_page_2")

    saved = {}
    for fmt, starts in (("pdf", b"%PDF-"), ("hocr", b"<?xml"), ("alto", b"<?xml"), ("text", b"0123"), ("json", b"{")):
        with page.expect_download() as info:
            page.click(f"#downloads button[data-format={fmt}]")
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        saved[fmt] = path
        assert path.read_bytes().startswith(starts), fmt
    assert saved["pdf"].name == "two pages.ocr.pdf" and saved["alto"].name == "two pages.ocr.alto.xml"
    assert json.loads(saved["json"].read_text(encoding="utf-8"))["page_count"] == 2


def test_batch_of_files_with_progress_downloads_and_history(tiny_server: ServerThread, page, tmp_path: Path) -> None:
    """Several files (one of them broken) dropped at once → one job; a row per file reaches its
    status; both "download all" files hold every result; the history lists them."""
    page.goto(tiny_server.url + "/")
    page.wait_for_selector("#model-status[data-state=ready]")
    page.uncheck("input[name=detect]")  # each file is one line: the tiny model reads it exactly
    files = [
        {"name": "one.png", "mimeType": "image/png", "buffer": png(render_code_line("0123"))},
        {"name": "two.png", "mimeType": "image/png", "buffer": png(render_code_line("ab中文"))},
        {"name": "broken.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\nbroken"},
    ]
    page.click("#tabs [data-tab=batch]")
    page.set_input_files("#batch-input", files=files)
    page.wait_for_selector("#batch-json:not([disabled])")
    rows = page.locator("#batch-table tbody tr")
    assert rows.count() == 3
    assert [rows.nth(i).get_attribute("data-status") for i in range(3)] == ["done", "done", "failed"]
    assert page.locator("#batch-table td.text").all_inner_texts()[:2] == ["0123", "ab中文"]
    assert "3 of 3" in page.inner_text("#batch-status")
    shot(page, "batch_done")

    with page.expect_download() as info:
        page.click("#batch-text")
    text_path = tmp_path / info.value.suggested_filename
    info.value.save_as(text_path)
    text = text_path.read_text(encoding="utf-8")
    assert "==> one.png <==\n0123\n==> two.png <==\nab中文\n==> broken.png <==\nerror: corrupt_image" in text
    with page.expect_download() as info:
        page.click("#batch-json")
    json_path = tmp_path / info.value.suggested_filename
    info.value.save_as(json_path)
    job = json.loads(json_path.read_text(encoding="utf-8"))
    assert [i["status"] for i in job["items"]] == ["done", "done", "failed"]

    page.click("#tabs [data-tab=history]")
    page.fill("#history-search input[name=q]", "ab中文")
    page.click("#history-search button")
    page.wait_for_function(  # only entries containing the query, ours among them
        """() => {
            const texts = [...document.querySelectorAll('#history-list .htext')].map((e) => e.textContent);
            return texts.includes('ab中文') && texts.every((t) => t.includes('ab中文'));
        }"""
    )


def test_api_key_is_asked_once_kept_and_forgotten(browser, tiny_model_path: Path, tmp_path: Path) -> None:
    """A server with API keys: the page asks for the key when the API answers 401 (a wrong key is
    asked again), keeps it in localStorage, sends it on every call, and forgets it on request."""
    from crnn_ocr.server.auth import KeyStore

    store = tmp_path / "store.sqlite3"
    keys = KeyStore(store)
    _, token = keys.create("browser")
    keys.close()
    settings = ServerSettings(port=free_port(), model_path=str(tiny_model_path), threads=1, store_path=store)
    with ServerThread(settings) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        pg = context.new_page()
        script_errors: list[str] = []
        pg.on("pageerror", lambda exc: script_errors.append(str(exc)))
        pg.set_default_timeout(30_000)
        try:
            pg.goto(server.url + "/")
            pg.wait_for_selector("#key-dialog[open]")
            assert "needs an API key" in pg.inner_text("#key-reason")
            pg.fill("#key-dialog input[name=key]", "crnn_0_wrong")
            pg.click("#key-dialog button[value=save]")
            pg.wait_for_function("() => document.querySelector('#key-reason').textContent.includes('not accepted')")
            pg.fill("#key-dialog input[name=key]", token)
            pg.click("#key-dialog button[value=save]")
            pg.wait_for_selector("#key-dialog", state="hidden")
            pg.wait_for_selector("#model-status[data-state=ready]")
            assert pg.evaluate("localStorage.getItem('crnn-ocr-api-key')") == token
            pg.uncheck("input[name=detect]")
            with pg.expect_response(lambda r: r.url.endswith("/ocr") and r.request.method == "POST") as info:
                upload(pg, png(render_code_line(CODE_TEXT)))
            assert info.value.status == 200 and info.value.request.headers["authorization"] == f"Bearer {token}"
            wait_for_result(pg)
            assert pg.locator("#lines li .text").all_inner_texts() == [CODE_TEXT]
            pg.reload()  # kept: not asked again
            pg.wait_for_function("() => document.querySelector('#history-total').textContent.includes('1 results')")
            assert pg.is_hidden("#key-dialog")
            shot(pg, "api_key_kept")
            pg.click("#forget-key")
            assert pg.evaluate("localStorage.getItem('crnn-ocr-api-key')") is None
            assert pg.is_hidden("#forget-key")
        finally:
            context.close()
    assert script_errors == []


def test_a_call_refused_before_a_key_was_given_tries_that_key_before_asking(
    browser, tiny_model_path: Path, tmp_path: Path
) -> None:
    """A call sent without a key whose 401 comes back after a (wrong) key was given in the dialog
    sends that key first: the dialog that opens next says the key was not accepted, not that the
    server needs one (the 401s of the page's first calls arrive in any order)."""
    from crnn_ocr.server.auth import KeyStore

    store = tmp_path / "store.sqlite3"
    keys = KeyStore(store)
    keys.create("browser")
    keys.close()
    settings = ServerSettings(port=free_port(), model_path=str(tiny_model_path), threads=1, store_path=store)
    with ServerThread(settings) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        held: list = []  # the API calls made while the route below holds them, in order
        released: list[bool] = []  # once not empty, the route lets every call through
        try:
            pg.goto(server.url + "/")
            pg.wait_for_selector("#key-dialog[open]")
            pg.route("**/api/v1/**", lambda route: route.continue_() if released else held.append(route))
            pg.evaluate("() => { import('/static/api.js').then((api) => api.listModels().catch(() => {})); }")
            while not held:
                pg.wait_for_timeout(20)
            late = held.pop(0)
            assert "authorization" not in late.request.headers
            pg.fill("#key-dialog input[name=key]", "crnn_0_wrong")
            pg.click("#key-dialog button[value=save]")
            pg.wait_for_selector("#key-dialog", state="hidden")
            sent = len(held)
            late.fulfill(status=401, json={"error": {"code": "unauthorized", "message": "needs a key"}})
            deadline = time.monotonic() + 10
            while len(held) == sent and not pg.is_visible("#key-dialog") and time.monotonic() < deadline:
                pg.wait_for_timeout(20)
            assert pg.is_hidden("#key-dialog"), pg.inner_text("#key-reason")  # not asked: sent again
            retried = held[sent]
            assert retried.request.headers["authorization"] == "Bearer crnn_0_wrong"
            released.append(True)
            for route in held:
                route.continue_()
            pg.wait_for_selector("#key-dialog[open]")
            pg.wait_for_function("() => document.querySelector('#key-reason').textContent.includes('not accepted')")
        finally:
            context.close()
