"""Throughput of ``crnn-ocr read`` on a 20-page scanned PDF, with --jobs 1 and --jobs 2.

Builds a 20-page A4 PDF of known Chinese and English text that looks scanned (grey paper, a slight
tilt, blur, noise, JPEG), runs the real command on it

    crnn-ocr read scan.pdf --format pdf -o out.pdf --jobs N

for each N, and scores the text of the searchable PDFs it wrote (extracted with poppler's
pdftotext) against the known text. Wall time covers the whole command: process start, model
load, rendering, OCR, writing the PDF. A 1-page run gives that fixed start-up cost.

    nice -n 10 .venv/bin/python benchmarks/pdf_throughput.py --markdown BENCHMARKS.md

writes its section of BENCHMARKS.md between its own markers (the rest of the file is untouched).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

if not __package__:  # run as a file (python benchmarks/pdf_throughput.py): import the package from the repo root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from benchmarks.report import cpu_model, load_average, publish  # noqa: E402

from crnn_ocr.metrics import levenshtein  # noqa: E402

MARK_BEGIN = "<!-- BEGIN benchmarks/pdf_throughput.py section -->"
MARK_END = "<!-- END benchmarks/pdf_throughput.py section -->"
FONT_ZH = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
FONT_EN = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
SCAN_DPI = 200  # the scan's resolution: A4 is 1654 x 2339 pixels

ZH_LINES = [
    "关于二〇二四年度财务报告的说明",
    "本公司全年营业收入为人民币三千二百万元",
    "发票号码：04521387 开票日期：2024年3月15日",
    "购买方名称：北京市海淀区中关村科技有限公司",
    "合计金额：¥12,580.00 税额：¥1,635.40",
    "请在收到本通知后十个工作日内完成付款",
    "会议将于下周三上午九点在三楼会议室举行",
    "联系电话：010-62751234 传真：010-62751235",
    "地址：上海市浦东新区世纪大道100号",
    "本合同一式两份，甲乙双方各执一份",
    "产品质量符合国家标准的有关规定",
    "第三季度销售额比去年同期增长百分之十二",
    "数据仅供参考，以最终审计结果为准",
    "中华人民共和国成立于一九四九年十月一日",
    "图书馆开放时间为每天早上八点到晚上十点",
    "请妥善保管好您的账户和密码",
]
EN_LINES = [
    "Annual report on the financial statements for 2024",
    "Total revenue for the year was 32.4 million yuan",
    "Invoice No. 04521387 issued on 15 March 2024",
    "Please complete the payment within ten working days",
    "The meeting will be held next Wednesday at 9 am",
    "Phone: 010-62751234 Fax: 010-62751235",
    "Quantity 120 units at 104.80 per unit",
    "This contract is made in two copies of equal effect",
    "The product meets the relevant national standards",
    "Sales in the third quarter grew by 12 percent",
    "The figures are for reference only",
    "Opening hours are from 8 am to 10 pm every day",
    "Keep your account number and password safe",
    "Shipping address: 100 Century Avenue, Shanghai",
]


# ---- the scanned PDF ---------------------------------------------------------------------------


def page_lines(number: int, count: int, rng: random.Random) -> list[str]:
    """The known text of page ``number``: a header, then Chinese and English lines."""
    lines = [f"第{number}页 Page {number} of {count}"]
    pool = ZH_LINES + EN_LINES
    lines += rng.sample(pool, 28)  # a full A4 page of 11-12 pt lines
    return lines


def render_scan(lines: list[str], rng: random.Random) -> np.ndarray:
    """An A4 page at SCAN_DPI with ``lines`` printed on it, degraded like a scan (uint8 grey)."""
    width, height = round(8.27 * SCAN_DPI), round(11.69 * SCAN_DPI)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    y = 170
    for i, text in enumerate(lines):
        size = 44 if i == 0 else rng.choice((30, 32, 34))  # 11-12 pt body text at 200 dpi
        font = ImageFont.truetype(FONT_EN if text.isascii() else FONT_ZH, size)
        draw.text((150, y), text, font=font, fill=rng.randint(10, 40))
        y += round(size * (2.1 if i == 0 else 1.75))
    page = page.rotate(rng.uniform(-0.3, 0.3), resample=Image.BICUBIC, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(0.6))
    a = np.asarray(page, dtype=np.float32)
    paper = rng.randint(228, 242)
    a = a * (paper / 255.0)  # grey paper, ink a little lighter
    a += np.random.default_rng(rng.randint(0, 2**31)).normal(0, 6, a.shape)
    return np.clip(a, 0, 255).astype(np.uint8)


def build_pdf(path: Path, pages: int, seed: int = 7) -> list[list[str]]:
    """Write the scanned PDF (JPEG pages at SCAN_DPI); the known text of each page."""
    rng = random.Random(seed)
    texts, images = [], []
    for number in range(1, pages + 1):
        lines = page_lines(number, pages, rng)
        texts.append(lines)
        buf = io.BytesIO()
        Image.fromarray(render_scan(lines, rng)).save(buf, format="JPEG", quality=70)
        images.append(Image.open(io.BytesIO(buf.getvalue())))
    images[0].save(path, format="PDF", save_all=True, append_images=images[1:], resolution=SCAN_DPI)
    return texts


# ---- scoring -----------------------------------------------------------------------------------


def page_cer(known: list[list[str]], extracted: str) -> tuple[float, int, int]:
    """(CER, edits, reference characters) over all pages; whitespace ignored, pages in order."""
    pages = extracted.split("\f")
    edits = chars = 0
    for i, lines in enumerate(known):
        ref = "".join("".join(lines).split())
        hyp = "".join(pages[i].split()) if i < len(pages) else ""
        edits += levenshtein(ref, hyp)
        chars += len(ref)
    return edits / max(chars, 1), edits, chars


# ---- runs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    jobs: int
    pages: int
    seconds: float
    cer: float
    edits: int
    chars: int

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds

    @property
    def s_per_page(self) -> float:
        return self.seconds / self.pages


def crnn_ocr_command() -> list[str]:
    script = Path(sys.executable).with_name("crnn-ocr")
    return [str(script)] if script.exists() else [sys.executable, "-m", "crnn_ocr.cli"]


def run_read(pdf: Path, out: Path, jobs: int, dpi: float, extra: list[str]) -> float:
    command = [
        *crnn_ocr_command(),
        "read",
        str(pdf),
        "--format",
        "pdf",
        "-o",
        str(out),
        "--jobs",
        str(jobs),
        "--dpi",
        f"{dpi:g}",
        *extra,
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return seconds


def pdftotext(path: Path) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        raise SystemExit("pdftotext (poppler-utils) is needed: run scripts/install-system-deps.sh")
    return subprocess.run([tool, str(path), "-"], capture_output=True, check=True).stdout.decode("utf-8")


# ---- report ------------------------------------------------------------------------------------






def section(runs: list[Run], startup_s: float, argv: list[str], info: dict[str, str]) -> str:
    lines = [
        MARK_BEGIN,
        f"## PDF throughput ({info['date']})",
        "",
        (
            f"Command: `python benchmarks/pdf_throughput.py {shlex.join(argv)}`, which runs "
            f"`crnn-ocr read scan.pdf --format pdf -o out.pdf --jobs N --dpi {info['dpi']}` on a "
            f"{runs[0].pages}-page A4 PDF of known Chinese and English text made to look scanned "
            f"({SCAN_DPI} dpi grey JPEG pages, slight tilt, blur and noise; {info['size_kb']} kB), "
            "then scores the text that `pdftotext` extracts from the searchable PDF it wrote."
        ),
        "",
        (
            f"Machine: {info['cpu']}, {info['cpus']} logical CPUs, nice {info['nice']}, load average "
            f"{info['load_start']} at start and {info['load_end']} at end (1/5/15 min); Python "
            f"{platform.python_version()}; {platform.platform()}."
        ),
        "",
        "| --jobs | pages | wall s | pages/s | s/page | CER (pdftotext vs known text) |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        lines.append(
            f"| {r.jobs} | {r.pages} | {r.seconds:.1f} | {r.pages_per_s:.2f} | {r.s_per_page:.2f} | "
            f"{100 * r.cer:.2f}% ({r.edits} edits / {r.chars} chars) |"
        )
    lines += [
        "",
        (
            f"Wall time is the whole command. Its fixed part (process start, model load, a 1-page "
            f"PDF) measured {startup_s:.1f} s with --jobs 1; with --jobs 2 each worker process "
            "loads its own model. Whitespace is ignored in the CER."
        ),
    ]
    if info.get("note"):
        lines += ["", info["note"]]
    lines += ["", MARK_END]
    return "\n".join(lines) + "\n"




def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20, help="pages in the PDF (default 20)")
    parser.add_argument("--jobs", default="1,2", help="--jobs values to run (default 1,2)")
    parser.add_argument(
        "--dpi", type=float, default=200, help="rendering DPI passed to crnn-ocr (default 200)"
    )
    parser.add_argument("--markdown", type=Path, help="write the results section into this file")
    parser.add_argument("--keep", type=Path, help="keep the PDFs in this folder")
    parser.add_argument("--note", default="", help="a sentence added to the report (e.g. other load)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = args.keep or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        pdf = tmp / "scan.pdf"
        known = build_pdf(pdf, args.pages)
        info = {
            "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "cpu": cpu_model(),
            "cpus": str(len(os.sched_getaffinity(0))),
            "nice": str(os.nice(0)),
            "load_start": load_average(),
            "dpi": f"{args.dpi:g}",
            "size_kb": str(pdf.stat().st_size // 1024),
            "note": args.note,
        }
        one_page = tmp / "one.pdf"
        build_pdf(one_page, 1)
        startup = run_read(one_page, tmp / "one.out.pdf", 1, args.dpi, [])
        runs = []
        for jobs in (int(j) for j in args.jobs.split(",")):
            out = tmp / f"out_jobs{jobs}.pdf"
            seconds = run_read(pdf, out, jobs, args.dpi, [])
            cer, edits, chars = page_cer(known, pdftotext(out))
            runs.append(Run(jobs, args.pages, seconds, cer, edits, chars))
            print(
                f"--jobs {jobs}: {seconds:.1f} s, {args.pages / seconds:.2f} pages/s, CER {100 * cer:.2f}%",
                flush=True,
            )
        info["load_end"] = load_average()
    text = section(runs, startup, argv, info)
    publish(text, args.markdown, MARK_BEGIN, MARK_END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
