"""Turn a path, encoded bytes, a numpy array or a PIL image into a uint8 OpenCV image.

``load_image`` returns HxW (grey source) or HxWx3 BGR, uint8, C-contiguous. The format is found
from the content's magic bytes, never the file name. Size limits are checked from the header
before any pixel is decoded. Every failure is one of the ``crnn_ocr.errors.ImageError`` classes
with a message naming the input; no PIL or OpenCV exception escapes.

Multi-page TIFFs: ``read_header`` counts the pages (up to a limit), ``frame_size`` / ``load_frame`` check and
decode one (``crnn_ocr.documents`` turns files into pages; PDFs are rendered there).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

from crnn_ocr.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    UnsupportedImageError,
    reason,
)
from crnn_ocr.structure import check_structure, count_tiff_pages

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | np.ndarray | Image.Image

DEFAULT_MAX_PIXELS = 60_000_000

_NOT_AN_IMAGE = "not an image: expected PNG, JPEG, BMP, TIFF or WebP"
_EXIF_ORIENTATION = 0x0112


def sniff_format(head: bytes) -> str | None:
    """PIL format name from the first 12+ bytes of a file, or None when it is none we read."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return None


def load_image(
    src: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int | None = None
) -> np.ndarray:
    """Decode ``src`` to uint8 HxW (grey) or HxWx3 (BGR), EXIF orientation applied.

    ``src``: file path, encoded bytes, a numpy array (HxW, HxWx1, HxWx3 BGR, HxWx4 BGRA; uint8,
    uint16, bool or float in [0, 1]) or a PIL image. Transparent pixels are composited on white.
    ``max_pixels`` bounds width * height, ``max_bytes`` the encoded size (paths and bytes only);
    both are checked before any pixel is decoded. PIL's own bomb guard (2 x
    ``PIL.Image.MAX_IMAGE_PIXELS``, about 179 Mpx) caps ``max_pixels`` for encoded input.
    """
    if isinstance(src, np.ndarray):
        return _from_array(src, max_pixels)
    if isinstance(src, Image.Image):
        _check_pixels(src.size, max_pixels, "PIL image")
        return _decode_pil(src, "PIL image")
    with _open_encoded(src, max_bytes) as (fp, label):
        im = _open_pil(fp, label)
        _check_pixels(im.size, max_pixels, label)
        return _decode_pil(im, label)


def image_size(
    src: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_bytes: int | None = None
) -> tuple[int, int]:
    """(width, height) that ``load_image`` would return, read from the header only.

    EXIF orientations that turn the image by 90 degrees swap the two. Same errors as load_image.
    """
    if isinstance(src, np.ndarray):
        if src.size == 0:
            raise EmptyImageError(f"empty array of shape {src.shape}")
        if src.ndim not in (2, 3):
            raise UnsupportedImageError(f"array of shape {src.shape}: expected HxW or HxWxC")
        h, w = src.shape[:2]
        _check_pixels((w, h), max_pixels, "array")
        return int(w), int(h)
    if isinstance(src, Image.Image):
        _check_pixels(src.size, max_pixels, "PIL image")
        return _oriented_size(src)
    with _open_encoded(src, max_bytes) as (fp, label):
        im = _open_pil(fp, label)
        _check_pixels(im.size, max_pixels, label)
        return _oriented_size(im)


# ---- multi-frame files (multi-page TIFF) -------------------------------------------------------


@dataclass(frozen=True)
class ImageHeader:
    """What an encoded image's header says, without decoding pixels.

    ``frames``: pages of a multi-page TIFF (1 for every other file). ``dpi``: the horizontal
    resolution stored in the file, None when absent or implausible (below 10).
    """

    format: str
    frames: int
    dpi: float | None


#: Most TIFF pages ``read_header`` counts unless told otherwise.
DEFAULT_MAX_FRAMES = 1000


def read_header(
    src: str | os.PathLike | bytes, *, max_bytes: int | None = None, max_frames: int = DEFAULT_MAX_FRAMES
) -> ImageHeader:
    """The format, frame count and resolution of an encoded image (path or bytes); ImageError as
    ``load_image``. A TIFF's pages are counted along its directory chain (headers only) up to
    ``max_frames + 1``: ``frames`` is ``max_frames + 1`` for any longer file, whatever its length."""
    with _open_encoded(src, max_bytes) as (fp, label):
        im = _open_pil(fp, label)
        frames = count_tiff_pages(fp, max_frames + 1, label) if im.format == "TIFF" else 1
        return ImageHeader(im.format or "", frames, _dpi(im))


