"""Text lines rasterised by a real browser engine (Chromium's Skia), cached on disk as ink masks.

Pillow/FreeType draws every other training line. Users photograph and screenshot text that
browsers, office suites and PDF viewers drew, with their own hinting, anti-aliasing, sub-pixel
positioning, kerning and font fallback. This module lays out many lines per page in headless
Chromium (the Debian package the browser tests use; driven through playwright without
downloading a browser), in the same training faces (``@font-face { src: local(<full name>) }``,
so the held-out faces are never used), takes one screenshot per page and cuts each line out by
its element box. A line is kept as its ink coverage (255 = ink), black text on white, so the
renderer's own geometry, backgrounds and degradations (``LineRenderer.render_ink``) apply to it
exactly as to Pillow's lines.

    crnn-ocr-browser-lines data/cache/browser -n 20000 --config configs/v2.toml

writes ``images/*.png`` (ink masks) and ``labels.tsv`` (``path<TAB>text<TAB>css px``).
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from crnn_ocr.charset import Charset

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
class BrowserLine:
    ink: np.ndarray  # uint8 coverage, 255 = ink, the line's element box plus a small margin
    text: str
    css_px: int  # font size the browser laid the line out at


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


def render_pages(texts_faces: list[tuple[str, FontFace]], rng: np.random.Generator) -> list[BrowserLine]:
    """Lay out ``(text, face)`` pairs in Chromium, ``LINES_PER_PAGE`` to a page, with one hinting
    mode for the whole call; one BrowserLine each (lines wider than the page are dropped)."""
    from playwright.sync_api import sync_playwright

    out: list[BrowserLine] = []
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
                out.append(BrowserLine(ink, text, px))
        browser.close()
    return out


def write_cache(out_dir: Path, lines: list[BrowserLine], start: int = 0) -> None:
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, line in enumerate(lines, start):
        name = f"images/{i:07d}.png"
        cv2.imwrite(str(out_dir / name), line.ink)
        rows.append(f"{name}\t{line.text}\t{line.css_px}")
    with (out_dir / "labels.tsv").open("a", encoding="utf-8") as f:
        f.write("".join(r + "\n" for r in rows))


class BrowserLines:
    """The cached browser-drawn lines: ``draw(rng)`` → (ink mask, text, css px)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.items: list[tuple[str, str, int]] = []
        labels = folder / "labels.tsv"
        if labels.exists():
            for line in labels.read_text(encoding="utf-8").splitlines():
                parts = line.split("\t")
                if len(parts) == 3 and parts[1]:
                    self.items.append((parts[0], parts[1], int(parts[2])))

    def __len__(self) -> int:
        return len(self.items)

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, str, int] | None:
        rel, text, px = self.items[int(rng.integers(len(self.items)))]
        ink = cv2.imread(str(self.folder / rel), cv2.IMREAD_GRAYSCALE)
        return None if ink is None else (ink, text, px)


def main(argv: list[str] | None = None) -> None:
    from dataclasses import replace

    from .corpus import load_or_build
    from .running_text import load_or_build_running_text
    from .textgen import TextSampler
    from .train import load_config

    ap = argparse.ArgumentParser(prog="crnn-ocr-browser-lines", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="cache folder (images/ + labels.tsv); appended to")
    ap.add_argument("-n", type=int, default=20_000, help="lines to render")
    ap.add_argument("--config", type=Path, required=True, help="training config whose text mix the lines follow")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-chars", type=int, default=30)
    ap.add_argument("--cache-dir", type=Path, default=Path("data/cache"))
    args = ap.parse_args(argv)
    if not CHROMIUM.exists():
        raise SystemExit(f"{CHROMIUM} is missing (scripts/install-system-deps.sh installs chromium)")
    cfg = load_config(args.config)
    charset = Charset.default()
    fonts: FontSet = discover(set(charset.chars), args.cache_dir / "fonts.json")
    running = load_or_build_running_text(charset, args.cache_dir / "running_text.txt.gz") if cfg.mix.zh_text or cfg.mix.en_text else None
    sampler = TextSampler(load_or_build(charset, args.cache_dir / "corpus.tsv.gz"), charset, replace(cfg.mix, plate=0.0), running)
    rng = np.random.default_rng([args.seed, 4242])
    start = len(BrowserLines(args.out))
    done = 0
    while done < args.n:
        batch = []
        while len(batch) < min(600, args.n - done):
            text = sampler.sample(rng, int(rng.integers(2, args.max_chars + 1)))
            pool = fonts.latin if text.isascii() and rng.random() < 0.6 else fonts.cjk
            candidates = [f for f in pool if f.covers(text)]
            if candidates:
                batch.append((text, candidates[int(rng.integers(len(candidates)))]))
        lines = render_pages(batch, rng)
        write_cache(args.out, lines, start + done)
        done += len(lines)
        print(f"{done}/{args.n} browser lines in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
