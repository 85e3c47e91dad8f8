"""The engines the benchmarks run, one class each: ours (``crnn``) and its peers, Tesseract 5
(``tesseract``), PaddleOCR PP-OCRv4 mobile through rapidocr-onnxruntime 1.4.4 (``rapidocr``) and
PP-OCRv6 small through rapidocr 3.10 (``ppocrv6``). Every engine runs on one thread.

An engine does two things: ``read`` an eval set's image into text lines (benchmarks/compare.py
scores them) and ``speed``: its throughput on decoded line crops at each batch size, its mean page
latency and its peak memory (benchmarks/speed.py runs it in a fresh process). Adding a peer is one
class here, listed in ``ENGINES``.
"""

from __future__ import annotations

import importlib.metadata
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal, Protocol

import cv2
import numpy as np

from benchmarks.evalsets import EvalSet
from benchmarks.timing import BATCH_SIZES, SpeedResult, page_seconds, peak_rss_mib, timed

#: What ``speed`` reads: decoded line crops and page files, each with its set's language ("zh" | "en").
Crops = Sequence[tuple[np.ndarray, str]]
Pages = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class EngineSettings:
    """The command line's choices for the engines (the same in the reading and the speed runs)."""

    crnn_model: str | None = None  # None: the shipped model
    crnn_decode: Literal["default", "greedy"] = "default"  # for read(); speed() always uses the default
    tesseract_zh_lang: str = "chi_sim+eng"
    tesseract_page_psm: int = 3


class EngineUnavailable(Exception):
    """An engine that cannot run here (not installed, no model, ...); it is skipped."""


class Engine(Protocol):
    name: str
    version: str
    notes: str  # threads used and anything else that affects the numbers

    def read(self, image: Path, eval_set: EvalSet) -> list[str]:
        """The text lines read from one image (a word/line crop, or a whole page)."""
        ...

    def speed(self, crops: Crops, pages: Pages) -> SpeedResult:
        """Lines/s at each of BATCH_SIZES on ``crops``, mean seconds per page, peak memory."""
        ...


def package_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class CrnnEngine:
    """Ours: ``crnn_ocr.pipeline.OCR`` on one ONNX Runtime thread."""

    name = "crnn"

    def __init__(self, settings: EngineSettings) -> None:
        try:
            from crnn_ocr.pipeline import OCR
            from crnn_ocr.types import DecodeOptions, OCROptions

            self._ocr = OCR(model_path=settings.crnn_model, threads=1)
        except Exception as exc:  # reported as the reason the engine is skipped
            raise EngineUnavailable(f"{type(exc).__name__}: {exc}") from exc
        greedy = settings.crnn_decode == "greedy"
        dec = DecodeOptions(method="greedy") if greedy else DecodeOptions()
        self._line_options = OCROptions(detect=False, decode=dec)
        self._page_options = OCROptions(detect=True, decode=dec)
        model = getattr(self._ocr, "model_path", None) or settings.crnn_model or "default"
        self.version = f"crnn-ocr {package_version('crnn-ocr')} (model: {Path(model).name})"
        how = "greedy decoding" if greedy else "default decoding (beam 8 + character LM)"
        self.notes = f"threads=1 (ONNX Runtime intra-op); {how}; line sets with detect=False, pages with detect=True"

    def read(self, image: Path, eval_set: EvalSet) -> list[str]:
        options = self._page_options if eval_set.kind == "page" else self._line_options
        return [line.text for line in self._ocr(image, options).lines]

    def speed(self, crops: Crops, pages: Pages) -> SpeedResult:
        from crnn_ocr.recognize import Recognizer
        from crnn_ocr.types import OCROptions

        ocr = self._ocr
        images = [im for im, _lang in crops]
        rates = {}
        for b in BATCH_SIZES:
            rec = Recognizer(ocr.recognizer.engine, batch_size=b, lm=ocr.recognizer.lm)  # default decoding: beam + LM
            rec.recognize(images[:b])  # warm-up at this batch shape
            rates[b] = len(images) / timed(rec.recognize, images, b)
        options = OCROptions(detect=True)
        page_s = page_seconds(lambda path: ocr(path, options), pages)
        return SpeedResult("crnn", len(images), rates, page_s, len(pages), peak_rss_mib(), "process high-water mark")


