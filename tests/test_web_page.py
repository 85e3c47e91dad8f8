"""The web page a daily user keeps, in headless Chromium at 1400 px and 390 px wide, in English and
Chinese: the layout holds (no sideways scrolling, no clipped fieldset, results before the options
on a narrow screen, every string translated), history, batch, the viewer's zoom/pan and
before/after split, URL input, model choice and live progress (Server-Sent Events).

Each test runs in the four views; every check of the layout also writes a screenshot to
artifacts/browser/ (``<view>-<width>-<lang>.png``). The server reads with two tiny models
(``tiny_a`` its own, ``tiny_b`` the same model with its charset reversed) and fetches image URLs
from a loopback server it is allowed to reach.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from inputs_support import LINE_PNG, TEXT, TEXT_B, ImageServer, png, two_model_dir
from pdfs import image_pdf
from test_server_browser import ARTIFACTS, CHROMIUM, ServerThread, free_port
from test_server_browser import browser  # noqa: F401  (the module's Chromium, a fixture)
from tiny_model import render_code_line

from crnn_ocr.server import ServerSettings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt install chromium)"),
]
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

VIEWS = [(1400, "en"), (1400, "zh"), (390, "en"), (390, "zh")]
HEIGHTS = {1400: 900, 390: 844}
#: Latin words that stay as they are in the Chinese page (names, formats, the user's own data).
KEEP_IN_CHINESE = {
    "CRNN", "OCR", "API", "PDF", "PNG", "JPEG", "BMP", "TIFF", "WebP", "JSON", "hOCR", "ALTO", "Ctrl",
    "CLAHE", "dpi", "https", "image", "png", "plate", "date", "amount", "regex", "crnn", "keys", "create",
    "ms", "px", "KB", "MB", "English", "PaddleOCR", "Tab", "Esc", "Shift",
}


@contextlib.contextmanager
def env(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def images() -> Iterator[ImageServer]:
    server = ImageServer()
    yield server
    server.server.shutdown()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> Iterator[ServerThread]:
    """The server on tiny_a with tiny_b in its manifest, image URLs from 127.0.0.1, the cache on."""
    folder = two_model_dir(tmp_path_factory.mktemp("web_models"), tiny_model_path)
    settings = ServerSettings(
        port=free_port(), model_path=str(folder / "tiny_a.onnx"), threads=1, cache=True,
        url_allowed_hosts=["127.0.0.1"], store_path=str(tmp_path_factory.mktemp("web_store") / "store.sqlite3"),
    )
    # Models load at start-up (tiny_a) and on first use (tiny_b): the manifest folder, and no
    # character LM (the shipped one is for the shipped charset), for the module's whole run.
    with env(CRNN_OCR_MODEL_DIR=str(folder), CRNN_OCR_LM="none"), ServerThread(settings) as server:
        yield server


@pytest.fixture(scope="module")
def idle_site(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A server with no job workers: its jobs stay queued until cancelled."""
    settings = ServerSettings(
        port=free_port(), model_path=str(tiny_model_path), threads=1, job_workers=0,
        store_path=str(tmp_path_factory.mktemp("idle_store") / "store.sqlite3"),
    )
    with env(CRNN_OCR_MODEL_DIR=str(tiny_model_path.parent), CRNN_OCR_LM="none"), ServerThread(settings) as server:
        yield server


class View:
    """A page at one width in one language, recording the API requests it sends."""

    def __init__(self, browser, width: int, lang: str) -> None:
        self.width, self.lang = width, lang
        self.context = browser.new_context(
            viewport={"width": width, "height": HEIGHTS[width]}, locale="zh-CN" if lang == "zh" else "en-US"
        )
        self.context.add_init_script(f"localStorage.setItem('crnn-ocr-lang', '{lang}')")
        self.pg = self.context.new_page()
        self.pg.set_default_timeout(30_000)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.pg.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.pg.on("request", lambda r: self.requests.append(f"{r.method} {r.url}"))

    def open(self, server: ServerThread) -> object:
        self.pg.goto(server.url + "/")
        self.pg.wait_for_selector("#model-status[data-state=ready]")
        return self.pg

    def tr(self, key: str, **params: object) -> str:
        """The page's own translation of ``key`` (i18n.js)."""
        return self.pg.evaluate("async ([k, p]) => (await import('/static/i18n.js')).t(k, p)", [key, params])

    def check_layout(self, name: str) -> None:
        """No sideways scrolling, no fieldset or label running out of its box, no label squeezed to
        a character per line, every visible string translated; then a screenshot."""
        problems = self.pg.evaluate(LAYOUT_PROBLEMS)
        assert problems["overflow"] <= 0, f"{name}: the page scrolls sideways by {problems['overflow']} px"
        assert problems["clipped"] == [], f"{name}: clipped: {problems['clipped']}"
        assert problems["squeezed"] == [], f"{name}: squeezed labels: {problems['squeezed']}"
        assert problems["untranslated"] == [], f"{name}: keys without a translation: {problems['untranslated']}"
        if self.lang == "zh":
            words = set(re.findall(r"[A-Za-z][A-Za-z_]{1,}", self.pg.evaluate(PAGE_TEXT)))
            assert words <= KEEP_IN_CHINESE, f"{name}: English left in the Chinese page: {words - KEEP_IN_CHINESE}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.pg.screenshot(path=str(ARTIFACTS / f"{name}-{self.width}-{self.lang}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.errors == []


