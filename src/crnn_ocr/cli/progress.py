"""Progress on stderr while a command works through its inputs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, TypeVar

T = TypeVar("T")


class Progress:
    """A progress bar on stderr (tqdm when installed, else a one-line counter); ``write`` prints a
    message above it. Disabled: messages go straight to stderr."""

    def __init__(self, total: int, enabled: bool, stream: IO[str], unit: str = "img") -> None:
        self.total, self.done, self.stream = total, 0, stream
        self._tqdm = None
        self.enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                self._tqdm = tqdm(total=total, file=stream, unit=unit, leave=False)

    def write(self, message: str) -> None:
        if self._tqdm is not None:
            self._tqdm.write(message, file=self.stream)
            return
        if self.enabled:
            self.stream.write("\r\x1b[K")
        self.stream.write(message + "\n")
        self._draw()

    def advance(self) -> None:
        self.done += 1
        if self._tqdm is not None:
            self._tqdm.update(1)
        else:
            self._draw()

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        elif self.enabled:
            self.stream.write("\r\x1b[K")
        self.stream.flush()

    def _draw(self) -> None:
        if self.enabled and self._tqdm is None:
            filled = 30 * self.done // max(self.total, 1)
            self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            self.stream.flush()


def with_progress(items: Sequence[T], progress: Progress) -> Iterator[T]:
    """``items``, advancing ``progress`` after each; closes it at the end."""
    try:
        for item in items:
            yield item
            progress.advance()
    finally:
        progress.close()
