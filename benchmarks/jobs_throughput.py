"""Batch-job throughput and queue latency: Celery workers on Redis (1, 2, 4) and the embedded mode.

Everything runs on loopback: a throwaway ``redis-server``, ``crnn-ocr serve --broker redis://...``
and N ``crnn-ocr worker`` processes (one ONNX Runtime thread each), or ``crnn-ocr serve`` alone
with N embedded worker threads. For each setting a bounded batch of distinct rendered pages (known
text) is submitted as one job through the real API (``POST /api/v1/jobs``) and polled until it
completes. Reported: images/s (submission to completion), the queue latency of the batch's items
(enqueue to a worker starting the item, p50 / p95: mostly waiting behind the other items), the
queue latency of a lone item on an idle queue (median of 5: the queue's own overhead), and how
many pages were read exactly. The cache is off, so every image is really read.

    python benchmarks/jobs_throughput.py --markdown BENCHMARKS.md --note "..."
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image, ImageDraw, ImageFont

if not __package__:  # run as a file (python benchmarks/jobs_throughput.py): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.loopback import free_port  # noqa: E402
from benchmarks.report import publish  # noqa: E402

MARK_BEGIN = "<!-- BEGIN benchmarks/jobs_throughput.py section -->"
MARK_END = "<!-- END benchmarks/jobs_throughput.py section -->"
FONT = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
WORDS = ("Invoice 2024", "中文识别测试", "Total 99.50", "发票号码 0815", "CRNN OCR", "欢迎使用", "Batch job 7")


def page_lines(i: int, n_lines: int) -> list[str]:
    return [f"ORDER {10000 + 37 * i}"] + [WORDS[(i + k) % len(WORDS)] for k in range(n_lines - 1)]


def render_page(lines: list[str], size: int = 28) -> bytes:
    font = ImageFont.truetype(FONT, size)
    width = max(int(font.getlength(t)) for t in lines) + 2 * size
    height = size + len(lines) * (size * 3 // 2) + size
    img = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(img)
    for k, text in enumerate(lines):
        draw.text((size, size + k * (size * 3 // 2)), text, font=font, fill=0)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()



def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def crnn(*args: str) -> list[str]:
    return [sys.executable, "-m", "crnn_ocr.cli", *args]


def spawn(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@dataclass
class Run:
    mode: str
    workers: int
    images: int
    seconds: float
    exact: int
    batch_p50_ms: float
    batch_p95_ms: float
    idle_ms: float

    @property
    def per_s(self) -> float:
        return self.images / self.seconds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_job(url: str, images: list[bytes]) -> tuple[dict, float]:
    body = {
        "images": [{"image_base64": base64.b64encode(d).decode(), "name": f"p{i}.png"} for i, d in enumerate(images)]
    }
    start = time.perf_counter()
    r = httpx.post(f"{url}/api/v1/jobs", json=body, timeout=120)
    r.raise_for_status()
    job_id = r.json()["id"]
    while True:
        job = httpx.get(f"{url}/api/v1/jobs/{job_id}?results=false", timeout=30).json()
        if job["status"] in ("completed", "cancelled"):
            seconds = time.perf_counter() - start
            return httpx.get(f"{url}/api/v1/jobs/{job_id}", timeout=60).json(), seconds
        time.sleep(0.02)


def measure(mode: str, workers: int, url: str, images: list[bytes], texts: list[str]) -> Run:
    run_job(url, [images[0]])  # warm-up: every worker loads its model at its first item
    job, seconds = run_job(url, images)
    items = job["items"]
    exact = sum(1 for item, text in zip(items, texts) if item["result"] and item["result"]["text"] == text)
    waits = [(i["started_at"] - i["enqueued_at"]) * 1000 for i in items if i["started_at"]]
    idle = []
    for k in range(5):
        lone, _ = run_job(url, [images[k]])
        item = lone["items"][0]
        idle.append((item["started_at"] - item["enqueued_at"]) * 1000)
    return Run(mode, workers, len(images), seconds, exact, percentile(waits, 0.5), percentile(waits, 0.95),
               statistics.median(idle))


def bench_redis(tmp: Path, worker_counts: list[int], images: list[bytes], texts: list[str]) -> list[Run]:
    redis_bin = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    redis = spawn([redis_bin, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp), "--save", "",
                   "--appendonly", "no"], tmp / "redis.log")
    broker = f"redis://127.0.0.1:{port}/0"
    runs = []
    try:
        wait_for(lambda: port_open(port), 20, "redis-server")
        for n in worker_counts:
            http_port = free_port()
            url = f"http://127.0.0.1:{http_port}"
            server = spawn(crnn("serve", "--port", str(http_port), "--broker", broker, "--no-cache", "--threads", "1",
                                "--store", str(tmp / f"history-{n}.sqlite3"), "--log-level", "warning"),
                           tmp / f"serve-{n}.log")
            logs = [tmp / f"worker-{n}-{k}.log" for k in range(n)]
            workers = [spawn(crnn("worker", "--broker", broker, "--threads", "1", "--log-level", "info"), log)
                       for log in logs]
            try:
                wait_for(lambda url=url: ready(url), 120, "the server")
                wait_for(lambda logs=logs: all("ready." in log.read_text(errors="replace") for log in logs), 120,
                         "workers")
                runs.append(measure("Celery + Redis", n, url, images, texts))
                print(runs[-1], flush=True)
            finally:
                for proc in [*workers, server]:
                    stop(proc)
    finally:
        stop(redis)
    return runs


def bench_embedded(tmp: Path, worker_counts: list[int], images: list[bytes], texts: list[str]) -> list[Run]:
    runs = []
    for n in worker_counts:
        http_port = free_port()
        url = f"http://127.0.0.1:{http_port}"
        server = spawn(crnn("serve", "--port", str(http_port), "--job-workers", str(n), "--no-cache", "--threads", "1",
                            "--store", str(tmp / f"embedded-{n}.sqlite3"), "--log-level", "warning"),
                       tmp / f"embedded-{n}.log")
        try:
            wait_for(lambda url=url: ready(url), 120, "the server")
            runs.append(measure("embedded (SQLite + threads)", n, url, images, texts))
            print(runs[-1], flush=True)
        finally:
            stop(server)
    return runs


def markdown(runs: list[Run], info: dict) -> str:
    rows = [
        f"| {r.mode} | {r.workers} | {r.images} | {r.seconds:.2f} | {r.per_s:.1f} | {r.batch_p50_ms:.0f} | "
        f"{r.batch_p95_ms:.0f} | {r.idle_ms:.1f} | {r.exact}/{r.images} |"
        for r in runs
    ]
    lines = [
        MARK_BEGIN,
        f"## Batch jobs: throughput and queue latency ({info['when']})",
        "",
        (f"Command: `{info['command']}`. Each setting reads one job of {runs[0].images} distinct rendered pages "
        f"({info['lines']} lines each, known text) through `POST /api/v1/jobs`, after a 1-image warm-up job "
        "(model loading); the cache is off. Every worker process or thread uses one ONNX Runtime thread."),
        "",
        f"Machine: {info['machine']}.",
        "",
        ("| mode | workers | images | wall s | images/s | batch queue wait p50 ms | p95 ms | "
        "idle queue latency ms | read exactly |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        ("Wall time: from the submission to the job's completion as seen by a client polling every 20 ms. Batch "
        "queue wait: from the item's enqueueing to a worker starting it, over the batch's items (all are "
        "queued at once, so this is mostly waiting behind other items). Idle queue latency: the same for a "
        "lone item on an idle queue (median of 5 single-image jobs): the broker's and the store's overhead."),
    ]
    if info.get("note"):
        lines += ["", info["note"]]
    lines += ["", MARK_END]
    return "\n".join(lines) + "\n"




def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=48, help="pages in the batch (default 48)")
    parser.add_argument("--lines", type=int, default=10, help="text lines per page (default 10)")
    parser.add_argument("--workers", default="1,2,4", help="Celery worker counts (default 1,2,4)")
    parser.add_argument("--embedded", default="1,2", help="embedded worker thread counts (default 1,2; '' for none)")
    parser.add_argument("--markdown", type=Path, help="write the results section into this file")
    parser.add_argument("--note", default="", help="a sentence added to the report (e.g. other load)")
    args = parser.parse_args(argv)

    texts = ["\n".join(page_lines(i, args.lines)) for i in range(args.images)]
    images = [render_page(page_lines(i, args.lines)) for i in range(args.images)]
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        runs = bench_redis(tmp, [int(n) for n in args.workers.split(",") if n], images, texts)
        runs += bench_embedded(tmp, [int(n) for n in args.embedded.split(",") if n], images, texts)
    load_end = os.getloadavg()
    info = {
        "when": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/jobs_throughput.py " + shlex.join(argv),
        "lines": args.lines,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, nice "
        f"{os.nice(0)}, load average {' '.join(f'{x:.2f}' for x in load_start)} at start and "
        f"{' '.join(f'{x:.2f}' for x in load_end)} at end (1/5/15 min); Python {platform.python_version()}; "
        f"{platform.platform()}",
        "note": args.note,
    }
    text = markdown(runs, info)
    publish(text, args.markdown, MARK_BEGIN, MARK_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