def frame_size(
    src: str | os.PathLike | bytes,
    index: int,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
) -> tuple[int, int]:
    """(width, height) of frame ``index`` (0-based) of a multi-page TIFF, from its header."""
    with _open_encoded(src, max_bytes) as (fp, label):
        im = _seek(_open_pil(fp, label), index, label)
        _check_pixels(im.size, max_pixels, f"{label} page {index + 1}")
        return _oriented_size(im)


def load_frame(
    src: str | os.PathLike | bytes,
    index: int,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int | None = None,
) -> np.ndarray:
    """Frame ``index`` (0-based) of a multi-page TIFF, decoded as ``load_image`` decodes an image."""
    with _open_encoded(src, max_bytes) as (fp, label):
        im = _seek(_open_pil(fp, label), index, label)
        _check_pixels(im.size, max_pixels, f"{label} page {index + 1}")
        return _decode_pil(im, f"{label} page {index + 1}")


def _seek(im: Image.Image, index: int, label: str) -> Image.Image:
    try:
        im.seek(index)
    except EOFError:  # its directory chain says the page exists: the file is damaged
        raise CorruptImageError(f"{label}: damaged TIFF, cannot find page {index + 1}") from None
    except Exception as exc:
        raise CorruptImageError(f"{label}: cannot read page {index + 1} ({reason(exc)})") from exc
    return im


def _dpi(im: Image.Image) -> float | None:
    dpi = im.info.get("dpi")
    try:
        x = float(dpi[0]) if isinstance(dpi, (tuple, list)) else float(dpi)
    except (TypeError, ValueError, IndexError):
        return None
    return x if x >= 10 else None


# ---- encoded input -----------------------------------------------------------------------------


