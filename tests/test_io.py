"""load_image / image_size: formats, modes, input kinds, EXIF orientation and every bad input."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from render import render_line, to_png_bytes

from crnn_ocr.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    UnsupportedImageError,
)
from crnn_ocr.io import image_size, load_image, sniff_format

H, W = 40, 60


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    """HxWx3 RGB test pattern: gradients plus a black block in the top-left corner."""
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x * 4, y * 6, (x + y) * 2], axis=-1).astype(np.uint8)
    img[:10, :15] = 0
    return img


def encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A hand-built PNG: signature, IHDR of the given size (8-bit grey), one tiny IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00"))
        + chunk(b"IEND", b"")
    )


# ---- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "kwargs", "lossless"),
    [
        ("PNG", {}, True),
        ("BMP", {}, True),
        ("TIFF", {}, True),
        ("TIFF", {"compression": "tiff_lzw"}, True),
        ("WEBP", {"lossless": True}, True),
        ("JPEG", {"quality": 95}, False),
    ],
)
def test_format_round_trip_gives_bgr(rgb: np.ndarray, fmt: str, kwargs: dict, lossless: bool) -> None:
    data = encode(Image.fromarray(rgb), fmt, **kwargs)
    out = load_image(data)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3) and out.flags.c_contiguous
    if lossless:
        np.testing.assert_array_equal(out, rgb[..., ::-1])
    else:
        assert np.abs(out.astype(int) - rgb[..., ::-1].astype(int)).mean() < 3


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0d", "PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
        (b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "BMP"),
        (b"II*\x00\x08\x00\x00\x00\x00\x00\x00\x00", "TIFF"),
        (b"MM\x00*\x00\x00\x00\x08\x00\x00\x00\x00", "TIFF"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"GIF89a\x00\x00\x00\x00\x00\x00", None),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"hello, world", None),
    ],
)
def test_sniff_format_uses_magic_bytes(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


def test_format_is_found_from_content_not_extension(tmp_path: Path, rgb: np.ndarray) -> None:
    path = tmp_path / "really_a_png.jpg"
    path.write_bytes(encode(Image.fromarray(rgb), "PNG"))
    np.testing.assert_array_equal(load_image(path), rgb[..., ::-1])


# ---- EXIF orientation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("orientation", "expected"),
    [
        (1, lambda a: a),
        (3, lambda a: np.rot90(a, 2)),
        (6, lambda a: np.rot90(a, -1)),  # stored 90 degrees counter-clockwise: turn it clockwise
        (8, lambda a: np.rot90(a, 1)),
    ],
)
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(rgb: np.ndarray, fmt: str, orientation: int, expected) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(
        Image.fromarray(rgb), fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {})
    )
    out = load_image(data)
    want = expected(rgb[..., ::-1])
    assert out.shape == want.shape
    assert np.abs(out.astype(int) - want.astype(int)).mean() < 4
    assert image_size(data) == (want.shape[1], want.shape[0])


# ---- pixel modes -------------------------------------------------------------------------------


def _palette_image(transparent: bool) -> Image.Image:
    idx = np.zeros((H, W), np.uint8)
    idx[:, W // 2 :] = 1
    im = Image.fromarray(idx, mode="L").convert("P")
    im.putpalette([200, 100, 10, 0, 0, 255] + [0] * (254 * 3))
    if transparent:
        im.info["transparency"] = 1
    return im


def _mode_cases():
    grey = np.tile(np.arange(W, dtype=np.uint8) * 4, (H, 1))
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[..., 0] = 200  # red
    rgba[:, : W // 3, 3] = 255  # opaque red
    rgba[:, W // 3 : 2 * W // 3, 3] = 0  # fully transparent -> white
    rgba[:, 2 * W // 3 :, 3] = 128  # half
    la = np.stack(
        [
            np.full((H, W), 0, np.uint8),
            np.where(np.arange(W) < W // 2, 255, 0).astype(np.uint8).repeat(H).reshape(W, H).T,
        ],
        axis=-1,
    )
    g16 = np.tile(np.linspace(0, 65535, W).astype(np.uint16), (H, 1))
    bits = (np.indices((H, W)).sum(0) % 2).astype(bool)
    yield "L", Image.fromarray(grey, mode="L"), "PNG", grey
    yield (
        "RGB",
        Image.fromarray(np.full((H, W, 3), (200, 100, 10), np.uint8)),
        "PNG",
        np.full((H, W, 3), (10, 100, 200), np.uint8),
    )
    bgr_rgba = np.empty((H, W, 3), np.uint8)
    bgr_rgba[:, : W // 3] = (0, 0, 200)
    bgr_rgba[:, W // 3 : 2 * W // 3] = 255
    bgr_rgba[:, 2 * W // 3 :] = (127, 127, 227)
    yield "RGBA", Image.fromarray(rgba, mode="RGBA"), "PNG", bgr_rgba
    yield (
        "LA",
        Image.fromarray(la, mode="LA"),
        "PNG",
        np.where(np.arange(W) < W // 2, 0, 255).astype(np.uint8)[None].repeat(H, 0),
    )
    yield "I;16", Image.fromarray(g16), "PNG", np.rint(g16 / 257).astype(np.uint8)
    yield "1", Image.fromarray(bits), "PNG", bits.astype(np.uint8) * 255
    yield "1-tiff", Image.fromarray(bits), "TIFF", bits.astype(np.uint8) * 255
    pal_bgr = np.empty((H, W, 3), np.uint8)
    pal_bgr[:, : W // 2] = (10, 100, 200)
    pal_bgr[:, W // 2 :] = (255, 0, 0)
    yield "P", _palette_image(False), "PNG", pal_bgr
    pal_t = pal_bgr.copy()
    pal_t[:, W // 2 :] = 255
    yield "P-transparent", _palette_image(True), "PNG", pal_t
    yield (
        "CMYK",
        Image.new("CMYK", (W, H), (0, 255, 255, 0)),
        "TIFF",
        np.full((H, W, 3), (0, 0, 255), np.uint8),
    )
    fl = np.tile(np.linspace(0, 1, W, dtype=np.float32), (H, 1))
    yield "F", Image.fromarray(fl, mode="F"), "TIFF", np.rint(fl * 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("name", "im", "fmt", "expected"), list(_mode_cases()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_pixel_modes_convert_to_uint8(name: str, im: Image.Image, fmt: str, expected: np.ndarray) -> None:
    out = load_image(encode(im, fmt))
    assert out.dtype == np.uint8 and out.shape == expected.shape
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1


def test_16bit_colour_png_is_scaled_not_clipped() -> None:
    import cv2

    bgr16 = np.zeros((H, W, 3), np.uint16)
    bgr16[..., 0] = 65535
    bgr16[..., 1] = 32896  # 128 * 257
    bgr16[..., 2] = 1000
    ok, buf = cv2.imencode(".png", bgr16)
    assert ok
    out = load_image(buf.tobytes())
    assert out.shape == (H, W, 3)
    assert np.abs(out[0, 0].astype(int) - [255, 128, 4]).max() <= 1


# ---- input kinds -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["str", "path", "bytes", "bytearray", "memoryview", "pil", "pil-file"])
def test_input_kinds_give_the_same_pixels(tmp_path: Path, rgb: np.ndarray, kind: str) -> None:
    data = encode(Image.fromarray(rgb), "PNG")
    path = tmp_path / "img.png"
    path.write_bytes(data)
    src = {
        "str": str(path),
        "path": path,
        "bytes": data,
        "bytearray": bytearray(data),
        "memoryview": memoryview(data),
        "pil": Image.fromarray(rgb),
        "pil-file": Image.open(path),
    }[kind]
    np.testing.assert_array_equal(load_image(src), rgb[..., ::-1])
    assert image_size(src) == (W, H)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full((4, 5), 7, np.uint8), np.full((4, 5), 7, np.uint8)),
        (np.full((4, 5, 1), 7, np.uint8), np.full((4, 5), 7, np.uint8)),
        (np.full((4, 5, 3), (1, 2, 3), np.uint8), np.full((4, 5, 3), (1, 2, 3), np.uint8)),  # stays BGR
        (np.full((4, 5, 4), (1, 2, 3, 255), np.uint8), np.full((4, 5, 3), (1, 2, 3), np.uint8)),
        (np.full((4, 5, 4), (1, 2, 3, 0), np.uint8), np.full((4, 5, 3), 255, np.uint8)),
        (np.full((4, 5), 65535, np.uint16), np.full((4, 5), 255, np.uint8)),
        (np.full((4, 5), 257 * 100, np.uint16), np.full((4, 5), 100, np.uint8)),
        (np.eye(4, 5, dtype=bool), np.eye(4, 5, dtype=np.uint8) * 255),
        (np.full((4, 5), 0.5, np.float32), np.full((4, 5), 128, np.uint8)),
        (np.full((4, 5, 3), 1.0, np.float64), np.full((4, 5, 3), 255, np.uint8)),
        (np.full((4, 5, 3), 9, np.uint8)[:, ::-1], np.full((4, 5, 3), 9, np.uint8)),  # non-contiguous
    ],
)
def test_numpy_input(array: np.ndarray, expected: np.ndarray) -> None:
    out = load_image(array)
    assert out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, expected)


def test_numpy_input_is_copied() -> None:
    a = np.zeros((3, 3), np.uint8)
    out = load_image(a)
    out[0, 0] = 9
    assert a[0, 0] == 0


@pytest.mark.parametrize(
    ("array", "error", "words"),
    [
        (np.zeros((0, 5), np.uint8), EmptyImageError, "empty"),
        (np.zeros((5, 5, 0), np.uint8), EmptyImageError, "empty"),
        (np.zeros((4, 5), np.int32), UnsupportedImageError, "int32"),
        (np.zeros((4, 5), np.complex64), UnsupportedImageError, "complex64"),
        (np.full((4, 5), 2.0, np.float32), UnsupportedImageError, "[0, 1]"),
        (np.full((4, 5), np.nan, np.float32), UnsupportedImageError, "[0, 1]"),
        (np.zeros((4, 5, 2), np.uint8), UnsupportedImageError, "shape"),
        (np.zeros((2, 4, 5, 3), np.uint8), UnsupportedImageError, "shape"),
        (np.zeros(7, np.uint8), UnsupportedImageError, "shape"),
    ],
)
def test_bad_numpy_input(array: np.ndarray, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=None) as info:
        load_image(array)
    assert words in str(info.value)


def test_numpy_input_over_max_pixels() -> None:
    with pytest.raises(ImageTooLargeError):
        load_image(np.zeros((100, 100), np.uint8), max_pixels=9_999)


# ---- bad encoded input -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def png_bytes() -> bytes:
    return to_png_bytes(render_line("truncated 截断", size=40))


@pytest.mark.parametrize(
    ("make", "error", "words", "header_bad"),
    [
        (lambda png: b"", EmptyImageError, "zero bytes", True),
        (lambda png: png[: len(png) // 2], CorruptImageError, "PNG", False),
        (lambda png: png[:30], CorruptImageError, "PNG", False),
        (lambda png: png[:8], CorruptImageError, "PNG", True),
        (lambda png: b"this is just some text\n" * 10, UnsupportedImageError, "not an image", True),
        (lambda png: b"GIF89a" + b"\x00" * 40, UnsupportedImageError, "not an image", True),
        (lambda png: b"\xff\xd8\xff" + b"\x00" * 40, CorruptImageError, "JPEG", True),
        (lambda png: b"II*\x00" + b"\xff" * 40, CorruptImageError, "TIFF", True),
        (lambda png: b"BM" + b"\x00" * 60, CorruptImageError, "BMP", True),
        (lambda png: b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8, CorruptImageError, "WEBP", True),
    ],
)
def test_bad_bytes(png_bytes: bytes, make, error: type[Exception], words: str, header_bad: bool) -> None:
    data = make(png_bytes)
    with pytest.raises(error) as info:
        load_image(data)
    assert words in str(info.value)
    if header_bad:
        with pytest.raises(error):
            image_size(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF", "WEBP"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9])
def test_truncated_files_raise_image_errors_only(rgb: np.ndarray, fmt: str, keep: float) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (H * 4, W * 4, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), fmt)
    with pytest.raises(CorruptImageError):
        load_image(data[: int(len(data) * keep)])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP", "TIFF", "WEBP"])
def test_damaged_bytes_never_leak_library_errors(rgb: np.ndarray, fmt: str) -> None:
    data = bytearray(encode(Image.fromarray(rgb), fmt))
    rng = np.random.default_rng(1)
    for _ in range(20):
        damaged = bytearray(data)
        for pos in rng.integers(4, len(damaged), 8):
            damaged[pos] = int(rng.integers(0, 256))
        try:
            out = load_image(bytes(damaged))
        except ImageError:
            continue
        assert out.dtype == np.uint8  # some damage still decodes; that is fine


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(("width", "height"), [(60_000, 60_000), (8_000, 8_000), (100_000, 1_000)])
def test_huge_png_header_fails_fast_without_allocating(width: int, height: int) -> None:
    data = png_header(width, height)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ImageTooLargeError) as info:
            load_image(data)
        with pytest.raises(ImageTooLargeError):
            image_size(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 5_000_000
    assert "limit" in str(info.value) or "pixels" in str(info.value)


def test_small_png_header_passes_the_size_check() -> None:
    assert image_size(png_header(7_000, 8_000)) == (7_000, 8_000)  # 56 Mpx < 60 Mpx
    with pytest.raises(ImageTooLargeError):
        image_size(png_header(7_000, 8_000), max_pixels=1_000_000)


def test_max_bytes(tmp_path: Path, png_bytes: bytes) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes)
    for src in (png_bytes, path):
        with pytest.raises(ImageTooLargeError, match="bytes"):
            load_image(src, max_bytes=len(png_bytes) - 1)
        assert load_image(src, max_bytes=len(png_bytes)).ndim == 2


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("photo.jpg", b"not a jpeg at all, just text\n", UnsupportedImageError),
        ("empty.png", b"", EmptyImageError),
        ("cut.png", None, CorruptImageError),
    ],
)
def test_bad_files_name_their_path(
    tmp_path: Path, png_bytes: bytes, name: str, content: bytes | None, error: type[Exception]
) -> None:
    path = tmp_path / name
    path.write_bytes(png_bytes[:100] if content is None else content)
    with pytest.raises(error) as info:
        load_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("make", [lambda d: d / "missing.png", lambda d: d])
def test_missing_path_or_directory(tmp_path: Path, make) -> None:
    path = make(tmp_path)
    for fn in (load_image, image_size):
        with pytest.raises(ImageNotFoundError) as info:
            fn(path)
        assert str(path) in str(info.value)


@pytest.mark.parametrize("src", [12345, None, [1, 2, 3]])
def test_unsupported_source_type(src: object) -> None:
    with pytest.raises(UnsupportedImageError):
        load_image(src)  # type: ignore[arg-type]
