"""Recognition throughput at batch 1/8/32, page latency and peak memory, one engine per process.

Each engine runs in a fresh process (``multiprocessing`` spawn), so its peak resident memory is its
own: the process's high-water mark (VmHWM) for the in-process engines, and the largest
``tesseract`` child process for Tesseract (it runs one process per image). The line crops are
decoded into memory before timing, so throughput is recognition alone; page latency includes
decoding the page file, detection and recognition.

Used by ``benchmarks/compare.py --speed``; see benchmarks/README.md.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BATCH_SIZES = (1, 8, 32)

#: rapidocr 3.x settings for the PP-OCRv6 engine (compare.py and here): one thread, as every engine.
PPOCRV6_PARAMS = {
    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    "Global.log_level": "warning",
}


@dataclass(frozen=True)
class SpeedJob:
    engine: str  # crnn | tesseract | rapidocr | ppocrv6
    crops: tuple[tuple[str, str], ...]  # (image path, "zh" | "en")
    pages: tuple[tuple[str, str], ...]
    crnn_model: str | None = None
    tesseract_zh_lang: str = "chi_sim+eng"
    tesseract_page_psm: int = 3


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


def _vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn, items: Sequence, batch: int) -> float:
    start = time.perf_counter()
    for s in range(0, len(items), batch):
        fn(items[s : s + batch])
    return time.perf_counter() - start


def _page_seconds(read, pages) -> float:
    """Mean seconds per page of ``read(path)`` over ``pages``, after one untimed warm-up page."""
    read(pages[0][0])
    start = time.perf_counter()
    for path, _lang in pages:
        read(path)
    return (time.perf_counter() - start) / len(pages)


def _run_crnn(job: SpeedJob, crops, pages) -> SpeedResult:
    from crnn_ocr.pipeline import OCR
    from crnn_ocr.recognize import Recognizer
    from crnn_ocr.types import OCROptions

    ocr = OCR(model_path=job.crnn_model, threads=1)
    images = [im for im, _lang in crops]
    rates = {}
    for b in BATCH_SIZES:
        rec = Recognizer(ocr.recognizer.engine, batch_size=b, lm=ocr.recognizer.lm)  # default decoding: beam + LM
        rec.recognize(images[:b])  # warm-up at this batch shape
        rates[b] = len(images) / _timed(rec.recognize, images, b)
    options = OCROptions(detect=True)
    page_s = _page_seconds(lambda path: ocr(path, options), pages)
    return SpeedResult("crnn", len(images), rates, page_s, len(pages), _vm_hwm_mib(), "process high-water mark")


def _run_rapidocr(job: SpeedJob, crops, pages) -> SpeedResult:
    from rapidocr_onnxruntime import RapidOCR

    ocr = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    images = [im for im, _lang in crops]
    rates = {}
    default_batch = ocr.text_rec.rec_batch_num
    for b in BATCH_SIZES:
        ocr.text_rec.rec_batch_num = b
        ocr.text_rec(images[:b])
        rates[b] = len(images) / _timed(ocr.text_rec, images, b)
    ocr.text_rec.rec_batch_num = default_batch  # pages as the library reads them by default
    page_s = _page_seconds(lambda path: ocr(path, use_det=True, use_cls=True, use_rec=True), pages)
    return SpeedResult("rapidocr", len(images), rates, page_s, len(pages), _vm_hwm_mib(), "process high-water mark")


def _run_ppocrv6(job: SpeedJob, crops, pages) -> SpeedResult:
    from rapidocr import RapidOCR
    from rapidocr.ch_ppocr_rec.typings import TextRecInput

    ocr = RapidOCR(params=PPOCRV6_PARAMS)
    rec = ocr._load_rec_model()  # the library's own recognizer object, as its __call__ uses it
    images = [im for im, _lang in crops]
    rates = {}
    default_batch = rec.rec_batch_num
    for b in BATCH_SIZES:
        rec.rec_batch_num = b
        rec(TextRecInput(img=images[:b]))
        rates[b] = len(images) / _timed(lambda items: rec(TextRecInput(img=list(items))), images, b)
    rec.rec_batch_num = default_batch  # pages as the library reads them by default
    page_s = _page_seconds(lambda path: ocr(path, use_det=True, use_cls=True, use_rec=True), pages)
    return SpeedResult("ppocrv6", len(images), rates, page_s, len(pages), _vm_hwm_mib(), "process high-water mark")


def _run_tesseract(job: SpeedJob, crops, pages) -> SpeedResult:
    exe = shutil.which("tesseract")
    if exe is None:
        raise RuntimeError("the tesseract executable is not on PATH")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    langs = {"zh": job.tesseract_zh_lang, "en": "eng"}

    def run(path: str, lang: str, psm: int) -> None:
        subprocess.run([exe, path, "stdout", "-l", langs[lang], "--psm", str(psm)], check=True, capture_output=True, env=env)

    # Tesseract reads files: write the decoded crops back out so every engine reads the same pixels.
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, (im, lang) in enumerate(crops):
            path = str(Path(tmp) / f"{i:04d}.png")
            cv2.imwrite(path, im)
            files.append((path, lang))
        run(*files[0], 7)
        start = time.perf_counter()
        for path, lang in files:
            run(path, lang, 7)
        rates = {1: len(files) / (time.perf_counter() - start)}
    start = time.perf_counter()
    for path, lang in pages:
        run(path, lang, job.tesseract_page_psm)
    page_s = (time.perf_counter() - start) / len(pages)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return SpeedResult("tesseract", len(files), rates, page_s, len(pages), peak, "largest tesseract process (one per image)")


RUNNERS = {"crnn": _run_crnn, "rapidocr": _run_rapidocr, "ppocrv6": _run_ppocrv6, "tesseract": _run_tesseract}


def _child(job: SpeedJob, queue) -> None:
    try:
        import cv2

        cv2.setNumThreads(1)
        crops = []
        for path, lang in job.crops:
            im = cv2.imread(path, cv2.IMREAD_COLOR)
            if im is None:
                raise RuntimeError(f"cannot decode {path}")
            crops.append((im, lang))
        queue.put(RUNNERS[job.engine](job, crops, list(job.pages)))
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
