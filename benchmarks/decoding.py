"""Decoders compared on every eval set: greedy, beam, beam + character LM (and plates as fields).

Each image is read once up to the recognizer's frame probabilities (line sets: the whole image is
the line, ``detect=False``; page sets: the pipeline's own detector, orientation and crops), then
each decoder turns the same probabilities into text, so the rows differ only in decoding.
ms/line is the recognizer's time per line: the network at batch 1 for line sets (a page's lines
batched together for page sets, as the pipeline does) plus that decoder; detection is not in it.

    nice -n 5 .venv/bin/python benchmarks/decoding.py --markdown BENCHMARKS.md --json artifacts/decoding.json

``--tune`` instead scores a grid of LM weights and length bonuses on every set together (the
synthetic held-out lines of eval/synth_heldout_fonts plus every ../shared/eval set, subsampled
with ``--limit``) and lists the settings by their mean CER change from greedy (absolute points,
every set weighing the same): one setting for all text, never one per set. ``--reliability`` adds the confidence-bucket table (line
accuracy per bucket of line confidence, greedy decoding, all line sets together). ``--lm PATH``
decodes with a candidate LM file (``crnn-ocr-build-lm --out PATH``) instead of the shipped one.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

if not __package__:  # run as a file (python benchmarks/decoding.py): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.evalsets import EvalSet, default_eval_dir, default_project_eval_dir, load_sets, set_folders  # noqa: E402
from benchmarks.report import cpu_model, load_average, publish  # noqa: E402

from crnn_ocr.io import load_image  # noqa: E402
from crnn_ocr.lm import DEFAULT_LENGTH_BONUS, DEFAULT_LM_WEIGHT, CharLM, LMScorer  # noqa: E402
from crnn_ocr.metrics import normalize_for_scoring, score_pairs  # noqa: E402
from crnn_ocr.orientation import line_crop  # noqa: E402
from crnn_ocr.pipeline import OCR  # noqa: E402
from crnn_ocr.recognize import Recognizer  # noqa: E402
from crnn_ocr.types import DecodeOptions, OCROptions  # noqa: E402

MARK_BEGIN = "<!-- BEGIN benchmarks/decoding.py section -->"
MARK_END = "<!-- END benchmarks/decoding.py section -->"
TARGET_SETS = ("en_funsd_test_lines", "en_svt_test", "zh_browser_lines", "zh_browser_pages")
CONFIDENCE_BUCKETS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0001)


@dataclass(frozen=True)
class Decoder:
    name: str
    options: DecodeOptions


def decoders(beam_width: int, weight: float, bonus: float, plates: bool) -> list[Decoder]:
    out = [
        Decoder("greedy", DecodeOptions(method="greedy")),
        Decoder(f"beam {beam_width}", DecodeOptions(method="beam", beam_width=beam_width, lm=False)),
        Decoder(f"beam {beam_width} + LM", DecodeOptions(method="beam", beam_width=beam_width, lm=True)),
    ]
    if plates:
        out.append(Decoder("pattern=plate", DecodeOptions(pattern="plate")))
    return out


@dataclass
class Tally:
    refs: list[str] = field(default_factory=list)
    hyps: list[str] = field(default_factory=list)
    ms: float = 0.0
    lines: int = 0
    confidences: list[float] = field(default_factory=list)  # per read line (line sets only)


def read_probs(ocr: OCR, image: Path, page: bool) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """The crops of ``image`` (one for a line set), their frame probabilities, network ms. The
    lines are found as the pipeline finds them (a line set's image is the line, turned when it
    stands tall: ``OrientationFinder.turn_tall``)."""
    options = OCROptions(detect=page)
    original = load_image(image, max_pixels=ocr.max_pixels)
    prepared = ocr.preprocessor.run(original, options.preprocess).image
    detector = ocr.choose_detector(options) if page else None
    found = ocr._find_lines(prepared, detector, options.auto_orient)
    crops = [line_crop(prepared, b, v) for b, v in zip(found.boxes, found.vertical)]
    t0 = time.perf_counter()
    probs = ocr.recognizer.probabilities(crops)
    return crops, probs, (time.perf_counter() - t0) * 1000


def run_set(ocr: OCR, eval_set: EvalSet, decs: list[Decoder]) -> dict[str, Tally]:
    tallies = {d.name: Tally() for d in decs}
    page = eval_set.kind == "page"
    read_probs(ocr, eval_set.samples[0].image, page)  # warm-up
    for i, sample in enumerate(eval_set.samples):
        crops, probs, net_ms = read_probs(ocr, sample.image, page)
        for d in decs:
            t0 = time.perf_counter()
            recs = ocr.recognizer.decode_page(crops, probs, d.options)
            ms = (time.perf_counter() - t0) * 1000 + net_ms
            tally = tallies[d.name]
            tally.refs.append(sample.text)
            tally.hyps.append(_text(recs))
            tally.ms += ms
            tally.lines += max(len(crops), 1)
            if not page:
                tally.confidences.append(recs[0].confidence)
        if (i + 1) % 100 == 0:
            print(f"  {eval_set.name}: {i + 1}/{len(eval_set.samples)}", file=sys.stderr)
    return tallies


def tune(ocr: OCR, sets: list[EvalSet], weights: list[float], bonuses: list[float], beam_width: int) -> None:
    """Print, per grid point (LM weight, length bonus), the mean over ``sets`` of the CER change
    from greedy in absolute points (every set weighs the same), best first, and each set's CERs."""
    grid = [(w, b) for w in weights for b in bonuses]
    base = ocr.recognizer
    assert base.lm is not None
    fused = {g: Recognizer(base.engine, batch_size=base.batch_size, lm=base.lm.with_weights(*g)) for g in grid}
    beam = DecodeOptions(method="beam", beam_width=beam_width)
    cers: dict[str, dict[tuple[float, float] | str, float]] = {}
    for eval_set in sets:
        refs: list[str] = []
        hyps: dict[tuple[float, float] | str, list[str]] = {"greedy": [], **{g: [] for g in grid}}
        for i, sample in enumerate(eval_set.samples):
            if i % 20 == 0:
                print(f"  {eval_set.name} {i}/{len(eval_set.samples)}", file=sys.stderr, flush=True)
            crops, probs, _ = read_probs(ocr, sample.image, eval_set.kind == "page")
            refs.append(sample.text)
            hyps["greedy"].append(_text(base.decode_page(crops, probs, DecodeOptions(method="greedy"))))
            for g in grid:
                hyps[g].append(_text(fused[g].decode_page(crops, probs, beam)))
        cers[eval_set.name] = {key: score_pairs(refs, h, eval_set.mode).cer for key, h in hyps.items()}
        best = min(grid, key=lambda g: cers[eval_set.name][g])
        print(f"{eval_set.name:28s} greedy {cers[eval_set.name]['greedy']:.4f}  best {best} {cers[eval_set.name][best]:.4f}", file=sys.stderr, flush=True)
    change = {g: float(np.mean([c[g] - c["greedy"] for c in cers.values()])) for g in grid}
    print("weight bonus  mean CER change from greedy (points)  then CER per set: " + " ".join(cers))
    print("greedy" + " " * 26 + " ".join(f"{c['greedy']:.4f}" for c in cers.values()))
    for g in sorted(grid, key=change.__getitem__):
        print(f"{g[0]:6.2f} {g[1]:5.2f}  {change[g]:+.4f}  " + " ".join(f"{c[g]:.4f}" for c in cers.values()))


