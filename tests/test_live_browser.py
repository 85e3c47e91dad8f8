"""The Live panel in headless Chromium: a generated y4m video of scrolling zh + en text played by
Chromium's fake camera, streamed by the page to ``WS /api/v1/stream`` on the shipped model, read
into the transcript."""

from __future__ import annotations

from pathlib import Path

import pytest
from render import SCROLL_LINES, scrolling_text_frames
from test_server_browser import CHROMIUM, CHROMIUM_ARGS, ServerThread, free_port, playwright_sync, shot

from crnn_ocr.server import ServerSettings
from crnn_ocr.y4m import Y4MWriter

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed (apt install chromium)"),
]

FPS = 4
HOLD_S = 3.0  # each view of the page held this long: a few frames read even on two busy cores


def write_video(path: Path) -> Path:
    frames = scrolling_text_frames(SCROLL_LINES, width=640, height=360, fps=FPS, hold_s=HOLD_S)
    with path.open("wb") as f:
        writer = Y4MWriter(f, 640, 360, FPS)
        for frame in frames:
            writer.write(frame)
    return path


def test_live_camera_transcript(shipped_model: Path, tmp_path: Path) -> None:
    video = write_video(tmp_path / "scrolling.y4m")
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    settings = ServerSettings(port=free_port(), threads=2)  # the shipped model and detector
    with ServerThread(settings) as server, playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
        context.grant_permissions(["camera"], origin=server.url)
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.set_default_timeout(60_000)
        pg.goto(server.url + "/")
        pg.wait_for_selector("#model-status[data-state=ready]")
        # the options of the Read tab's form apply to the stream
        pg.select_option("select[name=decode]", "greedy")
        pg.uncheck("input[name=auto_orient]")  # upright text: no orientation search, a faster read
        assert not pg.is_visible("#live-heading")  # the Live tab is not the first one
        pg.click("#tabs [data-tab=live]")
        assert pg.inner_text("#live-heading") == "Live: camera or screen"
        pg.click("#live-camera")
        pg.wait_for_function("document.getElementById('live-video').videoWidth === 640")
        # Every line of the video in the transcript (the fake camera loops the video: a line may
        # come again after the loop, under a new id, and the first lines may come only then).
        pg.wait_for_function(
            """expected => {
                const read = new Set([...document.querySelectorAll('#live-transcript li .text')].map((e) => e.textContent));
                return expected.every((line) => read.has(line));
            }""",
            arg=list(SCROLL_LINES), timeout=120_000,
        )
        pg.wait_for_selector("#live-overlay polygon")
        shot(pg, "live_camera")
        assert pg.is_enabled("#live-pause") and pg.is_enabled("#live-copy")
        status = pg.inner_text("#live-status")
        assert "frames/s" in status and "latency" in status
        pg.click("#live-pause")
        assert pg.inner_text("#live-pause") == "Resume" and pg.inner_text("#live-status") == "Paused."
        transcript = pg.locator("#live-transcript li .text").all_inner_texts()
        assert set(transcript) == set(SCROLL_LINES)  # each line read exactly, and nothing else
        with pg.expect_download() as download:
            pg.click("#live-download")
        saved = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
        assert saved == transcript
        pg.click("#lang-toggle")
        assert pg.inner_text("#live-pause") == "继续" and pg.inner_text("#live-copy") == "复制全文"
        assert pg.inner_text("#live-heading") == "实时：摄像头或屏幕"
        pg.click("#live-stop")
        pg.wait_for_function("document.getElementById('live-status').textContent.startsWith('已停止')")
        assert pg.is_disabled("#live-pause")
        context.close()
        browser.close()
    assert errors == []
