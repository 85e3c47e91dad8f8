"""Correcting lines in the web page, in headless Chromium against a real server reading with the
shipped model: a line corrected with the keyboard only lands in the exported labels; Enter goes on
to the next unsure line, Tab to the next line, Escape stores nothing; without the opt-in no image
is kept; a box drawn where the detector missed a line (mouse and keyboard); the Datasets tab.

Every test names its own dataset in the module's store (a temporary folder). Saves are checked
where they happen: the POST /api/v1/corrections the page sends, and the datasets the API then holds.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from render import render_page, to_png_bytes
from test_server_browser import ARTIFACTS, CHROMIUM, ServerThread, free_port
from test_server_browser import browser  # noqa: F401  (the module's Chromium, a fixture)

from crnn_ocr.server import ServerSettings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt install chromium)"),
]
pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

PAGE_LINES = ["Invoice number 2024-0042", "Total amount due 1,234.50", "Thank you for your order"]
CORRECTED = "Total amount due 1,234.56 EUR"
CORRECTIONS = "/api/v1/corrections"


@pytest.fixture(scope="module")
def server(shipped_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """The real server with the shipped model (no model_path: the manifest's default) and its own store."""
    settings = ServerSettings(
        port=free_port(), threads=2, store_path=str(tmp_path_factory.mktemp("correct_store") / "store.sqlite3")
    )
    with ServerThread(settings) as running:
        yield running


@pytest.fixture(scope="module")
def page_png() -> bytes:
    doc, _ = render_page(PAGE_LINES)
    return to_png_bytes(doc)


@pytest.fixture()
def page(browser, server: ServerThread):  # noqa: F811
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    pg = context.new_page()
    script_errors: list[str] = []
    pg.on("pageerror", lambda exc: script_errors.append(str(exc)))
    pg.set_default_timeout(60_000)
    pg.goto(server.url + "/")
    pg.wait_for_selector("#model-status[data-state=ready]")
    yield pg
    context.close()
    assert script_errors == []


def use_dataset(pg, name: str) -> None:
    """Name the dataset with the keyboard (the field keeps it once it changes)."""
    pg.focus("#dataset-name")
    pg.keyboard.press("Control+A")
    pg.keyboard.type(name)
    pg.keyboard.press("Tab")
    assert pg.evaluate("localStorage.getItem('crnn-ocr-dataset')") == name


def read_page(pg, data: bytes) -> list[dict]:
    """Upload the page; the lines the server answered, once the page shows them."""
    with pg.expect_response(lambda r: r.url.endswith("/ocr") and r.request.method == "POST") as info:
        pg.set_input_files("#file-input", files=[{"name": "page.png", "mimeType": "image/png", "buffer": data}])
    body = info.value.json()
    lines = body["pages"][0]["lines"] if body.get("pages") else body["lines"]
    pg.wait_for_function("(n) => document.querySelectorAll('#lines li').length === n", arg=len(lines))
    pg.wait_for_selector("#progress", state="hidden")
    assert len(lines) == len(PAGE_LINES)
    return lines


def active(pg, selector: str) -> bool:
    return pg.evaluate("(s) => document.activeElement.matches(s)", selector)


def field(index: int | str) -> str:
    return f"#lines li[data-index='{index}'] input.edit-line"


def line_button(index: int) -> str:
    return f"#lines li[data-index='{index}'] > button"


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rec_labels(files: dict[str, bytes]) -> list[str]:
    """The texts of the exported recognition labels (train and held-out), with their crops present."""
    texts = []
    for side in ("train", "heldout"):
        for row in files[f"rec/{side}/labels.tsv"].decode().splitlines():
            path, text = row.split("\t", 1)
            assert files[f"rec/{side}/{path}"].startswith(b"\x89PNG")
            texts.append(text)
    return texts


def stored_lines(server: ServerThread, dataset: str) -> list[dict]:
    res = httpx.get(f"{server.url}/api/v1/datasets/{dataset}/lines", timeout=30)
    assert res.status_code == 200, res.text
    return res.json()["lines"]


def dataset_names(server: ServerThread) -> list[str]:
    return [d["name"] for d in httpx.get(f"{server.url}/api/v1/datasets", timeout=30).json()["datasets"]]


def test_correct_a_line_with_the_keyboard_and_find_it_in_the_export(server: ServerThread, page, page_png: bytes) -> None:
    pg = page
    assert not pg.is_checked("#keep-training-data")  # off until chosen
    pg.focus("#keep-training-data")
    pg.keyboard.press("Space")
    assert pg.evaluate("localStorage.getItem('crnn-ocr-keep-training-data')") == "true"
    use_dataset(pg, "keyboard")
    lines = read_page(pg, page_png)

    # Focus the second line, Enter: its text becomes a field holding what the model read.
    pg.focus(line_button(1))
    pg.keyboard.press("Enter")
    assert active(pg, field(1))
    assert pg.input_value(field(1)) == lines[1]["text"]
    with pg.expect_response(lambda r: r.url.endswith(CORRECTIONS)) as info:
        pg.keyboard.press("Control+A")
        pg.keyboard.type(CORRECTED)
        pg.keyboard.press("Enter")
    assert info.value.status == 201
    sent = info.value.request.post_data_json
    assert sent["dataset"] == "keyboard" and sent["keep_training_data"] is True
    assert base64.b64decode(sent["image_base64"]) == page_png  # the file itself: the boxes are in its pixels
    assert sent["lines"] == [{"box": lines[1]["box"], "text": CORRECTED, "original_text": lines[1]["text"],
                              "confidence": lines[1]["confidence"]}]
    answer = info.value.json()
    assert answer["page_image_kept"] is True and answer["lines"][0]["crop_kept"] is True
    pg.wait_for_selector("#lines li[data-index='1'].corrected")
    assert pg.inner_text("#lines li[data-index='1'] .text") == CORRECTED
    assert pg.locator("#overlay polygon.corrected").count() == 1
    assert pg.inner_text("#correct-status") == "Saved to the dataset “keyboard” with the line image."
    # "All text" (what Copy copies) reads as corrected: the corrected line in place of the one read
    assert pg.input_value("#all-text").split("\n") == [lines[0]["text"], CORRECTED, *[ln["text"] for ln in lines[2:]]]

    # Enter went on to the next line read with less than 90 % confidence, or stayed on this one.
    unsure = [i for i in (2, 0) if lines[i]["confidence"] < 0.9]
    if unsure:
        assert active(pg, field(unsure[0]))
        pg.keyboard.press("Escape")
        assert active(pg, line_button(unsure[0]))
    else:
        assert active(pg, line_button(1))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "corrected_line.png"), full_page=True)

    # The exported labels hold the corrected text exactly, with its crop, and the page's Label.txt.
    res = httpx.get(f"{server.url}/api/v1/datasets/keyboard/export", timeout=60)
    assert res.status_code == 200 and res.headers["x-lines-without-crop"] == "0"
    files = unzip(res.content)
    assert rec_labels(files) == [CORRECTED]
    path, entries = files["det/pages/Label.txt"].decode().strip().split("\t", 1)
    assert [e["transcription"] for e in json.loads(entries)] == [CORRECTED]
    assert files[f"det/{path}"].startswith(b"\x89PNG")


