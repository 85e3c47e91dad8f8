"""The measured switch (``crnn_ocr.model_compare``): both models' CER per set, the relative change,
the table and the JSON; on the tiny ONNX model (no torch)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import pytest
from tiny_model import render_code_line

from crnn_ocr.model_compare import SetComparison, compare_models, eval_set, line_set, main


@pytest.mark.parametrize(
    ("base", "candidate", "change"),
    [(0.8, 0.4, -0.5), (0.02, 0.022, 0.1), (0.1, 0.1, 0.0), (0.0, 0.0, 0.0), (0.0, 0.01, math.inf)],
)
def test_relative_change(base, candidate, change):
    assert SetComparison("s", "lines", 10, base, candidate).relative_change == pytest.approx(change)


def _code_lines(folder: Path, rows: list[tuple[str, str]]) -> Path:
    """Code lines the tiny model reads exactly, labelled with the given (drawn, label) pairs."""
    (folder / "images").mkdir(parents=True)
    out = []
    for i, (drawn, label) in enumerate(rows):
        cv2.imwrite(str(folder / "images" / f"{i}.png"), render_code_line(drawn))
        out.append(f"images/{i}.png\t{label}")
    (folder / "labels.tsv").write_text("\n".join(out) + "\n", encoding="utf-8")
    return folder / "labels.tsv"


def test_compare_models_scores_each_set_and_reports_a_table(tmp_path, tiny_ocr):
    labels = _code_lines(tmp_path / "mine", [("0123", "0123"), ("ab45", "ab46")])  # one wrong label: 1 edit in 8
    comparison = compare_models(tiny_ocr, tiny_ocr, [line_set("heldout", labels)], ("base", "tuned"))
    s = comparison.get("heldout")
    assert (s.kind, s.n, s.base_cer, s.candidate_cer, s.relative_change) == ("lines", 2, 0.125, 0.125, 0.0)
    assert comparison.table().splitlines() == [
        "| set | kind | n | base CER | tuned CER | change |",
        "|---|---|---:|---:|---:|---:|",
        "| heldout | lines | 2 | 12.50 % | 12.50 % | +0.0 % |",
    ]
    assert comparison.to_dict() == {
        "base": "base", "candidate": "tuned", "decode": "beam",
        "sets": [{"name": "heldout", "kind": "lines", "n": 2, "base_cer": 0.125, "candidate_cer": 0.125, "relative_change": 0.0}],
    }


def test_eval_set_reads_page_sets_and_line_sets(tmp_path):
    pages = tmp_path / "zh_pages" / "pages"
    pages.mkdir(parents=True)
    cv2.imwrite(str(pages / "p1.png"), render_code_line("01"))
    (pages / "p1.txt").write_text("first line  \n\nsecond\n", encoding="utf-8")
    got = eval_set(tmp_path / "zh_pages")
    assert (got.name, got.kind, got.samples) == ("zh_pages", "pages", ((pages / "p1.png", "first line\nsecond"),))
    _code_lines(tmp_path / "en_lines", [("01", "01")])
    assert eval_set(tmp_path / "en_lines").kind == "lines"


def test_cli_writes_the_json_and_prints_the_table(tmp_path, tiny_model_path, capsys):
    labels = _code_lines(tmp_path / "mine", [("0123", "0123")])
    out = tmp_path / "report" / "compare.json"
    assert main(["--base", str(tiny_model_path), "--candidate", str(tiny_model_path), "--heldout", str(labels),
                 "--sets", "", "--greedy", "--json", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["decode"] == "greedy" and data["sets"][0]["name"] == "heldout" and data["sets"][0]["base_cer"] == 0.0
    assert "| heldout | lines | 1 | 0.00 % | 0.00 % | +0.0 % |" in capsys.readouterr().out


def test_cli_needs_an_eval_dir_for_standard_sets(tmp_path, tiny_model_path, monkeypatch, capsys):
    monkeypatch.delenv("CRNN_OCR_EVAL_DIR", raising=False)
    with pytest.raises(SystemExit):
        main(["--base", str(tiny_model_path), "--candidate", str(tiny_model_path)])
    assert "standard sets need --eval-dir" in capsys.readouterr().err