#: The page's own visible text: without what the user brought (file names, the text read, model
#: names, ids), which stays in its language.
PAGE_TEXT = """() => {
  const copy = document.body.cloneNode(true);
  const user = '#lines, #all-text, #file-name, #model-status, #model-select, #model-used, #batch-table td.name,'
    + ' #batch-table td.text .snippet, #history-list .htext, #history-list .meta, #job-list, #batch-status, #timing,'
    + ' #dataset-list .name';
  copy.querySelectorAll(user + ', [hidden], script, style').forEach((el) => el.remove());
  document.body.appendChild(copy);
  copy.style.position = 'absolute';
  const text = copy.innerText;
  copy.remove();
  return text;
}"""

LAYOUT_PROBLEMS = """async () => {
  const { STRINGS, language } = await import('/static/i18n.js');
  const visible = (el) => el.offsetParent !== null && el.getClientRects().length > 0;
  const clipped = [], squeezed = [];
  for (const fs of document.querySelectorAll('fieldset')) {
    if (!visible(fs)) continue;
    const box = fs.getBoundingClientRect();
    const panel = fs.closest('.panel').getBoundingClientRect();
    const name = fs.querySelector('legend')?.textContent;
    if (box.right > panel.right + 0.5 || box.left < panel.left - 0.5 || fs.scrollWidth > fs.clientWidth + 1)
      clipped.push(`fieldset ${name}`);
    for (const el of fs.querySelectorAll('label, label > span, select, input, output')) {
      if (!visible(el)) continue;
      const r = el.getBoundingClientRect();
      if (r.right > box.right + 0.5 || r.left < box.left - 0.5) clipped.push(`${name}: ${el.textContent || el.name}`);
      if (el.tagName === 'SPAN') {
        if (el.scrollWidth > el.clientWidth + 1) clipped.push(`${name}: ${el.textContent}`);
        const size = parseFloat(getComputedStyle(el).fontSize);
        if (el.textContent.trim().length > 2 && r.width < 2.5 * size) squeezed.push(el.textContent);
      }
    }
  }
  for (const panel of document.querySelectorAll('.panel')) {
    if (!visible(panel)) continue;
    const r = panel.getBoundingClientRect();
    if (r.right > window.innerWidth + 0.5) clipped.push(`panel ${panel.className}`);
  }
  const keys = [...document.querySelectorAll('[data-i18n]')].map((el) => el.dataset.i18n);
  const untranslated = [...new Set(keys)].filter((k) => !(k in STRINGS[language()]));
  return {overflow: document.documentElement.scrollWidth - window.innerWidth, clipped, squeezed, untranslated};
}"""


@pytest.fixture(params=VIEWS, ids=[f"{w}-{lang}" for w, lang in VIEWS])
def view(request, browser) -> Iterator[View]:
    v = View(browser, *request.param)
    yield v
    v.close()


def upload(pg, data: bytes, name: str = "line.png", mime: str = "image/png") -> None:
    pg.set_input_files("#file-input", files=[{"name": name, "mimeType": mime, "buffer": data}])


def wait_for_text(pg, text: str) -> None:
    pg.wait_for_function("(t) => [...document.querySelectorAll('#lines li .text')].some((e) => e.textContent === t)", arg=text)
    pg.wait_for_selector("#progress", state="hidden")


def read_line(pg, text: str) -> None:
    """Upload one code line (the whole image as one line) and wait until it is read."""
    upload(pg, png(render_code_line(text)), f"{text}.png")
    wait_for_text(pg, text)


def top(pg, selector: str) -> float:
    return pg.locator(selector).bounding_box()["y"]


# ---- 1, 5, 6: layout, URL input, model choice --------------------------------------------------