def route_confidences(pg, confidences: list[float]) -> None:
    """The page receives the server's answer with these confidences (the lines the server found,
    its texts and boxes unchanged), so that which lines are unsure does not depend on the model."""

    def handle(route) -> None:
        response = route.fetch()
        body = response.json()
        for page in body.get("pages") or [body]:
            for line, confidence in zip(page["lines"], confidences, strict=True):
                line["confidence"] = confidence
        body["lines"] = body["pages"][0]["lines"] if body.get("pages") else body["lines"]
        route.fulfill(response=response, json=body)

    pg.route("**/ocr", handle)


def test_enter_goes_to_the_next_unsure_line_tab_to_the_next_escape_stores_nothing(
    server: ServerThread, page, page_png: bytes
) -> None:
    pg = page
    sent: list[dict] = []
    pg.on("request", lambda r: sent.append(r.post_data_json) if r.url.endswith(CORRECTIONS) else None)
    use_dataset(pg, "review")
    route_confidences(pg, [0.5, 0.95, 0.5])
    lines = read_page(pg, page_png)
    assert [li["confidence"] for li in lines] == [0.5, 0.95, 0.5]

    # Escape cancels: the field closes on the line's button, the text is as it was, nothing is sent.
    pg.focus(line_button(0))
    pg.keyboard.press("Enter")
    pg.keyboard.type("not this")
    pg.keyboard.press("Escape")
    assert active(pg, line_button(0)) and pg.locator("#lines input.edit-line").count() == 0
    assert pg.inner_text("#lines li[data-index='0'] .text") == lines[0]["text"]
    assert sent == [] and "review" not in dataset_names(server)

    # Enter on an unchanged line confirms what was read, and opens the next unsure line (skips line 1).
    pg.keyboard.press("Enter")
    with pg.expect_response(lambda r: r.url.endswith(CORRECTIONS)):
        pg.keyboard.press("Enter")
    assert active(pg, field(2))
    pg.keyboard.press("Escape")
    assert active(pg, line_button(2))

    # Tab saves and opens the next line, whatever its confidence; the page's image went only once.
    pg.focus(line_button(1))
    pg.keyboard.press("Enter")
    with pg.expect_response(lambda r: r.url.endswith(CORRECTIONS)):
        pg.keyboard.type("Total 1")
        pg.keyboard.press("Tab")
    assert active(pg, field(2))
    with pg.expect_response(lambda r: r.url.endswith(CORRECTIONS)):
        pg.keyboard.type("Thanks 2")
        pg.keyboard.press("Enter")
    assert active(pg, line_button(2))  # no unsure line left to correct
    pg.wait_for_function("() => document.querySelectorAll('#lines li.corrected').length === 3")

    assert [s["lines"][0]["text"] for s in sent] == [lines[0]["text"], "Total 1", "Thanks 2"]
    assert [("image_base64" in s, "page_sha256" in s) for s in sent] == [(True, False), (False, True), (False, True)]
    stored = {line["text"]: line for line in stored_lines(server, "review")}
    assert stored.keys() == {lines[0]["text"], "Total 1", "Thanks 2"}
    assert stored["Total 1"]["original_text"] == lines[1]["text"]
    assert not any(line["crop_kept"] for line in stored.values())


