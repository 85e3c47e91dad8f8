"""Base model against fine-tuned model: CER on the user's held-out lines and on standard sets.

The measured switch after a fine-tune (``crnn_ocr_train.finetune``): the user's held-out lines
show what was gained, the standard dev sets (``en_uw3_doc_lines``, the ``zh_browser_pages`` page
set) what was forgotten. Runs on ONNX Runtime alone (no torch)::

    python -m crnn_ocr.model_compare --base crnn_zh_en_v1 --candidate data/models/mine.onnx \\
        --heldout data/datasets/mine/heldout/labels.tsv --eval-dir ../shared/eval --json report.json

Line sets (``labels.tsv``) are read as single lines (no detection), page sets (``pages/``) as
pages; both are scored like the benchmarks (``crnn_ocr.metrics.score_pairs``, the set's scoring
mode). The table goes to stdout, ``--json`` writes ``ModelComparison.to_dict()``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crnn_ocr.datasets import read_labels, read_page_set
from crnn_ocr.metrics import EvalScore, score_pairs, scoring_mode_for_set
from crnn_ocr.pipeline import OCR, OCRConfig, load_ocr
from crnn_ocr.types import DecodeOptions, OCROptions

SetKind = Literal["lines", "pages"]
STANDARD_SETS = ("en_uw3_doc_lines", "zh_browser_pages")
EVAL_DIR_ENV = "CRNN_OCR_EVAL_DIR"


@dataclass(frozen=True)
class LabelledSet:
    name: str
    kind: SetKind
    samples: tuple[tuple[Path, str], ...]  # (image, reference; a page's lines joined by "\n")


def line_set(name: str, labels_tsv: Path) -> LabelledSet:
    return LabelledSet(name, "lines", tuple(read_labels(labels_tsv)))


def eval_set(folder: Path) -> LabelledSet:
    """The set in ``folder``: a page set when it has ``pages/``, else a line set (``labels.tsv``)."""
    if (folder / "pages").is_dir():
        return LabelledSet(folder.name, "pages", tuple(read_page_set(folder)))
    return line_set(folder.name, folder / "labels.tsv")


def read_set(ocr: OCR, labelled: LabelledSet, decode: DecodeOptions) -> EvalScore:
    """``ocr``'s CER on ``labelled`` (lines without detection, pages with it)."""
    options = OCROptions(detect=labelled.kind == "pages", decode=decode)
    hyps = ["\n".join(line.text for line in ocr(image, options).lines) for image, _ in labelled.samples]
    return score_pairs([ref for _, ref in labelled.samples], hyps, scoring_mode_for_set(labelled.name))


@dataclass(frozen=True)
class SetComparison:
    name: str
    kind: SetKind
    n: int
    base_cer: float
    candidate_cer: float

    @property
    def relative_change(self) -> float:
        """(candidate - base) / base: -0.5 is half the errors, 0.1 a tenth more."""
        if self.base_cer == 0:
            return 0.0 if self.candidate_cer == 0 else float("inf")
        return (self.candidate_cer - self.base_cer) / self.base_cer


@dataclass(frozen=True)
class ModelComparison:
    base: str
    candidate: str
    decode: str
    sets: tuple[SetComparison, ...]

    def get(self, name: str) -> SetComparison:
        return next(s for s in self.sets if s.name == name)

    def to_dict(self) -> dict:
        return {
            "base": self.base,
            "candidate": self.candidate,
            "decode": self.decode,
            "sets": [
                {"name": s.name, "kind": s.kind, "n": s.n, "base_cer": s.base_cer, "candidate_cer": s.candidate_cer,
                 "relative_change": s.relative_change}
                for s in self.sets
            ],
        }

    def table(self) -> str:
        rows = [
            f"| set | kind | n | {self.base} CER | {self.candidate} CER | change |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for s in self.sets:
            rows.append(
                f"| {s.name} | {s.kind} | {s.n} | {100 * s.base_cer:.2f} % | {100 * s.candidate_cer:.2f} % | "
                f"{100 * s.relative_change:+.1f} % |"
            )
        return "\n".join(rows)


def compare_models(
    base: OCR, candidate: OCR, sets: Sequence[LabelledSet], names: tuple[str, str], decode: DecodeOptions = DecodeOptions()
) -> ModelComparison:
    """Both models' CER on every set; ``names``: (base, candidate) as the report calls them."""
    compared = []
    for labelled in sets:
        b, c = read_set(base, labelled, decode), read_set(candidate, labelled, decode)
        compared.append(SetComparison(labelled.name, labelled.kind, b.n, b.cer, c.cer))
        print(f"{labelled.name}: {100 * b.cer:.2f} % → {100 * c.cer:.2f} %", file=sys.stderr)
    return ModelComparison(names[0], names[1], decode.method, tuple(compared))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m crnn_ocr.model_compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="the model before fine-tuning: an .onnx path or a manifest name")
    p.add_argument("--candidate", required=True, help="the fine-tuned model: an .onnx path or a manifest name")
    p.add_argument("--heldout", type=Path, action="append", default=[], help="the user's held-out labels.tsv (repeatable)")
    p.add_argument("--eval-dir", type=Path, default=os.environ.get(EVAL_DIR_ENV), help=f"folder of the standard sets (${EVAL_DIR_ENV})")
    p.add_argument("--sets", default=",".join(STANDARD_SETS), help="standard sets in --eval-dir, comma-separated ('' for none)")
    p.add_argument("--greedy", action="store_true", help="greedy decoding (default: beam search with the language model)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime intra-op threads")
    p.add_argument("--json", type=Path, help="also write the comparison here")
    args = p.parse_args(argv)
    sets = [line_set("heldout" if len(args.heldout) == 1 else f"heldout_{i}", path) for i, path in enumerate(args.heldout)]
    names = [n for n in args.sets.split(",") if n]
    if names and args.eval_dir is None:
        p.error(f"standard sets need --eval-dir (or ${EVAL_DIR_ENV}); --sets '' for none")
    sets += [eval_set(args.eval_dir / n) for n in names]
    if not sets:
        p.error("nothing to compare on: give --heldout and/or --sets")
    decode = DecodeOptions(method="greedy") if args.greedy else DecodeOptions()
    base = load_ocr(OCRConfig(model=args.base, threads=args.threads))
    candidate = load_ocr(OCRConfig(model=args.candidate, threads=args.threads))
    comparison = compare_models(base, candidate, sets, (Path(args.base).stem, Path(args.candidate).stem), decode)
    print(comparison.table())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(comparison.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
