"""The labelled eval sets every benchmark reads: line/word sets (``labels.tsv``) and page sets
(``pages/`` of images, each with its ``.txt`` ground truth), from the shared eval folder and the
project's own ``eval/``.

    folder/labels.tsv             -> a line set (a word set for WORD_SETS): one crop a sample
    folder/pages/NAME.png + .txt  -> a page set: one page a sample, its lines joined by "\\n"
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crnn_ocr.datasets import read_labels, read_page_set
from crnn_ocr.metrics import ScoringMode, scoring_mode_for_set

SetKind = Literal["word", "line", "page"]
WORD_SETS = frozenset({"en_svt_test", "en_icdar13_word"})  # single words: Tesseract --psm 8

REPO = Path(__file__).resolve().parents[1]


def default_eval_dir() -> Path:
    env = os.environ.get("CRNN_OCR_EVAL_DIR")
    return Path(env) if env else REPO.parent / "shared" / "eval"


def default_project_eval_dir() -> Path:
    """The project's own fixed synthetic sets (eval/synth_heldout_fonts: held-out CJK fonts)."""
    return REPO / "eval"


@dataclass(frozen=True)
class Sample:
    image: Path
    text: str  # reference; for pages the lines joined by "\n"


@dataclass(frozen=True)
class EvalSet:
    name: str
    kind: SetKind
    samples: tuple[Sample, ...]

    @property
    def lang(self) -> Literal["zh", "en"]:
        """zh when any reference holds a CJK character (Tesseract then gets the zh languages)."""
        cjk = any("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" for s in self.samples for ch in s.text)
        return "zh" if cjk or self.name.startswith("zh_") else "en"

    @property
    def mode(self) -> ScoringMode:
        return scoring_mode_for_set(self.name)


def line_set_names(eval_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in eval_dir.glob("*/labels.tsv"))


def page_set_names(eval_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in eval_dir.glob("*/pages") if p.is_dir())


def load_line_set(folder: Path, limit: int | None) -> EvalSet:
    pairs = read_labels(folder / "labels.tsv")[:limit]
    kind: SetKind = "word" if folder.name in WORD_SETS else "line"
    return EvalSet(folder.name, kind, tuple(Sample(path, text) for path, text in pairs))


def load_page_set(folder: Path, limit: int | None) -> EvalSet:
    pairs = read_page_set(folder)[:limit]
    return EvalSet(folder.name, "page", tuple(Sample(image, text) for image, text in pairs))


def set_folders(eval_dirs: Sequence[Path]) -> dict[str, tuple[Path, SetKind | None]]:
    """Every set in ``eval_dirs``: name -> (folder, "page" for page sets, None for line sets)."""
    found: dict[str, tuple[Path, SetKind | None]] = {}
    for eval_dir in eval_dirs:
        for name in line_set_names(eval_dir):
            kind: SetKind | None = None
            found.setdefault(name, (eval_dir / name, kind))
        for name in page_set_names(eval_dir):
            found.setdefault(name, (eval_dir / name, "page"))
    return found


def load_sets(eval_dirs: Sequence[Path], names: Sequence[str], limit: int | None) -> list[EvalSet]:
    folders = set_folders(eval_dirs)
    unknown = [n for n in names if n not in folders]
    if unknown:
        where = ", ".join(str(d) for d in eval_dirs)
        raise SystemExit(f"unknown eval set(s) {', '.join(unknown)} in {where}; known: {', '.join(sorted(folders))}")
    out = []
    for n in names:
        folder, kind = folders[n]
        out.append(load_page_set(folder, limit) if kind == "page" else load_line_set(folder, limit))
    return out
