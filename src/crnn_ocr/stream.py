"""Live OCR on a stream of frames (a camera, a shared screen, a video): no HTTP here, so the
server's ``WS /api/v1/stream`` and ``crnn-ocr stream`` share it.

``StreamSession.process`` lists the steps for one frame in order:

    decode → changed since the last frame read? (``ChangeDetector``; no: skip the OCR)
           → OCR → match the lines to the lines already on screen (``LineTracker``) → FrameResult

Frames arrive faster than a CPU reads them, so they wait in a ``FrameSlot`` that holds one frame:
a newer frame replaces the one waiting, which is dropped (counted, its id reported with the next
result). Memory stays bounded whatever the sender does, and each result is about the newest
frame, which is what a live view wants.

A line that stays on screen keeps its id across frames, and its best reading so far (the one with
the largest ``confidence * len(text)``: a whole line read surely beats a cut or unsure one), so the
transcript does not flicker. A line is reported (``new``) once it was seen in ``confirm_frames``
frames, an unchanged frame counting as a sighting, and its best reading reached
``report_confidence``: a line glimpsed once, or read as noise, never reaches the transcript. Lines
whose box touches the frame's edge are cut (half scrolled in or out of view) and are not tracked.
"""

from __future__ import annotations

import collections
import struct
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cv2
import numpy as np
from rapidfuzz import fuzz

from crnn_ocr.errors import ImageError
from crnn_ocr.io import load_image
from crnn_ocr.types import Box, Line, OCROptions, Timings

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR

#: A binary frame message: 4-byte big-endian frame id, 8-byte big-endian float64 timestamp (the
#: sender's clock, in milliseconds, echoed back), then the encoded image (JPEG, PNG, WebP).
FRAME_HEADER = struct.Struct(">Id")


class FrameError(ImageError):
    """A frame message that is not a frame (too short for its header)."""

    code = "invalid_frame"


@dataclass(frozen=True)
class Frame:
    """One frame: ``image`` is encoded bytes or a decoded uint8 array; ``received`` is
    ``time.monotonic()`` when it arrived (latency is measured from it)."""

    frame_id: int
    timestamp: float
    image: bytes | np.ndarray
    received: float


def encode_frame(frame_id: int, timestamp: float, image: bytes) -> bytes:
    """The binary message of one frame (see ``FRAME_HEADER``)."""
    return FRAME_HEADER.pack(frame_id, timestamp) + image


def parse_frame(message: bytes, received: float | None = None) -> Frame:
    """A binary frame message as a Frame (its image still encoded). Raises FrameError."""
    if len(message) <= FRAME_HEADER.size:
        raise FrameError(
            f"a frame message is {FRAME_HEADER.size} header bytes (uint32 frame id, float64 timestamp, "
            f"big-endian) followed by the image; got {len(message)} bytes"
        )
    frame_id, timestamp = FRAME_HEADER.unpack_from(message)
    return Frame(frame_id, timestamp, message[FRAME_HEADER.size :], time.monotonic() if received is None else received)


@dataclass(frozen=True)
class StreamConfig:
    """How a stream decides what changed and which lines are the same.

    ``change_pixels``: fraction of a 160-pixel-wide grey thumbnail that must differ (by more than
    ``change_level`` grey levels) from the last frame read for a frame to be read again.
    ``confirm_frames``: sightings before a line is reported. ``max_missing``: frames read without
    a line before it is forgotten. ``similarity``: least text similarity (0..1, rapidfuzz ratio)
    of two readings of one line; overlapping boxes are required too unless the texts are at least
    ``move_similarity`` alike (a line scrolled further than its height). ``report_confidence``:
    least confidence of a line's best reading before it is reported.
    """

    change_pixels: float = 0.002
    change_level: int = 24
    confirm_frames: int = 2
    max_missing: int = 2
    similarity: float = 0.6
    move_similarity: float = 0.9
    report_confidence: float = 0.5


# ---- dropping: one frame waits ----------------------------------------------------------------


