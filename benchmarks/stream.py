"""Live streams end to end: frames/s and latency of ``WS /api/v1/stream`` on text video.

Starts ``python -m crnn_ocr.server`` (the shipped model and detector) on a free loopback port and,
for each frame size and option set, plays a text video to it in real time (``--fps`` frames per
second, each a JPEG, sent at its time whatever the server does, as a camera would) for
``--duration`` seconds, then stops the stream. Two videos (``tests/render.py``):

- **steps**: a page of zh + en lines scrolled a line at a time, held still 1.6 s between steps
  (reading a document under a camera, a screen being scrolled): most frames did not change.
- **smooth**: the same page scrolling 3 pixels a frame: every frame changed, so every frame read
  is an OCR; this is the throughput limit.

Reported per run: frames sent, read (OCR), skipped (unchanged), dropped (replaced while waiting),
answered frames/s, OCR'd frames/s, and the end-to-end latency (frame sent → its result received,
through the server's one-frame slot) of the frames read and of the skipped ones, p50 / p95.

    python benchmarks/stream.py --markdown BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import httpx
import numpy as np
from websockets.sync.client import connect

if not __package__:  # run as a file (python benchmarks/stream.py): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.loopback import free_port  # noqa: E402
from benchmarks.report import cpu_model, load_average, publish  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from render import SCROLL_LINES, render_page, scrolling_text_frames  # noqa: E402

from crnn_ocr.stream import encode_frame  # noqa: E402

MARK_BEGIN = "<!-- BEGIN benchmarks/stream.py section -->"
MARK_END = "<!-- END benchmarks/stream.py section -->"
SIZES = ((640, 360), (1280, 720))
OPTION_SETS = {
    "default": {},  # beam + LM, orientation search: the defaults of every endpoint
    "fast": {"auto_orient": False, "decode": {"method": "greedy"}},
}


def smooth_frames(width: int, height: int, count: int, speed: int = 3) -> list[np.ndarray]:
    size = height // 10
    page, _ = render_page(list(SCROLL_LINES) * 3, size=size, width=width)
    page = cv2.copyMakeBorder(page, 0, height + speed * count, 0, 0, cv2.BORDER_CONSTANT, value=255)
    return [np.ascontiguousarray(page[i * speed : i * speed + height]) for i in range(count)]


def video(kind: str, width: int, height: int, fps: int, duration: float) -> list[bytes]:
    count = int(fps * duration)
    if kind == "steps":
        frames = scrolling_text_frames(width=width, height=height, fps=fps)
        frames = (frames * (count // len(frames) + 1))[:count]
    else:
        frames = smooth_frames(width, height, count)
    return [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for f in frames]


@dataclass
class Run:
    kind: str
    size: tuple[int, int]
    options: str
    sent: int = 0
    results: list[dict] = field(default_factory=list)
    latency_read: list[float] = field(default_factory=list)
    latency_skipped: list[float] = field(default_factory=list)
    end: dict = field(default_factory=dict)
    seconds: float = 0.0


def play(url: str, run: Run, frames: list[bytes], fps: int) -> Run:
    """Send ``frames`` at ``fps`` (real time) while a thread reads the answers."""
    sent_at: dict[int, float] = {}
    with connect(url, max_size=2**25) as ws:
        ws.send(json.dumps({"type": "start", "options": OPTION_SETS[run.options]}))
        assert json.loads(ws.recv())["type"] == "ready"

        def receive() -> None:
            while True:
                message = json.loads(ws.recv())
                if message["type"] == "end":
                    run.end = message
                    return
                now = time.perf_counter()
                run.results.append(message)
                latency = (now - sent_at[message["frame_id"]]) * 1000
                (run.latency_skipped if message["skipped"] else run.latency_read).append(latency)

        reader = threading.Thread(target=receive)
        reader.start()
        start = time.perf_counter()
        for i, frame in enumerate(frames):
            delay = start + i / fps - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent_at[i] = time.perf_counter()
            ws.send(encode_frame(i, sent_at[i] * 1000, frame))
            run.sent += 1
        ws.send(json.dumps({"type": "stop"}))
        reader.join()
        run.seconds = time.perf_counter() - start
    return run


def percentiles(values: list[float]) -> str:
    """p50 / p95 in ms, or – without values."""
    if not values:
        return "–"
    return f"{np.percentile(values, 50):.0f} / {np.percentile(values, 95):.0f}"


def row(run: Run) -> str:
    s = run.end["stats"]
    w, h = run.size
    answered = s["processed"] + s["skipped"]
    return (
        f"| {w}×{h} | {run.kind} | {run.options} | {run.sent} | {s['processed']} | {s['skipped']} | {s['dropped']} "
        f"| {answered / run.seconds:.2f} | {s['processed'] / run.seconds:.2f} "
        f"| {percentiles(run.latency_read)} | {percentiles(run.latency_skipped)} |"
    )



def start_server(port: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "CRNN_OCR_CACHE": "false", "CRNN_OCR_HISTORY": "false",
           "CRNN_OCR_STORE_PATH": str(Path("/tmp") / f"crnn-stream-bench-{port}.sqlite3")}
    command = [sys.executable, "-m", "crnn_ocr.server", "--host", "127.0.0.1", "--port", str(port),
               "--threads", str(threads)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server was not ready within 180 s")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fps", type=int, default=10, help="frames per second sent (default 10)")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of video per run (default 20)")
    p.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads of the server (default 2)")
    p.add_argument("--kinds", default="steps,smooth", help="videos: steps, smooth (default both)")
    p.add_argument("--options", default="default,fast", help="option sets: default, fast (default both)")
    p.add_argument("--note", default="", help="a line about the machine's state, printed under the table")
    p.add_argument("--markdown", type=Path, help="write the section into this file (BENCHMARKS.md)")
    args = p.parse_args()

    port = free_port()
    load_start = load_average()
    server = start_server(port, args.threads)
    runs = []
    url = f"ws://127.0.0.1:{port}/api/v1/stream"
    try:
        for options in args.options.split(","):  # warm-up: first inferences, not measured
            play(url, Run("smooth", SIZES[0], options), video("smooth", *SIZES[0], 2, 1.0), 2)
        for width, height in SIZES:
            for kind in args.kinds.split(","):
                frames = video(kind, width, height, args.fps, args.duration)
                for options in args.options.split(","):
                    run = play(url, Run(kind, (width, height), options), frames, args.fps)
                    print(row(run), flush=True)
                    runs.append(run)
    finally:
        server.terminate()
        server.wait(20)
    header = (
        "| frame | video | options | sent | read (OCR) | skipped | dropped | answered/s | OCR frames/s "
        "| latency read p50 / p95 ms | latency skipped p50 / p95 ms |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = "\n".join([
        MARK_BEGIN,
        f"## Live streams: WS /api/v1/stream ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Command: `python benchmarks/stream.py --fps {args.fps} --duration {args.duration:g} "
        f"--threads {args.threads}{' --markdown ' + str(args.markdown) if args.markdown else ''}`",
        "",
        f"Machine: {cpu_model()}, {cpus} usable CPUs; load average {load_start} at start, {load_average()} "
        f"at end. Server: `python -m crnn_ocr.server --threads {args.threads}` (shipped recognizer and "
        f"detector, one process, the client on the same machine). {args.note}".rstrip(),
        "",
        f"Each run plays {args.duration:g} s of text video at {args.fps} frames/s as JPEG (quality 90), "
        "in real time, over one WebSocket; *steps*: zh + en lines scrolled a line at a time and held "
        "1.6 s (most frames unchanged), *smooth*: scrolled 3 px every frame (every frame changes). "
        "*default* options: beam + LM, orientation search; *fast*: greedy, no orientation search. "
        "Latency: frame sent → its result received (waiting in the server's one-frame slot "
        "included). Dropped frames were replaced by a newer one while waiting: never queued. "
        "Each option set is warmed up on 2 frames first (not counted).",
        "",
        header,
        *[row(r) for r in runs],
        "",
        MARK_END,
        "",
    ])
    publish(text, args.markdown, MARK_BEGIN, MARK_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
