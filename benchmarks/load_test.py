"""Load test of the HTTP service on loopback: requests/s, latency, errors and server memory.

Starts ``python -m crnn_ocr.server`` on a free 127.0.0.1 port (or uses ``--url`` + ``--pid`` of a
server already running on loopback), then for each concurrency level runs that many clients in a
closed loop for ``--duration`` seconds and reports:

    clients, requests, requests/s, p50 / p95 / max latency (ms), errors, 503 rejections,
    server RSS before and after the level (psutil, the server process and its children)

Examples:
    python benchmarks/load_test.py --model models/crnn_zh_en_v1.onnx --levels 1,4,16 --duration 10
    python benchmarks/load_test.py --url http://127.0.0.1:8000 --pid 12345

With ``--hostile N``, N requests of each hostile kind are kept in flight during every level (each
resent as soon as it is answered): a 170,000-page TIFF, a PNG of 1.66 M empty chunks, a JPEG of
4.9 M empty COM markers, a damaged PDF (all built by ``tests/hostile.py``), a page number of 2**63
and a 1.7 MB jobs body of 40,000 invalid items. A separate process polls ``/healthz`` every 50 ms;
a second table reports the valid requests' status codes, the hostile answers by status, and the
``/healthz`` latency (p50 / p99 / max).

Only loopback addresses are accepted, durations are capped at 120 s per level and clients at 64.
Needs httpx and psutil (``pip install -e '.[bench]'``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import cv2
import httpx
import numpy as np
import psutil
from PIL import Image, ImageDraw, ImageFont

if not __package__:  # run as a file (python benchmarks/load_test.py): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.loopback import free_port  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
MAX_DURATION_S = 120.0
MAX_CLIENTS = 64
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
SAMPLE_LINES = ("CRNN-OCR 负载测试 load test", "发票号码 No. 20240518-0731", "合计 Total: ¥1,234.56")


# ---- the request image -------------------------------------------------------------------------


def sample_image() -> bytes:
    """A small document (three printed lines, ~640x170) as PNG bytes."""
    font_path = next((p for p in FONT_CANDIDATES if Path(p).is_file()), None)
    font = ImageFont.truetype(font_path, 32) if font_path else ImageFont.load_default()
    lines = SAMPLE_LINES if font_path else tuple(line.encode("ascii", "ignore").decode() for line in SAMPLE_LINES)
    img = Image.new("L", (640, 40 + 44 * len(lines)), 255)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((20, 20 + 44 * i), line, font=font, fill=0)
    ok, buf = cv2.imencode(".png", np.asarray(img))
    assert ok
    return buf.tobytes()


# ---- the server --------------------------------------------------------------------------------



def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [
        sys.executable, "-m", "crnn_ocr.server", "--host", "127.0.0.1", "--port", str(port),
        "--max-concurrency", str(args.max_concurrency), "--max-queue", str(args.max_queue),
        "--log-level", "warning",
    ]
    if args.model:
        cmd += ["--model", args.model]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if not args.cache:
        cmd += ["--no-cache"]  # every request is the same image: with the cache on, all but one are cache hits
    print("server:", " ".join(cmd[1:]), file=sys.stderr)
    proc = subprocess.Popen(cmd)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with status {proc.returncode} during start-up")
        try:
            r = httpx.get(f"{url}/readyz", timeout=2)
            if r.status_code == 200:
                return proc, url
            if r.json().get("status") == "failed":
                proc.terminate()
                raise SystemExit(f"the server could not load the model: {r.json().get('error')}")
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("the server was not ready within 120 s")


def rss_mb(pid: int) -> float:
    """Resident memory of the server process and its children (uvicorn workers), in MiB."""
    proc = psutil.Process(pid)
    procs = [proc, *proc.children(recursive=True)]
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


# ---- the clients -------------------------------------------------------------------------------


@dataclass
class LevelResult:
    clients: int
    elapsed_s: float
    latencies_ms: list[float]
    errors: int
    rejected: int
    rss_before_mb: float
    rss_after_mb: float
    statuses: dict[int, int] = field(default_factory=dict)  # valid requests by status (0: no answer)
    hostile: dict[str, dict[int, int]] = field(default_factory=dict)  # kind -> status -> count
    healthz_ms: list[float] = field(default_factory=list)  # -1: failed

    def hostile_row(self) -> str:
        ok = [ms for ms in self.healthz_ms if ms >= 0]
        hostile = "; ".join(
            f"{kind} " + ",".join(f"{n}x{status or 'none'}" for status, n in sorted(by.items()))
            for kind, by in self.hostile.items()
        )
        valid = ", ".join(f"{n}x{status or 'none'}" for status, n in sorted(self.statuses.items()))
        return (
            f"| {self.clients} | {valid} | {hostile} | {len(ok)}/{len(self.healthz_ms)} "
            f"| {percentile(ok, 0.5):.1f} | {percentile(ok, 0.99):.1f} | {max(ok, default=float('nan')):.1f} |"
        )

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    def row(self) -> str:
        lat = sorted(self.latencies_ms) or [float("nan")]
        p50 = statistics.median(lat)
        p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
        return (
            f"| {self.clients} | {self.ok + self.errors + self.rejected} | {self.ok / self.elapsed_s:.1f} "
            f"| {p50:.1f} | {p95:.1f} | {lat[-1]:.1f} | {self.errors} | {self.rejected} "
            f"| {self.rss_before_mb:.1f} | {self.rss_after_mb:.1f} |"
        )


def make_request(client: httpx.AsyncClient, args: argparse.Namespace, image: bytes):
    detect = "false" if args.no_detect else "true"
    if args.endpoint == "json":
        body = {"image_base64": base64.b64encode(image).decode("ascii"), "options": {"detect": not args.no_detect}}
        return lambda: client.post("/api/v1/ocr", json=body)
    return lambda: client.post("/ocr", files={"image": ("load.png", image, "image/png")}, data={"detect": detect})


async def run_level(url: str, pid: int, clients: int, args: argparse.Namespace, image: bytes) -> LevelResult:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60.0) as client:
        send = make_request(client, args, image)
        for _ in range(2):  # warm-up, not counted
            (await send()).raise_for_status()
        latencies: list[float] = []
        counts = {"errors": 0, "rejected": 0}
        statuses: dict[int, int] = {}
        hostile: dict[str, dict[int, int]] = {}
        rss_before = rss_mb(pid)
        probe_out: multiprocessing.Queue = multiprocessing.Queue()
        prober = None
        hostile_client = httpx.AsyncClient(base_url=url, timeout=120.0, limits=httpx.Limits(
            max_connections=len(HOSTILE_KINDS) * max(1, args.hostile)))  # its own connections: never queued
        if args.hostile:
            senders = hostile_senders(hostile_client)
        if args.hostile or args.probe:
            prober = multiprocessing.Process(target=probe_healthz, args=(url, args.duration, probe_out))
            prober.start()
        start = time.perf_counter()
        deadline = start + args.duration

        async def worker() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    r = await send()
                except httpx.HTTPError:
                    counts["errors"] += 1
                    statuses[0] = statuses.get(0, 0) + 1
                    continue
                ms = (time.perf_counter() - t0) * 1000
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if r.status_code == 200 and r.json().get("success") is True:
                    latencies.append(ms)
                elif r.status_code == 503:
                    counts["rejected"] += 1
                else:
                    counts["errors"] += 1

        async def attacker(kind: str) -> None:
            by = hostile.setdefault(kind, {})
            while time.perf_counter() < deadline:
                try:
                    status = (await senders[kind]()).status_code
                except httpx.HTTPError:
                    status = 0
                by[status] = by.get(status, 0) + 1

        attackers = [attacker(kind) for kind in args.hostile_kinds for _ in range(args.hostile)] if args.hostile else []
        await asyncio.gather(*(worker() for _ in range(clients)), *attackers)
        elapsed = time.perf_counter() - start
        await hostile_client.aclose()
        healthz = probe_out.get(timeout=60) if prober is not None else []
        if prober is not None:
            prober.join(10)
        return LevelResult(
            clients, elapsed, latencies, counts["errors"], counts["rejected"], rss_before, rss_mb(pid),
            statuses, hostile, healthz,
        )


# ---- hostile requests (--hostile) ---------------------------------------------------------------

HOSTILE_KINDS = ("tiff-170k-pages", "png-chunk-bomb", "jpeg-com-bomb", "damaged-pdf", "page-2^63", "422-1.7MB")


def hostile_senders(client: httpx.AsyncClient) -> dict[str, object]:
    """A function per hostile kind that sends one such request (files built by tests/hostile.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from hostile import chained_tiff, chunk_bomb_png, com_bomb_jpeg, damaged_pdf

    tiff, png, jpeg, pdf = chained_tiff(170_000), chunk_bomb_png(1_660_000), com_bomb_jpeg(4_900_000), damaged_pdf()
    invalid = json.dumps({"images": [{"image_base64": 1, "extra": "x" * 10}] * 40_000}).encode()

    def upload(name: str, data: bytes, media: str):
        return lambda: client.post("/ocr", files={"image": (name, data, media)})

    return {
        "tiff-170k-pages": upload("h.tif", tiff, "image/tiff"),
        "png-chunk-bomb": upload("h.png", png, "image/png"),
        "jpeg-com-bomb": upload("h.jpg", jpeg, "image/jpeg"),
        "damaged-pdf": upload("h.pdf", pdf, "application/pdf"),
        "page-2^63": lambda: client.get("/api/v1/history", params={"page": str(2**63)}),
        "422-1.7MB": lambda: client.post("/api/v1/jobs", content=invalid, headers={"content-type": "application/json"}),
    }


def probe_healthz(url: str, duration_s: float, out: multiprocessing.Queue) -> None:
    """In its own process (its own GIL): GET /healthz every 50 ms; the latencies in ms, -1 for a failure."""
    latencies = []
    with httpx.Client(base_url=url, timeout=10.0) as client:
        deadline = time.perf_counter() + duration_s
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                ok = client.get("/healthz").status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - t0) * 1000 if ok else -1.0)
            time.sleep(max(0.0, 0.05 - (time.perf_counter() - t0)))
    out.put(latencies)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


