"""Text lines rasterised by real rendering engines, cached on disk as ink masks.

Pillow/FreeType draws every other training line. Users photograph and screenshot text that
browsers, office suites and PDF viewers drew, with their own hinting, anti-aliasing, sub-pixel
positioning, kerning and synthetic styles. Two engines here draw the training text in the
training faces (the held-out faces are never used) and cut each line out:

- ``chromium``: Debian's headless Chromium (Skia), driven through playwright without downloading
  a browser; many lines per page (``@font-face { src: local(<full name>) }``), one screenshot per
  page, each line cut out by its element box; glyph hinting varied per launch.
- ``pdfium``: ReportLab writes the lines into a PDF with the TrueType training faces embedded,
  PDFium (pypdfium2, the engine our own PDF input uses) renders the page at 72-216 dpi, each line
  cut out by its known position; sometimes without text anti-aliasing, as some viewers draw.

A line is kept as its ink coverage (255 = ink, black text on white), so the renderer's own
geometry, backgrounds and degradations (``LineRenderer.render_ink``) apply to it exactly as to
Pillow's lines.

    crnn-ocr-raster-lines data/cache/raster/chromium --engine chromium -n 16000 --config configs/v2.toml
    crnn-ocr-raster-lines data/cache/raster/pdfium --engine pdfium -n 8000 --config configs/v2.toml

Each folder holds ``images/*.png`` (ink masks) and ``labels.tsv`` (``path<TAB>text<TAB>px``, px =
the font size in pixels the line was drawn at).
"""

from __future__ import annotations

import argparse
import html
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from crnn_ocr.charset import Charset

from .config import TrainConfig, load_config
from .fonts import FontFace, FontSet, discover

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)
#: Glyph hinting as screens differ (Chromium's ``--font-render-hinting``); one per browser launch.
HINTING = ("none", "slight", "medium", "full")
PAGE_WIDTH = 1400
LINES_PER_PAGE = 60


@dataclass(frozen=True)
class RasterLine:
    ink: np.ndarray  # uint8 coverage, 255 = ink, the line's element box plus a small margin
    text: str
    px: int  # font size in pixels the line was drawn at


def _line_style(rng: np.random.Generator, face_id: int) -> tuple[str, int]:
    px = int(rng.choice([int(rng.integers(11, 20)), int(rng.integers(14, 33)), int(rng.integers(24, 49))]))
    parts = [f"font-family:f{face_id}", f"font-size:{px}px", "white-space:pre", "line-height:1.5", "width:max-content"]
    if rng.random() < 0.15:
        parts.append(f"letter-spacing:{float(rng.uniform(-0.03, 0.25)):.2f}em")
    if rng.random() < 0.3:
        parts.append("text-rendering:" + ("geometricPrecision" if rng.random() < 0.5 else "optimizeLegibility"))
    if rng.random() < 0.1:
        parts.append("font-style:italic")  # synthesised oblique where the face has none
    if rng.random() < 0.1:
        parts.append("font-weight:bold")  # synthetic bold on regular faces
    return ";".join(parts), px


def _page_html(lines: list[tuple[str, FontFace, str]]) -> str:
    faces = {}
    for _text, face, _style in lines:
        faces.setdefault(face.name, len(faces))
    css = "".join(
        f"@font-face{{font-family:f{i};src:local({json.dumps(name)});}}" for name, i in faces.items()
    )
    body = "".join(
        f'<div class="l" style="{style}">{html.escape(text)}</div>'
        for text, _face, style in lines
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><style>{css}"
        "body{margin:8px;background:#fff;color:#000}.l{margin:6px 0;padding:0 4px}</style></head>"
        f"<body>{body}</body></html>"
    )