class TesseractCli:
    """The ``tesseract`` executable: one process per call, ``OMP_THREAD_LIMIT=1``."""

    def __init__(self) -> None:
        exe = shutil.which("tesseract")
        if exe is None:
            raise EngineUnavailable("the tesseract executable is not on PATH")
        self._exe = exe
        self._env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def run(self, args: Sequence[str], stdin: bytes | None = None) -> str:
        """Its standard output for ``args`` (``stdin`` as the image when args name ``stdin``)."""
        done = subprocess.run([self._exe, *args], input=stdin, check=False, capture_output=True, env=self._env)
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", errors="replace").strip()
            raise RuntimeError(f"tesseract exited {done.returncode}: {err[-300:]}")
        return done.stdout.decode("utf-8")

    def installed_langs(self) -> set[str]:
        return set(self.run(["--list-langs"]).splitlines()[1:])  # the first line is a header


class TesseractEngine:
    """The ``tesseract`` CLI, one process per image (latency includes start-up and model load)."""

    name = "tesseract"
    PSM: ClassVar[dict[str, int]] = {"word": 8, "line": 7}

    def __init__(self, settings: EngineSettings) -> None:
        self._cli = TesseractCli()
        self._langs = {"zh": settings.tesseract_zh_lang, "en": "eng"}
        self._page_psm = settings.tesseract_page_psm
        missing = {lang for spec in self._langs.values() for lang in spec.split("+")} - self._cli.installed_langs()
        if missing:
            raise EngineUnavailable(f"tesseract languages not installed: {', '.join(sorted(missing))}")
        first_line = self._cli.run(["--version"]).splitlines()[0]
        self.version = f"{first_line} (-l {settings.tesseract_zh_lang} for zh sets, -l eng for en sets)"

    @cached_property
    def notes(self) -> str:
        """Measured when the report first asks (never in a speed run, whose peak memory it would touch)."""
        startup = ", ".join(f"{spec} {self._startup_ms(spec):.0f} ms" for spec in self._langs.values())
        return (
            f"OMP_THREAD_LIMIT=1; --psm 8 words, 7 lines, {self._page_psm} pages; one process per image, "
            f"start-up on a blank image: {startup}"
        )

    def _startup_ms(self, lang: str) -> float:
        from PIL import Image

        with tempfile.TemporaryDirectory() as tmp:
            blank = Path(tmp) / "blank.png"
            Image.new("L", (120, 40), 255).save(blank)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                self._cli.run([str(blank), "stdout", "-l", lang, "--psm", "7"])
                times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    def _read_file(self, path: str, lang: str, psm: int) -> str:
        return self._cli.run([path, "stdout", "-l", self._langs[lang], "--psm", str(psm)])

    def read(self, image: Path, eval_set: EvalSet) -> list[str]:
        psm = self._page_psm if eval_set.kind == "page" else self.PSM[eval_set.kind]
        out = self._read_file(str(image), eval_set.lang, psm)
        return [line for line in out.splitlines() if line.strip()]

    def speed(self, crops: Crops, pages: Pages) -> SpeedResult:
        """No batch mode: one process per line (batch 1 only). Peak memory: the largest child."""
        # Tesseract reads files: write the decoded crops back out so every engine reads the same pixels.
        with tempfile.TemporaryDirectory() as tmp:
            files = []
            for i, (im, lang) in enumerate(crops):
                path = str(Path(tmp) / f"{i:04d}.png")
                cv2.imwrite(path, im)
                files.append((path, lang))
            self._read_file(*files[0], 7)
            start = time.perf_counter()
            for path, lang in files:
                self._read_file(path, lang, 7)
            rates = {1: len(files) / (time.perf_counter() - start)}
        start = time.perf_counter()
        for path, lang in pages:
            self._read_file(path, lang, self._page_psm)
        page_s = (time.perf_counter() - start) / len(pages)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        return SpeedResult(
            "tesseract", len(files), rates, page_s, len(pages), peak, "largest tesseract process (one per image)"
        )


#: How both RapidOCR engines are run (their notes in the report).
RAPIDOCR_NOTES = (
    "intra/inter_op_num_threads=1; line sets: use_det=False, use_cls=False; "
    "pages: use_det=True, use_cls=True (library defaults, text_score 0.5)"
)

#: rapidocr 3.x settings for the PP-OCRv6 engine: one thread, as every engine.
PPOCRV6_PARAMS = {
    "EngineConfig.onnxruntime.intra_op_num_threads": 1,
    "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    "Global.log_level": "warning",
}


