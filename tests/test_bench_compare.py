"""benchmarks/compare.py end to end with our engine on real images: tables, markers, JSON, speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import compare

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = REPO.parent / "shared" / "eval"


pytestmark = pytest.mark.skipif(not (SHARED_EVAL / "en_uw3_doc_lines").is_dir(), reason="../shared/eval not present")


def test_compare_writes_tables_json_and_speed(tmp_path: Path, shipped_model: Path) -> None:
    md = tmp_path / "BENCH.md"
    md.write_text("# Title\n\nhand-written intro\n\n" + compare.MARK_BEGIN + "\nold\n" + compare.MARK_END + "\n\ntail\n")
    out = tmp_path / "bench.json"
    argv = [
        "--engines", "crnn", "--sets", "en_uw3_doc_lines,synth_heldout_fonts,zh_browser_pages",
        "--limit", "2", "--speed", "--speed-lines", "12", "--speed-pages", "1", "--markdown", str(md), "--json", str(out),
    ]
    assert compare.main(argv) == 0
    text = md.read_text()
    # The section is replaced in place; what is around it stays.
    assert text.startswith("# Title\n\nhand-written intro\n\n") and text.rstrip().endswith("tail")
    assert "\nold\n" not in text and text.count(compare.MARK_BEGIN) == 1
    assert "| en_uw3_doc_lines | text | crnn | 2 |" in text
    assert "| synth_heldout_fonts | text | crnn | 2 |" in text  # the project's own set, from eval/
    assert "| zh_browser_pages | crnn | 2 |" in text and "line recall" in text
    data = json.loads(out.read_text())
    by_set = {r["set_name"]: r for r in data["results"]}
    pages = by_set["zh_browser_pages"]
    assert pages["line_recall"] > 0.8 and pages["score"]["cer"] < 0.10  # real pages, read well
    assert by_set["en_uw3_doc_lines"]["line_recall"] is None
    (speed,) = data["speed"]
    assert speed["engine"] == "crnn" and speed["error"] is None and speed["lines"] == 12
    assert set(speed["lines_per_s"]) == {"1", "8", "32"} and all(v > 0 for v in speed["lines_per_s"].values())
    assert speed["pages"] == 2 and speed["page_s_mean"] > 0 and speed["peak_rss_mib"] > 50


def test_compare_rejects_unknown_sets_and_engines(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="unknown eval set"):
        compare.main(["--engines", "crnn", "--sets", "no_such_set"])
    with pytest.raises(SystemExit):
        compare.main(["--engines", "nope"])
    assert "unknown engine" in capsys.readouterr().err


def test_ratio_table_divides_peer_time_by_ours() -> None:
    from crnn_ocr.metrics import score_pairs

    def result(engine: str, ms: float) -> compare.RunResult:
        return compare.RunResult("s", "line", "text", engine, score_pairs(["a"], ["a"], "text", ms / 1000), None, None, 0, ms, ms, ())

    rows = compare.ratio_table([result("crnn", 4.0), result("rapidocr", 12.0), result("tesseract", 80.0)])
    assert rows[0] == "| set | rapidocr time / crnn time | tesseract time / crnn time |"
    assert rows[2] == "| s | 3.0× | 20.0× |"


def test_error_analysis_counts_ops_classes_and_peer_wins(tmp_path: Path) -> None:
    from benchmarks import errors

    def sample(image: str, ref: str, hyp: str) -> dict:
        return {"image": image, "ref": ref, "hyp": hyp, "ms": 1.0, "error": None}

    results = [
        {"set_name": "s", "kind": "line", "mode": "text", "engine": "crnn", "samples": [
            sample("a.png", "发票 No.12", "发栗 No.l2"),  # 2 substitutions: hanzi, digit
            sample("b.png", "total 5", "total5"),  # a missed space
            sample("c.png", "ok", ""),  # empty output: 2 deletions
        ]},
        {"set_name": "s", "kind": "line", "mode": "text", "engine": "rapidocr", "samples": [
            sample("a.png", "发票 No.12", "发票 No.12"),
            sample("b.png", "total 5", "total 6"),
            sample("c.png", "ok", "ok"),
        ]},
    ]
    (e,) = errors.analyse(results, "crnn", "rapidocr")
    assert e.n == 3 and e.empty == 1
    assert e.ops[("sub", "hanzi")] == 1 and e.ops[("sub", "digit")] == 1
    assert e.ops[("del", "space")] == 1 and e.ops[("del", "latin")] == 2
    assert e.pairs[("票", "栗")] == 1 and e.pairs[("1", "l")] == 1
    assert [img for img, _r, _h in e.peer_right_we_wrong] == ["a.png", "c.png"]
    assert e.we_right_peer_wrong == 0
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"run": {}, "results": results}), encoding="utf-8")
    out = tmp_path / "errors.md"
    assert errors.main([str(bench), "--markdown", str(out)]) == 0
    report = out.read_text(encoding="utf-8")
    assert "## s (text), 3 lines" in report and "`票→栗` 1" in report and "rapidocr exact where crnn is wrong: 2 lines" in report