def test_read_tab_layout_url_input_and_model_choice(view: View, site: ServerThread, images: ImageServer) -> None:
    pg = view.open(site)
    view.check_layout("read-empty")
    pg.uncheck("input[name=detect]")
    pg.uncheck("input[name=auto_orient]")
    read_line(pg, TEXT)
    if view.width < 1000:  # narrow: the image and its text come before the options
        assert top(pg, ".viewer-panel") < top(pg, ".result-panel") < top(pg, ".options-panel")
        assert top(pg, ".input-panel") < top(pg, ".viewer-panel")
    else:  # wide: three columns side by side
        assert top(pg, ".viewer-panel") == pytest.approx(top(pg, ".input-panel"), abs=2)
        assert pg.locator(".viewer-panel").bounding_box()["x"] > pg.locator(".options-panel").bounding_box()["x"]
    assert view.tr("read_with", name="tiny_a 0.0.1") in pg.inner_text("#model-used")
    view.check_layout("read-result")

    # The model menu lists the manifest's models; tiny_b reads the same image differently.
    options = pg.locator("#model-select option").all_inner_texts()
    assert options == [view.tr("model_default", name="tiny_a", version="0.0.1"), view.tr("model_option", name="tiny_b", version="0.0.2")]
    with pg.expect_response(lambda r: r.url.endswith("/ocr")) as info:
        pg.select_option("#model-select", "tiny_b")
    assert info.value.json()["model"]["name"] == "tiny_b"
    wait_for_text(pg, TEXT_B)
    assert "tiny_b" in pg.inner_text("#model-used")
    # Back to the default: the same image and options were read before, so it comes from the cache.
    with pg.expect_response(lambda r: r.url.endswith("/ocr")) as info:
        pg.select_option("#model-select", "")
    assert info.value.json()["cached"] is True
    wait_for_text(pg, TEXT)
    assert pg.is_visible("#cached-badge") and pg.inner_text("#cached-badge") == view.tr("from_cache")

    # An image URL: the server fetches it (loopback is allow-listed here); an inner address is refused.
    pg.fill("#image-url", f"{images.url}/line.png")
    with pg.expect_response(lambda r: r.url.endswith("/ocr")) as info:
        pg.click("#url-form button[type=submit]")
    assert info.value.status == 200
    wait_for_text(pg, TEXT)
    assert pg.get_attribute("#view-image", "src").startswith("data:image/png;base64,")  # the server's copy
    pg.fill("#image-url", "http://10.0.0.1/secret.png")
    pg.click("#url-form button[type=submit]")
    pg.wait_for_selector("#error", state="visible")
    assert pg.inner_text("#error-title") == view.tr("err_url_refused")
    view.check_layout("read-url-error")
    assert httpx.get(f"{site.url}/favicon.ico").status_code == 200


# ---- 4: zoom, pan, before/after ----------------------------------------------------------------


def test_viewer_zooms_pans_and_splits_before_after(view: View, site: ServerThread) -> None:
    pg = view.open(site)
    pg.uncheck("input[name=detect]")
    read_line(pg, TEXT)
    width = lambda: pg.evaluate("document.querySelector('#view-image').getBoundingClientRect().width")  # noqa: E731
    fitted = width()
    for _ in range(4):
        pg.click("#zoom-in")
    assert width() == pytest.approx(fitted * 1.25**4, rel=0.02)
    natural = pg.evaluate("document.querySelector('#view-image').naturalWidth")
    assert pg.inner_text("#zoom-label") == f"{round(fitted / natural * 1.25**4 * 100)}%"
    # Drag to pan the zoomed image inside its viewport; the page itself never scrolls sideways.
    box = pg.locator("#viewport").bounding_box()
    pg.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + 10)
    pg.mouse.down()
    pg.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + 10, steps=5)
    pg.mouse.up()
    assert pg.evaluate("document.querySelector('#viewport').scrollLeft") > 0
    view.check_layout("viewer-zoomed")
    pg.click("#zoom-fit")
    assert width() == pytest.approx(fitted, rel=0.02)

    # Before/after: the split shows the preprocessed page from /api/v1/preprocess; while comparing,
    # a preprocessing step updates only that view (no OCR request) until Recognise is pressed.
    with pg.expect_response(lambda r: "/api/v1/preprocess" in r.url) as info:
        pg.check("#compare")
    assert info.value.status == 200 and info.value.headers["content-type"] == "image/png"
    reads = sum(1 for r in view.requests if r.endswith("/ocr"))
    with pg.expect_response(lambda r: "/api/v1/preprocess" in r.url) as info:
        pg.check("input[name=binarize]")
    assert "binarize" in info.value.headers["x-preprocessing"]
    pg.wait_for_function("() => document.querySelector('#split-image').dataset.steps.includes('binarize')")
    assert sum(1 for r in view.requests if r.endswith("/ocr")) == reads
    assert pg.is_visible("#options-note") and pg.inner_text("#options-note") == view.tr("options_changed")
    pg.evaluate("() => { const s = document.querySelector('#split-slider'); s.value = 30; s.dispatchEvent(new Event('input')); }")
    assert "30%" in pg.get_attribute("#split", "style")
    view.check_layout("viewer-compare")
    with pg.expect_response(lambda r: r.url.endswith("/ocr")) as info:
        pg.click("#run")
    assert info.value.json()["preprocessing"][-1] == "binarize"
    pg.wait_for_selector("#options-note", state="hidden")


