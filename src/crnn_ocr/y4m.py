"""YUV4MPEG2 (``.y4m``): raw video frames on a pipe, the format ``crnn-ocr stream -`` reads on
stdin (``ffmpeg ... -f yuv4mpegpipe -pix_fmt yuv420p -``) and Chromium's fake camera plays.

A stream is one header line, ``YUV4MPEG2 W<width> H<height> F<num>:<den> [other tags]``, then per
frame a line starting ``FRAME`` and the planes: Y (width * height bytes), then for 4:2:0 (``C420``,
``C420jpeg``, ``C420mpeg2``, ``C420paldv``, the default) U and V of ceil(w/2) * ceil(h/2) bytes
each; ``Cmono`` has Y only. The reader keeps Y, the grey image OCR reads, and skips the chroma.
Y is limited range (16..235, what FFmpeg and OpenCV write) unless the header says
``XCOLORRANGE=FULL``; the reader stretches it to 0..255.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import cv2
import numpy as np

from crnn_ocr.errors import CorruptImageError, ImageTooLargeError, UnsupportedImageError

MAGIC = b"YUV4MPEG2"
_MAX_LINE = 1024


@dataclass(frozen=True)
class Y4MHeader:
    width: int
    height: int
    fps: float
    chroma_bytes: int  # per frame, after the Y plane
    full_range: bool  # Y in 0..255 (else 16..235)


def _line(stream: BinaryIO, what: str) -> bytes | None:
    line = stream.readline(_MAX_LINE)
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise CorruptImageError(f"y4m {what} line is longer than {_MAX_LINE} bytes or cut short")
    return line[:-1]


def read_header(stream: BinaryIO, max_pixels: int) -> Y4MHeader:
    raw = stream.readline(_MAX_LINE)
    if not raw.startswith(MAGIC + b" "):
        raise UnsupportedImageError("the input is not a y4m stream: it must start with 'YUV4MPEG2 '")
    if not raw.endswith(b"\n"):
        raise CorruptImageError(f"y4m header line is longer than {_MAX_LINE} bytes or cut short")
    line = raw[:-1]
    parts = [t for t in line.split(b" ")[1:] if t]
    tags = {t[:1]: t[1:].decode("ascii", "replace") for t in parts}
    full_range = b"XCOLORRANGE=FULL" in parts
    try:
        width, height = int(tags[b"W"]), int(tags[b"H"])
    except (KeyError, ValueError):
        raise CorruptImageError(f"y4m header without a valid width and height: {line[:80]!r}") from None
    if width < 1 or height < 1:
        raise CorruptImageError(f"y4m frame size {width}x{height} is empty")
    if width * height > max_pixels:
        raise ImageTooLargeError(f"y4m frames are {width}x{height}, more than the limit of {max_pixels} pixels")
    num, _, den = tags.get(b"F", "25:1").partition(":")
    try:
        fps = int(num) / int(den or 1)
    except (ValueError, ZeroDivisionError):
        fps = 25.0
    chroma = tags.get(b"C", "420jpeg")
    if chroma == "mono":
        chroma_bytes = 0
    elif chroma.startswith("420"):
        chroma_bytes = 2 * ((width + 1) // 2) * ((height + 1) // 2)
    else:
        raise UnsupportedImageError(f"y4m colour space C{chroma} is not read; use 4:2:0 (yuv420p) or mono")
    return Y4MHeader(width, height, fps if fps > 0 else 25.0, chroma_bytes, full_range)


#: Limited-range luma (16..235) to full range (0..255).
_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255.0 / 219.0), 0, 255).astype(np.uint8)


def read_frames(stream: BinaryIO, max_pixels: int) -> Iterator[tuple[float, np.ndarray]]:
    """(time in ms from the frame rate, grey HxW uint8) for each frame of a y4m stream."""
    header = read_header(stream, max_pixels)
    size = header.width * header.height
    index = 0
    while True:
        line = _line(stream, "FRAME")
        if line is None:
            return
        if not line.startswith(b"FRAME"):
            raise CorruptImageError(f"y4m frame {index} does not start with FRAME")
        data = stream.read(size + header.chroma_bytes)
        if len(data) < size + header.chroma_bytes:
            raise CorruptImageError(f"y4m frame {index} is cut short")
        y = np.frombuffer(data, np.uint8, size).reshape(header.height, header.width)
        if not header.full_range:
            y = _TO_FULL[y]
        yield index * 1000.0 / header.fps, y
        index += 1


class Y4MWriter:
    """Writes BGR or grey frames (even width and height) as a 4:2:0 limited-range y4m stream."""

    def __init__(self, stream: BinaryIO, width: int, height: int, fps: int) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"y4m 4:2:0 frames need an even width and height, not {width}x{height}")
        self.stream, self.width, self.height = stream, width, height
        stream.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg XCOLORRANGE=LIMITED\n".encode())

    def write(self, image: np.ndarray) -> None:
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, the stream {self.width}x{self.height}")
        bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
        self.stream.write(b"FRAME\n")
        self.stream.write(cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420).tobytes())