def test_without_the_opt_in_no_image_is_kept(server: ServerThread, page, page_png: bytes) -> None:
    pg = page
    assert pg.evaluate("localStorage.getItem('crnn-ocr-keep-training-data')") is None
    assert not pg.is_checked("#keep-training-data")
    assert "only with “Keep training data” on" in pg.inner_text("#teach")  # the page says what is kept
    use_dataset(pg, "no-images")
    lines = read_page(pg, page_png)
    pg.click("#lines li[data-index='0'] .text")  # a click on the text opens it too
    assert active(pg, field(0))
    with pg.expect_response(lambda r: r.url.endswith(CORRECTIONS)) as info:
        pg.keyboard.press("Control+A")
        pg.keyboard.type("Invoice no. 2024-0042")
        pg.keyboard.press("Enter")
    assert info.value.request.post_data_json["keep_training_data"] is False
    answer = info.value.json()
    assert answer["page_image_kept"] is False and answer["lines"][0]["crop_kept"] is False
    pg.wait_for_function("() => document.querySelector('#correct-status').textContent.length > 0")
    assert pg.inner_text("#correct-status") == "Saved to the dataset “no-images” (text and box)."

    [stored] = stored_lines(server, "no-images")
    assert stored["text"] == "Invoice no. 2024-0042" and stored["crop_kept"] is False
    assert stored["original_text"] == lines[0]["text"] and stored["box"] == lines[0]["box"]
    res = httpx.get(f"{server.url}/api/v1/datasets/no-images/export", timeout=60)
    assert res.headers["x-lines-without-crop"] == "1" and res.headers["x-pages"] == "0"
    files = unzip(res.content)
    assert not [name for name in files if name.endswith(".png")]
    assert rec_labels(files) == []


