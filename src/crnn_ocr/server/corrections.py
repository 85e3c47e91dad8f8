"""Corrected lines, kept as labelled samples in named datasets (SQLite or PostgreSQL:
``crnn_ocr.server.sqlite``).

Two tables. ``correction_pages``: a page lines were corrected on (owner, dataset, the SHA-256 of
the image as sent, its size, and the page as PNG only when the user opted in to keeping training
data). ``correction_lines``: a corrected line (its box as four points in page pixels, the
corrected text, the text and confidence the model had read, the line crop as PNG only with the
opt-in, when). Lines imported from recognition labels have a crop and no page.

A line is known by its ``line_key`` (``crnn_ocr.datasets``): correcting the same line again
replaces its text, and the key decides on which side of the held-out split the line stands.
Every record belongs to an owner (the API key's id, ``anonymous`` without keys), scoped like the
history: another owner's dataset does not exist for the caller. Nothing here expires: training
data stays until its owner deletes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from crnn_ocr.datasets import box_from_points, check_dataset_name, check_text, is_heldout, line_key
from crnn_ocr.detect import crop_box
from crnn_ocr.errors import DatasetError, UnknownDatasetError
from crnn_ocr.io import load_image
from crnn_ocr.server.sqlite import open_database, owner_clause, page_clause
from crnn_ocr.types import Box

_SCHEMA = """
CREATE TABLE IF NOT EXISTS correction_pages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner TEXT NOT NULL,
  dataset TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  image BLOB,
  created_at REAL NOT NULL,
  UNIQUE (owner, dataset, sha256)
);
CREATE TABLE IF NOT EXISTS correction_lines (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner TEXT NOT NULL,
  dataset TEXT NOT NULL,
  page_id INTEGER REFERENCES correction_pages (id) ON DELETE CASCADE,
  line_key TEXT NOT NULL,
  box TEXT NOT NULL,
  text TEXT NOT NULL,
  original_text TEXT,
  confidence REAL,
  crop BLOB,
  created_at REAL NOT NULL,
  UNIQUE (owner, dataset, line_key)
);
CREATE INDEX IF NOT EXISTS correction_lines_by_dataset ON correction_lines (owner, dataset, created_at);
"""


@dataclass(frozen=True)
class Correction:
    """A line as the user corrected it: its box in page pixels and its text; what the model had
    read, when the line came from a recognition."""

    box: Box
    text: str
    original_text: str | None = None
    confidence: float | None = None


@dataclass(frozen=True)
class Corrected:
    """What ``CorrectionStore.correct`` stored: the page's SHA-256 (to refer to it next time),
    whether the page image is kept, the lines."""

    page_sha256: str
    page_image_kept: bool
    lines: list[LineRecord]


@dataclass(frozen=True)
class NewPage:
    """The page corrected lines come from; ``image``: the page as PNG (only with the opt-in)."""

    sha256: str
    width: int
    height: int
    image: bytes | None = None


@dataclass(frozen=True)
class NewLine:
    """A corrected line; ``crop``: its pixels as PNG (only with the opt-in)."""

    box: Box
    text: str
    original_text: str | None = None
    confidence: float | None = None
    crop: bytes | None = None


@dataclass(frozen=True)
class StoredPage:
    id: int
    sha256: str
    width: int
    height: int
    image: bytes | None


@dataclass(frozen=True)
class LineRecord:
    id: int
    owner: str
    dataset: str
    page_sha256: str | None
    key: str
    box: Box
    text: str
    original_text: str | None
    confidence: float | None
    has_crop: bool
    created_at: float

    @property
    def heldout(self) -> bool:
        return is_heldout(self.key)


@dataclass(frozen=True)
class DatasetSummary:
    owner: str
    name: str
    lines: int
    crops: int  # lines with a crop: what a recognizer can be trained on
    heldout: int
    pages: int
    page_images: int
    updated_at: float


_LINE_COLUMNS = (
    "l.id, l.owner, l.dataset, p.sha256 AS page_sha256, l.line_key, l.box, l.text, l.original_text,"
    " l.confidence, l.crop IS NOT NULL AS has_crop, l.created_at"
)
_LINES_FROM = "correction_lines l LEFT JOIN correction_pages p ON p.id = l.page_id"


class CorrectionStore:
    def __init__(self, store: str | os.PathLike) -> None:
        self.db = open_database(store, _SCHEMA)

    def correct(
        self, owner: str, dataset: str, corrections: Sequence[Correction], *, image: bytes | None = None,
        page_sha256: str | None = None, keep: bool = False, max_pixels: int,
    ) -> Corrected:
        """Store corrected lines of one page, given as ``image`` (its bytes) or as the
        ``page_sha256`` of a page stored before. With ``keep`` (the user's opt-in to keeping
        training data) the page image and each line's crop are kept too; without it only the
        texts, boxes and the page's hash and size. Raises DatasetError for a bad dataset name,
        text or box, or a crop asked of a page whose image was not kept; UnknownDatasetError for
        a ``page_sha256`` never stored; ImageError for an unreadable image."""
        check_dataset_name(dataset)
        for i, c in enumerate(corrections):
            check_text(c.text, f"lines[{i}].text")
        if image is not None:
            page, lines = cut_page(image, corrections, keep=keep, max_pixels=max_pixels)
        else:
            assert page_sha256 is not None, "give the page image or the SHA-256 of a stored page"
            stored = self.page(owner, dataset, page_sha256)
            if stored is None:
                raise UnknownDatasetError(
                    f"no page {page_sha256} in dataset {dataset!r}: send the page as image_base64 the first time"
                )
            if keep and stored.image is None:
                raise DatasetError(
                    "the page image was not kept, so no crop can be cut from it: send it as image_base64 "
                    "with keep_training_data"
                )
            page = NewPage(stored.sha256, stored.width, stored.height)
            pixels = load_image(stored.image, max_pixels=max_pixels) if keep and stored.image else None
            lines = cut_lines(pixels, corrections, page.width, page.height)
        records = self.add(owner, dataset, [(page, lines)])
        stored = self.page(owner, dataset, page.sha256)
        return Corrected(page.sha256, stored is not None and stored.image is not None, records)

    def add(self, owner: str, dataset: str, pages: Sequence[tuple[NewPage | None, Sequence[NewLine]]],
            now: float | None = None) -> list[LineRecord]:
        """Store each page's lines (page None: lines imported as crops, each keyed by its crop's
        SHA-256), all in one transaction; a line already stored (same key) gets the new text, and
        keeps the crop it had when none comes. A page keeps an image it had when none comes."""
        now = time.time() if now is None else now
        ids = []
        with self.db.write() as db:
            for page, lines in pages:
                page_id = None if page is None else db.execute(
                    "INSERT INTO correction_pages (owner, dataset, sha256, width, height, image, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner, dataset, sha256) DO UPDATE SET"
                    " image = COALESCE(excluded.image, correction_pages.image) RETURNING id",
                    (owner, dataset, page.sha256, page.width, page.height, page.image, now),
                ).fetchone()[0]
                for line in lines:
                    if page is not None:
                        key = line_key(page.sha256, line.box)
                    else:
                        assert line.crop is not None, "a line without a page is imported from its crop"
                        key = line_key(hashlib.sha256(line.crop).hexdigest(), line.box)
                    ids.append(db.execute(
                        "INSERT INTO correction_lines (owner, dataset, page_id, line_key, box, text, original_text,"
                        " confidence, crop, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (owner, dataset, line_key) DO UPDATE SET text = excluded.text,"
                        " original_text = COALESCE(excluded.original_text, correction_lines.original_text),"
                        " confidence = COALESCE(excluded.confidence, correction_lines.confidence),"
                        " crop = COALESCE(excluded.crop, correction_lines.crop), created_at = excluded.created_at"
                        " RETURNING id",
                        (owner, dataset, page_id, key, json.dumps(line.box.to_list()), line.text,
                         line.original_text, line.confidence, line.crop, now),
                    ).fetchone()[0])
            rows = []
            for start in range(0, len(ids), 500):  # bounded IN lists
                chunk = ids[start:start + 500]
                rows += db.execute(
                    f"SELECT {_LINE_COLUMNS} FROM {_LINES_FROM} WHERE l.id IN ({', '.join('?' * len(chunk))})", chunk
                ).fetchall()
        by_id = {row["id"]: _line(row) for row in rows}
        return [by_id[i] for i in ids]

    def page(self, owner: str, dataset: str, sha256: str) -> StoredPage | None:
        row = self.db.connection().execute(
            "SELECT id, sha256, width, height, image FROM correction_pages WHERE owner = ? AND dataset = ? AND sha256 = ?",
            (owner, dataset, sha256),
        ).fetchone()
        return None if row is None else _page(row)

    def pages(self, owner: str, dataset: str) -> list[StoredPage]:
        """The dataset's pages, oldest first, with their images (None where not kept)."""
        rows = self.db.connection().execute(
            "SELECT id, sha256, width, height, image FROM correction_pages WHERE owner = ? AND dataset = ?"
            " ORDER BY created_at, id",
            (owner, dataset),
        ).fetchall()
        return [_page(r) for r in rows]

    def lines(self, scope: str | None, dataset: str, page: int, page_size: int) -> tuple[list[LineRecord], int]:
        """A dataset's lines, newest first (``scope``: its owner; None: every owner, for an admin)."""
        clause, args = owner_clause(scope, "l.owner")
        where, args = f"l.dataset = ?{clause}", (dataset, *args)
        limit, paging = page_clause(page, page_size)
        db = self.db.connection()
        total = db.execute(f"SELECT count(*) FROM correction_lines l WHERE {where}", args).fetchone()[0]
        rows = db.execute(
            f"SELECT {_LINE_COLUMNS} FROM {_LINES_FROM} WHERE {where} ORDER BY l.created_at DESC, l.id DESC{limit}",
            (*args, *paging),
        ).fetchall()
        return [_line(r) for r in rows], total

    def samples(self, owner: str, dataset: str) -> list[tuple[LineRecord, bytes | None]]:
        """Every line of the dataset, oldest first, with its crop (None where not kept)."""
        rows = self.db.connection().execute(
            f"SELECT {_LINE_COLUMNS}, l.crop FROM {_LINES_FROM} WHERE l.owner = ? AND l.dataset = ?"
            " ORDER BY l.created_at, l.id",
            (owner, dataset),
        ).fetchall()
        return [(_line(r), None if r["crop"] is None else bytes(r["crop"])) for r in rows]

    def datasets(self, scope: str | None) -> list[DatasetSummary]:
        """The datasets of ``scope`` (None: of every owner), by owner and name."""
        clause, args = owner_clause(scope, "l.owner")
        rows = self.db.connection().execute(
            "SELECT l.owner, l.dataset, count(*) AS lines, count(l.crop) AS crops,"
            " count(DISTINCT l.page_id) AS pages, count(DISTINCT CASE WHEN p.image IS NOT NULL THEN p.id END)"
            " AS page_images, max(l.created_at) AS updated_at"
            f" FROM {_LINES_FROM} WHERE 1 = 1{clause} GROUP BY l.owner, l.dataset ORDER BY l.owner, l.dataset",
            args,
        ).fetchall()
        keys = self._keys(scope)
        return [
            DatasetSummary(
                owner=r["owner"], name=r["dataset"], lines=r["lines"], crops=r["crops"],
                heldout=sum(is_heldout(k) for k in keys.get((r["owner"], r["dataset"]), ())),
                pages=r["pages"], page_images=r["page_images"], updated_at=r["updated_at"],
            )
            for r in rows
        ]

    def _keys(self, scope: str | None) -> dict[tuple[str, str], list[str]]:
        clause, args = owner_clause(scope)
        keys: dict[tuple[str, str], list[str]] = {}
        for row in self.db.connection().execute(
            f"SELECT owner, dataset, line_key FROM correction_lines WHERE 1 = 1{clause}", args
        ).fetchall():
            keys.setdefault((row["owner"], row["dataset"]), []).append(row["line_key"])
        return keys

    def delete_line(self, line_id: int, scope: str | None) -> bool:
        """Remove one line (and its page when no line of it is left); False: no such line of ``scope``."""
        clause, args = owner_clause(scope)
        with self.db.write() as db:
            row = db.execute(f"SELECT page_id FROM correction_lines WHERE id = ?{clause}", (line_id, *args)).fetchone()
            if row is None:
                return False
            db.execute("DELETE FROM correction_lines WHERE id = ?", (line_id,))
            if row["page_id"] is not None:
                db.execute(
                    "DELETE FROM correction_pages WHERE id = ? AND NOT EXISTS"
                    " (SELECT 1 FROM correction_lines WHERE page_id = ?)",
                    (row["page_id"], row["page_id"]),
                )
            return True

    def delete_dataset(self, owner: str, dataset: str) -> int:
        """Remove a dataset's lines and pages; how many lines (0: no such dataset)."""
        with self.db.write() as db:
            removed = db.execute(
                "DELETE FROM correction_lines WHERE owner = ? AND dataset = ?", (owner, dataset)
            ).rowcount
            db.execute("DELETE FROM correction_pages WHERE owner = ? AND dataset = ?", (owner, dataset))
            return removed

    def close(self) -> None:
        self.db.close()


