"""Frame sources of ``crnn-ocr stream``: a video file through OpenCV, or a y4m stream on a pipe
(``crnn_ocr.y4m``), as ``crnn_ocr.stream.Frame`` values, sampled to at most ``fps`` frames per
second of video time (0: every frame). Frame ids count the source's frames from 0; timestamps
are the video time in milliseconds."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path
import cv2
import numpy as np

from crnn_ocr.errors import ImageNotFoundError, UnsupportedImageError
from crnn_ocr.stream import Frame


def sampled(frames: Iterable[tuple[float, np.ndarray]], fps: float) -> Iterator[Frame]:
    """(time ms, image) pairs as Frames, keeping one per 1/``fps`` s of video time (0: all)."""
    step = 1000.0 / fps if fps > 0 else 0.0
    due = 0.0
    for index, (ms, image) in enumerate(frames):
        if ms + 1e-6 >= due:
            yield Frame(index, ms, image, time.monotonic())
            due = ms + step if step else 0.0


def video_file_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """(time ms, BGR image) of each frame of a video file OpenCV can decode (FFmpeg backend)."""
    if not Path(path).is_file():
        raise ImageNotFoundError(f"{path}: no such file")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise UnsupportedImageError(f"{path}: could not open it as a video")
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        index = 0
        while True:
            ok, image = capture.read()
            if not ok:
                if index == 0:
                    raise UnsupportedImageError(f"{path}: could not open it as a video (no frame decoded)")
                return
            yield index * 1000.0 / fps, image
            index += 1
    finally:
        capture.release()

