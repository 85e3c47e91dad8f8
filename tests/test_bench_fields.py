"""benchmarks/fields_eval.py end to end on one page of each set: its section, tables and JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import fields_eval

REPO = Path(__file__).resolve().parents[1]
SHARED_EVAL = REPO.parent / "shared" / "eval"


pytestmark = pytest.mark.skipif(
    not (SHARED_EVAL / "en_sroie_receipts").is_dir(), reason="../shared/eval not present"
)


def test_fields_eval_writes_its_section_and_json(tmp_path: Path, shipped_model: Path) -> None:
    md = tmp_path / "BENCH.md"
    md.write_text("# Title\n\n" + fields_eval.MARK_BEGIN + "\nold\n" + fields_eval.MARK_END + "\n\ntail\n")
    out = tmp_path / "fields.json"
    assert fields_eval.main(["--limit", "1", "--invoices", "1", "--markdown", str(md), "--json", str(out)]) == 0
    text = md.read_text()
    assert text.startswith("# Title") and text.rstrip().endswith("tail") and "old" not in text
    for heading in ("### SROIE receipt fields", "### Synthetic Chinese VAT invoices", "### Reading order"):
        assert heading in text
    assert "| total_in_words | 100.0 |" in text
    data = json.loads(out.read_text())
    assert data["sroie"]["receipts"] == 1 and set(data["sroie"]["end_to_end"]) == {"company", "date", "address", "total"}
    assert [r["set"] for r in data["order"]] == ["en_sroie_receipts", "en_funsd_test", "zh_browser_pages"]
