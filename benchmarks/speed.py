"""Recognition throughput at batch 1/8/32, page latency and peak memory, one engine per process.

Each engine runs in a fresh process (``multiprocessing`` spawn), so its peak resident memory is its
own: the process's high-water mark (VmHWM) for the in-process engines, and the largest
``tesseract`` child process for Tesseract (it runs one process per image). The line crops are
decoded into memory before timing, so throughput is recognition alone; page latency includes
decoding the page file, detection and recognition. What each engine does is its ``speed`` method
(benchmarks/peers.py).

Used by ``benchmarks/compare.py --speed``; see benchmarks/README.md.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass, field

import cv2

from benchmarks.peers import ENGINES, EngineSettings
from benchmarks.timing import SpeedResult


@dataclass(frozen=True)
class SpeedJob:
    engine: str  # a name in benchmarks.peers.ENGINES
    crops: tuple[tuple[str, str], ...]  # (image path, "zh" | "en")
    pages: tuple[tuple[str, str], ...]
    settings: EngineSettings = field(default_factory=EngineSettings)


def _child(job: SpeedJob, queue) -> None:
    try:
        cv2.setNumThreads(1)
        crops = []
        for path, lang in job.crops:
            im = cv2.imread(path, cv2.IMREAD_COLOR)
            if im is None:
                raise RuntimeError(f"cannot decode {path}")
            crops.append((im, lang))
        engine = ENGINES[job.engine](job.settings)
        queue.put(engine.speed(crops, list(job.pages)))
    except Exception as exc:  # noqa: BLE001 - reported in the table as the engine's error
        queue.put(SpeedResult(job.engine, 0, error=" ".join(f"{type(exc).__name__}: {exc}".split())))


def measure(job: SpeedJob, timeout_s: float = 1800) -> SpeedResult:
    """Run ``job`` in a fresh spawned process and return what it measured."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(job, queue), daemon=True)
    proc.start()
    try:
        result = queue.get(timeout=timeout_s)
    except Exception:  # noqa: BLE001 - queue.Empty or a dead child
        result = SpeedResult(job.engine, 0, error=f"no result within {timeout_s:.0f} s (exit code {proc.exitcode})")
    proc.join(timeout=30)
    if proc.is_alive():
        proc.kill()
    return result
