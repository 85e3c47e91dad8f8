"""Recognizer shapes compared on the real line sets: greedy CER and ms/line at batch 1, in one run.

Each arm is an exported model (``crnn-ocr-export CKPT OUT.onnx``), read through the runtime's own
pipeline (``OCR(model_path=…, threads=1)``, a line set's image is the line) and decoded greedily,
so the CER is the recognizer's alone. The arms take turns image by image, so a slower or busier
stretch of the machine weighs on every arm alike and the ms/line figures compare as ratios. An arm
reads a set only when its charset covers at least 99 % of the set's reference characters (a
Latin specialist does not read the Chinese sets).

    .venv/bin/python benchmarks/ablation.py --arm v1.5=models/crnn_zh_en_v1.onnx \\
        --arm lstm256=/tmp/abl/lstm256.onnx --markdown /tmp/abl/table.md

Issue 16 item 6 (the architecture ablation); the model card's Ablation section is its table.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import onnx

if not __package__:  # run as a file (python benchmarks/ablation.py): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.decoding import Tally, read_probs
from benchmarks.evalsets import EvalSet, default_eval_dir, default_project_eval_dir, load_sets
from benchmarks.report import cpu_model, load_average
from crnn_ocr.metrics import score_pairs
from crnn_ocr.pipeline import OCR
from crnn_ocr.types import DecodeOptions

DEFAULT_SETS = (
    "zh_browser_lines", "en_funsd_test_lines", "en_uw3_doc_lines", "en_icdar13_word", "en_svt_test",
    "zh_license_plates", "synth_heldout_fonts",
)
COVERAGE = 0.99  # an arm reads a set whose reference characters its charset covers this well
GREEDY = DecodeOptions(method="greedy")


@dataclass(frozen=True)
class Arm:
    name: str
    path: Path

    def parameters(self) -> int:
        return sum(math.prod(t.dims) for t in onnx.load(str(self.path), load_external_data=False).graph.initializer)


def coverage(eval_set: EvalSet, charset) -> float:
    chars = [c for s in eval_set.samples for c in s.text if not c.isspace()]
    return sum(c in charset for c in chars) / max(1, len(chars))


def run(arms: list[Arm], sets: list[EvalSet]) -> dict[str, dict[str, Tally]]:
    """{set: {arm: Tally}}; the arms read each image in turn."""
    readers = {a.name: OCR(a.path, threads=1) for a in arms}
    out: dict[str, dict[str, Tally]] = {}
    for eval_set in sets:
        names = [n for n, ocr in readers.items() if coverage(eval_set, ocr.recognizer.spec.charset) >= COVERAGE]
        tallies = out[eval_set.name] = {n: Tally() for n in names}
        for n in names:  # warm-up
            read_probs(readers[n], eval_set.samples[0].image, False)
        for i, sample in enumerate(eval_set.samples):
            for n in names:
                ocr = readers[n]
                crops, probs, ms = read_probs(ocr, sample.image, False)
                recs = ocr.recognizer.decode_page(crops, probs, GREEDY)
                tallies[n].refs.append(sample.text)
                tallies[n].hyps.append("".join(r.text for r in recs))
                tallies[n].ms += ms
            if (i + 1) % 200 == 0:
                print(f"  {eval_set.name}: {i + 1}/{len(eval_set.samples)}", file=sys.stderr)
        summary = ", ".join(f"{n} {score_pairs(t.refs, t.hyps, eval_set.mode).cer:.4f}" for n, t in tallies.items())
        print(f"{eval_set.name}: greedy CER {summary}", file=sys.stderr)
    return out


def markdown(argv: list[str], arms: list[Arm], sets: list[EvalSet], tallies: dict[str, dict[str, Tally]]) -> str:
    lines = [
        (
            f"`python benchmarks/ablation.py {shlex.join(argv)}` on {cpu_model()} (load average {load_average()}); "
            "greedy decoding, CER in %, ms/line: the network at batch 1, one thread, every line of the sets the arm reads."
        ),
        "",
        "| arm | parameters | " + " | ".join(s.name for s in sets) + " | ms/line (Latin sets) | ms/line (all it reads) |",
        "|---|---:|" + "---:|" * len(sets) + "---:|---:|",
    ]
    for a in arms:
        cells = []
        ms_all = ms_en = n_all = n_en = 0.0
        for s in sets:
            t = tallies[s.name].get(a.name)
            if t is None:
                cells.append("—")
                continue
            cells.append(f"{100 * score_pairs(t.refs, t.hyps, s.mode).cer:.2f}")
            ms_all += t.ms
            n_all += len(t.refs)
            if s.lang == "en":
                ms_en += t.ms
                n_en += len(t.refs)
        en = f"{ms_en / n_en:.2f}" if n_en else "—"
        lines.append(f"| {a.name} | {a.parameters() / 1e6:.2f} M | " + " | ".join(cells) + f" | {en} | {ms_all / max(1, n_all):.2f} |")
    return "\n".join(lines) + "\n"


def parse_arm(text: str) -> Arm:
    name, sep, path = text.partition("=")
    if not sep or not name or not Path(path).is_file():
        raise argparse.ArgumentTypeError(f"--arm wants NAME=MODEL.onnx of an existing file; got {text!r}")
    return Arm(name, Path(path))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arm", type=parse_arm, action="append", required=True, help="NAME=MODEL.onnx (repeatable)")
    p.add_argument("--sets", default=",".join(DEFAULT_SETS), help="comma-separated line set names")
    p.add_argument("--limit", type=int, default=None, help="at most this many images per set")
    p.add_argument("--markdown", type=Path, help="write the table here")
    args = p.parse_args(argv)
    sets = load_sets([default_eval_dir(), default_project_eval_dir()], [n for n in args.sets.split(",") if n], args.limit)
    pages = [s.name for s in sets if s.kind == "page"]
    if pages:
        raise SystemExit(f"line sets only; {', '.join(pages)} is a page set")
    tallies = run(args.arm, sets)
    text = markdown(argv, args.arm, sets, tallies)
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