# ---- 2: history --------------------------------------------------------------------------------


def test_history_is_live_collapsed_searchable_paged_and_reopens(view: View, site: ServerThread) -> None:
    pg = view.open(site)
    pg.uncheck("input[name=detect]")
    mark = {"1400-en": "7ab中", "1400-zh": "8ab中", "390-en": "9ab中", "390-zh": "6ab中"}[f"{view.width}-{view.lang}"]
    read_line(pg, mark)
    pg.click("#tabs [data-tab=history]")
    # Live: the read is listed without reloading, newest first.
    pg.wait_for_function("(m) => document.querySelector('#history-list li .htext')?.textContent === m", arg=mark)
    # Entries from elsewhere (the API), enough for two pages of 10.
    for n in range(11):
        body = {"image_base64": base64.b64encode(png(render_code_line(f"{mark}{n}"))).decode(),
                "options": {"detect": False}}
        assert httpx.post(f"{site.url}/api/v1/ocr", json=body, timeout=30).status_code == 200
    # Search ignores case (the text has "ab"), finds Chinese substrings, pages through the hits.
    pg.fill("#history-search input[name=q]", mark.upper())
    pg.click("#history-search button[type=submit]")
    pg.wait_for_function("(t) => document.querySelector('#history-total').textContent === t",
                         arg=view.tr("history_total", total=12))
    assert pg.locator("#history-list li").count() == 10
    assert pg.inner_text("#history-page") == view.tr("history_page", page=1, pages=2)
    heights = [pg.locator("#history-list li").nth(i).bounding_box()["height"] for i in range(10)]
    assert max(heights) < 80  # collapsed: one line of text each
    view.check_layout("history")
    pg.click("#history-next")
    pg.wait_for_function("(t) => document.querySelector('#history-page').textContent === t",
                         arg=view.tr("history_page", page=2, pages=2))
    assert pg.locator("#history-list li .htext").all_inner_texts() == [f"{mark}0", mark]
    # Reopen it: the Read tab shows its text and boxes over its image (this browser read it).
    pg.click("#history-list li:last-child button.open")
    pg.wait_for_selector("#read:not([hidden])")
    wait_for_text(pg, mark)
    assert pg.locator("#overlay polygon").count() == 1
    assert pg.get_attribute("#view-image", "src").startswith("blob:") and pg.is_hidden("#view-note")
    # An entry read elsewhere reopens with its boxes on a blank page, and says so.
    pg.click("#tabs [data-tab=history]")
    pg.fill("#history-search input[name=q]", f"{mark}0".upper())
    pg.click("#history-search button[type=submit]")
    pg.wait_for_function("(t) => document.querySelector('#history-total').textContent === t",
                         arg=view.tr("history_total", total=1))
    pg.click("#history-list li button.open")
    wait_for_text(pg, f"{mark}0")
    assert pg.is_visible("#view-note") and pg.inner_text("#view-note") == view.tr("no_image_kept")
    view.check_layout("history-reopened")


# ---- 3, 7: batch, earlier jobs, live progress --------------------------------------------------


