"""What a command reads: its path arguments expanded to files (folders recursively, globs), each
with where its output goes, and http(s) URLs set apart for a server to fetch (``submit``)."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crnn_ocr.errors import ImageNotFoundError, OCRError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})
#: What folders and globs are searched for: images and PDFs.
INPUT_EXTENSIONS = IMAGE_EXTENSIONS | {".pdf"}
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class InputItem:
    """One file to read (an image or a PDF), or the reason an argument gave none.

    ``relative``: where its output goes below an output folder: the path below the folder argument
    it was found in, else the file name.
    """

    path: str
    error: OCRError | None = None
    relative: str = ""
    from_folder: bool = False


def expand_inputs(args: Sequence[str]) -> list[InputItem]:
    """Files as given, folders (recursively: image and PDF extensions, sorted) and globs (sorted),
    in argument order. A folder or glob that yields no file becomes an item carrying the error;
    a path that does not exist is kept and fails when it is read."""
    items: list[InputItem] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            found = [InputItem(str(f), relative=f.relative_to(path).as_posix(), from_folder=True) for f in _files_under(path)]
            missing = "no image files (or PDFs) in folder"
        elif not path.exists() and _GLOB_CHARS & set(arg):
            found = []
            for m in (Path(m) for m in sorted(glob.glob(arg, recursive=True))):
                if m.is_dir():
                    found += [InputItem(str(f), relative=f.relative_to(m.parent).as_posix(), from_folder=True)
                              for f in _files_under(m)]
                else:
                    found.append(InputItem(str(m), relative=m.name, from_folder=True))
            missing = "no file matches"
        else:
            found, missing = [InputItem(str(path), relative=path.name)], ""
        items += found or [InputItem(arg, ImageNotFoundError(missing), relative=path.name)]
    return items


def _files_under(folder: Path) -> list[Path]:
    """Files below ``folder`` with an image or PDF extension (any case), sorted by path."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in INPUT_EXTENSIONS and p.is_file())


def expand_inputs_and_urls(args: Sequence[str]) -> tuple[list[InputItem], list[str]]:
    """The local inputs of ``args`` expanded (``expand_inputs``), and its http(s) URLs as given."""
    from crnn_ocr.client import is_url  # httpx: imported only by the command that sends URLs

    urls = [arg for arg in args if is_url(arg)]
    return expand_inputs([arg for arg in args if not is_url(arg)]), urls
