"""Reading many inputs for ``crnn-ocr read``: documents -> page tasks -> workers -> one result each.

    plan = plan_inputs(ocr, items, document_options)   # open each input: pages to read, or its error
    for outcome in run_pages(plan, job, jobs=2):        # PageOutcome per page, as they finish
        ...

Work is split by page, so ``--jobs N`` speeds up one long PDF as well as a folder of images.
With ``jobs == 1`` pages are read in this process by the OCR already built; with more, by a
``ProcessPoolExecutor`` of ``jobs`` processes (spawned, not forked: ONNX Runtime's threads do not
survive a fork), each building its OCR once in its initializer and keeping the document it is
reading open between pages.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crnn_ocr.documents import DocumentReader
from crnn_ocr.errors import OCRError
from crnn_ocr.types import DocumentOptions, OCROptions, Page

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR, OCRConfig


@dataclass(frozen=True)
class ReadJob:
    """What every worker needs to build its OCR and read a page (plain data: it is pickled)."""

    model: str | None
    threads: int | None
    max_pages: int
    max_pixels: int
    options: OCROptions
    document: DocumentOptions
    want_images: bool  # also return each page image as JPEG (for the searchable PDF)
    det_model: str | None = None  # learned detector model (None: $CRNN_OCR_DET_MODEL or none)
    lm: str | None = None  # character language model (None: $CRNN_OCR_LM or the shipped one)

    def ocr_config(self) -> OCRConfig:
        """What each worker builds its OCR from."""
        from crnn_ocr.pipeline import OCRConfig

        return OCRConfig(
            model=self.model, threads=self.threads, det_model=self.det_model, lm=self.lm,
            max_pixels=self.max_pixels, max_pages=self.max_pages,
        )


@dataclass(frozen=True)
class Failure:
    code: str
    message: str

    @classmethod
    def of(cls, exc: BaseException, path: str) -> Failure:
        text = str(exc) if isinstance(exc, OCRError) else f"{type(exc).__name__}: {exc}"
        if text.startswith(f"{path}: "):  # the path is printed by the caller
            text = text[len(path) + 2 :]
        return cls(exc.code if isinstance(exc, OCRError) else "internal_error", text)


@dataclass(frozen=True)
class PlannedInput:
    """One input: its page count and the pages to read, or why it cannot be read."""

    index: int
    path: str
    page_count: int = 0
    numbers: tuple[int, ...] = ()
    failure: Failure | None = None


@dataclass(frozen=True)
class PageTask:
    index: int  # of the input
    path: str
    number: int


@dataclass(frozen=True)
class PageOutcome:
    index: int
    number: int
    page: Page | None = None
    image_jpeg: bytes | None = None
    failure: Failure | None = None


def plan_inputs(ocr: OCR, paths: Sequence[str], document: DocumentOptions) -> list[PlannedInput]:
    """Open each input (headers and page counts only; limits checked) to list its pages."""
    plans = []
    for index, path in enumerate(paths):
        try:
            with ocr.open_document(path, document) as doc:
                plans.append(PlannedInput(index, path, doc.page_count, doc.numbers))
        except Exception as exc:  # noqa: BLE001 - reported per input; the others still run
            plans.append(PlannedInput(index, path, failure=Failure.of(exc, path)))
    return plans


@dataclass
class PageReader:
    """Reads page tasks with one OCR, keeping the current document open between its pages."""

    ocr: OCR
    job: ReadJob
    _open: tuple[str, DocumentReader] | None = field(default=None, repr=False)

    def read(self, task: PageTask) -> PageOutcome:
        try:
            doc = self._document(task.path)
            read = next(self.ocr.read_pages(doc, self.job.options, (task.number,)))
            jpeg = None
            if self.job.want_images:
                from crnn_ocr.searchable_pdf import encode_page_image

                jpeg = encode_page_image(read.image.image)
            return PageOutcome(task.index, task.number, read.page, jpeg)
        except Exception as exc:  # noqa: BLE001 - reported per input
            return PageOutcome(task.index, task.number, failure=Failure.of(exc, task.path))

    def _document(self, path: str) -> DocumentReader:
        if self._open is not None and self._open[0] == path:
            return self._open[1]
        self.close()
        doc = self.ocr.open_document(path, self.job.document)
        self._open = (path, doc)
        return doc

    def close(self) -> None:
        if self._open is not None:
            self._open[1].close()
            self._open = None


def build_ocr(job: ReadJob) -> OCR:
    """The OCR of one worker (``crnn_ocr.pipeline.load_ocr``, the one model builder)."""
    from crnn_ocr.pipeline import load_ocr

    return load_ocr(job.ocr_config())


# ---- worker processes --------------------------------------------------------------------------

_WORKER: PageReader | None = None


def _init_worker(job: ReadJob) -> None:
    """Process-pool initializer: build this worker's OCR once."""
    global _WORKER
    if job.threads is not None:
        import cv2

        cv2.setNumThreads(job.threads)  # this process is ours: keep OpenCV within its share of cores
    _WORKER = PageReader(build_ocr(job), job)


def _read_in_worker(task: PageTask) -> PageOutcome:
    assert _WORKER is not None, "worker used before its initializer ran"
    return _WORKER.read(task)


def run_pages(
    plans: Sequence[PlannedInput], job: ReadJob, jobs: int, ocr: OCR | None = None
) -> Iterator[PageOutcome]:
    """Every page of the readable ``plans``, read by ``jobs`` workers; outcomes as they finish
    (in order when ``jobs == 1``). ``ocr``: the OCR to use in-process when ``jobs == 1``."""
    tasks = [PageTask(p.index, p.path, n) for p in plans if p.failure is None for n in p.numbers]
    if not tasks:
        return
    jobs = min(jobs, len(tasks))  # no idle workers: one page is read in this process
    if jobs <= 1:
        reader = PageReader(ocr if ocr is not None else build_ocr(job), job)
        try:
            for task in tasks:
                yield reader.read(task)
        finally:
            reader.close()
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(job,)) as pool:
        pending: dict[Future, PageTask] = {}
        queue = iter(tasks)
        try:
            # Keep a few tasks per worker queued, not all: a long run holds little memory, and an
            # interrupted one stops soon.
            for task in queue:
                pending[pool.submit(_read_in_worker, task)] = task
                if len(pending) >= 4 * jobs:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    task = pending.pop(future)
                    yield _outcome(future, task)
                    next_task = next(queue, None)
                    if next_task is not None:
                        pending[pool.submit(_read_in_worker, next_task)] = next_task
        finally:
            for future in pending:
                future.cancel()


def _outcome(future: Future, task: PageTask) -> PageOutcome:
    try:
        return future.result()
    except BrokenProcessPool:
        failure = Failure("internal_error", "a worker process died (out of memory?) while reading this page")
    except Exception as exc:  # noqa: BLE001 - e.g. an outcome that could not be pickled
        failure = Failure.of(exc, task.path)
    return PageOutcome(task.index, task.number, failure=failure)


def default_threads(jobs: int) -> int | None:
    """ONNX Runtime threads per worker when not given: the CPUs shared out (None for one job)."""
    if jobs <= 1:
        return None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cpus // jobs)
