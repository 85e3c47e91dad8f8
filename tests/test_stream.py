"""Live streams: ``crnn_ocr.stream`` (change detection, line tracking, frame dropping), the
``WS /api/v1/stream`` endpoint over the tiny model, y4m frames, and ``crnn-ocr stream``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from tiny_model import render_code_line

from crnn_ocr import cli
from crnn_ocr.pipeline import OCR
from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.server.auth import KeyStore
from crnn_ocr.stream import (
    ChangeDetector,
    Frame,
    FrameSlot,
    LineTracker,
    StreamConfig,
    encode_frame,
    parse_frame,
)
from crnn_ocr.types import Box, Line
from crnn_ocr.y4m import Y4MWriter, read_frames

W, H = 480, 320


def screen(lines: list[tuple[str, int]], width: int = W, height: int = H) -> np.ndarray:
    """White frame with code lines (text, top row) the tiny model reads, left margin 40."""
    img = np.full((height, width), 255, np.uint8)
    for text, top in lines:
        row = render_code_line(text, scale=2)
        h, w = row.shape
        if 0 <= top and top + h <= height:
            img[top : top + h, 40 : 40 + w] = row
    return img


def png(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


def line(text: str, x: float, y: float, w: float = 200, h: float = 40, confidence: float = 0.9) -> Line:
    return Line(text, confidence, Box.from_rect(x, y, w, h))


# ---- the pieces, alone ------------------------------------------------------------------------


def test_the_slot_keeps_one_frame_and_counts_the_dropped() -> None:
    slot = FrameSlot()
    for i in range(100):
        slot.put(Frame(i, float(i), b"x" * 1000, 0.0))
    frame, dropped = slot.take()
    assert frame is not None and frame.frame_id == 99
    assert dropped == tuple(range(99)) and slot.dropped_total == 99
    assert slot.max_pending == 1 and slot.pending == 0
    assert slot.take() == (None, ())
    slot.close()
    assert slot.take(timeout=None) == (None, ())  # closed: never blocks


@pytest.mark.parametrize(
    ("change", "changed"),
    [
        ("same", False),
        ("noise", False),  # camera noise of a few grey levels
        ("scroll_2px", True),
        ("new_small_line", True),
    ],
)
def test_change_detector(change: str, changed: bool) -> None:
    base = screen([("0123", 40), ("ab01", 140)])
    rng = np.random.default_rng(0)
    other = {
        "same": base.copy(),
        "noise": np.clip(base.astype(int) + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8),
        "scroll_2px": screen([("0123", 38), ("ab01", 138)]),
        "new_small_line": screen([("0123", 40), ("ab01", 140), ("01", 240)]),
    }[change]
    detector = ChangeDetector(StreamConfig().change_pixels, StreamConfig().change_level)
    assert detector.changed(base)
    assert detector.changed(other) is changed


def test_tracker_keeps_ids_of_scrolling_lines_and_their_best_reading() -> None:
    tracker = LineTracker(StreamConfig(confirm_frames=2))
    assert tracker.update([line("Hello world", 10, 100), line("第二行文字", 10, 160)], 0) == ()  # seen once
    second = tracker.update([line("Hello world", 10, 90, confidence=0.95), line("第二行文宇", 10, 150, confidence=0.5)], 1)
    assert [(t.id, t.text, t.new) for t in second] == [(1, "Hello world", True), (2, "第二行文字", True)]
    # Scrolled by more than a line height (no overlap): the same texts are the same lines.
    third = tracker.update([line("第二行文字", 10, 60), line("Hello world", 10, 0)], 2)
    assert [(t.id, t.text, t.new) for t in third] == [(2, "第二行文字", False), (1, "Hello world", False)]
    assert third[0].box.bounds[1] == 60  # where it is now


def test_tracker_new_text_in_the_same_place_is_a_new_line() -> None:
    """A subtitle replaced by the next one: same box, other text."""
    tracker = LineTracker(StreamConfig(confirm_frames=1, max_missing=0))
    first = tracker.update([line("Good morning", 10, 300)], 0)
    second = tracker.update([line("See you later", 10, 300)], 1)
    assert first[0].id == 1 and first[0].new
    assert second[0].id == 2 and second[0].new and second[0].text == "See you later"
    assert tracker.update([line("Good morning", 10, 300)], 2)[0].id == 3  # forgotten: a new line


def test_unchanged_frames_count_as_sightings() -> None:
    tracker = LineTracker(StreamConfig(confirm_frames=3))
    assert tracker.update([line("abc", 0, 0)], 0) == ()
    assert tracker.hold() == ()
    held = tracker.hold()
    assert [(t.id, t.seen, t.new) for t in held] == [(1, 3, True)]


def test_frame_messages_round_trip_and_short_ones_are_refused() -> None:
    frame = parse_frame(encode_frame(7, 1234.5, b"\x89PNG..."), received=1.0)
    assert (frame.frame_id, frame.timestamp, frame.image) == (7, 1234.5, b"\x89PNG...")
    with pytest.raises(Exception, match="12 header bytes"):
        parse_frame(b"short")


def test_y4m_round_trip() -> None:
    frames = [screen([("0123", 20 + 8 * i)], 320, 120) for i in range(3)]
    buf = io.BytesIO()
    writer = Y4MWriter(buf, 320, 120, fps=5)
    for f in frames:
        writer.write(f)
    buf.seek(0)
    read = list(read_frames(buf, max_pixels=10**6))
    assert [t for t, _ in read] == [0.0, 200.0, 400.0]
    for (_, y), f in zip(read, frames):
        assert y.shape == f.shape and np.abs(y.astype(int) - f).max() <= 2  # BT.601 full range round trip


# ---- WS /api/v1/stream ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(tiny_ocr: OCR):
    with TestClient(create_app(ServerSettings(), ocr=tiny_ocr)) as c:
        yield c


def start(ws, **start_fields) -> dict:
    ws.send_json({"type": "start", "options": {"decode": {"method": "greedy"}}, **start_fields})
    ready = ws.receive_json()
    assert ready["type"] == "ready"
    return ready


def closed(ws) -> tuple[dict, int, str]:
    """The error message the server sent, and its close code and reason."""
    error = ws.receive_json()
    with pytest.raises(WebSocketDisconnect) as info:
        ws.receive_json()
    return error, info.value.code, info.value.reason


def test_stream_ids_stay_stable_and_unchanged_frames_are_skipped(client: TestClient) -> None:
    """A known sequence, one frame at a time: two lines scroll up, a third comes in, the first
    leaves the screen."""
    sequence = [
        [("0123", 60), ("ab01", 160)],
        [("0123", 60), ("ab01", 160)],  # unchanged: skipped, and confirms both lines
        [("0123", 52), ("ab01", 152)],
        [("0123", 44), ("ab01", 144), ("中文23", 244)],
        [("0123", 44), ("ab01", 144), ("中文23", 244)],  # unchanged again
        [("ab01", 60), ("中文23", 160)],  # scrolled by 84 px: "0123" is gone
    ]
    results = []
    with client.websocket_connect("/api/v1/stream") as ws:
        start(ws)
        for i, lines in enumerate(sequence):
            ws.send_bytes(encode_frame(i, 1000.0 + 40 * i, png(screen(lines))))
            results.append(ws.receive_json())
        ws.send_json({"type": "stop"})
        end = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
    assert info.value.code == 1000
    assert [r["frame_id"] for r in results] == list(range(6))
    assert [r["timestamp"] for r in results] == [1000.0 + 40 * i for i in range(6)]
    assert [r["skipped"] for r in results] == [False, True, False, False, True, False]
    read = [[(ln["id"], ln["text"]) for ln in r["lines"]] for r in results]
    assert read == [
        [],  # each line seen once: not reported yet
        [(1, "0123"), (2, "ab01")],
        [(1, "0123"), (2, "ab01")],
        [(1, "0123"), (2, "ab01")],  # "中文23" seen once
        [(1, "0123"), (2, "ab01"), (3, "中文23")],
        [(2, "ab01"), (3, "中文23")],
    ]
    assert [r["new"] for r in results] == [[], [1, 2], [], [], [3], []]
    assert results[2]["lines"][0]["box"][0][1] < results[1]["lines"][0]["box"][0][1]  # the box moves
    assert end["stats"] | {"fps": 0, "latency_ms": 0, "mean_latency_ms": 0} == {
        "received": 6, "processed": 4, "skipped": 2, "dropped": 0, "pending": 0, "max_pending": 1,
        "fps": 0, "latency_ms": 0, "mean_latency_ms": 0,
    }
    assert all(r["stats"]["latency_ms"] > 0 for r in results)
    assert [(ln["id"], ln["text"]) for ln in end["transcript"]] == [(1, "0123"), (2, "ab01"), (3, "中文23")]


def test_an_overloaded_stream_drops_frames_and_keeps_one_waiting(client: TestClient) -> None:
    """Frames sent much faster than the OCR reads them: most are dropped, never queued."""
    n = 40
    frames = [encode_frame(i, float(i), png(screen([("0123", 20 + 3 * i), ("ab01", 300 + 3 * i)], 1280, 720)))
              for i in range(n)]
    with client.websocket_connect("/api/v1/stream") as ws:
        start(ws)
        for f in frames:
            ws.send_bytes(f)
        ws.send_json({"type": "stop"})
        results = []
        while (message := ws.receive_json())["type"] == "result":
            results.append(message)
        end = message
    stats = end["stats"]
    assert end["type"] == "end"
    assert stats["received"] == n
    assert stats["processed"] + stats["skipped"] + stats["dropped"] == n
    assert len(results) == stats["processed"] + stats["skipped"]
    assert stats["dropped"] >= n // 2, stats
    assert stats["max_pending"] == 1 and all(r["stats"]["pending"] <= 1 for r in results)
    dropped_ids = [i for r in results for i in r["dropped"]]
    answered = [r["frame_id"] for r in results]
    assert sorted(dropped_ids + answered) == list(range(n))  # every frame answered or reported dropped
    assert answered[-1] == n - 1  # the newest frame is always read


@pytest.mark.parametrize(
    ("first", "code", "error"),
    [
        ({"type": "start", "options": {"decode": {"method": "sideways"}}}, 1007, "invalid_options"),
        ({"type": "start", "options": {"decode": {"pattern": "(unclosed"}}}, 1007, "invalid_options"),
        ({"type": "start", "confirm_frames": 0}, 1007, "invalid_options"),
        ({"type": "begin"}, 1007, "invalid_options"),
    ],
)
def test_bad_start_messages_close_with_a_reason(client: TestClient, first: dict, code: int, error: str) -> None:
    with client.websocket_connect("/api/v1/stream") as ws:
        ws.send_json(first)
        message, close_code, reason = closed(ws)
    assert message["type"] == "error" and message["code"] == error and close_code == code
    assert reason and len(reason.encode()) <= 123


@pytest.mark.parametrize(
    ("send", "code", "error"),
    [
        (b"\x00\x00\x00\x01", 1007, "invalid_frame"),
        (encode_frame(1, 0.0, b"this is not an image"), 1007, "unsupported_image"),
        ('{"type": "pause"}', 1003, "invalid_message"),
    ],
)
def test_bad_frames_close_with_a_reason(client: TestClient, send: bytes | str, code: int, error: str) -> None:
    with client.websocket_connect("/api/v1/stream") as ws:
        start(ws)
        ws.send_bytes(send) if isinstance(send, bytes) else ws.send_text(send)
        message, close_code, reason = closed(ws)
    assert (message["code"], close_code) == (error, code)
    assert reason == message["message"][:120] or reason.endswith("...")


def test_limits_apply_per_frame(tiny_ocr: OCR) -> None:
    with TestClient(create_app(ServerSettings(max_bytes=2000, max_pixels=100 * 100), ocr=tiny_ocr)) as c:
        with c.websocket_connect("/api/v1/stream") as ws:
            start(ws)
            ws.send_bytes(encode_frame(1, 0.0, b"\0" * 3000))
            message, code, _ = closed(ws)
        assert (message["code"], code) == ("image_too_large", 1009)
        with c.websocket_connect("/api/v1/stream") as ws:
            start(ws)
            ws.send_bytes(encode_frame(1, 0.0, png(np.full((200, 200), 255, np.uint8))))
            message, code, _ = closed(ws)
        assert (message["code"], code) == ("image_too_large", 1009)


def test_streams_need_an_api_key_once_keys_exist(tiny_ocr: OCR, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    _, token = KeyStore(store).create("camera")
    frame = encode_frame(0, 0.0, png(screen([("0123", 60)])))
    with TestClient(create_app(ServerSettings(store_path=store), ocr=tiny_ocr)) as c:
        for given in ({}, {"api_key": token + "x"}):
            with c.websocket_connect("/api/v1/stream") as ws:
                ws.send_json({"type": "start", **given})
                message, code, _ = closed(ws)
            assert (message["code"], code) == ("unauthorized", 1008)
        with c.websocket_connect("/api/v1/stream") as ws:  # in the start message (browsers)
            start(ws, api_key=token)
            ws.send_bytes(frame)
            assert ws.receive_json()["type"] == "result"
        with c.websocket_connect("/api/v1/stream", headers={"Authorization": f"Bearer {token}"}) as ws:
            start(ws)
            ws.send_bytes(frame)
            assert ws.receive_json()["type"] == "result"


def test_other_sites_pages_may_not_stream(client: TestClient) -> None:
    """A page of another origin, in the user's browser, cannot use a local server's streams."""
    with client.websocket_connect("/api/v1/stream", headers={"Origin": "https://evil.example"}) as ws:
        message, code, _ = closed(ws)
    assert (message["code"], code) == ("forbidden", 1008)
    with client.websocket_connect("/api/v1/stream", headers={"Origin": "http://testserver"}) as ws:
        start(ws)  # the page's own origin


# ---- crnn-ocr stream --------------------------------------------------------------------------


def test_cli_stream_prints_new_lines_from_y4m_on_stdin(tiny_model_path: Path, capsys, monkeypatch) -> None:
    buf = io.BytesIO()
    writer = Y4MWriter(buf, W, H, fps=10)
    scroll = [[("0123", 60), ("ab01", 160)]] * 3 + [[("0123", 50), ("ab01", 150), ("中文23", 250)]] * 3
    for lines in scroll:
        writer.write(screen(lines))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(buf.getvalue())))
    argv = ["stream", "-", "--model", str(tiny_model_path), "--threads", "1", "--detector", "classical", "--greedy", "--fps", "0"]
    assert cli.main([*argv, "--format", "jsonl", "--no-drop"]) == 0
    rows = [json.loads(r) for r in capsys.readouterr().out.splitlines()]
    assert [(r["id"], r["text"], r["frame_id"]) for r in rows] == [(1, "0123", 1), (2, "ab01", 1), (3, "中文23", 4)]
    assert rows[2]["time_ms"] == 400.0

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(buf.getvalue())))
    assert cli.main([*argv, "--no-drop"]) == 0
    assert capsys.readouterr().out.splitlines() == ["0123", "ab01", "中文23"]


def test_cli_stream_reads_a_video_file(tiny_model_path: Path, tmp_path: Path, capsys) -> None:
    video = tmp_path / "screen.avi"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    assert out.isOpened()
    for i in range(20):  # 2 s: a line comes in after 1 s
        lines = [("0123", 60)] + ([("ab01", 160)] if i >= 10 else [])
        out.write(cv2.cvtColor(screen(lines), cv2.COLOR_GRAY2BGR))
    out.release()
    status = cli.main(["stream", str(video), "--model", str(tiny_model_path), "--threads", "1",
                       "--detector", "classical", "--greedy", "--fps", "5", "--format", "jsonl"])
    assert status == 0
    rows = [json.loads(r) for r in capsys.readouterr().out.splitlines()]
    assert [(r["text"], r["time_ms"]) for r in rows] == [("0123", 200.0), ("ab01", 1200.0)]


def test_cli_stream_refuses_what_is_not_video(tiny_model_path: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not a video")
    argv = ["--model", str(tiny_model_path), "--threads", "1", "--detector", "classical"]
    assert cli.main(["stream", str(bad), *argv]) == 1
    assert "could not open" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\x89PNG not y4m")))
    assert cli.main(["stream", "-", *argv]) == 1
    assert "YUV4MPEG2" in capsys.readouterr().err
