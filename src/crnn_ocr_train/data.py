"""Training data: a deterministic stream of synthetic batches, and labelled line sets on disk.

``SynthBatches`` renders in DataLoader worker processes (so the trainer's threads keep the CPU),
groups a pool of samples by width and yields padded batches (little padding → less compute).
``LabelledLines`` reads the ``relative/path<TAB>text`` format of ../shared/eval, used for the
fixed validation sets and for fine-tuning on a user's own labels.tsv.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from crnn_ocr.charset import Charset, unify_text
from crnn_ocr.recognize import fit_to_height, pad_value

from .config import Curriculum
from .corpus import load_or_build
from .fonts import discover
from .raster_lines import RasterLines
from .render import LineRenderer, RenderConfig, render_plate, render_scene
from .running_text import load_or_build_running_text
from .textgen import PLATE_LETTERS, PROVINCES, TextMix, TextSampler, plate_number, scene_word


@dataclass(frozen=True)
class SynthConfig:
    seed: int = 0
    batch_size: int = 64
    pool_batches: int = 8
    render: RenderConfig = RenderConfig()
    mix: TextMix = TextMix()
    curriculum: Curriculum = Curriculum()
    heldout_fonts: bool = False
    scene_share: float = 0.0  # share of scene-text word crops (signs, shop fronts) among the lines
    plate_share: float = 0.0  # share of licence-plate crops
    raster_share: float = 0.0  # share of lines real engines drew (``raster_lines``; cached in cache_dir/raster/*)
    cache_dir: str = "data/cache"


class SynthSource:
    """Text sampler + renderer; ``sample(rng, max_chars, degrade)`` → (image, text)."""

    def __init__(self, charset: Charset, cfg: SynthConfig):
        cache = Path(cfg.cache_dir)
        self.charset = charset
        # The caches are shared by every run on the machine, so they hold what the default alphabet
        # spells whichever charset built them first; the sampler filters them to this charset.
        full = Charset.default()
        running = load_or_build_running_text(full, cache / "running_text.txt.gz") if cfg.mix.zh_text or cfg.mix.en_text else None
        self.texts = TextSampler(load_or_build(full, cache / "corpus.tsv.gz"), charset, cfg.mix, running)
        fonts = discover(set(full.chars), cache / "fonts.json")
        self.cfg = cfg
        self.renderer = LineRenderer(fonts, cfg.render, heldout=cfg.heldout_fonts)
        lacking = [c for c in PROVINCES + PLATE_LETTERS if c not in charset]
        if cfg.plate_share > 0 and lacking:
            raise ValueError(
                f"plate_share is {cfg.plate_share} but the charset lacks {len(lacking)} of the plates' characters "
                f"(e.g. {''.join(lacking[:5])}): set plate_share to 0 for this charset"
            )
        self.raster = None
        if cfg.raster_share > 0:
            self.raster = RasterLines(*sorted(p for p in (cache / "raster").glob("*") if p.is_dir()), charset=charset)
            if not len(self.raster):
                raise RuntimeError(f"raster_share is {cfg.raster_share} but {cache / 'raster'} holds no lines this charset spells: run crnn-ocr-raster-lines first")

    def sample(self, rng: np.random.Generator, max_chars: int, degrade: float) -> tuple[np.ndarray, str]:
        renderer = self.renderer
        if degrade != renderer.config.degrade:
            renderer.config = replace(renderer.config, degrade=degrade)
        # Only draw when enabled, so the rng sequence of document-only sets (eval sets) is unchanged.
        if self.cfg.scene_share > 0 and rng.random() < self.cfg.scene_share:
            while True:
                text = self.charset.filter_text(scene_word(rng, self.texts.corpus)).strip()[:max_chars]
                img = render_scene(renderer, text, rng) if text else None
                if img is not None:
                    return img, text
        if self.cfg.plate_share > 0 and rng.random() < self.cfg.plate_share:
            while True:
                text = plate_number(rng)
                img = render_plate(renderer, text, rng)
                if img is not None:
                    return img, text
        if self.cfg.raster_share > 0 and rng.random() < self.cfg.raster_share:
            for _ in range(10):
                drawn = self.raster.draw(rng)
                if drawn is not None and len(drawn[1]) <= max(max_chars, 30):
                    img = renderer.render_ink(drawn[0], drawn[1], drawn[2], rng)
                    if img is not None:
                        return img, drawn[1]
        while True:
            text = self.texts.sample(rng, max_chars)
            for _ in range(3):
                img = renderer.render(text, rng)
                if img is not None:
                    return img, text
                text = text[: max(1, len(text) // 2)].strip() or text[:1]


def pad_batch(images: list[np.ndarray], height: int = 32) -> torch.Tensor:
    """[N,1,H,Wmax] float in [-1,1]; each image right-padded with its own background grey."""
    width = max(im.shape[1] for im in images)
    width = (width + 3) // 4 * 4
    out = np.empty((len(images), 1, height, width), np.uint8)
    for i, im in enumerate(images):
        out[i, 0, :, : im.shape[1]] = im
        out[i, 0, :, im.shape[1] :] = pad_value(im)
    return torch.from_numpy(out).float().div_(127.5).sub_(1.0)


@dataclass
class Batch:
    images: torch.Tensor  # [N,1,32,W]
    targets: torch.Tensor  # concatenated class indices
    target_lengths: torch.Tensor  # [N]
    widths: torch.Tensor  # [N] true widths before padding
    texts: list[str]


def make_batch(charset: Charset, items: list[tuple[np.ndarray, str]]) -> Batch:
    images = [im for im, _ in items]
    texts = [t for _, t in items]
    ids = [charset.encode(t) for t in texts]
    return Batch(
        images=pad_batch(images),
        targets=torch.tensor([i for seq in ids for i in seq], dtype=torch.long),
        target_lengths=torch.tensor([len(s) for s in ids], dtype=torch.long),
        widths=torch.tensor([im.shape[1] for im in images], dtype=torch.long),
        texts=texts,
    )


class SynthBatches(IterableDataset):
    """Endless width-bucketed batches. Worker ``k`` of a run started at ``start_samples`` seeds
    its rng with (seed, start_samples, k), so runs are reproducible and a resumed run sees new data."""

    def __init__(self, charset: Charset, cfg: SynthConfig, start_samples: int = 0):
        self.charset = charset
        self.cfg = cfg
        self.start_samples = start_samples

    def __iter__(self) -> Iterator[Batch]:
        info = get_worker_info()
        wid, nworkers = (info.id, info.num_workers) if info else (0, 1)
        cv2.setNumThreads(1)
        source = SynthSource(self.charset, self.cfg)
        rng = np.random.default_rng([self.cfg.seed, self.start_samples, wid])
        seen = self.start_samples
        bs = self.cfg.batch_size
        while True:
            max_chars, degrade = self.cfg.curriculum.at(seen)
            pool = [source.sample(rng, max_chars, degrade) for _ in range(bs * self.cfg.pool_batches)]
            pool.sort(key=lambda it: it[0].shape[1])
            order = rng.permutation(self.cfg.pool_batches)
            for b in order:
                yield make_batch(self.charset, pool[b * bs : (b + 1) * bs])
            seen += len(pool) * nworkers


class LabelledLines(Dataset):
    """Line images + labels.tsv (``relative/path<TAB>text``), fitted to the model height as at inference."""

    def __init__(self, labels_tsv: Path, charset: Charset, height: int = 32):
        self.root = labels_tsv.parent
        self.charset = charset
        self.height = height
        self.items: list[tuple[Path, str]] = []
        for n, line in enumerate(labels_tsv.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise ValueError(f"{labels_tsv}:{n}: expected 'path<TAB>text'")
            rel, text = line.split("\t", 1)
            text = unify_text(text, charset)
            if text:
                self.items.append((self.root / rel, text))
        if not self.items:
            raise ValueError(f"{labels_tsv}: no usable labelled lines")

    def __len__(self) -> int:
        return len(self.items)

    def load(self, path: Path) -> np.ndarray:
        img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise ValueError(f"cannot read image {path}")
        return fit_to_height(img, self.height, min_width=16, stride=4)

    def __getitem__(self, i: int) -> tuple[np.ndarray, str]:
        path, text = self.items[i]
        return self.load(path), text

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """Batches grouped by width for speed (each Batch keeps its texts); every image is read once."""
        items = sorted((self[i] for i in range(len(self))), key=lambda it: it[0].shape[1])
        for s in range(0, len(items), batch_size):
            yield make_batch(self.charset, items[s : s + batch_size])


def write_dataset(out_dir: Path, charset: Charset, cfg: SynthConfig, n: int, max_chars: int, degrade: float) -> Path:
    """Write ``n`` rendered lines as PNGs + labels.tsv (the ../shared/eval format). Deterministic in cfg.seed."""
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    source = SynthSource(charset, cfg)
    rng = np.random.default_rng([cfg.seed, 7919])
    rows = []
    for i in range(n):
        img, text = source.sample(rng, max_chars, degrade)
        name = f"images/{i:06d}.png"
        cv2.imwrite(str(out_dir / name), img)
        rows.append(f"{name}\t{text}")
    labels = out_dir / "labels.tsv"
    labels.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return labels
