"""Which detector for which page: classical vs learned per kind of synthetic page.

``auto`` must pick the learned detector where it beats the classical one and keep the classical
one elsewhere, without the user saying what the page is. This script renders fresh synthetic
pages of each kind the detector is trained on (documents, forms, receipts, screenshots,
scene-like photos; a seed no training or validation run uses), and reports per kind:

- detection P / R / H at IoU 0.5 of ``classical`` and ``learned`` (their text boxes,
  ``detect_text``, without the recognizer's crop margins; lines marked ``ignore``, too small or
  faint, neither count nor penalise).

The ``auto`` rule (``crnn_ocr.pipeline.choose_detector``) and the detector's post-processing
settings are chosen from these synthetic pages, never from ../shared/eval.

    .venv/bin/python benchmarks/detect_synth.py --det-model models/db_det_v1.onnx --pages 12
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from crnn_ocr.charset import Charset
from crnn_ocr.detect import ClassicalLineDetector
from crnn_ocr.detect_learned import DetectorEngine, LearnedDetectorConfig, LearnedLineDetector
from crnn_ocr.detect_metrics import match_boxes, prh
from crnn_ocr.engine import EngineConfig

SEED = 5151  # training uses seed 0 (and its worker streams), validation 909


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--det-model", required=True, help="the learned detector's .onnx")
    p.add_argument("--pages", type=int, default=12, help="pages per kind")
    p.add_argument("--max-side", type=int, help="network input's longer side (default: the model's metadata)")
    p.add_argument("--kinds", help="comma-separated page kinds (default: all)")
    p.add_argument("--json", type=Path, help="write the figures here too")
    args = p.parse_args(argv)

    from crnn_ocr_train.det_pages import KINDS, PageRenderer  # training extra: the page renderer

    renderer = PageRenderer.from_cache(Charset.default())
    classical = ClassicalLineDetector()
    learned = LearnedLineDetector(
        DetectorEngine(args.det_model, EngineConfig(intra_op_threads=1)), LearnedDetectorConfig(max_side=args.max_side)
    )
    print(f"learned detector: {args.det_model}, input long side {learned.max_side}", file=sys.stderr)
    rng = np.random.default_rng([SEED, 77])
    out: dict[str, dict] = {}
    print("| kind | pages | lines | classical P / R / H | learned P / R / H |")
    print("|---|---:|---:|---|---|")
    for kind in args.kinds.split(",") if args.kinds else KINDS:
        counts = {name: [0, 0, 0] for name in ("classical", "learned")}
        for _ in range(args.pages):
            page = renderer.render(rng, kind)
            gts = [r.polygon for r in page.regions if not r.ignore]
            ignores = [r.polygon for r in page.regions if r.ignore]
            for name, det in (("classical", classical), ("learned", learned)):
                boxes = [np.asarray(b.points, np.float32) for b in det.detect_text(page.image)]
                m, n_pred, n_gt = match_boxes(boxes, gts, ignores)
                c = counts[name]
                c[0], c[1], c[2] = c[0] + m, c[1] + n_pred, c[2] + n_gt
        row = {name: dict(zip(("precision", "recall", "hmean"), prh(*c))) for name, c in counts.items()}
        row.update(pages=args.pages, lines=counts["learned"][2])
        out[kind] = row
        cells = [" / ".join(f"{100 * row[n][k]:.1f}" for k in ("precision", "recall", "hmean")) for n in ("classical", "learned")]
        print(f"| {kind} | {args.pages} | {row['lines']} | {cells[0]} | {cells[1]} |", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
