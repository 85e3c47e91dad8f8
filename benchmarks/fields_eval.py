"""Fields and layout (issue 21): receipt fields on SROIE, Chinese VAT invoice fields on synthetic
invoices, and the reading order of the layout on the page sets. Writes its section of BENCHMARKS.md.

1. SROIE (../shared/eval/en_sroie_receipts: ``<id>.key.json`` with company, date, address,
   total): exact match per field after whitespace normalisation (all whitespace removed; the
   ICDAR 2019 SROIE task 3 convention; dates and totals compared as printed: ``Field.text`` for
   the date, ``Field.value`` for the total, which drops the currency). Two runs: end to end (the
   shipped models read the image) and on the ground-truth lines (``.boxes.tsv`` boxes with their
   text: the layout and fields steps alone, with perfect OCR).
2. Synthetic invoices (``benchmarks/synth_invoices.py``, seeds 0..n-1, rendered by the project
   with their truth): exact match of ``Field.value`` per field, end to end. total_in_words is
   scored on the amount the words give after the figure check, and also as read (``Field.text``
   equal to the printed words).
3. Reading order (row merge against the ground-truth line order). OCR-free on SROIE's
   ground-truth boxes: of the pairs of lines consecutive in the ground truth, the share that
   come out consecutive, in the detector's row order (rows top to bottom, lines left to right:
   what pages came out as before the layout step) and in the layout's order. End to end on the
   page sets: page CER with the page's lines in the detector's order and in the layout's order
   (lower: an order closer to the ground truth's), and the order-free CER (the floor: the same
   text in the best order).

    python benchmarks/fields_eval.py --markdown BENCHMARKS.md --json artifacts/fields_eval.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

if not __package__:  # run as a file (python benchmarks/fields_eval.py): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.report import cpu_model, load_average, publish  # noqa: E402
from benchmarks.synth_invoices import invoice  # noqa: E402

from crnn_ocr import OCR  # noqa: E402
from crnn_ocr.detect_learned import reading_order_boxes  # noqa: E402
from crnn_ocr.fields import INVOICE_FIELDS, RECEIPT_FIELDS, find_fields  # noqa: E402
from crnn_ocr.layout import in_reading_order  # noqa: E402
from crnn_ocr.datasets import PAGE_SUFFIXES  # noqa: E402
from crnn_ocr.metrics import (  # noqa: E402
    levenshtein,
    normalize_for_scoring,
    order_free_edits,
    scoring_mode_for_set,
)
from crnn_ocr.types import Box, Field, Line, OCROptions, Page  # noqa: E402

MARK_BEGIN = "<!-- BEGIN benchmarks/fields_eval.py section -->"
MARK_END = "<!-- END benchmarks/fields_eval.py section -->"
SROIE = "en_sroie_receipts"
PAGE_SETS = ("en_sroie_receipts", "en_funsd_test", "zh_browser_pages")
TARGETS = {"date": 80.0, "total": 80.0}  # SROIE, end to end
INVOICE_TARGET = 95.0


def squash(text: str) -> str:
    return "".join(text.split())


def sroie_value(field: Field | None, name: str) -> str:
    if field is None:
        return ""
    return field.text if name == "date" else field.value


def gt_lines(boxes_tsv: Path) -> list[Line]:
    """SROIE ground-truth lines: ``x1,y1,...,x4,y4<TAB>text`` rows, in the ground truth's order."""
    lines = []
    for row in boxes_tsv.read_text(encoding="utf-8").splitlines():
        coords, _, text = row.partition("\t")
        if not text.strip():
            continue
        c = [float(v) for v in coords.split(",")]
        lines.append(Line(text, 1.0, Box(((c[0], c[1]), (c[2], c[3]), (c[4], c[5]), (c[6], c[7])))))
    return lines


def detector_order(lines: Sequence[Line]) -> list[Line]:
    """``lines`` in the detectors' row order (rows top to bottom, left to right in a row)."""
    arrays = [np.asarray(line.box.points, dtype=np.float64) for line in lines]
    ordered = reading_order_boxes(arrays)
    index = {id(a): i for i, a in enumerate(arrays)}
    return [lines[index[id(a)]] for a in ordered]


def adjacency(truth: Sequence[Line], ordered: Sequence[Line]) -> tuple[int, int]:
    """(kept, total): ground-truth consecutive pairs that are consecutive in ``ordered``."""
    position = {id(line): i for i, line in enumerate(ordered)}
    kept = sum(position[id(b)] == position[id(a)] + 1 for a, b in zip(truth, truth[1:]))
    return kept, max(0, len(truth) - 1)


def pages_of(folder: Path, limit: int | None) -> list[Path]:
    return sorted(p for p in (folder / "pages").iterdir() if p.suffix.lower() in PAGE_SUFFIXES)[:limit]


