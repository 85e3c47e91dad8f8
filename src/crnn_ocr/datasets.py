"""Labelled lines in PaddleOCR's file formats, the held-out share of a user's dataset, and page
sets (``folder/pages/NAME.png`` with its ``NAME.txt``: ``read_page_set``).

Two formats, UTF-8, one sample a line (blank lines skipped):

- recognition labels (PaddleOCR's ``rec_gt_*.txt``, our ``labels.tsv``)::

      crops/0a1b2c.png<TAB>the line's text

  the path relative to the label file's folder; the text is everything after the first tab;
- detection labels (PPOCRLabel's ``Label.txt``)::

      pages/3f4e.png<TAB>[{"transcription": "text", "points": [[x, y], [x, y], [x, y], [x, y]]}, ...]

  the path relative to the folder above Label.txt's (PPOCRLabel keeps Label.txt inside the image
  folder and names images ``folder/name``); ``"difficult": true`` or the text ``###`` marks a
  line not to learn from.

The held-out share: a line belongs to the evaluation side or the training side by its
``line_key`` (SHA-256 of its page image's SHA-256 and its box), so the same line is always on the
same side, whatever else the dataset holds and however often it is exported.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from crnn_ocr.errors import DatasetError, LabelFileError
from crnn_ocr.types import Box

#: Share of a dataset's lines kept for evaluation (never trained on).
HELDOUT_SHARE = 0.1
#: PaddleOCR's transcription for a line not to learn from.
DONT_CARE = "###"
MAX_TEXT_CHARS = 1000

_DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_dataset_name(name: str) -> str:
    """``name`` when it can name a dataset (and a folder): 1-64 letters, digits, ``.``, ``_``,
    ``-``, starting with a letter or digit; else DatasetError."""
    if not _DATASET_NAME.fullmatch(name):
        raise DatasetError(
            f"invalid dataset name {name[:80]!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def check_text(text: str, where: str = "text") -> str:
    """A line's label: not blank, one line (no tab or line break, which the label files use), at
    most MAX_TEXT_CHARS characters; else DatasetError."""
    if not text.strip():
        raise DatasetError(f"{where}: a line's text may not be blank")
    if any(c in text for c in "\t\r\n"):
        raise DatasetError(f"{where}: a line's text may not hold a tab or a line break")
    if len(text) > MAX_TEXT_CHARS:
        raise DatasetError(f"{where}: a line's text has more than {MAX_TEXT_CHARS} characters")
    return text


def box_from_points(points: Sequence[Sequence[float]], where: str = "box") -> Box:
    """Four finite ``[x, y]`` corners (clockwise from the text's top-left) with some area, as a Box;
    else DatasetError."""
    try:
        pts = [(float(p[0]), float(p[1])) for p in points if len(p) == 2]
    except (TypeError, ValueError, IndexError) as exc:
        raise DatasetError(f"{where}: expected four [x, y] points, got {str(points)[:200]}") from exc
    if len(pts) != 4 or len(points) != 4:
        raise DatasetError(f"{where}: expected four [x, y] points, got {str(points)[:200]}")
    if not all(math.isfinite(v) for p in pts for v in p):
        raise DatasetError(f"{where}: the points must be finite numbers")
    area = 0.5 * abs(sum(pts[i][0] * pts[i - 1][1] - pts[i - 1][0] * pts[i][1] for i in range(4)))
    if area < 1.0:
        raise DatasetError(f"{where}: the box {[list(p) for p in pts]} has no area")
    return Box((pts[0], pts[1], pts[2], pts[3]))


def line_key(image_sha256: str, box: Box) -> str:
    """The stable key of a line: SHA-256 of its page image's SHA-256 and its box (rounded to 0.01 px)."""
    return hashlib.sha256(f"{image_sha256}\n{json.dumps(box.to_list())}".encode()).hexdigest()


def is_heldout(key: str, share: float = HELDOUT_SHARE) -> bool:
    """Whether the line with ``line_key`` ``key`` is kept for evaluation (``share`` of all keys)."""
    return int(key[:8], 16) < share * 2**32


def check_relative_path(path: str, where: str) -> PurePosixPath:
    """A label's image path that stays inside its dataset: relative, no ``..``; else LabelFileError."""
    posix = PurePosixPath(path.strip().replace("\\", "/"))
    if not posix.parts or posix.is_absolute() or ".." in posix.parts or re.match(r"[A-Za-z]:", str(posix)):
        raise LabelFileError(f"{where}: image path {path[:200]!r} must be relative and stay inside the dataset")
    return posix


def _lines(content: str) -> list[str]:
    """The lines of a label file: split at ``\n`` only (a text may hold any other character),
    without a leading BOM or the ``\r`` of CRLF line ends."""
    return [line.removesuffix("\r") for line in content.removeprefix("\ufeff").split("\n")]


# ---- recognition labels ----------------------------------------------------------------------


@dataclass(frozen=True)
class RecLabel:
    """One line image and its text."""

    path: str
    text: str


def parse_rec_labels(content: str, where: str) -> list[RecLabel]:
    """``relative/path<TAB>text`` lines (``where``: the file, for messages); LabelFileError on a
    line without a tab or with an empty path."""
    labels = []
    for number, line in enumerate(_lines(content), start=1):
        if not line.strip():
            continue
        relative, tab, text = line.partition("\t")
        if not tab:
            raise LabelFileError(f"{where}:{number}: expected 'relative/path<TAB>text', found no tab in {line[:200]!r}")
        if not relative.strip():
            raise LabelFileError(f"{where}:{number}: empty image path in {line[:200]!r}")
        labels.append(RecLabel(relative, text))
    return labels


def format_rec_labels(labels: Iterable[RecLabel]) -> str:
    return "".join(f"{label.path}\t{label.text}\n" for label in labels)


def read_labels(tsv_path: str | Path) -> list[tuple[Path, str]]:
    """Read a labels.tsv (``relative/path<TAB>text``, UTF-8); paths resolved against its folder.

    Blank lines are skipped; the text keeps everything after the first tab (minus the line end).
    Raises FileNotFoundError if the file is missing and LabelFileError for a malformed line.
    """
    tsv_path = Path(tsv_path)
    folder = tsv_path.resolve().parent
    content = tsv_path.read_bytes().decode("utf-8-sig")
    return [(folder / label.path, label.text) for label in parse_rec_labels(content, str(tsv_path))]


# ---- detection labels (PPOCRLabel) -----------------------------------------------------------


@dataclass(frozen=True)
class DetLine:
    text: str
    box: Box
    difficult: bool = False  # a line not to learn from ("###" or "difficult": true)


@dataclass(frozen=True)
class DetLabel:
    """One page image and its lines."""

    path: str
    lines: tuple[DetLine, ...]


def parse_det_labels(content: str, where: str) -> list[DetLabel]:
    """PPOCRLabel ``Label.txt`` lines; LabelFileError naming the line on any malformed one."""
    labels = []
    for number, line in enumerate(_lines(content), start=1):
        if not line.strip():
            continue
        at = f"{where}:{number}"
        path, tab, annotations = line.partition("\t")
        if not tab or not path.strip():
            raise LabelFileError(f"{at}: expected 'path<TAB>[{{\"transcription\": ..., \"points\": ...}}]'")
        try:
            items = json.loads(annotations)
        except ValueError as exc:
            raise LabelFileError(f"{at}: the annotations are not JSON ({exc})") from exc
        if not isinstance(items, list):
            raise LabelFileError(f"{at}: the annotations must be a JSON list of lines")
        labels.append(DetLabel(path, tuple(_det_line(item, f"{at}: line {i + 1}") for i, item in enumerate(items))))
    return labels


def _det_line(item: object, at: str) -> DetLine:
    if not isinstance(item, dict) or not isinstance(item.get("transcription"), str) or "points" not in item:
        raise LabelFileError(f"{at}: expected {{\"transcription\": TEXT, \"points\": [[x, y] * 4]}}")
    points = item["points"]
    if not isinstance(points, list) or not all(isinstance(p, list) for p in points):
        raise LabelFileError(f"{at}: points must be a list of [x, y]")
    try:
        box = box_from_points(points, at)
    except DatasetError as exc:
        raise LabelFileError(str(exc)) from None
    text = item["transcription"]
    return DetLine(text, box, difficult=bool(item.get("difficult")) or text == DONT_CARE)


def format_det_labels(labels: Iterable[DetLabel]) -> str:
    rows = []
    for label in labels:
        items = [
            {"transcription": DONT_CARE if line.difficult else line.text, "points": line.box.to_list(),
             "difficult": line.difficult}
            for line in label.lines
        ]
        rows.append(f"{label.path}\t{json.dumps(items, ensure_ascii=False)}\n")
    return "".join(rows)


# ---- page sets (benchmarks, crnn_ocr.model_compare) ------------------------------------------

PAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def read_page_text(txt_path: Path) -> str:
    """A page's ground truth: its non-blank lines, right-stripped, joined by "\\n"."""
    lines = txt_path.read_text(encoding="utf-8-sig").splitlines()
    return "\n".join(line.rstrip() for line in lines if line.strip())


def read_page_set(folder: str | Path) -> list[tuple[Path, str]]:
    """``folder/pages/NAME.png`` (or .jpg) with its ``NAME.txt`` ground truth, by name.
    FileNotFoundError for a page without one."""
    pages = Path(folder) / "pages"
    pairs = []
    for image in sorted(p for p in pages.iterdir() if p.suffix.lower() in PAGE_SUFFIXES):
        txt = image.with_suffix(".txt")
        if not txt.is_file():
            raise FileNotFoundError(f"page {image} has no ground truth {txt.name}")
        pairs.append((image, read_page_text(txt)))
    return pairs
