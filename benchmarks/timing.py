"""What every engine's speed measurement shares: the batch sizes, the result record, and the
clocks (batched throughput, mean page latency after a warm-up, the process's peak memory).

Each engine's own measurement is its ``speed`` method in benchmarks/peers.py; benchmarks/speed.py
runs it in a fresh process.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BATCH_SIZES = (1, 8, 32)


@dataclass(frozen=True)
class SpeedResult:
    engine: str
    lines: int
    lines_per_s: dict[int, float] = field(default_factory=dict)  # batch size -> lines/s
    page_s_mean: float | None = None
    pages: int = 0
    peak_rss_mib: float | None = None
    rss_note: str = ""
    error: str | None = None


def peak_rss_mib() -> float:
    """This process's resident-memory high-water mark (VmHWM), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[Sequence[Any]], object], items: Sequence[Any], batch: int) -> float:
    """Seconds for ``fn`` over ``items`` in consecutive batches of ``batch``."""
    start = time.perf_counter()
    for s in range(0, len(items), batch):
        fn(items[s : s + batch])
    return time.perf_counter() - start


def page_seconds(read: Callable[[str], object], pages: Sequence[tuple[str, str]]) -> float:
    """Mean seconds per page of ``read(path)`` over ``pages``, after one untimed warm-up page."""
    read(pages[0][0])
    start = time.perf_counter()
    for path, _lang in pages:
        read(path)
    return (time.perf_counter() - start) / len(pages)