def render_chromium(texts_faces: list[tuple[str, FontFace]], rng: np.random.Generator) -> list[RasterLine]:
    """Lay out ``(text, face)`` pairs in Chromium, ``LINES_PER_PAGE`` to a page, with one hinting
    mode for the whole call; one BrowserLine each (lines wider than the page are dropped)."""
    from playwright.sync_api import sync_playwright

    out: list[RasterLine] = []
    with sync_playwright() as p:
        hinting = HINTING[int(rng.integers(len(HINTING)))]
        args = [*CHROMIUM_ARGS, f"--font-render-hinting={hinting}"]
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        page = browser.new_page(viewport={"width": PAGE_WIDTH, "height": 800}, device_scale_factor=1)
        for s in range(0, len(texts_faces), LINES_PER_PAGE):
            chunk = texts_faces[s : s + LINES_PER_PAGE]
            ids: dict[str, int] = {}
            lines, sizes = [], []
            for text, face in chunk:
                fid = ids.setdefault(face.name, len(ids))
                style, px = _line_style(rng, fid)
                lines.append((text, face, style))
                sizes.append(px)
            page.set_content(_page_html(lines))
            page.evaluate("document.fonts.ready.then(() => true)")
            rects = page.evaluate(
                "Array.from(document.querySelectorAll('.l')).map(e => {const r = e.getBoundingClientRect();"
                " return [r.left, r.top, r.width, r.height, e.scrollWidth > e.clientWidth + 1]})"
            )
            shot = page.screenshot(full_page=True, type="png")
            img = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_GRAYSCALE)
            for (text, _face, _style), px, (x, y, w, h, _overflow) in zip(lines, sizes, rects):
                x0, y0 = max(0, int(x)), max(0, int(y))
                x1, y1 = min(img.shape[1], int(np.ceil(x + w))), min(img.shape[0], int(np.ceil(y + h)))
                if x1 - x0 < 4 or y1 - y0 < 4 or x + w > PAGE_WIDTH - 8:
                    continue
                ink = 255 - img[y0:y1, x0:x1]
                if ink.max() < 100:  # nothing drawn (a face the browser could not load)
                    continue
                out.append(RasterLine(ink, text, px))
        browser.close()
    return out


def write_cache(out_dir: Path, lines: list[RasterLine], start: int = 0) -> None:
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, line in enumerate(lines, start):
        name = f"images/{i:07d}.png"
        cv2.imwrite(str(out_dir / name), line.ink)
        rows.append(f"{name}\t{line.text}\t{line.px}")
    with (out_dir / "labels.tsv").open("a", encoding="utf-8") as f:
        f.write("".join(r + "\n" for r in rows))


class RasterLines:
    """Cached lines of one or more cache folders: ``draw(rng)`` → (ink mask, text, px).
    ``charset``: only the lines it spells (a script specialist's is smaller than the one the
    cache was drawn for)."""

    def __init__(self, *folders: Path, charset: Charset | None = None):
        self.items: list[tuple[Path, str, int]] = []
        for folder in folders:
            labels = folder / "labels.tsv"
            if labels.exists():
                for line in labels.read_text(encoding="utf-8").splitlines():
                    parts = line.split("\t")
                    if len(parts) == 3 and parts[1] and (charset is None or all(c in charset for c in parts[1])):
                        self.items.append((folder / parts[0], parts[1], int(parts[2])))

    def __len__(self) -> int:
        return len(self.items)

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, str, int] | None:
        path, text, px = self.items[int(rng.integers(len(self.items)))]
        ink = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        return None if ink is None else (ink, text, px)


# ---- PDFium ----------------------------------------------------------------------------------

PDF_LINES_PER_PAGE = 40


def truetype_faces(faces) -> list[FontFace]:
    """The faces ReportLab can embed (TrueType outlines; CFF-flavoured OpenType it cannot)."""
    from fontTools.ttLib import TTFont

    return [f for f in faces if "glyf" in TTFont(f.path, fontNumber=f.index, lazy=True)]


