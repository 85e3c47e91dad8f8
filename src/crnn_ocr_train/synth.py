"""`crnn-ocr-synth OUT_DIR -n 1000`: write a fixed synthetic line set (images/ + labels.tsv).

Same format as ../shared/eval line sets, deterministic in ``--seed``: use it for reproducible
validation sets, for looking at what the model trains on, or for checking a font.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from crnn_ocr.charset import Charset

from .data import SynthConfig, write_dataset
from .render import RenderConfig


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="crnn-ocr-synth", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("-n", type=int, default=1000, help="number of lines")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-chars", type=int, default=20)
    p.add_argument("--degrade", type=float, default=0.7, help="0 = clean renders, 1 = full degradation mix")
    p.add_argument("--heldout-fonts", action="store_true", help="render with the held-out CJK fonts only")
    p.add_argument("--scene-share", type=float, default=0.0, help="share of scene-text word crops (signs, shop fronts)")
    p.add_argument("--plate-share", type=float, default=0.0, help="share of licence-plate crops")
    p.add_argument("--scan-effects", action="store_true", help="fax/bilevel scans, half-tone fields and smudges beside the text")
    p.add_argument("--font-styles", action="store_true", help="condensed/extended widths, stroke weight and slant")
    args = p.parse_args(argv)
    cfg = replace(
        SynthConfig(), seed=args.seed, heldout_fonts=args.heldout_fonts, scene_share=args.scene_share,
        plate_share=args.plate_share, render=RenderConfig(scan_effects=args.scan_effects, font_styles=args.font_styles),
    )
    labels = write_dataset(args.out, Charset.default(), cfg, args.n, args.max_chars, args.degrade)
    print(f"wrote {args.n} lines to {labels}")


if __name__ == "__main__":
    main()
