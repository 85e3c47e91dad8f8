"""Compare CRNN-OCR with Tesseract 5 and PaddleOCR (PP-OCRv4 mobile via rapidocr-onnxruntime 1.4.4,
PP-OCRv6 small via rapidocr 3.10) on the shared labelled eval sets.

Every engine reads the same images in one run; each (set, engine) pair gets CER, normalised edit
distance, line accuracy and latency, scored with ``crnn_ocr.metrics`` (see benchmarks/README.md).

    nice -n 5 .venv/bin/python benchmarks/compare.py --engines tesseract,rapidocr --limit 200 \\
        --markdown BENCHMARKS.md --json bench.json

Engines that cannot start are reported and skipped; an image an engine fails on counts as an error
with an empty hypothesis.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

if not __package__:  # run as a file (python benchmarks/compare.py): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.evalsets import EvalSet, Sample, SetKind, default_eval_dir, default_project_eval_dir  # noqa: E402
from benchmarks.evalsets import load_line_set, load_page_set, load_sets, set_folders  # noqa: E402
from benchmarks.peers import ENGINE_NAMES, Engine, EngineSettings, build_engines  # noqa: E402
from benchmarks.report import cpu_model, load_average, publish  # noqa: E402
from benchmarks.speed import SpeedJob, measure  # noqa: E402
from benchmarks.timing import BATCH_SIZES, SpeedResult  # noqa: E402
from crnn_ocr.metrics import EvalScore, ScoringMode, line_recall, order_free_edits, score_pairs  # noqa: E402

MARK_BEGIN = "<!-- BEGIN benchmarks/compare.py section -->"
MARK_END = "<!-- END benchmarks/compare.py section -->"


@dataclass(frozen=True)
class SampleResult:
    image: str
    ref: str
    hyp: str
    ms: float
    error: str | None


@dataclass(frozen=True)
class RunResult:
    set_name: str
    kind: SetKind
    mode: ScoringMode
    engine: str
    score: EvalScore
    order_free_cer: float | None  # pages only
    line_recall: float | None  # pages only: reference lines read with CER < 0.2
    errors: int
    latency_mean_ms: float
    latency_p50_ms: float
    samples: tuple[SampleResult, ...]

    def first_error(self) -> str | None:
        return next((s.error for s in self.samples if s.error), None)


def progress(items: Sequence[Sample], label: str) -> Iterable[Sample]:
    try:
        from tqdm import tqdm
    except ImportError:
        print(label, file=sys.stderr)
        return items
    return tqdm(items, desc=label, unit="img", file=sys.stderr, dynamic_ncols=True, leave=False)


def read_one(engine: Engine, sample: Sample, eval_set: EvalSet) -> SampleResult:
    start = time.perf_counter()
    try:
        lines, error = engine.read(sample.image, eval_set), None
    except Exception as exc:  # noqa: BLE001 - counted and reported as an error, scored as empty output
        lines, error = [], " ".join(f"{type(exc).__name__}: {exc}".split())
    ms = (time.perf_counter() - start) * 1000
    return SampleResult(str(sample.image), sample.text, "\n".join(lines), ms, error)


def warm_up(engine: Engine, eval_set: EvalSet) -> None:
    """One untimed call, so lazy initialisation is not charged to the first image."""
    try:
        engine.read(eval_set.samples[0].image, eval_set)
    except Exception:  # noqa: BLE001 - the timed call on the same image records the error
        return


def run_engine_on_set(engine: Engine, eval_set: EvalSet) -> RunResult:
    warm_up(engine, eval_set)
    label = f"{eval_set.name} / {engine.name}"
    samples = tuple(read_one(engine, s, eval_set) for s in progress(eval_set.samples, label))
    times = [s.ms for s in samples]
    score = score_pairs([s.ref for s in samples], [s.hyp for s in samples], eval_set.mode, sum(times) / 1000)
    order_free = recall = None
    if eval_set.kind == "page":
        edits = sum(order_free_edits(s.ref.splitlines(), s.hyp.splitlines(), eval_set.mode) for s in samples)
        order_free = edits / score.chars if score.chars else 0.0
        counts = [line_recall(s.ref.splitlines(), s.hyp.splitlines(), eval_set.mode) for s in samples]
        total = sum(t for _f, t in counts)
        recall = sum(f for f, _t in counts) / total if total else 0.0
    return RunResult(
        set_name=eval_set.name,
        kind=eval_set.kind,
        mode=eval_set.mode,
        engine=engine.name,
        score=score,
        order_free_cer=order_free,
        line_recall=recall,
        errors=sum(s.error is not None for s in samples),
        latency_mean_ms=statistics.fmean(times),
        latency_p50_ms=statistics.median(times),
        samples=samples,
    )


def run_all(engines: Sequence[Engine], sets: Sequence[EvalSet]) -> list[RunResult]:
    results = []
    for eval_set in sets:
        if not eval_set.samples:
            print(f"[skip] {eval_set.name}: no samples", file=sys.stderr)
            continue
        for engine in engines:
            result = run_engine_on_set(engine, eval_set)
            print(summary_line(result), file=sys.stderr)
            results.append(result)
    return results


def summary_line(r: RunResult) -> str:
    s = r.score
    extra = (
        f" order-free CER {r.order_free_cer:.4f} line recall {r.line_recall:.4f}" if r.order_free_cer is not None else ""
    )
    return (
        f"{r.set_name:28s} {r.engine:10s} n={s.n:<5d} CER {s.cer:.4f}{extra} 1-NED {s.one_minus_ned:.4f} "
        f"acc {s.line_accuracy:.4f} {r.latency_mean_ms:.1f} ms/img (p50 {r.latency_p50_ms:.1f}) errors {r.errors}"
    )


@dataclass(frozen=True)
class RunInfo:
    command: str
    date: str
    cpu_model: str
    cpu_count: int
    cpus_usable: int
    load_average: str  # at the start of the run
    load_average_end: str
    niceness: int
    python: str
    os: str
    engines: dict[str, str]  # name -> version
    engine_notes: dict[str, str]
    skipped: dict[str, str]  # name -> reason


def run_info(argv: Sequence[str], engines: Sequence[Engine], skipped: dict[str, str]) -> RunInfo:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return RunInfo(
        command=shlex.join(["python", "benchmarks/compare.py", *argv]),
        date=dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count() or 1,
        cpus_usable=usable,
        load_average=load_average(),
        load_average_end="",
        niceness=os.nice(0) if hasattr(os, "nice") else 0,
        python=platform.python_version(),
        os=platform.platform(),
        engines={e.name: e.version for e in engines},
        engine_notes={e.name: e.notes for e in engines},
        skipped=dict(skipped),
    )


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def line_table(results: Sequence[RunResult]) -> list[str]:
    rows = [
        "| set | scoring | engine | n | CER ↓ | 1−NED ↑ | line acc ↑ | lines/s ↑ | ms/img mean | ms/img p50 | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r.score
        rows.append(
            f"| {r.set_name} | {r.mode} | {r.engine} | {s.n} | {_pct(s.cer)} | {_pct(s.one_minus_ned)} | "
            f"{_pct(s.line_accuracy)} | {s.lines_per_s:.1f} | {r.latency_mean_ms:.1f} | {r.latency_p50_ms:.1f} | {r.errors} |"
        )
    return rows


def ratio_table(results: Sequence[RunResult], base: str = "crnn") -> list[str]:
    """Per set, each peer's mean time per image divided by ``base``'s (above 1: base is faster)."""
    by_set: dict[str, dict[str, RunResult]] = {}
    for r in results:
        by_set.setdefault(r.set_name, {})[r.engine] = r
    peers = sorted({r.engine for r in results} - {base})
    if not peers or not any(base in engines for engines in by_set.values()):
        return []
    rows = [
        "| set | " + " | ".join(f"{p} time / {base} time" for p in peers) + " |",
        "|---|" + "---:|" * len(peers),
    ]
    for name, engines in by_set.items():
        if base not in engines:
            continue
        mine = engines[base].latency_mean_ms
        cells = [f"{engines[p].latency_mean_ms / mine:.1f}×" if p in engines and mine > 0 else "–" for p in peers]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return rows


def page_table(results: Sequence[RunResult]) -> list[str]:
    rows = [
        "| set | engine | pages | page CER ↓ | order-free CER ↓ | line recall ↑ | 1−NED ↑ | ms/page mean | ms/page p50 | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r.score
        rows.append(
            f"| {r.set_name} | {r.engine} | {s.n} | {_pct(s.cer)} | {_pct(r.order_free_cer or 0.0)} | "
            f"{_pct(r.line_recall or 0.0)} | {_pct(s.one_minus_ned)} | {r.latency_mean_ms:.0f} | "
            f"{r.latency_p50_ms:.0f} | {r.errors} |"
        )
    return rows


def speed_table(speed: Sequence[SpeedResult], job_note: str) -> list[str]:
    ok = [r for r in speed if r.error is None]
    rows = [
        job_note,
        "",
        "| engine | " + " | ".join(f"lines/s @ batch {b}" for b in BATCH_SIZES)
        + " | ms/line @ batch 1 | s/page (mean) | peak RSS MiB |",
        "|---|" + "---:|" * (len(BATCH_SIZES) + 3),
    ]
    for r in ok:
        rates = [f"{r.lines_per_s[b]:.1f}" if b in r.lines_per_s else "n/a" for b in BATCH_SIZES]
        ms1 = f"{1000 / r.lines_per_s[1]:.1f}" if 1 in r.lines_per_s else "n/a"
        page = f"{r.page_s_mean:.2f} ({r.pages} pages)" if r.page_s_mean is not None else "n/a"
        rss = f"{r.peak_rss_mib:.0f} ({r.rss_note})" if r.peak_rss_mib is not None else "n/a"
        rows.append(f"| {r.engine} | " + " | ".join(rates) + f" | {ms1} | {page} | {rss} |")
    base = next((r for r in ok if r.engine == "crnn"), None)
    if base is not None:
        rows += ["", "Speed as a ratio (crnn's lines/s or pages/s divided by the peer's, measured in this run; above 1: crnn is faster):", ""]
        for r in ok:
            if r is base:
                continue
            parts = [
                f"batch {b}: {base.lines_per_s[b] / r.lines_per_s[b]:.1f}×"
                for b in BATCH_SIZES
                if b in r.lines_per_s and b in base.lines_per_s
            ]
            if r.page_s_mean and base.page_s_mean:
                parts.append(f"pages: {r.page_s_mean / base.page_s_mean:.1f}×")
            rows.append(f"- vs {r.engine}: " + ", ".join(parts))
    for r in speed:
        if r.error is not None:
            rows.append(f"- {r.engine}: speed run failed: `{r.error}`")
    return rows


def markdown_section(
    info: RunInfo, results: Sequence[RunResult], speed: Sequence[SpeedResult] = (), speed_note: str = ""
) -> str:
    lines = [
        MARK_BEGIN,
        f"## Results ({info.date})",
        "",
        f"Command: `{info.command}`",
        "",
        (
            f"Machine: {info.cpu_model}, {info.cpu_count} logical CPUs ({info.cpus_usable} usable), "
            f"nice {info.niceness}, load average {info.load_average} at start and "
            f"{info.load_average_end} at end (1/5/15 min); Python {info.python}; {info.os}."
        ),
        "",
        "Engines:",
        "",
        *(f"- **{name}**: {version}. {info.engine_notes[name]}." for name, version in info.engines.items()),
        *(f"- **{name}**: skipped ({reason})." for name, reason in info.skipped.items()),
        "",
        (
            "Scoring (benchmarks/README.md): NFKC, case-folded, whitespace removed, CJK/ASCII "
            "punctuation unified; `alnum` sets count letters and digits only. CER = edits / reference "
            "characters over the whole set; 1−NED = mean of 1 − edits / max(len) per image; latency "
            "per image includes decoding the file."
        ),
    ]
    line_results = [r for r in results if r.kind != "page"]
    page_results = [r for r in results if r.kind == "page"]
    if line_results:
        lines += ["", "### Line and word sets", "", *line_table(line_results)]
        ratios = ratio_table(line_results)
        if ratios:
            lines += [
                "",
                "Time per image relative to crnn, same run (above 1: crnn is faster; includes decoding "
                "the file and, for Tesseract, its process start-up):",
                "",
                *ratios,
            ]
    if page_results:
        lines += [
            "",
            "### Page sets",
            "",
            (
                "Page CER compares the whole page text in reading order; order-free CER ignores "
                "reading order and line splits; line recall is the share of ground-truth lines read "
                "somewhere on the page with CER < 0.2 (see benchmarks/README.md)."
            ),
            "",
            *page_table(page_results),
        ]
    if speed:
        lines += ["", "### Speed", "", *speed_table(speed, speed_note)]
    failed = [r for r in results if r.errors]
    if failed:
        lines += ["", "Errors (scored as empty output), first message of each:", ""]
        lines += [f"- {r.set_name} / {r.engine}: {r.errors} × `{r.first_error()}`" for r in failed]
    lines += ["", MARK_END]
    return "\n".join(lines) + "\n"


def result_to_json(r: RunResult) -> dict:
    data = asdict(r)
    data["score"]["one_minus_ned"] = r.score.one_minus_ned
    return data


def write_json(path: Path, info: RunInfo, results: Sequence[RunResult], speed: Sequence[SpeedResult] = ()) -> None:
    data = {
        "run": asdict(info),
        "results": [result_to_json(r) for r in results],
        "speed": [asdict(r) for r in speed],
    }
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--eval-dir",
        type=Path,
        default=default_eval_dir(),
        help="folder of eval sets (default: env CRNN_OCR_EVAL_DIR or ../shared/eval)",
    )
    parser.add_argument(
        "--project-eval-dir",
        type=Path,
        default=default_project_eval_dir(),
        help="the project's own fixed synthetic sets, run too (default: eval/; 'none' to skip)",
    )
    parser.add_argument(
        "--sets",
        type=comma_list,
        default=None,
        help="comma-separated set names (default: every line set, plus page sets with --pages)",
    )
    parser.add_argument(
        "--engines",
        type=comma_list,
        default=list(ENGINE_NAMES),
        help=f"comma-separated, from {','.join(ENGINE_NAMES)} (default: all)",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N images of each set (default: all)")
    parser.add_argument("--pages", action="store_true", help="also run every page set")
    parser.add_argument(
        "--speed",
        action="store_true",
        help="also measure throughput at batch 1/8/32, page latency and peak RSS, one process per engine",
    )
    parser.add_argument("--speed-lines", type=int, default=300, help="line crops for --speed (default 300)")
    parser.add_argument("--speed-pages", type=int, default=2, help="pages of each page set for --speed (default 2)")
    parser.add_argument("--markdown", type=Path, help="write/replace the results section of this file")
    parser.add_argument("--json", type=Path, help="write all results, per image included, as JSON")
    parser.add_argument("--crnn-model", default=None, help="ONNX model for crnn (default: the shipped one)")
    parser.add_argument(
        "--crnn-decode", choices=("default", "greedy"), default="default",
        help="crnn's decoding: the product default (beam + character LM) or greedy (the recognizer alone)",
    )
    parser.add_argument(
        "--tesseract-zh-lang", default="chi_sim+eng", help="tesseract -l for zh sets (default chi_sim+eng)"
    )
    parser.add_argument(
        "--tesseract-page-psm",
        type=int,
        default=3,
        choices=(3, 4, 6, 11),
        help="tesseract --psm for pages (default 3)",
    )
    args = parser.parse_args(argv)
    bad = [e for e in args.engines if e not in ENGINE_NAMES]
    if bad:
        parser.error(f"unknown engine(s) {', '.join(bad)}; choose from {', '.join(ENGINE_NAMES)}")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if not args.eval_dir.is_dir():
        parser.error(f"eval folder {args.eval_dir} does not exist (set CRNN_OCR_EVAL_DIR or --eval-dir)")
    if str(args.project_eval_dir) == "none":
        args.project_eval_dir = None
    elif not args.project_eval_dir.is_dir():
        parser.error(f"project eval folder {args.project_eval_dir} does not exist")
    if args.speed_lines < 8:
        parser.error("--speed-lines must be at least 8")
    if args.speed_pages < 1:
        parser.error("--speed-pages must be at least 1")
    return args


def engine_settings(args: argparse.Namespace) -> EngineSettings:
    return EngineSettings(args.crnn_model, args.crnn_decode, args.tesseract_zh_lang, args.tesseract_page_psm)


def eval_dirs(args: argparse.Namespace) -> list[Path]:
    return [args.eval_dir] + ([args.project_eval_dir] if args.project_eval_dir else [])


def selected_set_names(args: argparse.Namespace) -> list[str]:
    folders = set_folders(eval_dirs(args))
    if args.sets is not None:
        names = list(args.sets)
    else:
        names = sorted(n for n, (_folder, kind) in folders.items() if kind is None)
    if args.pages:
        names += sorted(n for n, (_folder, kind) in folders.items() if kind == "page" and n not in names)
    return names


def speed_jobs(args: argparse.Namespace, engines: Sequence[Engine]) -> tuple[list[SpeedJob], str]:
    """The same crops and pages for every engine: 2/3 English form lines, 1/3 synthetic Chinese
    lines in held-out fonts (when those sets exist), and the first pages of two page sets."""
    folders = set_folders(eval_dirs(args))
    n = args.speed_lines
    crops: list[tuple[str, str]] = []
    parts = []
    for name, share in (("en_funsd_test_lines", 2 / 3), ("synth_heldout_fonts", 1 / 3)):
        if name in folders and folders[name][1] is None:
            eval_set = load_line_set(folders[name][0], round(n * share))
            crops += [(str(s.image), eval_set.lang) for s in eval_set.samples]
            parts.append(f"{len(eval_set.samples)} {name}")
    if not crops:  # fall back to the first line set there is
        name = next(n for n, (_f, kind) in folders.items() if kind is None)
        eval_set = load_line_set(folders[name][0], n)
        crops = [(str(s.image), eval_set.lang) for s in eval_set.samples]
        parts.append(f"{len(crops)} {name}")
    pages: list[tuple[str, str]] = []
    page_parts = []
    for name in ("en_sroie_receipts", "zh_browser_pages"):
        if name in folders and folders[name][1] == "page":
            page_set = load_page_set(folders[name][0], args.speed_pages)
            pages += [(str(s.image), page_set.lang) for s in page_set.samples]
            page_parts.append(f"{len(page_set.samples)} {name}")
    note = (
        f"Recognition throughput on {len(crops)} line crops decoded in memory ({' + '.join(parts)}), "
        f"1 thread, each engine in its own fresh process; pages: {' + '.join(page_parts) or 'none'} "
        "(file to text, detection included). Tesseract has no batch mode: one process per line."
    )
    jobs = [SpeedJob(e.name, tuple(crops), tuple(pages), engine_settings(args)) for e in engines]
    return jobs, note


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    sets = load_sets(eval_dirs(args), selected_set_names(args), args.limit)
    engines, skipped = build_engines(args.engines, engine_settings(args))
    if not engines:
        print("no engine could start; nothing to compare", file=sys.stderr)
        return 1
    info = run_info(argv, engines, skipped)
    results = run_all(engines, sets)
    speed: list[SpeedResult] = []
    speed_note = ""
    if args.speed:
        jobs, speed_note = speed_jobs(args, engines)
        for job in jobs:
            print(f"speed: {job.engine} ...", file=sys.stderr)
            speed.append(measure(job))
            print(f"speed: {speed[-1]}", file=sys.stderr)
    info = dataclasses.replace(info, load_average_end=load_average())
    section = markdown_section(info, results, speed, speed_note)
    publish(section, args.markdown, MARK_BEGIN, MARK_END)
    if args.json:
        write_json(args.json, info, results, speed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