def test_batch_rows_open_in_the_viewer_with_pdf_pages_apart(view: View, site: ServerThread) -> None:
    pg = view.open(site)
    pg.uncheck("input[name=detect]")
    pg.click("#tabs [data-tab=batch]")
    pdf = image_pdf([render_code_line("0123"), render_code_line("ab中文")], dpi=72)
    pg.set_input_files("#batch-input", files=[
        {"name": "one.png", "mimeType": "image/png", "buffer": LINE_PNG},
        {"name": "two pages.pdf", "mimeType": "application/pdf", "buffer": pdf},
        {"name": "broken.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\nbroken"},
    ])
    pg.wait_for_selector("#batch-json:not([disabled])")
    assert any("/events" in r for r in view.requests)  # progress came as Server-Sent Events
    rows = pg.locator("#batch-table tbody tr")
    assert [rows.nth(i).get_attribute("data-status") for i in range(3)] == ["done", "done", "failed"]
    assert pg.locator("#batch-table tr[data-index='1'] .pages").inner_text() == view.tr("n_pages", n=2)
    assert pg.locator("#batch-table tr[data-index='2'] td.text").inner_text() == view.tr("err_corrupt_image")
    assert max(rows.nth(i).bounding_box()["height"] for i in range(3)) < 90  # collapsed rows
    current = pg.locator("#job-list li.current")
    current.wait_for()
    assert view.tr("st_completed") in current.inner_text()
    view.check_layout("batch")

    # The PDF opens in the viewer, its pages apart.
    pg.click("#batch-table tr[data-index='1'] button.open")
    wait_for_text(pg, "0123")
    assert pg.inner_text("#page-label") == view.tr("page_of", i=1, n=2)
    pg.click("#next-page")
    wait_for_text(pg, "ab中文")
    # An image opens over the file the browser still has.
    pg.click("#tabs [data-tab=batch]")
    pg.click("#batch-table tr[data-index='0'] button.open")
    wait_for_text(pg, TEXT)
    assert pg.get_attribute("#view-image", "src").startswith("blob:")
    view.check_layout("batch-opened")

    # Delete the finished job: it leaves the list of earlier jobs.
    pg.click("#tabs [data-tab=batch]")
    job_id = current.get_attribute("data-id")
    pg.click(f"#job-list li[data-id='{job_id}'] button.delete")
    pg.wait_for_selector(f"#job-list li[data-id='{job_id}']", state="detached")


def test_a_long_pdf_reports_its_pages_as_they_are_read(view: View, site: ServerThread) -> None:
    pg = view.open(site)
    pg.uncheck("input[name=detect]")
    texts = ["0123", "ab中文", "4567"]
    with pg.expect_response(lambda r: r.url.endswith("/api/v1/ocr/stream")) as info:
        upload(pg, image_pdf([render_code_line(t) for t in texts], dpi=72), "three.pdf", "application/pdf")
    assert info.value.headers["content-type"].startswith("text/event-stream")
    wait_for_text(pg, "0123")
    assert pg.inner_text("#page-label") == view.tr("page_of", i=1, n=3)
    assert pg.input_value("#all-text") == "\n\n".join(texts)
    view.check_layout("pdf-streamed")


def test_earlier_jobs_are_listed_with_their_state_and_can_be_cancelled(view: View, idle_site: ServerThread) -> None:
    body = {"images": [{"image_base64": base64.b64encode(LINE_PNG).decode(), "name": "waiting.png"}]}
    job = httpx.post(f"{idle_site.url}/api/v1/jobs", json=body, timeout=30).json()
    pg = view.open(idle_site)
    pg.click("#tabs [data-tab=batch]")
    row = pg.locator(f"#job-list li[data-id='{job['id']}']")
    row.wait_for()
    assert view.tr("st_pending") in row.inner_text()
    view.check_layout("jobs-list")
    row.locator("button.cancel").click()
    pg.wait_for_function("(id) => document.querySelector(`#job-list li[data-id='${id}']`)?.dataset.status === 'cancelled'",
                         arg=job["id"])
    assert view.tr("st_cancelled") in row.inner_text()
    row.locator("button.delete").click()
    row.wait_for(state="detached")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_tab_holds_at_360_px(browser, site: ServerThread, lang: str) -> None:
    """The narrowest width the page is made for: every tab, with content, in both languages."""
    HEIGHTS.setdefault(360, 740)
    height, width = cv2.imdecode(np.frombuffer(LINE_PNG, np.uint8), cv2.IMREAD_GRAYSCALE).shape
    correction = {"dataset": f"narrow-{lang}", "image_base64": base64.b64encode(LINE_PNG).decode(),
                  "lines": [{"box": [[0, 0], [width, 0], [width, height], [0, height]], "text": TEXT}]}
    assert httpx.post(f"{site.url}/api/v1/corrections", json=correction, timeout=30).status_code == 201
    v = View(browser, 360, lang)
    try:
        pg = v.open(site)
        pg.uncheck("input[name=detect]")
        read_line(pg, TEXT)
        v.check_layout("narrowest-read")
        for tab in ("batch", "history", "datasets"):
            pg.click(f"#tabs [data-tab={tab}]")
            pg.wait_for_selector(f"#{tab}:not([hidden])")
            if tab == "datasets":
                pg.wait_for_selector(f"#dataset-list li[data-name='narrow-{lang}']")
            v.check_layout(f"narrowest-{tab}")
    finally:
        v.close()