def _page(row) -> StoredPage:
    image = row["image"]
    return StoredPage(row["id"], row["sha256"], row["width"], row["height"], None if image is None else bytes(image))


def _line(row) -> LineRecord:
    return LineRecord(
        id=row["id"], owner=row["owner"], dataset=row["dataset"], page_sha256=row["page_sha256"],
        key=row["line_key"], box=box_from_points(json.loads(row["box"])), text=row["text"],
        original_text=row["original_text"], confidence=row["confidence"], has_crop=bool(row["has_crop"]),
        created_at=row["created_at"],
    )


def cut_page(image: bytes, corrections: Sequence[Correction], *, keep: bool,
             max_pixels: int) -> tuple[NewPage, list[NewLine]]:
    """The page of ``image`` (its bytes) and its corrected lines, with the page as PNG and each
    line's crop when ``keep``. Raises ImageError (unreadable image) or DatasetError (a box off the page)."""
    pixels = load_image(image, max_pixels=max_pixels)
    height, width = pixels.shape[:2]
    page = NewPage(hashlib.sha256(image).hexdigest(), width, height, encode_png(pixels) if keep else None)
    return page, cut_lines(pixels if keep else None, corrections, width, height)


def cut_lines(pixels: np.ndarray | None, corrections: Sequence[Correction], width: int,
              height: int) -> list[NewLine]:
    """The corrected lines of a ``width`` x ``height`` page, each with its crop (PNG) cut from
    ``pixels`` when given."""
    lines = []
    for i, c in enumerate(corrections):
        check_inside(c.box, width, height, f"lines[{i}].box")
        crop = None if pixels is None else encode_png(crop_box(pixels, c.box))
        lines.append(NewLine(c.box, c.text, c.original_text, c.confidence, crop))
    return lines


#: A box may reach this many pixels past the page's edges (a hand-drawn box around a line at the edge).
EDGE_TOLERANCE = 2.0


def check_inside(box: Box, width: int, height: int, where: str) -> None:
    """DatasetError unless ``box`` lies on the ``width`` x ``height`` page."""
    x0, y0, x1, y1 = box.bounds
    t = EDGE_TOLERANCE
    if x0 < -t or y0 < -t or x1 > width + t or y1 > height + t:
        raise DatasetError(f"{where}: the box {box.to_list()} does not lie on the {width}x{height} page")


def encode_png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise DatasetError(f"could not encode a {image.shape} image as PNG")
    return buf.tobytes()