def run_sroie(ocr: OCR, folder: Path, limit: int | None, pages: dict[str, Page]) -> dict:
    hits_e2e: Counter = Counter()
    hits_gt: Counter = Counter()
    in_text: Counter = Counter()  # the value appears in the page's OCR text: the end-to-end ceiling
    kept = {"detector": 0, "layout": 0}
    pairs = 0
    n = 0
    misses: list[dict] = []
    for image in pages_of(folder, limit):
        key = image.with_suffix(".key.json")
        if not key.is_file():
            continue
        truth = json.loads(key.read_text(encoding="utf-8"))
        n += 1
        page = pages.get(str(image)) or ocr(image, OCROptions(fields=True))
        pages[str(image)] = page
        got = {f.name: f for f in page.fields}
        lines = gt_lines(image.with_suffix(".boxes.tsv"))
        ordered, blocks = in_reading_order(lines)
        got_gt = {f.name: f for f in find_fields(blocks)}
        page_text = squash(page.text)
        for name in RECEIPT_FIELDS:
            in_text[name] += squash(truth[name]) in page_text
            ok = squash(sroie_value(got.get(name), name)) == squash(truth[name])
            hits_e2e[name] += ok
            hits_gt[name] += squash(sroie_value(got_gt.get(name), name)) == squash(truth[name])
            if not ok:
                misses.append({"page": image.name, "field": name, "read": sroie_value(got.get(name), name), "truth": truth[name]})
        k, total = adjacency(lines, detector_order(lines))
        kept["detector"] += k
        kept["layout"] += adjacency(lines, ordered)[0]
        pairs += total
    pct = lambda c: {name: 100.0 * c[name] / max(1, n) for name in RECEIPT_FIELDS}  # noqa: E731
    return {
        "receipts": n,
        "end_to_end": pct(hits_e2e),
        "ground_truth_lines": pct(hits_gt),
        "in_ocr_text": pct(in_text),
        "adjacent_pairs": pairs,
        "adjacency": {k: 100.0 * v / max(1, pairs) for k, v in kept.items()},
        "misses": misses,
    }


def run_invoices(ocr: OCR, n: int) -> dict:
    hits: Counter = Counter()
    in_text: Counter = Counter()
    as_read = 0
    flagged_invalid = 0
    seconds = 0.0
    for seed in range(n):
        inv = invoice(seed)
        t0 = time.perf_counter()
        page = ocr(inv.image, OCROptions(fields=True))
        seconds += time.perf_counter() - t0
        got = {f.name: f for f in page.fields}
        page_text = squash(page.text)
        for name in INVOICE_FIELDS:
            expected = inv.truth["total"] if name == "total_in_words" else inv.truth[name]
            hits[name] += name in got and got[name].value == expected
            printed = {"issue_date": "", "total_in_words": inv.truth[name]}.get(name, inv.truth[name])
            in_text[name] += bool(printed) and squash(printed) in page_text
        as_read += "total_in_words" in got and got["total_in_words"].text == inv.truth["total_in_words"]
        flagged_invalid += any(f.valid is False for f in page.fields)
    return {
        "invoices": n,
        "accuracy": {name: 100.0 * hits[name] / max(1, n) for name in INVOICE_FIELDS},
        "in_ocr_text": {name: 100.0 * in_text[name] / max(1, n) for name in INVOICE_FIELDS if name != "issue_date"},
        "words_as_read": 100.0 * as_read / max(1, n),
        "pages_with_an_invalid_field": flagged_invalid,
        "seconds_per_invoice": seconds / max(1, n),
    }


def run_order(ocr: OCR, eval_dir: Path, limit: int | None, pages: dict[str, Page]) -> list[dict]:
    out = []
    for name in PAGE_SETS:
        folder = eval_dir / name
        if not (folder / "pages").is_dir():
            continue
        mode = scoring_mode_for_set(name)
        edits = {"detector": 0, "layout": 0, "order_free": 0}
        chars = 0
        images = pages_of(folder, limit)
        for image in images:
            ref_lines = [ln for ln in image.with_suffix(".txt").read_text(encoding="utf-8-sig").splitlines() if ln.strip()]
            page = pages.get(str(image)) or ocr(image)
            pages[str(image)] = page
            ref = normalize_for_scoring("".join(ref_lines), mode)
            chars += len(ref)
            for key, lines in (("detector", detector_order(page.lines)), ("layout", page.lines)):
                edits[key] += levenshtein(ref, normalize_for_scoring("".join(ln.text for ln in lines), mode))
            edits["order_free"] += order_free_edits(ref_lines, [ln.text for ln in page.lines], mode)
        out.append({"set": name, "pages": len(images), **{k: 100.0 * v / max(1, chars) for k, v in edits.items()}})
    return out


