"""Test helper: hostile files, built here byte by byte (never downloaded, never committed).

Import it as ``from hostile import chained_tiff, ...`` (pytest puts ``tests/`` on ``sys.path``;
``benchmarks/load_test.py --hostile`` puts it there too).

- ``chained_tiff(n)``: a TIFF of ``n`` 8x8 pages whose directories share one strip of pixels,
  each pointing to the next; 170,000 pages is 19.4 MB. PIL's ``n_frames`` walks such a chain
  quadratically (40,000 pages took 14 s).
- ``chunk_bomb_png(n)``: a valid 8x8 PNG with ``n`` empty private chunks before its pixel data
  (1.66 M chunks is 19.9 MB); PIL parses each in a Python loop when it reads the header.
- ``com_bomb_jpeg(n)``: a valid 8x8 JPEG with ``n`` empty COM (comment) segments after SOI.
- ``damaged_pdf()``: a one-page PDF whose page object is cut down to its MediaBox array, so
  PDFium opens it but cannot tell the page's size ("Failed to get page size by index").
"""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def small_png(size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (size, size), 255).save(buf, format="PNG")
    return buf.getvalue()


def small_jpeg(size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (size, size), 255).save(buf, format="JPEG")
    return buf.getvalue()


def chained_tiff(pages: int) -> bytes:
    """A little-endian TIFF of ``pages`` 8x8 grey pages whose directories all share one strip of
    pixels (114 bytes a page: 170,000 pages is 19.4 MB)."""
    width = height = 8
    pixels = b"\xff" * (width * height)
    data_at = 8
    first_ifd = data_at + len(pixels)
    entries = [  # tag, type (3 SHORT, 4 LONG), value
        (256, 3, width), (257, 3, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
        (273, 4, data_at), (277, 3, 1), (278, 3, height), (279, 4, len(pixels)),
    ]
    body = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, typ, 1) + (struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value))
        for tag, typ, value in entries
    )
    ifd_size = len(body) + 4
    out = bytearray(b"II*\x00" + struct.pack("<I", first_ifd) + pixels)
    for n in range(pages):
        next_at = first_ifd + ifd_size * (n + 1) if n < pages - 1 else 0
        out += body + struct.pack("<I", next_at)
    return bytes(out)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def chunk_bomb_png(chunks: int) -> bytes:
    """A valid 8x8 PNG with ``chunks`` empty ``prVt`` chunks between IHDR and IDAT."""
    png = small_png()
    ihdr_end = 8 + 8 + 13 + 4
    bomb = _png_chunk(b"prVt", b"") * chunks
    return png[:ihdr_end] + bomb + png[ihdr_end:]


def com_bomb_jpeg(segments: int) -> bytes:
    """A valid 8x8 JPEG with ``segments`` empty COM segments right after SOI."""
    jpeg = small_jpeg()
    return jpeg[:2] + b"\xff\xfe\x00\x02" * segments + jpeg[2:]


def damaged_pdf() -> bytes:
    """A small one-page PDF (about 400 bytes) whose only page object is cut down to its MediaBox
    array: PDFium opens it and counts one page, then cannot tell that page's size."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"[0 0 612 792]",  # the page: its dictionary cut down to the MediaBox's numbers
        b"<< /Length 0 >>\nstream\n\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
