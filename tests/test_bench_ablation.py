"""benchmarks/ablation.py on real images: arms read in turn, greedy CER, sets an arm cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmarks import ablation
from benchmarks.evalsets import load_line_set
from crnn_ocr.charset import Charset
from crnn_ocr.metrics import score_pairs
from crnn_ocr.pipeline import OCR
from crnn_ocr.types import DecodeOptions, OCROptions

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = REPO.parent / "shared" / "eval"

pytestmark = pytest.mark.skipif(not (SHARED_EVAL / "en_uw3_doc_lines").is_dir(), reason="../shared/eval not present")


def test_ablation_table_of_the_shipped_model_and_a_latin_specialist(tmp_path: Path, shipped_model: Path) -> None:
    from crnn_ocr_train.checkpoint import load_crnn
    from crnn_ocr_train.export import export_onnx
    from crnn_ocr_train.grow import LATIN_CHARS, keep_classes

    model, charset, _ = load_crnn(REPO / "models" / "crnn_zh_en_v1.pt", torch.device("cpu"))
    latin = Charset(LATIN_CHARS)
    export_onnx(keep_classes(model, charset, latin).eval(), latin, tmp_path / "latin.onnx", "latin", "test")
    md = tmp_path / "table.md"
    argv = ["--arm", f"shipped={shipped_model}", "--arm", f"latin={tmp_path / 'latin.onnx'}",
            "--sets", "en_uw3_doc_lines,zh_browser_lines", "--limit", "3", "--markdown", str(md)]
    assert ablation.main(argv) == 0
    rows = {line.split(" | ")[0].strip("| "): line.strip("|").split("|") for line in md.read_text().splitlines() if line.startswith("| ")}
    header = [c.strip() for c in rows["arm"]]
    shipped = dict(zip(header, (c.strip() for c in rows["shipped"])))
    special = dict(zip(header, (c.strip() for c in rows["latin"])))
    assert (shipped["parameters"], special["parameters"]) == ("3.83 M", "2.08 M")
    assert special["zh_browser_lines"] == "—" and shipped["zh_browser_lines"] != "—"  # no hanzi classes: not read

    # The shipped arm's CER is the pipeline's own greedy reading of those lines.
    ocr = OCR(shipped_model, threads=1)
    uw3 = load_line_set(SHARED_EVAL / "en_uw3_doc_lines", 3)
    hyps = [ocr(s.image, OCROptions(detect=False, decode=DecodeOptions(method="greedy"))).text for s in uw3.samples]
    cer = score_pairs([s.text for s in uw3.samples], hyps, uw3.mode).cer
    assert shipped["en_uw3_doc_lines"] == f"{100 * cer:.2f}"
    assert float(shipped["ms/line (Latin sets)"]) > 0 and float(special["ms/line (all it reads)"]) > 0


def test_ablation_rejects_a_missing_model_and_page_sets(tmp_path: Path, shipped_model: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        ablation.main(["--arm", f"x={tmp_path / 'none.onnx'}"])
    assert "NAME=MODEL.onnx of an existing file" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="zh_browser_pages is a page set"):
        ablation.main(["--arm", f"x={shipped_model}", "--sets", "zh_browser_pages"])
