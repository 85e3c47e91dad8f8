"""Requests/s through nginx with 1 and 2 ``crnn-ocr serve`` processes, deployed from deploy/.

The stack of tests/test_deploy.py (tests/deploy_support.py): nginx from deploy/nginx/crnn-ocr.conf
in front of N servers started from deploy/systemd/crnn-ocr-server@.service with
deploy/crnn-ocr.env.example's settings (one ONNX Runtime thread per call, 2 calls at once per
server), sharing a throwaway Redis and PostgreSQL store, everything on loopback on this machine:
clients, nginx, servers and databases share its CPU cores. The cache is off, so every request is
really read. For each N: a warm-up request per server (model loading is not timed), then
``--clients`` client threads send ``POST /ocr`` (multipart, a rendered page of six lines with known
text, distinct per request) through nginx for ``--seconds``; reported are requests/s, latency p50
and p95, and how many answers were 200 with the exact text.

    python benchmarks/deploy_throughput.py --markdown BENCHMARKS.md --note "..."
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

if not __package__:  # run as a file (python benchmarks/deploy_throughput.py): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.report import cpu_model, load_average, write_section  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MARK_BEGIN = "<!-- BEGIN benchmarks/deploy_throughput.py section -->"
MARK_END = "<!-- END benchmarks/deploy_throughput.py section -->"


@dataclass(frozen=True)
class Run:
    servers: int
    clients: int
    seconds: float
    requests: int
    exact: int
    failed: int
    p50_ms: float
    p95_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def measure(store_url: str, servers: int, clients: int, seconds: float) -> Run:
    from deploy_support import local_stack
    from jobs_support import expected_text, page_png

    with local_stack(store_url, n_servers=servers, n_workers=0, extra_env={"CRNN_OCR_CACHE": "false"}) as stack:
        for n in range(servers):  # each server's first request outside the clock
            httpx.post(f"{stack.server_urls[n]}/ocr", files={"image": ("w.png", page_png(999))}, timeout=120)
        pages = [(page_png(i), expected_text(i)) for i in range(64)]
        latencies: list[float] = []
        outcomes = {"exact": 0, "failed": 0}
        lock = threading.Lock()
        stop_at = time.perf_counter() + seconds

        def client(k: int) -> None:
            n = k
            with httpx.Client(timeout=120) as http:
                while time.perf_counter() < stop_at:
                    data, text = pages[n % len(pages)]
                    n += clients
                    t0 = time.perf_counter()
                    r = http.post(f"{stack.url}/ocr", files={"image": ("p.png", data)})
                    ms = (time.perf_counter() - t0) * 1000
                    with lock:
                        latencies.append(ms)
                        if r.status_code != 200:
                            outcomes["failed"] += 1
                        elif r.json()["text"] == text:
                            outcomes["exact"] += 1

        start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=20) if len(latencies) > 1 else [latencies[0]] * 19
    return Run(servers, clients, elapsed, len(latencies), outcomes["exact"], outcomes["failed"],
               statistics.median(latencies), q[18])


def markdown(runs: list[Run], started: str, load_start: str, load_end: str, note: str) -> str:
    rows = "\n".join(
        f"| {r.servers} | {r.clients} | {r.requests} | {r.seconds:.1f} | {r.per_second:.2f} | {r.p50_ms:.0f} | "
        f"{r.p95_ms:.0f} | {r.exact}/{r.requests} | {r.failed} |" for r in runs
    )
    return (
        f"{MARK_BEGIN}\n## Through nginx: 1 and 2 server processes (deploy/, {started})\n\n"
        "Command: `python benchmarks/deploy_throughput.py --markdown BENCHMARKS.md --note '…'`. nginx "
        "(deploy/nginx/crnn-ocr.conf) in front of N `crnn-ocr serve` processes started from "
        "deploy/systemd/crnn-ocr-server@.service with deploy/crnn-ocr.env.example (1 ONNX Runtime thread per "
        "call, 2 calls at once per server), sharing one Redis and one PostgreSQL store; `POST /ocr` "
        "(multipart) of rendered 6-line pages, distinct per request, the cache off, default decoding. "
        "**Everything on the same machine**: the client threads, nginx, the servers, Redis and PostgreSQL "
        "share its cores; this is not a measurement of several machines.\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} logical CPUs ({cpu_model()}), load average "
        f"{load_start} at start and {load_end} at end (1/5/15 min); Python {platform.python_version()}.\n\n"
        "| servers | clients | requests | s | requests/s | p50 ms | p95 ms | exact text | failed |\n"
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
        f"{rows}\n\n{note}\n\n{MARK_END}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--clients", type=int, default=4, help="client threads sending at once (default 4)")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each run (default 30)")
    parser.add_argument("--markdown", type=Path, help="write the section into this file (BENCHMARKS.md)")
    parser.add_argument("--note", default="", help="a paragraph under the table (what else ran on the machine)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests"))  # the stack launcher and page renderer the tests use
    from pg_support import new_database, postgres_server

    started = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load_start = load_average()
    runs = []
    with postgres_server() as admin_url:
        for servers in args.servers:
            run = measure(new_database(admin_url), servers, args.clients, args.seconds)
            print(f"{servers} server(s), {args.clients} clients: {run.requests} requests in {run.seconds:.1f} s = "
                  f"{run.per_second:.2f} requests/s; p50 {run.p50_ms:.0f} ms, p95 {run.p95_ms:.0f} ms; "
                  f"exact {run.exact}, failed {run.failed}", flush=True)
            runs.append(run)
    load_end = load_average()
    print(f"load average {load_start} -> {load_end}")
    if args.markdown:
        write_section(args.markdown, markdown(runs, started, load_start, load_end, args.note), MARK_BEGIN, MARK_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