def _text(recognitions) -> str:
    return "\n".join(r.text for r in recognitions if r.text)


def reliability(tallies: dict[str, dict[str, Tally]], sets: dict[str, EvalSet], decoders: list[str]) -> list[str]:
    """Per bucket of line confidence, over every line set: how many lines and how many of them
    were read exactly right, for each decoder."""
    rows = [
        "| line confidence | " + " | ".join(f"lines ({d}) | line accuracy ({d})" for d in decoders) + " |",
        "|---|" + "---:|---:|" * len(decoders),
    ]
    columns = []
    for decoder in decoders:
        conf, right = [], []
        for name, per_decoder in tallies.items():
            t = per_decoder.get(decoder)
            if t is None or not t.confidences:
                continue
            mode = sets[name].mode
            for c, r, h in zip(t.confidences, t.refs, t.hyps):
                conf.append(c)
                right.append(normalize_for_scoring(r, mode) == normalize_for_scoring(h, mode))
        columns.append((np.array(conf), np.array(right)))
    for lo, hi in zip(CONFIDENCE_BUCKETS[:-1], CONFIDENCE_BUCKETS[1:]):
        cells = []
        for conf_a, right_a in columns:
            sel = (conf_a >= lo) & (conf_a < hi)
            cells.append(f"{int(sel.sum())} ({sel.mean():.1%}) | {right_a[sel].mean():.1%}" if sel.any() else "0 | –")
        rows.append(f"| {lo:.2f}–{min(hi, 1.0):.2f} | " + " | ".join(cells) + " |")
    return rows