def test_draw_a_missed_line_with_the_mouse_and_with_the_keyboard(server: ServerThread, page, page_png: bytes) -> None:
    pg = page
    use_dataset(pg, "drawn")
    lines = read_page(pg, page_png)
    n = len(lines)
    size = pg.evaluate("() => { const v = document.querySelector('#overlay').viewBox.baseVal; return [v.width, v.height]; }")
    width, height = size

    # Mouse: drag over the second line's box (a little wider), type its text, Enter.
    xs = [x for x, _ in lines[1]["box"]]
    ys = [y for _, y in lines[1]["box"]]
    pg.click("#draw-box")
    assert pg.get_attribute("#draw-box", "aria-pressed") == "true" and pg.is_visible("#draw-hint")
    frame = pg.locator("#overlay").bounding_box()  # where the image is once the button was clicked
    scale = frame["width"] / width
    to_screen = lambda x, y: (frame["x"] + x * scale, frame["y"] + y * scale)  # noqa: E731
    pg.mouse.move(*to_screen(min(xs) - 4, min(ys) - 4))
    pg.mouse.down()
    pg.mouse.move(*to_screen(max(xs) + 4, max(ys) + 4), steps=6)
    pg.mouse.up()
    assert active(pg, "#lines li.new-line input.edit-line")
    with pg.expect_response(lambda r: r.url.endswith(CORRECTIONS)) as info:
        pg.keyboard.type("drawn by mouse")
        pg.keyboard.press("Enter")
    [line] = info.value.request.post_data_json["lines"]
    assert line["text"] == "drawn by mouse" and "original_text" not in line
    (x0, y0), (x1, _), (_, y1), _ = line["box"]
    tolerance = 1 / scale + 1  # a screen pixel, and the rounding to page pixels
    assert x0 == pytest.approx(min(xs) - 4, abs=tolerance) and x1 == pytest.approx(max(xs) + 4, abs=tolerance)
    assert y0 == pytest.approx(min(ys) - 4, abs=tolerance) and y1 == pytest.approx(max(ys) + 4, abs=tolerance)
    pg.wait_for_selector(f"#lines li[data-index='{n}'].corrected")
    assert pg.inner_text(f"#lines li[data-index='{n}'] .text") == "drawn by mouse"
    assert pg.locator("#overlay polygon").count() == n + 1
    assert pg.get_attribute("#draw-box", "aria-pressed") == "false"

    # Keyboard: a box in the middle of the page, moved right twice, made taller once, Enter.
    pg.focus("#draw-box")
    pg.keyboard.press("Enter")
    assert active(pg, "#viewport")
    pg.keyboard.press("ArrowRight")
    pg.keyboard.press("ArrowRight")
    pg.keyboard.press("Shift+ArrowDown")
    pg.keyboard.press("Enter")
    with pg.expect_response(lambda r: r.url.endswith(CORRECTIONS)) as info:
        pg.keyboard.type("drawn by keys")
        pg.keyboard.press("Enter")
    [line] = info.value.request.post_data_json["lines"]
    w = round(width * 0.4)
    h = max(4, min(round(height * 0.2), round(max(height / 20, 16))))
    x, y = round((width - w) / 2) + 2 * max(1, round(width / 100)), round((height - h) / 2)
    h += max(1, round(height / 100))
    assert line == {"box": [[x, y], [x + w, y], [x + w, y + h], [x, y + h]], "text": "drawn by keys"}
    pg.wait_for_selector(f"#lines li[data-index='{n + 1}'].corrected")
    assert active(pg, line_button(n + 1))
    assert {s["text"] for s in stored_lines(server, "drawn")} == {"drawn by mouse", "drawn by keys"}

    # Escape stops drawing: nothing is sent.
    pg.focus("#draw-box")
    pg.keyboard.press("Enter")
    pg.keyboard.press("Escape")
    assert pg.get_attribute("#draw-box", "aria-pressed") == "false" and active(pg, "#draw-box")
    assert pg.locator("#overlay polygon.draft").count() == 0
    assert len(stored_lines(server, "drawn")) == 2


def post_corrections(server: ServerThread, dataset: str, data: bytes, texts: list[str]) -> dict:
    """Corrected lines of a rendered page, sent as the web page sends them (with the opt-in)."""
    _, boxes = render_page(PAGE_LINES)
    lines = [{"box": [[x, y], [x + w, y], [x + w, y + h], [x, y + h]], "text": text}
             for (x, y, w, h), text in zip(boxes, texts)]
    body = {"dataset": dataset, "image_base64": base64.b64encode(data).decode(), "keep_training_data": True,
            "lines": lines}
    res = httpx.post(f"{server.url}{CORRECTIONS}", json=body, timeout=60)
    assert res.status_code == 201, res.text
    return res.json()


def test_the_datasets_tab_lists_exports_and_deletes(server: ServerThread, page, page_png: bytes, tmp_path: Path) -> None:
    pg = page
    post_corrections(server, "tab-a", page_png, PAGE_LINES[:2])
    post_corrections(server, "tab-b", page_png, PAGE_LINES[2:])
    summary = {d["name"]: d for d in httpx.get(f"{server.url}/api/v1/datasets", timeout=30).json()["datasets"]}
    pg.click("#tabs [data-tab=datasets]")
    item = pg.locator("#dataset-list li[data-name='tab-a']")
    item.wait_for()
    assert item.locator(".name").inner_text() == "tab-a"
    a = summary["tab-a"]
    assert item.locator(".meta").inner_text().startswith(
        f"lines: 2 · held out: {a['heldout']} · with their image: 2 · pages: 1 · "
    )
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / "datasets_tab.png"), full_page=True)

    with pg.expect_download() as info:
        item.locator("button.export").click()
    assert info.value.suggested_filename == "tab-a.zip"
    saved = tmp_path / "tab-a.zip"
    info.value.save_as(saved)
    assert sorted(rec_labels(unzip(saved.read_bytes()))) == sorted(PAGE_LINES[:2])

    # Delete asks first: dismissed, the dataset stays; accepted, it is gone (here and in the API).
    other = pg.locator("#dataset-list li[data-name='tab-b']")
    messages: list[str] = []
    pg.once("dialog", lambda d: (messages.append(d.message), d.dismiss()))
    other.locator("button.delete").click()
    assert messages == ["Delete the dataset “tab-b” (lines: 1)? This cannot be undone."]
    assert "tab-b" in dataset_names(server) and other.count() == 1
    pg.once("dialog", lambda d: d.accept())
    other.locator("button.delete").click()
    other.wait_for(state="detached")
    assert pg.inner_text("#datasets-status") == "Deleted the dataset “tab-b”."
    assert "tab-b" not in dataset_names(server) and "tab-a" in dataset_names(server)
