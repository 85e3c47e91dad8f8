"""Bounded walks over the structure of encoded files, before PIL parses them.

PIL reads some structures with Python loops whose cost grows with the file, not with the image:
a PNG's chunks before the pixel data, a JPEG's markers before the first scan, a TIFF's chain of
page directories (its ``n_frames`` walks the whole chain, quadratically) and the tags of each. A hostile file of a few
MB can hold millions of them. These walks read only lengths and offsets, stop at a fixed number
of steps, and raise ``CorruptImageError`` naming what was too many, so every later PIL call on the
same bytes does bounded work.

    check_structure(fp, "PNG", label)      # before PIL opens the stream
    count_tiff_pages(fp, stop_at=51, label=label) -> pages, at most ``stop_at``
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from crnn_ocr.errors import CorruptImageError

#: Chunks a PNG may hold before its first IDAT (real files: a handful; text-heavy ones a few dozen).
MAX_PNG_HEADER_CHUNKS = 1024
#: Chunks in a whole PNG (20 MB in 8 kB IDAT chunks is 2,560).
MAX_PNG_CHUNKS = 100_000
#: Marker segments a JPEG may hold before its first scan (real files: about 10 to 30).
MAX_JPEG_HEADER_SEGMENTS = 1024
#: Tags in one TIFF page directory (real files: 10 to a few hundred); PIL parses each in Python.
MAX_TIFF_TAGS = 4096

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_structure(fp: BinaryIO, fmt: str, label: str) -> None:
    """Refuse a PNG or JPEG with more chunks / marker segments than a real image has, and a TIFF
    whose first page has more tags than one has (its other pages are checked as
    ``count_tiff_pages`` counts them). Other formats pass. Leaves ``fp`` at 0."""
    try:
        if fmt == "PNG":
            _walk_png(fp, label)
        elif fmt == "JPEG":
            _walk_jpeg(fp, label)
        elif fmt == "TIFF":
            _count_ifds(fp, 1, label)
    finally:
        fp.seek(0)


def _walk_png(fp: BinaryIO, label: str) -> None:
    fp.seek(len(_PNG_MAGIC))
    header_chunks = total = 0
    seen_idat = False
    while True:
        head = fp.read(8)
        if len(head) < 8:
            return  # truncated: PIL says how
        length, kind = struct.unpack(">I4s", head)
        total += 1
        if kind == b"IDAT":
            seen_idat = True
        elif not seen_idat:
            header_chunks += 1
            if header_chunks > MAX_PNG_HEADER_CHUNKS:
                raise CorruptImageError(
                    f"{label}: damaged PNG: more than {MAX_PNG_HEADER_CHUNKS} chunks before the image data"
                )
        if total > MAX_PNG_CHUNKS:
            raise CorruptImageError(f"{label}: damaged PNG: more than {MAX_PNG_CHUNKS} chunks")
        if kind == b"IEND":
            return
        fp.seek(length + 4, 1)  # data and CRC


def _walk_jpeg(fp: BinaryIO, label: str) -> None:
    fp.seek(2)  # SOI
    segments = 0
    while True:
        byte = fp.read(1)
        if not byte:
            return
        if byte != b"\xff":
            return  # not at a marker: PIL reports the damage
        marker = fp.read(1)
        while marker == b"\xff":  # fill bytes
            marker = fp.read(1)
        if not marker:
            return
        code = marker[0]
        if code == 0xDA or code == 0xD9:  # start of scan, end of image: the header is over
            return
        if code == 0x01 or 0xD0 <= code <= 0xD7:  # markers without a length
            continue
        segments += 1
        if segments > MAX_JPEG_HEADER_SEGMENTS:
            raise CorruptImageError(
                f"{label}: damaged JPEG: more than {MAX_JPEG_HEADER_SEGMENTS} marker segments before the image data"
            )
        raw = fp.read(2)
        if len(raw) < 2:
            return
        (length,) = struct.unpack(">H", raw)
        if length < 2:
            return
        fp.seek(length - 2, 1)


def count_tiff_pages(fp: BinaryIO, stop_at: int, label: str) -> int:
    """Pages (image file directories) in a TIFF, counted along its chain up to ``stop_at``: the
    answer is ``stop_at`` for a file with that many pages or more. Linear in the pages walked;
    a chain that loops back or points outside the file is a CorruptImageError. Leaves ``fp`` at 0."""
    try:
        return _count_ifds(fp, stop_at, label)
    finally:
        fp.seek(0)


def _count_ifds(fp: BinaryIO, stop_at: int, label: str) -> int:
    fp.seek(0)
    head = fp.read(16)
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8:
        raise CorruptImageError(f"{label}: damaged TIFF header")
    (version,) = struct.unpack(order + "H", head[2:4])
    if version == 42:
        offset_fmt, count_fmt, entry_size = "I", "H", 12
        (offset,) = struct.unpack(order + "I", head[4:8])
    elif version == 43 and len(head) >= 16:  # BigTIFF
        offset_fmt, count_fmt, entry_size = "Q", "Q", 20
        (offset,) = struct.unpack(order + "Q", head[8:16])
    else:
        raise CorruptImageError(f"{label}: damaged TIFF header (version {version})")
    size = fp.seek(0, 2)
    count_size, offset_size = struct.calcsize(count_fmt), struct.calcsize(offset_fmt)
    seen: set[int] = set()
    pages = 0
    while offset and pages < stop_at:
        if offset in seen:
            raise CorruptImageError(f"{label}: damaged TIFF: its page directories loop back (at page {pages + 1})")
        if offset + count_size > size:
            raise CorruptImageError(f"{label}: damaged TIFF: page {pages + 1} lies outside the file")
        seen.add(offset)
        fp.seek(offset)
        (entries,) = struct.unpack(order + count_fmt, fp.read(count_size))
        if entries > MAX_TIFF_TAGS:
            raise CorruptImageError(
                f"{label}: damaged TIFF: page {pages + 1} has {entries} tags, more than {MAX_TIFF_TAGS}"
            )
        fp.seek(offset + count_size + entries * entry_size)
        raw = fp.read(offset_size)
        pages += 1
        if len(raw) < offset_size:
            break  # no next-page offset: PIL reads it as the last page
        (offset,) = struct.unpack(order + offset_fmt, raw)
    return pages