class FrameSlot:
    """Holds at most one waiting frame; ``put`` of a newer one drops the one waiting. Thread-safe:
    one side puts (a socket reader), the other takes (the OCR loop)."""

    capacity = 1

    def __init__(self) -> None:
        self._frame: Frame | None = None
        self._closed = False
        self._cond = threading.Condition()
        self.received = 0
        self.dropped: list[int] = []  # ids dropped since the last take
        self.dropped_total = 0
        self.max_pending = 0  # most frames ever waiting at once: never above ``capacity``

    def put(self, frame: Frame) -> Frame | None:
        """Make ``frame`` the waiting one; the frame it replaced (dropped), if any."""
        with self._cond:
            replaced, self._frame = self._frame, frame
            self.received += 1
            if replaced is not None:
                self.dropped.append(replaced.frame_id)
                self.dropped_total += 1
            self.max_pending = max(self.max_pending, self.pending)
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = 0.0) -> tuple[Frame | None, tuple[int, ...]]:
        """The waiting frame (None if none came within ``timeout`` seconds, None: forever, or the
        slot is closed) and the ids dropped since the last take."""
        with self._cond:
            if timeout != 0.0:
                self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout)
            frame, self._frame = self._frame, None
            dropped, self.dropped = tuple(self.dropped), []
            return frame, dropped

    def drop(self, frame: Frame) -> None:
        """Count ``frame``, taken but never read (no inference slot was free), as dropped."""
        with self._cond:
            self.dropped.append(frame.frame_id)
            self.dropped_total += 1

    def close(self) -> None:
        """No more frames: a blocked ``take`` returns what is waiting, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        return 0 if self._frame is None else 1


# ---- skipping: did the frame change? ----------------------------------------------------------


class ChangeDetector:
    """Compares a small grey thumbnail of each frame with the one of the last frame read."""

    WIDTH = 160

    def __init__(self, change_pixels: float, change_level: int) -> None:
        self.change_pixels = change_pixels
        self.change_level = change_level
        self._reference: np.ndarray | None = None

    def thumbnail(self, image: np.ndarray) -> np.ndarray:
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        h, w = gray.shape
        size = (self.WIDTH, max(1, round(h * self.WIDTH / w)))
        return cv2.resize(gray, size, interpolation=cv2.INTER_AREA).astype(np.int16)

    def changed(self, image: np.ndarray) -> bool:
        """Whether ``image`` differs from the last frame this returned True for (the first: yes);
        if so it becomes the reference."""
        thumb = self.thumbnail(image)
        ref = self._reference
        if ref is not None and ref.shape == thumb.shape:
            moved = float(np.mean(np.abs(thumb - ref) > self.change_level))
            if moved < self.change_pixels:
                return False
        self._reference = thumb
        return True


# ---- tracking: the same line across frames ----------------------------------------------------


@dataclass(frozen=True)
class TrackedLine:
    """A line on screen: ``text``/``confidence`` are its best reading so far, ``box`` where it is
    now; ``new``: reported for the first time with this frame."""

    id: int
    text: str
    confidence: float
    box: Box
    first_frame: int
    seen: int
    new: bool = False

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "text": self.text,
            "confidence": round(float(self.confidence), 4),
            "box": self.box.to_list(),
            "first_frame": self.first_frame,
            "seen": self.seen,
            "new": self.new,
        }


@dataclass
class _Track:
    id: int
    text: str
    confidence: float
    box: Box
    last_text: str
    first_frame: int
    seen: int = 1
    missing: int = 0
    reported: bool = False

    def read(self, line: Line) -> None:
        self.box, self.last_text, self.seen, self.missing = line.box, line.text, self.seen + 1, 0
        if line.confidence * len(line.text) > self.confidence * len(self.text):
            self.text, self.confidence = line.text, line.confidence


def iou(a: Box, b: Box) -> float:
    """Intersection over union of the axis-aligned bounds of two boxes."""
    ax0, ay0, ax1, ay1 = a.bounds
    bx0, by0, bx1, by1 = b.bounds
    w, h = min(ax1, bx1) - max(ax0, bx0), min(ay1, by1) - max(ay0, by0)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter)


class LineTracker:
    """Gives the lines of successive frames stable ids (see the module docstring)."""

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, lines: Sequence[Line], frame_id: int) -> tuple[TrackedLine, ...]:
        """The lines of a frame read, matched to the tracks: best pairs first (text similarity +
        box overlap), one to one; unmatched lines start tracks, unmatched tracks age."""
        cfg = self.config
        pairs = []
        for ti, track in enumerate(self._tracks):
            for li, line in enumerate(lines):
                sim = max(fuzz.ratio(track.text, line.text), fuzz.ratio(track.last_text, line.text)) / 100
                overlap = iou(track.box, line.box)
                if sim >= cfg.similarity and (overlap > 0 or sim >= cfg.move_similarity):
                    pairs.append((sim + overlap, ti, li))
        matched_tracks, matched_lines = set(), {}
        for _, ti, li in sorted(pairs, reverse=True):
            if ti not in matched_tracks and li not in matched_lines:
                matched_tracks.add(ti)
                matched_lines[li] = self._tracks[ti]
        for ti, track in enumerate(self._tracks):
            if ti not in matched_tracks:
                track.missing += 1
        for li, line in enumerate(lines):
            if li in matched_lines:
                matched_lines[li].read(line)
            else:
                track = _Track(self._next_id, line.text, line.confidence, line.box, line.text, frame_id)
                self._next_id += 1
                matched_lines[li] = track
                self._tracks.append(track)
        self._tracks = [t for t in self._tracks if t.missing <= cfg.max_missing]
        return self._report([matched_lines[li] for li in range(len(lines))])

    def hold(self) -> tuple[TrackedLine, ...]:
        """An unchanged frame: every line on screen is seen once more, where it was."""
        on_screen = [t for t in self._tracks if t.missing == 0]
        for track in on_screen:
            track.seen += 1
        return self._report(on_screen)

    def _report(self, tracks: Sequence[_Track]) -> tuple[TrackedLine, ...]:
        out = []
        for t in tracks:
            if t.seen < self.config.confirm_frames or t.confidence < self.config.report_confidence:
                continue
            new, t.reported = not t.reported, True
            out.append(TrackedLine(t.id, t.text, t.confidence, t.box, t.first_frame, t.seen, new))
        return tuple(out)


def _cut(box: Box, width: int, height: int) -> bool:
    """Whether ``box`` touches the edge of a ``width`` x ``height`` frame."""
    x0, y0, x1, y1 = box.bounds
    return x0 <= 1 or y0 <= 1 or x1 >= width - 1 or y1 >= height - 1


# ---- one stream -------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamStats:
    """Counters of a stream so far. ``fps``: frames answered per second over the last
    ``StreamSession.WINDOW_S`` seconds; ``latency_ms``: arrival to answer of this frame,
    ``mean_latency_ms`` over the frames of that window."""

    received: int
    processed: int
    skipped: int
    dropped: int
    pending: int
    max_pending: int
    fps: float
    latency_ms: float
    mean_latency_ms: float

    def to_dict(self) -> dict:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class FrameResult:
    """The answer for one frame: ``skipped`` when it had not changed (no OCR: the lines still
    on screen); ``dropped``: ids of frames replaced while waiting since the previous answer."""

    frame_id: int
    timestamp: float
    width: int
    height: int
    skipped: bool
    lines: tuple[TrackedLine, ...]
    dropped: tuple[int, ...]
    stats: StreamStats
    timings: Timings = field(default_factory=Timings)

    @property
    def new_lines(self) -> tuple[TrackedLine, ...]:
        return tuple(line for line in self.lines if line.new)

    def to_dict(self) -> dict:
        return {
            "frame_id": self.frame_id,
            "timestamp": self.timestamp,
            "width": self.width,
            "height": self.height,
            "skipped": self.skipped,
            "lines": [line.to_dict() for line in self.lines],
            "new": [line.id for line in self.lines if line.new],
            "dropped": list(self.dropped),
            "stats": self.stats.to_dict(),
            "timings": self.timings.to_dict(),
        }


class StreamSession:
    """One stream over a built ``OCR``: ``offer`` frames as they arrive (any thread), ``next``
    takes the one to read, ``process`` reads it (one at a time). ``max_pixels``: largest frame
    (None: the OCR's limit)."""

    WINDOW_S = 5.0

    def __init__(
        self, ocr: OCR, options: OCROptions | None = None, config: StreamConfig | None = None,
        max_pixels: int | None = None,
    ) -> None:
        self.ocr = ocr
        self.max_pixels = ocr.max_pixels if max_pixels is None else max_pixels
        self.options = ocr.check_options(options)
        self.config = config or StreamConfig()
        self.slot = FrameSlot()
        self.changes = ChangeDetector(self.config.change_pixels, self.config.change_level)
        self.tracker = LineTracker(self.config)
        self.processed = 0
        self.skipped = 0
        self.transcript: dict[int, TrackedLine] = {}  # every line reported, by id, in order of appearance
        self._answered: collections.deque[tuple[float, float]] = collections.deque()  # (time, latency s)

    def offer(self, frame: Frame) -> Frame | None:
        """Let ``frame`` wait to be read; the frame it replaced (dropped), if any."""
        return self.slot.put(frame)

    def next(self, timeout: float | None = 0.0) -> tuple[Frame | None, tuple[int, ...]]:
        """The frame to read next (see ``FrameSlot.take``) and the ids dropped before it."""
        return self.slot.take(timeout)

    def process(self, frame: Frame, dropped: tuple[int, ...] = ()) -> FrameResult:
        """Read one frame (skipping the OCR when it did not change). Raises ImageError."""
        image = load_image(frame.image, max_pixels=self.max_pixels)
        if self.changes.changed(image):
            page = self.ocr(image, self.options)
            whole = [line for line in page.lines if not _cut(line.box, page.width, page.height)]
            lines, timings, skipped = self.tracker.update(whole, frame.frame_id), page.timings, False
            self.processed += 1
        else:
            lines, timings, skipped = self.tracker.hold(), Timings(), True
            self.skipped += 1
        for line in lines:
            self.transcript[line.id] = line
        height, width = image.shape[:2]
        return FrameResult(
            frame.frame_id, frame.timestamp, width, height, skipped, lines, dropped, self._answered_now(frame), timings
        )

    def close(self) -> None:
        self.slot.close()

    def stats(self) -> StreamStats:
        """The counters now (latencies: of the frames answered in the last ``WINDOW_S`` seconds)."""
        window = self._answered
        span = window[-1][0] - window[0][0] if window else 0.0
        slot = self.slot
        return StreamStats(
            received=slot.received,
            processed=self.processed,
            skipped=self.skipped,
            dropped=slot.dropped_total,
            pending=slot.pending,
            max_pending=slot.max_pending,
            fps=(len(window) - 1) / span if span > 0 else 0.0,
            latency_ms=window[-1][1] * 1000 if window else 0.0,
            mean_latency_ms=sum(lat for _, lat in window) / len(window) * 1000 if window else 0.0,
        )

    def _answered_now(self, frame: Frame) -> StreamStats:
        now = time.monotonic()
        window = self._answered
        window.append((now, now - frame.received))
        while window[0][0] < now - self.WINDOW_S:
            window.popleft()
        return self.stats()


# ---- driving a session from frames on hand (the CLI, benchmarks) ------------------------------


def read_every(session: StreamSession, frames: Iterable[Frame]) -> Iterator[FrameResult]:
    """Each frame read in turn, none dropped: a recording read as fast as the CPU allows."""
    for frame in frames:
        yield session.process(frame)


def follow(session: StreamSession, frames: Iterable[Frame]) -> Iterator[FrameResult]:
    """A live source: ``frames`` are taken on a thread of their own as they come, and those that
    arrive while one is being read are dropped but the newest (``FrameSlot``). Errors of the
    source are raised here after the frames before them are answered."""
    failure: list[BaseException] = []

    def pump() -> None:
        try:
            for frame in frames:
                session.offer(frame)
        except BaseException as exc:  # noqa: BLE001 - handed to the reading side
            failure.append(exc)
        finally:
            session.close()

    thread = threading.Thread(target=pump, name="crnn-ocr-frames", daemon=True)
    thread.start()
    while True:
        frame, dropped = session.next(timeout=None)
        if frame is None:
            break
        yield session.process(frame, dropped)
    thread.join()
    if failure:
        raise failure[0]