def markdown(result: dict, command: str) -> str:
    s, inv = result["sroie"], result["invoices"]
    lines = [
        MARK_BEGIN,
        "## Fields and layout (issue 21): receipt and invoice fields, reading order",
        "",
        f"Generated by `benchmarks/fields_eval.py` on {result['when']}: `{command}`. {result['cpu']}, load average "
        f"{result['load']} at the start. Model: {result['model']}; detector: auto (learned).",
        "",
        f"### SROIE receipt fields ({s['receipts']} dev receipts of ../shared/eval/{SROIE})",
        "",
        "Exact match per field after whitespace normalisation (all whitespace removed, case kept; the ICDAR 2019 "
        "SROIE task 3 convention): the date as printed, the total without its currency. End to end: the shipped "
        "models read the receipt. Ground-truth lines: the `.boxes.tsv` lines with their text (the layout and fields "
        "steps alone, with perfect OCR, no second reads). In OCR text: the true value appears (whitespace removed) "
        "somewhere in the page's OCR text. End to end can exceed it: the fields step reads a value again under its "
        "grammar, and reads the page beside a total label where the detector found no value "
        "(`crnn_ocr.field_reader`).",
        "",
        "| field | end to end % | in OCR text % | ground-truth lines % | target (end to end) |",
        "|---|---:|---:|---:|---|",
    ]
    for name in RECEIPT_FIELDS:
        target = TARGETS.get(name)
        met = "" if target is None else f"≥ {target:.0f} %: **{'met' if s['end_to_end'][name] >= target else 'not met'}**"
        lines.append(
            f"| {name} | {s['end_to_end'][name]:.1f} | {s['in_ocr_text'][name]:.1f} | "
            f"{s['ground_truth_lines'][name]:.1f} | {met} |"
        )
    lines += [
        "",
        f"### Synthetic Chinese VAT invoices ({inv['invoices']} invoices, `benchmarks/synth_invoices.py` seeds "
        f"0-{inv['invoices'] - 1})",
        "",
        "Rendered by the project with their truth (4 CJK fonts, sizes 22-28 px, a third scanned: tilt, blur, "
        "noise), read end to end; exact match of the field's value. total_in_words: the amount the words give after "
        "the check against 价税合计 (words that are no amount because characters were misread, but agree with the "
        "figure's words wherever a numeral was read, are taken as the figure's); as read, the printed words are "
        f"exact on {inv['words_as_read']:.1f} %.",
        "",
        "In OCR text: the printed value appears in the page's OCR text (the recognizer read it right; the date is "
        "printed as 年月日 and not counted).",
        "",
        "| field | exact % | in OCR text % |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {name} | {acc:.1f} | {inv['in_ocr_text'][name]:.1f} |" if name in inv["in_ocr_text"] else f"| {name} | {acc:.1f} | |"
        for name, acc in inv["accuracy"].items()
    ]
    worst = min(inv["accuracy"].values())
    lines += [
        "",
        f"Every field ≥ {INVOICE_TARGET:.0f} %: **{'met' if worst >= INVOICE_TARGET else 'not met'}** (lowest "
        f"{worst:.1f} %). Invoices with a field its validator rejects: {inv['pages_with_an_invalid_field']}. "
        f"{inv['seconds_per_invoice']:.2f} s per invoice (read + layout + fields).",
        "",
        "### Reading order and row merge",
        "",
        f"SROIE ground-truth boxes (OCR-free, {s['adjacent_pairs']} pairs of lines consecutive in the ground "
        "truth): kept consecutive in the detectors' row order "
        f"**{s['adjacency']['detector']:.1f} %**, in the layout's order **{s['adjacency']['layout']:.1f} %**.",
        "",
        "End to end, page CER % with the page's lines in the detectors' row order and in the layout's reading order "
        "(order-free CER: the same text in the best order, the floor):",
        "",
        "| set | pages | detector order | layout order | order-free |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['set']} | {r['pages']} | {r['detector']:.1f} | {r['layout']:.1f} | {r['order_free']:.1f} |"
        for r in result["order"]
    ]
    lines += [MARK_END, ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eval-dir", type=Path, default=REPO.parent / "shared" / "eval")
    parser.add_argument("--invoices", type=int, default=60, help="synthetic invoices (default 60)")
    parser.add_argument("--limit", type=int, help="only the first N pages of each page set")
    parser.add_argument("--markdown", type=Path, help="write the section into this file (BENCHMARKS.md)")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args(argv)
    if not (args.eval_dir / SROIE).is_dir():
        print(f"error: {args.eval_dir / SROIE} not found (pass --eval-dir)", file=sys.stderr)
        return 2
    result: dict = {
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": f"{cpu_model()}, {len(__import__('os').sched_getaffinity(0))} usable cores",
        "load": load_average(),
    }
    ocr = OCR()
    result["model"] = f"{ocr.model.name} {ocr.model.version}"
    pages: dict[str, Page] = {}
    result["sroie"] = run_sroie(ocr, args.eval_dir / SROIE, args.limit, pages)
    result["invoices"] = run_invoices(ocr, args.invoices)
    pages = {k: replace(p, fields=()) for k, p in pages.items()}
    result["order"] = run_order(ocr, args.eval_dir, args.limit, pages)
    command = "python benchmarks/fields_eval.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(result, command.strip())
    publish(text, args.markdown, MARK_BEGIN, MARK_END)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
