"""Synthetic pages for the text detector: a grey page image and the polygon of every text line.

``PageRenderer.render(rng)`` draws one page, deterministically from ``rng``:

  layout (one of: document, form, receipt, screenshot, scene) → text lines placed on a page
  background (paper, ruled table, receipt strip on a table top, flat UI, photo-like clutter),
  some pages with vertical Chinese columns (read right to left)
  → page geometry: curved baselines, rotation, perspective, sometimes a quarter turn (90/180/270)
  → photometric degradation (``render._photometric``: uneven light, shadow, blur, noise, low
    resolution, JPEG, binarization)

Every line comes with its polygon in page pixels, clockwise from the text's own top-left corner
(2k points: k along the top edge, then k back along the bottom edge), so a page turned by a
quarter turn keeps "first edge = top of the text". Text comes from the recognizer's corpus and
``TextSampler``; fonts from the recognizer's training ``FontSet`` (held-out fonts never used).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from crnn_ocr.charset import Charset

from .corpus import Corpus, load_or_build
from .fonts import FontFace, FontSet, discover
from .render import _ink_mask, _photometric, _pil_font
from .textgen import TextSampler, amount

Rng = np.random.Generator
KINDS = ("document", "form", "receipt", "screenshot", "scene")
EDGE_POINTS = 6  # points per long edge of a line polygon (curved baselines stay well described)


@dataclass(frozen=True)
class PageConfig:
    min_side: int = 480  # page short side before geometry, pixels
    max_side: int = 1000  # page long side
    kind_weights: tuple[float, ...] = (0.3, 0.17, 0.15, 0.13, 0.25)  # in KINDS order
    vertical_share: float = 0.08  # pages of vertical Chinese columns (document and scene kinds)
    quarter_turn_share: float = 0.15  # pages turned by 90/180/270 degrees
    curve_share: float = 0.12
    perspective_share: float = 0.25
    rotate_share: float = 0.35  # small rotations (scenes get larger ones)
    degrade: float = 1.0
    min_text_px: int = 9  # lines shorter than this after geometry are marked ignore


@dataclass(frozen=True)
class TextRegion:
    """One text line. ``polygon``: float32 [2k, 2] page pixels, clockwise from the text's top-left;
    ``ignore``: too small or too faint to be a target (excluded from the loss, not a negative)."""

    polygon: np.ndarray
    text: str
    vertical: bool = False
    ignore: bool = False


@dataclass(frozen=True)
class DetPage:
    image: np.ndarray  # uint8 HxW grey
    regions: tuple[TextRegion, ...]
    kind: str
    quarter_turns: int  # counter-clockwise quarter turns applied to the upright page


@dataclass
class _Item:
    """A line being placed: its ink mask (float [h, w] in 0..1), where, and its grey level."""

    mask: np.ndarray
    x: int
    y: int
    level: float
    text: str
    vertical: bool
    box: tuple[int, int, int, int]  # text box inside ``mask``: x0, y0, x1, y1


def _edge_polygon(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """[2k, 2] polygon of an axis-aligned box: k points along the top (left→right), then the bottom
    (right→left)."""
    xs = np.linspace(x0, x1, EDGE_POINTS, dtype=np.float32)
    top = np.stack([xs, np.full_like(xs, y0)], 1)
    bottom = np.stack([xs[::-1], np.full_like(xs, y1)], 1)
    return np.concatenate([top, bottom]).astype(np.float32)


class PageRenderer:
    """Renders ``DetPage``s from the recognizer's text sampler and training fonts."""

    def __init__(self, charset: Charset, corpus: Corpus, fonts: FontSet, config: PageConfig = PageConfig()):
        self.config = config
        self.texts = TextSampler(corpus, charset)
        self.charset = charset
        self.cjk = [f for f in fonts.cjk]  # held-out faces (fonts.heldout) are never used
        self.latin = [f for f in fonts.latin]
        self.mono = [f for f in fonts.latin if "Mono" in f.name or "Courier" in f.name] or self.latin
        self.hanzi = "".join(c for c in charset.chars if 0x4E00 <= ord(c) <= 0x9FFF)

    @classmethod
    def from_cache(cls, charset: Charset, cache_dir: str | Path = "data/cache", config: PageConfig = PageConfig()) -> PageRenderer:
        cache = Path(cache_dir)
        corpus = load_or_build(charset, cache / "corpus.tsv.gz")
        fonts = discover(set(charset.chars), cache / "fonts.json")
        return cls(charset, corpus, fonts, config)

    # ---- the page -----------------------------------------------------------------------------

    def render(self, rng: Rng, kind: str | None = None) -> DetPage:
        cfg = self.config
        if kind is None:
            p = np.asarray(cfg.kind_weights, dtype=np.float64)
            kind = KINDS[int(rng.choice(len(KINDS), p=p / p.sum()))]
        long_side = int(rng.integers(max(cfg.min_side, 560), cfg.max_side + 1))
        aspect = float(rng.uniform(1.0, 1.5))
        if kind == "receipt" or (kind in ("document", "form") and rng.random() < 0.7):
            h, w = long_side, int(long_side / aspect)  # portrait
        else:
            w, h = long_side, int(long_side / aspect)
        h, w = max(h, cfg.min_side), max(w, cfg.min_side)
        vertical = kind in ("document", "scene") and rng.random() < cfg.vertical_share
        page, items, polys_extra = getattr(self, f"_{kind}")(rng, h, w, vertical)
        page, regions = self._compose(page, items, rng)
        regions.extend(polys_extra)
        page, regions = self._geometry(page, regions, rng, kind)
        turns = 0
        if rng.random() < cfg.quarter_turn_share:
            turns = int(rng.integers(1, 4))
            page, regions = quarter_turn(page, regions, turns)
        size = float(np.median([_region_height(r.polygon) for r in regions])) if regions else 20.0
        page = _photometric(page, rng, cfg.degrade * (1.3 if kind == "scene" else 1.0), max(8, int(size)))
        regions = [
            replace(r, ignore=r.ignore or _region_height(r.polygon) < cfg.min_text_px) for r in regions
        ]
        return DetPage(page, tuple(regions), kind, turns)

    # ---- text items ---------------------------------------------------------------------------

    def _face(self, text: str, rng: Rng, pool: list[FontFace] | None = None) -> FontFace | None:
        if pool is None:
            pool = self.latin if text.isascii() and rng.random() < 0.65 else self.cjk
        for _ in range(6):
            face = pool[int(rng.integers(len(pool)))]
            if face.covers(text):
                return face
        ok = [f for f in self.cjk if f.covers(text)]
        return ok[int(rng.integers(len(ok)))] if ok else None

    def _line(self, text: str, size: int, rng: Rng, pool: list[FontFace] | None = None) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """Ink mask of one horizontal line cropped around its text box (with a margin), and the box."""
        face = self._face(text, rng, pool)
        if face is None:
            return None
        font = _pil_font(face.path, face.index, size)
        mask, box = _ink_mask(text, font, size, rng)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        m = max(2, size // 4)
        ya, yb, xa, xb = max(0, y0 - m), min(mask.shape[0], y1 + m), max(0, x0 - m), min(mask.shape[1], x1 + m)
        return mask[ya:yb, xa:xb].copy(), (x0 - xa, y0 - ya, x1 - xa, y1 - ya)

    def _column(self, text: str, size: int, rng: Rng) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """Ink mask of a vertical Chinese column (characters upright, top to bottom) and its box."""
        face = self._face(text, rng, self.cjk)
        if face is None:
            return None
        font = _pil_font(face.path, face.index, size)
        pitch = int(size * float(rng.uniform(1.0, 1.25)))
        canvas = Image.new("L", (size * 2, pitch * len(text) + size * 2), 0)
        draw = ImageDraw.Draw(canvas)
        for i, ch in enumerate(text):
            draw.text((size // 2, size // 2 + i * pitch), ch, font=font, fill=255)
        mask = np.asarray(canvas, dtype=np.float32) / 255.0
        ink = mask > 0.2
        cols, rows = np.flatnonzero(ink.any(0)), np.flatnonzero(ink.any(1))
        if len(cols) == 0:
            return None
        x0, x1 = size // 2, size // 2 + size  # the column is one em wide, whatever the glyphs
        y0, y1 = min(int(rows[0]), size // 2), int(rows[-1]) + 1
        m = max(2, size // 4)
        ya, yb, xa, xb = max(0, y0 - m), min(mask.shape[0], y1 + m), max(0, x0 - m), min(mask.shape[1], x1 + m)
        return mask[ya:yb, xa:xb].copy(), (x0 - xa, y0 - ya, x1 - xa, y1 - ya)

    def _place(self, items: list[_Item], occupied: np.ndarray, rendered, x: int, y: int, level: float, text: str, vertical: bool = False) -> bool:
        """Add a rendered line at (x, y) (its text box's top-left) if it fits and overlaps nothing."""
        if rendered is None:
            return False
        mask, (bx0, by0, bx1, by1) = rendered
        h, w = occupied.shape
        ox, oy = x - bx0, y - by0
        if ox < 0 or oy < 0 or ox + mask.shape[1] > w or oy + mask.shape[0] > h:
            return False
        if occupied[y : y + by1 - by0, x : x + bx1 - bx0].any():
            return False
        pad = max(1, (by1 - by0) // 5)
        occupied[max(0, y - pad) : y + by1 - by0 + pad, max(0, x - pad) : x + bx1 - bx0 + pad] = True
        items.append(_Item(mask, ox, oy, level, text, vertical, (bx0, by0, bx1, by1)))
        return True

    def _compose(self, page: np.ndarray, items: list[_Item], rng: Rng) -> tuple[np.ndarray, list[TextRegion]]:
        regions = []
        for it in items:
            h, w = it.mask.shape
            sub = page[it.y : it.y + h, it.x : it.x + w]
            sub[...] = sub * (1 - it.mask) + it.level * it.mask
            x0, y0, x1, y1 = it.box
            poly = _edge_polygon(it.x + x0, it.y + y0, it.x + x1, it.y + y1)
            if it.vertical:  # text top-left is the column's top-right: start there, still clockwise
                poly = _column_polygon(it.x + x0, it.y + y0, it.x + x1, it.y + y1)
            faint = abs(float(np.median(sub[it.mask < 0.1])) - it.level) < 25 if (it.mask < 0.1).any() else False
            regions.append(TextRegion(poly, it.text, it.vertical, ignore=bool(faint)))
        return page, regions

    def _text(self, rng: Rng, max_chars: int) -> str:
        return self.texts.sample(rng, max_chars)

    # ---- layouts: each returns (page float32 HxW, items, extra regions) -----------------------

    def _document(self, rng: Rng, h: int, w: int, vertical: bool):
        page = _paper(rng, h, w)
        occupied = np.zeros((h, w), bool)
        items: list[_Item] = []
        ink = float(rng.uniform(0, 90))
        if vertical:
            self._vertical_block(rng, page, occupied, items, ink, 0, 0, w, h)
            return page, items, []
        margin = int(w * rng.uniform(0.04, 0.12))
        size = int(rng.integers(11, 30))
        y = int(h * rng.uniform(0.03, 0.1))
        _clutter(page, occupied, rng, h, w, ink)
        while y < h - margin:
            r = rng.random()
            if r < 0.08:  # heading
                s = int(size * rng.uniform(1.3, 2.2))
                text = self._text(rng, 16)
                x = margin if rng.random() < 0.6 else max(margin, w // 2 - s * len(text) // 3)
                self._place(items, occupied, self._line(text, s, rng), x, y, ink, text)
                y += int(s * rng.uniform(1.5, 2.2))
            elif r < 0.15:  # paragraph gap
                y += int(size * rng.uniform(1.0, 3.0))
            else:  # a line of a paragraph, sometimes two columns
                cols = 2 if rng.random() < 0.15 else 1
                col_w = (w - 2 * margin) // cols
                for c in range(cols):
                    chars = max(3, int(col_w / (size * (0.55 if rng.random() < 0.5 else 1.0))))
                    text = self._text(rng, min(40, chars))
                    self._place(items, occupied, self._line(text, size, rng), margin + c * col_w, y, ink, text)
                y += int(size * rng.uniform(1.25, 1.9))
        return page, items, []

    def _vertical_block(self, rng: Rng, page, occupied, items, ink, x0: int, y0: int, w: int, h: int) -> None:
        """Vertical Chinese columns, right to left, filling the box (x0, y0, w, h)."""
        size = int(rng.integers(14, 34))
        pitch_x = int(size * rng.uniform(1.4, 2.2))
        top = y0 + int(h * rng.uniform(0.04, 0.12))
        x = x0 + w - int(w * rng.uniform(0.05, 0.12)) - size
        while x > x0 + size:
            n = int(rng.integers(2, max(3, (h - (top - y0) * 2) // int(size * 1.15))))
            text = "".join(self.hanzi[int(i)] for i in rng.integers(0, len(self.hanzi), n)) if rng.random() < 0.3 else self.texts.sample(rng, n)
            text = "".join(c for c in text if ord(c) > 0x2E80)[:n] or self.hanzi[0]
            self._place(items, occupied, self._column(text, size, rng), x, top, ink, text, vertical=True)
            x -= pitch_x

    def _form(self, rng: Rng, h: int, w: int, vertical: bool):
        page = _paper(rng, h, w)
        occupied = np.zeros((h, w), bool)
        items: list[_Item] = []
        ink = float(rng.uniform(0, 80))
        rule = float(rng.uniform(0, 140))
        size = int(rng.integers(10, 24))
        margin = int(w * rng.uniform(0.04, 0.1))
        y = int(h * rng.uniform(0.03, 0.08))
        title = self._text(rng, 14)
        self._place(items, occupied, self._line(title, int(size * 1.6), rng), margin + int(rng.integers(0, w // 4)), y, ink, title)
        y += int(size * 3)
        ncols = int(rng.integers(2, 5))
        xs = np.sort(rng.choice(np.arange(margin + w // 8, w - margin - w // 8), ncols - 1, replace=False)) if ncols > 1 else []
        bounds = [margin, *[int(v) for v in xs], w - margin]
        row_h = int(size * rng.uniform(1.8, 2.6))
        thick = int(rng.integers(1, 3))
        while y + row_h < h - margin:
            if rng.random() < 0.9:
                cv2.line(page, (margin, y), (w - margin, y), rule, thick)
            for a, b in itertools.pairwise(bounds):
                cv2.line(page, (a, y), (a, y + row_h), rule, thick)
                if rng.random() < 0.8:
                    chars = max(2, int((b - a - size) / (size * 0.7)))
                    text = self._text(rng, min(chars, 24)) if rng.random() < 0.6 else _field(rng, self)
                    text = text[:chars] or "0"
                    pad = int(size * rng.uniform(0.3, 0.8))
                    self._place(items, occupied, self._line(text, size, rng), a + pad, y + (row_h - size) // 2, ink, text)
            cv2.line(page, (bounds[-1], y), (bounds[-1], y + row_h), rule, thick)
            y += row_h
        cv2.line(page, (margin, y), (w - margin, y), rule, thick)
        return page, items, []

    def _receipt(self, rng: Rng, h: int, w: int, vertical: bool):
        table = _photo_like(rng, h, w, float(rng.uniform(30, 160)))
        rw = int(w * rng.uniform(0.55, 0.95))
        rx = (w - rw) // 2 + int(rng.integers(-w // 20, w // 20 + 1))
        rx = int(np.clip(rx, 0, w - rw))
        ry0, ry1 = int(h * rng.uniform(0.0, 0.08)), int(h * rng.uniform(0.92, 1.0))
        paper = _paper(rng, ry1 - ry0, rw, lo=200)
        page = table.copy()
        page[ry0:ry1, rx : rx + rw] = paper
        occupied = np.ones((h, w), bool)
        occupied[ry0:ry1, rx : rx + rw] = False
        items: list[_Item] = []
        ink = float(rng.uniform(0, 90))
        size = int(rng.integers(10, 22))
        mono = self.mono if rng.random() < 0.7 else None
        m = int(rw * rng.uniform(0.04, 0.1))
        y = ry0 + int(size * rng.uniform(0.8, 2.0))
        cw = size * 0.6  # monospace advance
        cols = max(12, int((rw - 2 * m) / cw))
        while y < ry1 - size * 2:
            r = rng.random()
            if r < 0.2:  # centred header / address line
                text = self._text(rng, min(cols - 4, 24))
                tw = int(len(text) * cw * (1.7 if not text.isascii() else 1.0))
                self._place(items, occupied, self._line(text, size, rng, mono if text.isascii() else None), rx + max(m, (rw - tw) // 2), y, ink, text)
            elif r < 0.7:  # item ..... price (one line with leaders, else two segments)
                name = self._text(rng, max(3, cols // 2))
                price = amount(rng)
                price = self.charset.filter_text(price).strip() or "0.00"
                if rng.random() < 0.35:
                    dots = "." * max(2, cols - len(name) * (2 if not name.isascii() else 1) - len(price) - 1)
                    text = f"{name} {dots}{price}"
                    self._place(items, occupied, self._line(text, size, rng, mono), rx + m, y, ink, text)
                else:
                    self._place(items, occupied, self._line(name, size, rng, mono if name.isascii() else None), rx + m, y, ink, name)
                    pr = self._line(price, size, rng, mono)
                    if pr is not None:
                        self._place(items, occupied, pr, rx + rw - m - (pr[1][2] - pr[1][0]), y, ink, price)
            elif r < 0.8:  # a dashed separator (not text)
                yy = y + size // 2
                for xx in range(rx + m, rx + rw - m, max(4, size // 2)):
                    cv2.line(page, (xx, yy), (xx + max(2, size // 4), yy), ink, 1)
            else:
                text = _field(rng, self)
                self._place(items, occupied, self._line(text, size, rng, mono if text.isascii() else None), rx + m, y, ink, text)
            y += int(size * rng.uniform(1.3, 1.8))
        return page, items, []

    def _screenshot(self, rng: Rng, h: int, w: int, vertical: bool):
        dark = rng.random() < 0.3
        bg = float(rng.uniform(10, 60) if dark else rng.uniform(225, 255))
        page = np.full((h, w), bg, np.float32)
        occupied = np.zeros((h, w), bool)
        items: list[_Item] = []
        fg = float(rng.uniform(190, 255) if dark else rng.uniform(0, 80))
        size = int(rng.integers(11, 22))
        bar = int(size * rng.uniform(2.0, 3.5))
        page[:bar] = float(rng.uniform(0, 255))  # a title bar
        title = self._text(rng, 20)
        bar_fg = 255.0 if page[0, 0] < 128 else 0.0
        self._place(items, occupied, self._line(title, size, rng), int(size), (bar - size) // 2, bar_fg, title)
        y = bar + size
        x0 = int(w * rng.uniform(0.02, 0.25))
        if x0 > w * 0.15:  # a side panel with menu entries
            page[bar:, :x0] = np.clip(bg + (20 if dark else -15), 0, 255)
            yy = bar + size
            while yy < h - size * 2:
                text = self._text(rng, max(3, x0 // size))
                self._place(items, occupied, self._line(text, size, rng), size // 2, yy, fg, text)
                yy += int(size * 2.2)
        while y < h - size * 2:
            if rng.random() < 0.15:  # a button: filled box with a label
                label = self._text(rng, 8)
                rendered = self._line(label, size, rng)
                if rendered is not None:
                    bw = rendered[1][2] - rendered[1][0] + 2 * size
                    bx = x0 + size + int(rng.integers(0, max(1, w - x0 - bw - 2 * size)))
                    fill = float(rng.uniform(0, 255))
                    cv2.rectangle(page, (bx, y), (bx + bw, y + 2 * size), fill, -1)
                    self._place(items, occupied, rendered, bx + size, y + size // 2, 255.0 if fill < 128 else 0.0, label)
                y += 3 * size
                continue
            chars = max(4, int((w - x0 - 2 * size) / (size * 0.8)))
            text = self._text(rng, min(chars, 36))
            self._place(items, occupied, self._line(text, size, rng), x0 + size, y, fg, text)
            y += int(size * rng.uniform(1.4, 2.4))
        return page, items, []

    def _scene(self, rng: Rng, h: int, w: int, vertical: bool):
        page = _photo_like(rng, h, w, float(rng.uniform(40, 220)))
        occupied = np.zeros((h, w), bool)
        items: list[_Item] = []
        for _ in range(int(rng.integers(4, 22))):
            size = int(rng.integers(12, max(16, min(h, w) // 8)))
            if vertical and rng.random() < 0.6:
                n = int(rng.integers(2, 7))
                text = "".join(c for c in self.texts.sample(rng, n) if ord(c) > 0x2E80) or self.hanzi[0]
                rendered = self._column(text, size, rng)
            else:
                text = self._text(rng, int(rng.integers(2, 14)))
                rendered = self._line(text, size, rng)
                vertical_item = False
            if rendered is None:
                continue
            vertical_item = vertical and rendered[0].shape[0] > rendered[0].shape[1] * 1.2 and not text.isascii()
            bw, bh = rendered[1][2] - rendered[1][0], rendered[1][3] - rendered[1][1]
            if bw + 2 >= w or bh + 2 >= h:
                continue
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            panel = rng.random() < 0.6
            level = float(rng.uniform(0, 255))
            if panel:  # a sign: a flat panel of a contrasting tone behind the text
                pad = int(size * rng.uniform(0.3, 1.0))
                fill = float(np.clip(level + rng.choice([-1, 1]) * rng.uniform(70, 180), 0, 255))
                if abs(fill - level) < 60:
                    fill = 255.0 - level
                if occupied[max(0, y - pad) : y + bh + pad, max(0, x - pad) : x + bw + pad].any():
                    continue
                cv2.rectangle(page, (x - pad, y - pad), (x + bw + pad, y + bh + pad), fill, -1)
            else:
                local = float(page[y : y + bh, x : x + bw].mean())
                level = 255.0 if local < 110 else 0.0 if local > 150 else (255.0 if rng.random() < 0.5 else 0.0)
            self._place(items, occupied, rendered, x, y, level, text, vertical=vertical_item)
        return page, items, []

    # ---- geometry -----------------------------------------------------------------------------

    def _geometry(self, page: np.ndarray, regions: list[TextRegion], rng: Rng, kind: str):
        cfg = self.config
        h, w = page.shape
        fill = float(np.median(np.concatenate([page[0], page[-1], page[:, 0], page[:, -1]])))
        if rng.random() < cfg.curve_share * cfg.degrade:  # curved baselines (page curl, bottles)
            amp = float(rng.uniform(0.005, 0.025)) * h
            period = float(rng.uniform(0.8, 2.5)) * w
            phase = float(rng.uniform(0, 2 * np.pi))
            xx, yy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            page = cv2.remap(page, xx, yy + amp * np.sin(2 * np.pi * xx / period + phase), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            regions = [
                replace(r, polygon=np.stack([r.polygon[:, 0], r.polygon[:, 1] - amp * np.sin(2 * np.pi * r.polygon[:, 0] / period + phase)], 1).astype(np.float32))
                for r in regions
            ]
        m = np.eye(3)
        if rng.random() < cfg.rotate_share * cfg.degrade:
            sd = 12.0 if kind == "scene" else 3.0
            angle = float(np.clip(rng.normal(0, sd), -35, 35))
            rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            m = np.vstack([rot, [0, 0, 1]]) @ m
        if rng.random() < cfg.perspective_share * cfg.degrade:
            s = 0.12 if kind in ("scene", "receipt") else 0.05
            src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
            dst = src + rng.uniform(-s, s, (4, 2)).astype(np.float32) * np.float32([w, h])
            m = cv2.getPerspectiveTransform(src, dst) @ m
        if not np.allclose(m, np.eye(3)):
            corners = cv2.perspectiveTransform(np.float32([[[0, 0], [w, 0], [w, h], [0, h]]]), m)[0]
            lo, hi = corners.min(0), corners.max(0)
            shift = np.array([[1, 0, -lo[0]], [0, 1, -lo[1]], [0, 0, 1]])
            m = shift @ m
            ow, oh = int(np.ceil(hi[0] - lo[0])), int(np.ceil(hi[1] - lo[1]))
            page = cv2.warpPerspective(page, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)
            regions = [replace(r, polygon=cv2.perspectiveTransform(r.polygon[None].astype(np.float64), m)[0].astype(np.float32)) for r in regions]
        return page, regions


def quarter_turn(page: np.ndarray, regions: list[TextRegion], turns: int) -> tuple[np.ndarray, list[TextRegion]]:
    """Turn the page counter-clockwise by ``turns`` quarter turns (np.rot90); polygons follow."""
    out = page
    polys = [r.polygon.copy() for r in regions]
    for _ in range(turns % 4):
        w = out.shape[1]
        out = np.rot90(out)
        polys = [np.stack([p[:, 1], w - p[:, 0]], 1).astype(np.float32) for p in polys]
    return np.ascontiguousarray(out), [replace(r, polygon=p) for r, p in zip(regions, polys)]


def _column_polygon(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """A vertical column's polygon, starting at the text's top-left (the column's top-right) and
    running clockwise: down the right side, then up the left side."""
    ys = np.linspace(y0, y1, EDGE_POINTS, dtype=np.float32)
    right = np.stack([np.full_like(ys, x1), ys], 1)
    left = np.stack([np.full_like(ys, x0), ys[::-1]], 1)
    return np.concatenate([right, left]).astype(np.float32)


def _region_height(poly: np.ndarray) -> float:
    """Text height of a line polygon: its area over its length along the reading direction."""
    k = len(poly) // 2
    length = float(np.linalg.norm(np.diff(poly[:k], axis=0), axis=1).sum())
    area = abs(float(cv2.contourArea(poly.astype(np.float32))))
    return area / max(length, 1e-3)


def _paper(rng: Rng, h: int, w: int, lo: int = 170) -> np.ndarray:
    level = float(rng.uniform(lo, 255))
    small = rng.normal(0, 1, (max(2, h // 16), max(2, w // 16))).astype(np.float32)
    tex = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * float(rng.uniform(0, 8))
    return (level + tex + rng.normal(0, float(rng.uniform(0, 3)), (h, w))).astype(np.float32)


def _photo_like(rng: Rng, h: int, w: int, level: float) -> np.ndarray:
    """A grey 'photo': multi-scale noise, gradients, and blurred shapes (walls, shelves, objects)."""
    bg = np.full((h, w), level, np.float32)
    for scale, amp in ((6, 40), (24, 20), (96, 8)):
        small = rng.normal(0, 1, (max(2, h // (h // scale + 1)), max(2, w // (w // scale + 1)))).astype(np.float32)
        bg += cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * float(rng.uniform(0, amp))
    for _ in range(int(rng.integers(3, 14))):
        tone = float(rng.uniform(0, 255))
        cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
        a, b = int(rng.integers(w // 20 + 1, w // 3 + 2)), int(rng.integers(h // 20 + 1, h // 3 + 2))
        if rng.random() < 0.5:
            cv2.ellipse(bg, (cx, cy), (a, b), float(rng.uniform(0, 180)), 0, 360, tone, -1)
        else:
            pts = (rng.uniform(-1, 1, (int(rng.integers(3, 7)), 2)) * [a, b] + [cx, cy]).astype(np.int32)
            cv2.fillPoly(bg, [pts], tone)
    if rng.random() < 0.5:  # stripes and edges (shelves, tiles, fences): line-like non-text
        for _ in range(int(rng.integers(2, 12))):
            p = rng.integers(0, [w, h, w, h])
            cv2.line(bg, (int(p[0]), int(p[1])), (int(p[2]), int(p[3])), float(rng.uniform(0, 255)), int(rng.integers(1, 6)))
    k = float(rng.uniform(0.5, 3.0))
    return cv2.GaussianBlur(bg, (0, 0), sigmaX=k)


def _clutter(page: np.ndarray, occupied: np.ndarray, rng: Rng, h: int, w: int, ink: float) -> None:
    """Non-text marks on documents: a picture block, rules, a logo-like shape (left as negatives)."""
    if rng.random() < 0.3:
        bw, bh = int(w * rng.uniform(0.15, 0.4)), int(h * rng.uniform(0.1, 0.25))
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        page[y : y + bh, x : x + bw] = _photo_like(rng, bh, bw, float(rng.uniform(60, 200)))
        occupied[y : y + bh, x : x + bw] = True
    for _ in range(int(rng.integers(0, 3))):
        y = int(rng.integers(0, h))
        cv2.line(page, (int(w * 0.05), y), (int(w * 0.95), y), ink, int(rng.integers(1, 3)))
        occupied[max(0, y - 3) : y + 4, :] = True


def _field(rng: Rng, renderer: PageRenderer) -> str:
    """A short key: value string (forms, receipts)."""
    from .textgen import field_line

    text = renderer.charset.filter_text(field_line(rng, renderer.texts.corpus, 20)).strip()
    return text or "Total"