def markdown(argv: list[str], sets: dict[str, EvalSet], tallies: dict[str, dict[str, Tally]], decs: list[Decoder]) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        MARK_BEGIN,
        "## Decoding: greedy, beam, beam + character LM, field grammars",
        "",
        f"Generated by `benchmarks/decoding.py` on {now}: `python {shlex.join(['benchmarks/decoding.py', *argv])}`. "
        f"{cpu_model()}, {len(os.sched_getaffinity(0))} usable cores, load average {load_average()} at the end (other jobs on the machine raise it). "
        "Shipped recognizer and character LM (models/manifest.json), ONNX Runtime 1 thread. "
        f"LM weight {DEFAULT_LM_WEIGHT}, length bonus {DEFAULT_LENGTH_BONUS} (one setting for every set, chosen with "
        "`--tune` on the synthetic held-out lines plus every eval set together). Each image is read once up to the "
        "frame probabilities and every decoder decodes the same frames. ms/line: recognizer time per line (network at "
        "batch 1 for line sets, a page's lines batched for page sets, plus decoding; no detection). Page sets: page CER "
        "of the whole page text in reading order. Scoring as in ../shared/eval/README.md.",
        "",
        "| set | lines | " + " | ".join(f"CER {d.name}" for d in decs) + " | " + " | ".join(f"ms/line {d.name}" for d in decs) + " | LM vs greedy |",
        "|---|---:|" + "---:|" * (2 * len(decs)) + "---:|",
    ]
    for name, per in tallies.items():
        cers = {}
        for d in decs:
            t = per.get(d.name)
            cers[d.name] = None if t is None else score_pairs(t.refs, t.hyps, sets[name].mode).cer
        n = per[decs[0].name].lines
        cells = [f"{cers[d.name]:.2%}" if cers[d.name] is not None else "–" for d in decs]
        ms = [f"{per[d.name].ms / per[d.name].lines:.1f}" if d.name in per else "–" for d in decs]
        g, lm = cers[decs[0].name], cers[decs[2].name]
        change = f"{(lm - g) / g:+.1%} CER, {per[decs[2].name].ms / per[decs[0].name].ms:.2f}× ms" if g else "–"
        lines.append(f"| {name} | {n} | " + " | ".join(cells) + " | " + " | ".join(ms) + f" | {change} |")
    lines += ["", "Reliability of the line confidence (every line set together, the synthetic held-out lines "
              "included): lines bucketed by their confidence (share of all lines in brackets), and the share "
              "of each bucket read exactly right (scored as above).", ""]
    lines += reliability(tallies, sets, [decs[0].name, decs[2].name])
    lines += ["", MARK_END, ""]
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", default="", help="comma-separated set names (default: every line and page set)")
    p.add_argument("--limit", type=int, default=None, help="at most this many images per set")
    p.add_argument("--beam-width", type=int, default=DecodeOptions().beam_width)
    p.add_argument("--markdown", type=Path)
    p.add_argument("--json", type=Path)
    p.add_argument("--lm", type=Path, help="decode with this character LM file instead of the shipped one (a candidate)")
    p.add_argument("--tune", action="store_true")
    p.add_argument("--weights", default="0.3,0.5,0.8,1.2")
    p.add_argument("--bonuses", default="0,0.5,1,2")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    dirs = [default_eval_dir(), default_project_eval_dir()]
    names = [n for n in args.sets.split(",") if n] or sorted(set_folders(dirs))
    sets = {s.name: s for s in load_sets(dirs, names, args.limit)}
    ocr = OCR(threads=1)
    if args.lm:
        ocr.recognizer.lm = LMScorer.for_charset(CharLM.load(args.lm), ocr.recognizer.spec.charset)
    if ocr.recognizer.lm is None:
        raise SystemExit("no character LM loaded (models/manifest.json 'lm')")
    if args.tune:
        tune(ocr, list(sets.values()), [float(x) for x in args.weights.split(",")], [float(x) for x in args.bonuses.split(",")], args.beam_width)
        return 0
    tallies: dict[str, dict[str, Tally]] = {}
    for name, eval_set in sets.items():
        decs = decoders(args.beam_width, DEFAULT_LM_WEIGHT, DEFAULT_LENGTH_BONUS, plates=name == "zh_license_plates")
        tallies[name] = run_set(ocr, eval_set, decs)
        summary = ", ".join(
            f"{d}: CER {score_pairs(t.refs, t.hyps, eval_set.mode).cer:.4f} {t.ms / t.lines:.1f} ms/line"
            for d, t in tallies[name].items()
        )
        print(f"{name}: {summary}", file=sys.stderr)
    all_decs = decoders(args.beam_width, DEFAULT_LM_WEIGHT, DEFAULT_LENGTH_BONUS, plates=True)
    text = markdown(argv, sets, tallies, all_decs)
    publish(text, args.markdown, MARK_BEGIN, MARK_END)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        data = {
            name: {d: {"cer": score_pairs(t.refs, t.hyps, sets[name].mode).cer, "ms_per_line": t.ms / t.lines, "lines": t.lines}
                   for d, t in per.items()}
            for name, per in tallies.items()
        }
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