def render_pdfium(texts_faces: list[tuple[str, FontFace]], rng: np.random.Generator) -> list[RasterLine]:
    """Write ``(text, face)`` pairs into PDF pages with ReportLab (faces embedded), render each page
    with PDFium at a random resolution and cut the lines out by their known positions."""
    import pypdfium2 as pdfium
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont as ReportLabFont
    from reportlab.pdfgen import canvas

    out: list[RasterLine] = []
    for s in range(0, len(texts_faces), PDF_LINES_PER_PAGE):
        chunk = texts_faces[s : s + PDF_LINES_PER_PAGE]
        sizes = [float(rng.choice([rng.uniform(6, 10), rng.uniform(8, 16), rng.uniform(12, 24)])) for _ in chunk]
        line_h = [sz * 1.6 for sz in sizes]
        page_w, page_h = 1000.0, sum(line_h) + 20
        buf = io.BytesIO()
        c = canvas.Canvas(buf, pagesize=(page_w, page_h))
        placed = []  # (text, x0, baseline from the top, width, size) in points
        y_top = 10.0
        for (text, face), size, lh in zip(chunk, sizes, line_h):
            name = f"f{abs(hash((face.path, face.index))) % 10**8}"
            if name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(ReportLabFont(name, face.path, subfontIndex=face.index))
            width = pdfmetrics.stringWidth(text, name, size)
            baseline = y_top + lh * 0.7
            if 10 + width < page_w - 10:
                c.setFont(name, size)
                c.drawString(10, page_h - baseline, text)
                placed.append((text, 10.0, baseline, width, size))
            y_top += lh
        c.showPage()
        c.save()
        scale = float(rng.uniform(1.0, 3.0))  # 72-216 dpi
        pdf = pdfium.PdfDocument(buf.getvalue())
        try:
            bitmap = pdf[0].render(scale=scale, grayscale=True, no_smoothtext=bool(rng.random() < 0.1))
            img = bitmap.to_numpy()
        finally:
            pdf.close()
        img = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        for text, x0, baseline, width, size in placed:
            px = int(round(size * scale))
            top, bottom = int((baseline - size * 1.05) * scale), int(np.ceil((baseline + size * 0.45) * scale))
            left, right = int((x0 - 2) * scale), int(np.ceil((x0 + width + 2) * scale))
            crop = img[max(0, top) : bottom, max(0, left) : right]
            if crop.size == 0 or px < (8 if text.isascii() else 12):  # smaller is illegible, not hard
                continue
            ink = 255 - crop
            if ink.max() < 100:
                continue
            out.append(RasterLine(np.ascontiguousarray(ink), text, px))
    return out


ENGINES = {"chromium": render_chromium, "pdfium": render_pdfium}


def main(argv: list[str] | None = None) -> None:
    from dataclasses import replace

    from .corpus import load_or_build
    from .running_text import load_or_build_running_text
    from .textgen import TextSampler

    ap = argparse.ArgumentParser(prog="crnn-ocr-raster-lines", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="cache folder (images/ + labels.tsv); appended to")
    ap.add_argument("--engine", choices=sorted(ENGINES), required=True, help="the rasteriser that draws the lines")
    ap.add_argument("-n", type=int, default=20_000, help="lines to render")
    ap.add_argument("--config", type=Path, required=True, help="training config whose text mix the lines follow")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-chars", type=int, default=30)
    ap.add_argument("--cache-dir", type=Path, default=Path("data/cache"))
    args = ap.parse_args(argv)
    if args.engine == "chromium" and not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing (scripts/install-system-deps.sh installs chromium)")
    cfg = load_config(args.config, TrainConfig)
    charset = Charset.default()
    fonts: FontSet = discover(set(charset.chars), args.cache_dir / "fonts.json")
    running = load_or_build_running_text(charset, args.cache_dir / "running_text.txt.gz") if cfg.mix.zh_text or cfg.mix.en_text else None
    sampler = TextSampler(load_or_build(charset, args.cache_dir / "corpus.tsv.gz"), charset, replace(cfg.mix, plate=0.0), running)
    rng = np.random.default_rng([args.seed, 4242])
    cjk, latin = fonts.cjk, fonts.latin
    if args.engine == "pdfium":
        cjk, latin = tuple(truetype_faces(cjk)), tuple(truetype_faces(latin))
    start = len(RasterLines(args.out))
    done = 0
    while done < args.n:
        batch = []
        while len(batch) < min(600, args.n - done):
            text = sampler.sample(rng, int(rng.integers(2, args.max_chars + 1)))
            pool = latin if text.isascii() and rng.random() < 0.6 else cjk
            candidates = [f for f in pool if f.covers(text)]
            if candidates:
                batch.append((text, candidates[int(rng.integers(len(candidates)))]))
        lines = ENGINES[args.engine](batch, rng)
        write_cache(args.out, lines, start + done)
        done += len(lines)
        print(f"{done}/{args.n} {args.engine} lines in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