@contextmanager
def _open_encoded(src: object, max_bytes: int | None) -> Iterator[tuple[BinaryIO, str]]:
    """A seekable binary stream over a path or bytes, and a label naming it for messages."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        _check_bytes(len(data), max_bytes, "image bytes")
        yield io.BytesIO(data), "image bytes"
        return
    if not isinstance(src, (str, os.PathLike)):
        raise UnsupportedImageError(
            f"cannot read an image from {type(src).__name__}: expected a path, bytes, "
            "a numpy array or a PIL image"
        )
    path = Path(src)
    label = str(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ImageNotFoundError(f"{label}: not a file")
        fp = path.open("rb")
    except FileNotFoundError as exc:
        raise ImageNotFoundError(f"{label}: no such file") from exc
    except PermissionError as exc:
        raise ImageNotFoundError(f"{label}: permission denied") from exc
    except OSError as exc:
        raise ImageNotFoundError(f"{label}: cannot open ({exc.strerror or exc})") from exc
    with fp:
        _check_bytes(size, max_bytes, label)
        yield fp, label


def _check_bytes(n: int, max_bytes: int | None, label: str) -> None:
    if n == 0:
        raise EmptyImageError(f"{label}: zero bytes")
    if max_bytes is not None and n > max_bytes:
        raise ImageTooLargeError(f"{label}: {n} bytes is more than the limit of {max_bytes}")


def _check_pixels(size: tuple[int, int], max_pixels: int, label: str) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise EmptyImageError(f"{label}: image of {w}x{h} has no pixels")
    if w * h > max_pixels:
        raise ImageTooLargeError(f"{label}: {w}x{h} = {w * h} pixels is more than the limit of {max_pixels}")


def _open_pil(fp: BinaryIO, label: str) -> Image.Image:
    """Lazily open (header only) a stream whose magic bytes name a supported format."""
    head = fp.read(16)
    fp.seek(0)
    fmt = sniff_format(head)
    if fmt is None:
        raise UnsupportedImageError(f"{label}: {_NOT_AN_IMAGE}")
    check_structure(fp, fmt, label)  # bounded: PIL's header parsing then is too
    try:
        return Image.open(fp, formats=[fmt])
    except Image.DecompressionBombError as exc:
        # PIL refuses headers above 2 * Image.MAX_IMAGE_PIXELS before we can read the size.
        raise ImageTooLargeError(f"{label}: {reason(exc)}") from exc
    except Exception as exc:  # PIL raises many types for a damaged header
        raise CorruptImageError(f"{label}: damaged {fmt} header ({reason(exc)})") from exc


def _oriented_size(im: Image.Image) -> tuple[int, int]:
    """Header size, swapped when the EXIF orientation turns the image by 90 degrees."""
    w, h = im.size
    try:
        # PNG keeps EXIF in an eXIf chunk that PIL may only find after decoding; do not decode.
        exif = Image.Exif()
        if "exif" in im.info:
            exif.load(im.info["exif"])
        elif im.format != "PNG":
            exif = im.getexif()
        orientation = exif.get(_EXIF_ORIENTATION, 1)
    except Exception as exc:  # whatever PIL raises on a bad EXIF block
        raise CorruptImageError(f"damaged EXIF data ({reason(exc)})") from exc
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


# ---- PIL image -> array ------------------------------------------------------------------------


def _decode_pil(im: Image.Image, label: str) -> np.ndarray:
    """Decode pixels, apply EXIF orientation, convert any mode to uint8 grey or BGR."""
    try:
        im.load()
        im = ImageOps.exif_transpose(im)
        return _pil_to_array(im)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"{label}: {reason(exc)}") from exc
    except Exception as exc:  # truncated or damaged data: OSError, SyntaxError, ValueError, ...
        fmt = im.format or "image"
        raise CorruptImageError(f"{label}: cannot decode {fmt} data ({reason(exc)})") from exc


def _pil_to_array(im: Image.Image) -> np.ndarray:
    """uint8 HxW for grey modes, HxWx3 BGR otherwise; alpha composited on white."""
    mode = im.mode
    if mode == "P":
        has_alpha = "transparency" in im.info or im.palette is not None and im.palette.mode == "RGBA"
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    mode = im.mode

    if mode == "1":
        return np.ascontiguousarray(np.asarray(im, dtype=np.uint8) * 255)
    if mode == "L":
        return np.array(im, dtype=np.uint8)
    if mode in ("LA", "La"):
        la = np.asarray(im.convert("LA"), dtype=np.uint8)
        return _over_white(la[..., :1], la[..., 1])[..., 0].copy()
    if mode.startswith("I;16") or mode in ("I", "F"):
        return _scale_to_uint8(np.asarray(im))
    if mode in ("RGBA", "RGBa"):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.uint8)
        return np.ascontiguousarray(_over_white(rgba[..., :3], rgba[..., 3])[..., ::-1])
    rgb = np.asarray(im if mode == "RGB" else im.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(rgb[..., ::-1])


def _over_white(color: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """HxWxC uint8 composited over white with HxW uint8 alpha (rounded integer maths)."""
    a = alpha.astype(np.uint32)[..., None]
    out = (color.astype(np.uint32) * a + 255 * (255 - a) + 127) // 255
    return out.astype(np.uint8)


def _scale_to_uint8(x: np.ndarray) -> np.ndarray:
    """HxW 16-bit, 32-bit int or float grey -> uint8 HxW.

    16-bit data (and 32-bit ints within 0..65535) map 0..65535 to 0..255; floats in [0, 1] map
    to 0..255; anything else is stretched from its own min..max.
    """
    x = np.asarray(x)
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise CorruptImageError("float image has NaN or infinite pixels")
        if x.min() >= 0.0 and x.max() <= 1.0:
            return np.rint(x * 255.0).astype(np.uint8)
    elif x.min() >= 0 and x.max() <= 65535:
        return ((x.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    lo, hi = float(x.min()), float(x.max())
    if hi == lo:
        return np.zeros(x.shape, np.uint8)
    return np.rint((x.astype(np.float64) - lo) * (255.0 / (hi - lo))).astype(np.uint8)


# ---- numpy input -------------------------------------------------------------------------------


def _from_array(a: np.ndarray, max_pixels: int) -> np.ndarray:
    """Validate and normalise an in-memory array: see ``load_image``."""
    if a.size == 0:
        raise EmptyImageError(f"empty array of shape {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise UnsupportedImageError(
            f"array of shape {a.shape}: expected HxW, HxWx1, HxWx3 (BGR) or HxWx4 (BGRA)"
        )
    _check_pixels((a.shape[1], a.shape[0]), max_pixels, "array")
    a = _array_to_uint8(a)
    if a.ndim == 3 and a.shape[2] == 4:
        a = _over_white(a[..., :3], a[..., 3])
    return np.array(a, dtype=np.uint8, order="C")  # always a copy: never alias the caller's array


def _array_to_uint8(a: np.ndarray) -> np.ndarray:
    """uint8 from uint8, uint16 (0..65535 -> 0..255), bool (0/255) or float in [0, 1]."""
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16:
        return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise UnsupportedImageError("float array must hold values in [0, 1]; it has NaN or inf")
        if a.min() < 0.0 or a.max() > 1.0:
            raise UnsupportedImageError(
                f"float array must hold values in [0, 1]; got range [{a.min():.4g}, {a.max():.4g}]"
            )
        return np.rint(a * 255.0).astype(np.uint8)
    raise UnsupportedImageError(
        f"array dtype {a.dtype} is not supported: expected uint8, uint16, bool or float in [0, 1]"
    )