def rapidocr_version(dist: str, module_file: str) -> str:
    """Package and ONNX Runtime versions plus the ONNX models the wheel bundles."""
    models = sorted(p.stem for p in (Path(module_file).parent / "models").glob("*.onnx"))
    return f"{dist} {package_version(dist)}, onnxruntime {package_version('onnxruntime')}, models: {', '.join(models)}"


class RapidOcrEngine:
    """PaddleOCR's PP-OCR models in ONNX, through rapidocr-onnxruntime (models bundled in the wheel)."""

    name = "rapidocr"

    def __init__(self, settings: EngineSettings) -> None:
        try:
            import rapidocr_onnxruntime
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise EngineUnavailable(f"{exc} (pip install -e '.[bench]')") from exc
        self._ocr = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
        self.version = rapidocr_version("rapidocr-onnxruntime", rapidocr_onnxruntime.__file__)
        self.notes = RAPIDOCR_NOTES

    def read(self, image: Path, eval_set: EvalSet) -> list[str]:
        if eval_set.kind == "page":
            result, _ = self._ocr(str(image), use_det=True, use_cls=True, use_rec=True)
            return [text for _box, text, _score in result or []]
        result, _ = self._ocr(str(image), use_det=False, use_cls=False, use_rec=True)
        return [text for text, _score in result or []]

    def speed(self, crops: Crops, pages: Pages) -> SpeedResult:
        ocr = self._ocr
        images = [im for im, _lang in crops]
        rates = {}
        default_batch = ocr.text_rec.rec_batch_num
        for b in BATCH_SIZES:
            ocr.text_rec.rec_batch_num = b
            ocr.text_rec(images[:b])
            rates[b] = len(images) / timed(ocr.text_rec, images, b)
        ocr.text_rec.rec_batch_num = default_batch  # pages as the library reads them by default
        page_s = page_seconds(lambda path: ocr(path, use_det=True, use_cls=True, use_rec=True), pages)
        return SpeedResult("rapidocr", len(images), rates, page_s, len(pages), peak_rss_mib(), "process high-water mark")


class PpOcrV6Engine:
    """PaddleOCR's PP-OCRv6 small models in ONNX, through rapidocr 3.10 (its default models since
    2026, bundled in the wheel, so nothing is downloaded)."""

    name = "ppocrv6"

    def __init__(self, settings: EngineSettings) -> None:
        try:
            import rapidocr
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise EngineUnavailable(f"{exc} (make bench-deps)") from exc
        self._ocr = RapidOCR(params=PPOCRV6_PARAMS)
        self.version = rapidocr_version("rapidocr", rapidocr.__file__)
        self.notes = RAPIDOCR_NOTES

    def read(self, image: Path, eval_set: EvalSet) -> list[str]:
        page = eval_set.kind == "page"
        result = self._ocr(str(image), use_det=page, use_cls=page, use_rec=True)
        return [text for text in (result.txts or ()) if text]

    def speed(self, crops: Crops, pages: Pages) -> SpeedResult:
        from rapidocr.ch_ppocr_rec.typings import TextRecInput

        ocr = self._ocr
        rec = ocr._load_rec_model()  # the library's own recognizer object, as its __call__ uses it
        images = [im for im, _lang in crops]
        rates = {}
        default_batch = rec.rec_batch_num
        for b in BATCH_SIZES:
            rec.rec_batch_num = b
            rec(TextRecInput(img=images[:b]))
            rates[b] = len(images) / timed(lambda items: rec(TextRecInput(img=list(items))), images, b)
        rec.rec_batch_num = default_batch  # pages as the library reads them by default
        page_s = page_seconds(lambda path: ocr(path, use_det=True, use_cls=True, use_rec=True), pages)
        return SpeedResult("ppocrv6", len(images), rates, page_s, len(pages), peak_rss_mib(), "process high-water mark")


#: Every engine by name, ours first (the order of the report's tables).
ENGINES: dict[str, Callable[[EngineSettings], Engine]] = {
    engine.name: engine for engine in (CrnnEngine, TesseractEngine, RapidOcrEngine, PpOcrV6Engine)
}
ENGINE_NAMES = tuple(ENGINES)


def build_engines(names: Sequence[str], settings: EngineSettings) -> tuple[list[Engine], dict[str, str]]:
    """The engines that start, and for the others why they were skipped."""
    engines: list[Engine] = []
    skipped = {}
    for name in names:
        try:
            engines.append(ENGINES[name](settings))
        except EngineUnavailable as exc:
            skipped[name] = str(exc)
            print(f"[skip] {name}: {exc}", file=sys.stderr)
    return engines, skipped
