"""Writes the decoder fuzz seeds next to this file (run once; the outputs are committed):

    python tests/fuzz_seeds/make_seeds.py

Small files, one per format and variant the service reads: PNG (grey, palette with transparency,
16-bit, RGBA with a text chunk, interlaced), JPEG (baseline with EXIF orientation, progressive),
BMP, TIFF (two LZW pages, one bilevel page), WebP, PDF (an image page, a ReportLab text page).
``tests/test_hardening.py::test_decoder_fuzz`` mutates them.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

HERE = Path(__file__).parent


def sample(h: int = 24, w: int = 40) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    img = np.full((h, w), 255, np.uint8)
    img[6:18, 4:36][(x[6:18, 4:36] // 3 + y[6:18, 4:36] // 4) % 2 == 0] = 20
    return img


def save(name: str, im: Image.Image, **kw: object) -> None:
    buf = io.BytesIO()
    im.save(buf, **kw)
    (HERE / name).write_bytes(buf.getvalue())


def main() -> None:
    grey = Image.fromarray(sample())
    rgb = Image.fromarray(np.stack([sample(), sample()[::-1], sample()[:, ::-1]], axis=-1))
    save("grey.png", grey, format="PNG")
    pal = grey.convert("P")
    pal.info["transparency"] = 0
    save("palette.png", pal, format="PNG", transparency=0)
    save("deep.png", Image.fromarray(sample().astype(np.uint16) * 257), format="PNG")
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "seed")
    save("rgba.png", rgb.convert("RGBA"), format="PNG", pnginfo=text)
    save("interlaced.png", rgb, format="PNG", interlace=1)
    exif = Image.Exif()
    exif[0x0112] = 6
    save("oriented.jpg", rgb, format="JPEG", quality=70, exif=exif.tobytes())
    save("progressive.jpg", grey, format="JPEG", quality=70, progressive=True)
    save("image.bmp", rgb, format="BMP")
    save("pages.tif", grey, format="TIFF", save_all=True, append_images=[rgb], compression="tiff_lzw", dpi=(150, 150))
    save("bilevel.tif", grey.convert("1"), format="TIFF", compression="group4")
    save("image.webp", rgb, format="WEBP", quality=60)
    save("image.pdf", grey, format="PDF", resolution=72)
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(120, 60))
    c.drawString(10, 25, "seed 123")
    c.showPage()
    c.save()
    (HERE / "text.pdf").write_bytes(buf.getvalue())


if __name__ == "__main__":
    main()