# ---- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a server already running on loopback (default: start one)")
    p.add_argument("--pid", type=int, help="that server's process id, for its memory (with --url)")
    p.add_argument("--model", help="model for the started server (default: the shipped model)")
    p.add_argument("--threads", type=int, help="ONNX Runtime threads per inference in the started server")
    p.add_argument("--max-concurrency", type=int, default=2, help="started server: OCR calls at once")
    p.add_argument("--max-queue", type=int, default=64, help="started server: waiting requests before 503")
    p.add_argument("--levels", default="1,4,16", help="comma-separated client counts")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per level")
    p.add_argument("--endpoint", choices=["multipart", "json"], default="multipart")
    p.add_argument(
        "--cache", action="store_true",
        help="started server: keep its result cache on (the same image is then answered from the cache)",
    )
    p.add_argument("--image", type=Path, help="image file to send (default: a synthetic 3-line document)")
    p.add_argument("--no-detect", action="store_true", help="send detect=false (whole image = one line)")
    p.add_argument(
        "--hostile", type=int, default=0, metavar="N",
        help="keep N requests of each hostile kind in flight during every level, and poll /healthz",
    )
    p.add_argument("--probe", action="store_true", help="poll /healthz during every level (implied by --hostile)")
    p.add_argument("--hostile-kinds", default=",".join(HOSTILE_KINDS),
                   help=f"comma-separated kinds to send with --hostile (default: all of {', '.join(HOSTILE_KINDS)})")
    args = p.parse_args(argv)
    args.levels = [int(x) for x in args.levels.split(",") if x.strip()]
    args.hostile_kinds = [k.strip() for k in args.hostile_kinds.split(",") if k.strip()]
    if set(args.hostile_kinds) - set(HOSTILE_KINDS):
        p.error(f"--hostile-kinds: choose from {', '.join(HOSTILE_KINDS)}")
    if not args.levels or min(args.levels) < 1 or max(args.levels) > MAX_CLIENTS:
        p.error(f"levels must be between 1 and {MAX_CLIENTS}")
    if not 0 < args.duration <= MAX_DURATION_S:
        p.error(f"--duration must be in (0, {MAX_DURATION_S:g}]")
    if args.url:
        if urlparse(args.url).hostname not in LOOPBACK:
            p.error("--url must be a loopback address (127.0.0.1, localhost, ::1)")
        if args.pid is None:
            p.error("--url needs --pid (the server's process id) to report its memory")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    image = args.image.read_bytes() if args.image else sample_image()
    proc = None
    if args.url:
        url, pid = args.url.rstrip("/"), args.pid
    else:
        proc, url = start_server(args)
        pid = proc.pid
    try:
        ready = httpx.get(f"{url}/readyz", timeout=5).json()
        model = ready.get("model") or {}
        h, w = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_UNCHANGED).shape[:2]
        print(
            f"model {model.get('name')} {model.get('version')} · endpoint {args.endpoint} · "
            f"detect {'off' if args.no_detect else 'on'} · cache {'on' if args.cache or args.url else 'off'} · "
            f"image {w}x{h} px, {len(image)} bytes · "
            f"server capacity {ready.get('capacity')} (running + queued) · {args.duration:g} s per level · "
            f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python {platform.python_version()}"
        )
        print()
        print("| clients | requests | req/s | p50 ms | p95 ms | max ms | errors | 503 | RSS before MiB | RSS after MiB |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        first_rss = rss_mb(pid)
        results = []
        for clients in args.levels:
            result = asyncio.run(run_level(url, pid, clients, args, image))
            results.append(result)
            print(result.row(), flush=True)
        print()
        if args.hostile or args.probe:
            hostile = (f"{args.hostile} of each hostile kind in flight ({', '.join(args.hostile_kinds)})"
                       if args.hostile else "no hostile requests")
            print(f"with {hostile}; /healthz every 50 ms:")
            print()
            print("| clients | valid requests by status | hostile requests by status | /healthz ok | p50 ms | p99 ms | max ms |")
            print("|---:|---|---|---:|---:|---:|---:|")
            for result in results:
                print(result.hostile_row())
            print()
        print(f"server RSS: {first_rss:.1f} MiB before the first level, {rss_mb(pid):.1f} MiB after the last")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
