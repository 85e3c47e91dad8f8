"""Table-driven tests of crnn_ocr.metrics."""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path

import pytest

from crnn_ocr.metrics import (
    EvalScore,
    align,
    levenshtein,
    line_recall,
    normalize_for_scoring,
    order_free_edits,
    score_pairs,
    scoring_mode_for_set,
    substring_distance,
)


def reference_levenshtein(a: str, b: str) -> int:
    """Textbook O(n*m) DP, to check the vectorised one against."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "abc", 3),
        ("abc", "abc", 0),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("abc", "cba", 2),
        ("ab", "ba", 2),
        ("京PL3N67", "京PL3N67", 0),
        ("京PL3N67", "PL3N67", 1),
        ("京PL3N67", "京P13N67", 1),
        ("汉阳鹦鹉家居", "汉阳家居", 2),
        ("aaaa", "aa", 2),
        ("a😀b", "ab", 1),  # astral-plane characters count as one
    ],
)
def test_levenshtein_table(a: str, b: str, expected: int) -> None:
    assert levenshtein(a, b) == expected
    assert levenshtein(b, a) == expected


def test_levenshtein_matches_reference_on_random_strings() -> None:
    rng = random.Random(7)
    alphabet = "ab汉字1"
    for _ in range(300):
        a = "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        b = "".join(rng.choices(alphabet, k=rng.randint(0, 12)))
        assert levenshtein(a, b) == reference_levenshtein(a, b), (a, b)


def test_levenshtein_is_fast_on_page_sized_strings() -> None:
    rng = random.Random(3)
    a = "".join(rng.choices("abcdefghij汉字数据", k=3000))
    b = "".join(ch if rng.random() > 0.1 else "x" for ch in a)
    start = time.perf_counter()
    distance = levenshtein(a, b)
    assert time.perf_counter() - start < 2.0
    assert 0 < distance <= len(a)


@pytest.mark.parametrize(
    ("needle", "haystack", "expected"),
    [
        ("", "abc", 0),
        ("bc", "abcd", 0),
        ("bx", "abcd", 1),
        ("abc", "", 3),
        ("总计", "合计总计金额", 0),
        ("xyz", "abc", 3),
    ],
)
def test_substring_distance_table(needle: str, haystack: str, expected: int) -> None:
    assert substring_distance(needle, haystack) == expected


@pytest.mark.parametrize(
    ("text", "mode", "expected"),
    [
        ("Hello, World。", "raw", "Hello, World。"),
        ("Hello, World。", "text", "hello,world."),
        ("Hello, World。", "alnum", "helloworld"),
        ("ＡＢＣ１２３", "text", "abc123"),  # full-width forms via NFKC
        ("电话：15952301928", "text", "电话:15952301928"),
        ("电话：15952301928", "alnum", "电话15952301928"),
        ("他说：“你好”、‘再见’。", "text", "他说:\"你好\",'再见'."),
        ("（注）", "text", "(注)"),
        (" a\tb\nc\u3000d ", "text", "abcd"),  # ideographic space too
        ("zero\u200bwidth", "text", "zerowidth"),
        ("STRASSE", "text", "strasse"),
        ("Straße", "text", "strasse"),  # case folding, not lower()
        ("京PL3N67", "alnum", "京pl3n67"),
        ("汉阳鹦鹉家居建材市场E区25-26号", "alnum", "汉阳鹦鹉家居建材市场e区2526号"),
        ("ﬁne", "text", "fine"),  # compatibility ligature
        ("", "text", ""),
    ],
)
def test_normalize_for_scoring_table(text: str, mode: str, expected: str) -> None:
    assert normalize_for_scoring(text, mode) == expected  # type: ignore[arg-type]


def test_normalize_rejects_unknown_mode() -> None:
    with pytest.raises(ValueError, match="scoring mode"):
        normalize_for_scoring("x", "words")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("set_name", "mode"),
    [
        ("zh_license_plates", "alnum"),
        ("en_svt_test", "alnum"),
        ("en_icdar13_word", "alnum"),
        ("zh_paddleocr_demo_words", "alnum"),
        ("zh_hw_hwdb_composite_lines", "text"),
        ("en_uw3_doc_lines", "text"),
        ("en_funsd_test_lines", "text"),
        ("en_sroie_receipts", "text"),
        ("zh_browser_pages", "text"),
    ],
)
def test_scoring_mode_for_set(set_name: str, mode: str) -> None:
    assert scoring_mode_for_set(set_name) == mode


@pytest.mark.parametrize(
    ("refs", "hyps", "mode", "expected"),
    [
        # perfect
        (
            ["abc", "de"],
            ["abc", "de"],
            "text",
            {"cer": 0.0, "ned": 0.0, "line_accuracy": 1.0, "chars": 5, "edits": 0},
        ),
        # one substitution in 5 chars; NED is the mean of 1/3 and 0
        (
            ["abc", "de"],
            ["abx", "de"],
            "text",
            {"cer": 0.2, "ned": 1 / 6, "line_accuracy": 0.5, "chars": 5, "edits": 1},
        ),
        # empty hypothesis (an engine error): all characters deleted
        (["abcd"], [""], "text", {"cer": 1.0, "ned": 1.0, "line_accuracy": 0.0, "chars": 4, "edits": 4}),
        # insertions can push CER above 1; NED stays within [0, 1]
        (
            ["ab"],
            ["abcdef"],
            "text",
            {"cer": 2.0, "ned": 4 / 6, "line_accuracy": 0.0, "chars": 2, "edits": 4},
        ),
        # normalisation applies before scoring
        (["Hello World"], ["hello  world"], "text", {"cer": 0.0, "line_accuracy": 1.0, "chars": 10}),
        (["Hello, World!"], ["HELLO WORLD"], "alnum", {"cer": 0.0, "line_accuracy": 1.0, "chars": 10}),
        (["Hello, World!"], ["HELLO WORLD"], "text", {"edits": 2, "line_accuracy": 0.0, "chars": 12}),
        (["a b"], ["a  b"], "raw", {"edits": 1, "chars": 3}),
        (["京PL3N67"], ["京P·L3N67"], "alnum", {"cer": 0.0, "line_accuracy": 1.0}),
    ],
)
def test_score_pairs_table(refs: list[str], hyps: list[str], mode: str, expected: dict) -> None:
    score = score_pairs(refs, hyps, mode)  # type: ignore[arg-type]
    for field, value in expected.items():
        assert getattr(score, field) == pytest.approx(value), field
    assert score.n == len(refs)


def test_score_pairs_timing_and_immutability() -> None:
    score = score_pairs(["a", "b", "c", "d"], ["a", "b", "c", "x"], "text", seconds=2.0)
    assert score.lines_per_s == pytest.approx(2.0)
    assert score.seconds == 2.0
    assert score.one_minus_ned == pytest.approx(0.75)
    assert isinstance(score, EvalScore)
    with pytest.raises(dataclasses.FrozenInstanceError):
        score.cer = 0.0  # type: ignore[misc]
    assert score_pairs(["a"], ["a"], "text").lines_per_s == 0.0  # not timed


@pytest.mark.parametrize(
    ("refs", "hyps", "message"),
    [(["a"], [], "1 references but 0 hypotheses"), ([], [], "no pairs")],
)
def test_score_pairs_rejects_bad_input(refs: list[str], hyps: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        score_pairs(refs, hyps, "text")


@pytest.mark.parametrize(
    ("ref_lines", "hyp_lines", "expected"),
    [
        (["total 12.00", "cash 20.00"], ["total 12.00", "cash 20.00"], 0),
        (["total 12.00", "cash 20.00"], ["cash 20.00", "total 12.00"], 0),  # order ignored
        (["total 12.00"], ["total", "12.00"], 0),  # a line split in two
        (["total", "12.00"], ["total 12.00"], 0),  # two lines merged
        (["左栏", "右栏", "左二", "右二"], ["左栏右栏", "左二右二"], 0),  # columns read across
        (["total 12.00", "合计金额"], ["total 12.00"], 4),  # a missed line: its characters
        (["total 12.00"], ["total 12.00", "谢谢惠顾"], 4),  # an invented line: its characters
        (["total 12.00"], ["tota1 12.00"], 1),  # a substitution counts once
        (["abc"], [], 3),
        ([], ["abc"], 3),
        (["", "  "], [""], 0),
    ],
)
def test_order_free_edits_table(ref_lines: list[str], hyp_lines: list[str], expected: int) -> None:
    assert order_free_edits(ref_lines, hyp_lines, "text") == expected


@pytest.mark.parametrize(
    ("ref_lines", "hyp_lines"),
    [
        (["total 12.00", "cash 20.00", "change 8.00"], ["cash 2O.00", "tota1 12.0", "change8.00 xx"]),
        (["第一行文字", "第二行"], ["第二行", "第一行文宇", "噪声"]),
        (["abc"], ["xyz", "abc", "abd"]),
    ],
)
def test_order_free_edits_never_exceed_in_order_distance(ref_lines: list[str], hyp_lines: list[str]) -> None:
    in_order = levenshtein(
        normalize_for_scoring("\n".join(ref_lines), "text"),
        normalize_for_scoring("\n".join(hyp_lines), "text"),
    )
    assert order_free_edits(ref_lines, hyp_lines, "text") <= in_order


@pytest.mark.parametrize(
    ("ref_lines", "hyp_lines", "expected"),
    [
        (["total 12.00", "cash 20.00"], ["cash 20.00", "total 12.00"], (2, 2)),  # order ignored
        (["total 12.00", "cash 20.00"], ["total 12.00 cash 20.00"], (2, 2)),  # merged lines are found
        (["total 12.00"], ["total", "12.00"], (1, 1)),  # a split costs 1 edit of 9 chars: < 0.2
        (["abcd"], ["ab", "cd"], (0, 1)),  # the same split in a short line: 1 / 4 = 0.25, missed
        (["total 12.00"], ["tota1 l2.0O"], (0, 1)),  # 3 edits / 9 chars = 0.33: missed
        (["total 12.00"], ["tota1 12.00"], (1, 1)),  # 1 / 9 = 0.11: found
        (["合计金额", "谢谢惠顾"], ["合计金额"], (1, 2)),  # a line not read at all
        (["abcde"], ["abxde"], (0, 1)),  # exactly 0.2 is not below 0.2
        (["", "  ", "abc"], ["abc"], (1, 1)),  # blank reference lines are not counted
        ([], ["abc"], (0, 0)),
        (["abc"], [], (0, 1)),
    ],
)
def test_line_recall_table(ref_lines: list[str], hyp_lines: list[str], expected: tuple[int, int]) -> None:
    assert line_recall(ref_lines, hyp_lines, "text") == expected


def test_line_recall_threshold_and_mode() -> None:
    # alnum mode drops the punctuation before matching; a looser threshold finds more.
    assert line_recall(["A-1, B.2"], ["a1b2"], "alnum") == (1, 1)
    assert line_recall(["total 12.00"], ["tota1 l2.0O"], "text", max_cer=0.5) == (1, 1)


@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("abc", "abc", [("=", "a", "a"), ("=", "b", "b"), ("=", "c", "c")]),
        ("abc", "axc", [("=", "a", "a"), ("sub", "b", "x"), ("=", "c", "c")]),
        ("abc", "ac", [("=", "a", "a"), ("del", "b", ""), ("=", "c", "c")]),
        ("ac", "abc", [("=", "a", "a"), ("ins", "", "b"), ("=", "c", "c")]),
        ("", "ab", [("ins", "", "a"), ("ins", "", "b")]),
        ("ab", "", [("del", "a", ""), ("del", "b", "")]),
        ("发票0", "发栗O", [("=", "发", "发"), ("sub", "票", "栗"), ("sub", "0", "O")]),
    ],
)
def test_align_table(ref: str, hyp: str, expected: list) -> None:
    assert align(ref, hyp) == expected


def test_align_cost_equals_levenshtein_on_random_strings() -> None:
    rng = random.Random(7)
    for _ in range(200):
        a = "".join(rng.choice("abc ") for _ in range(rng.randint(0, 12)))
        b = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 12)))
        ops = align(a, b)
        assert sum(op != "=" for op, _r, _h in ops) == levenshtein(a, b)
        assert "".join(r for _op, r, _h in ops) == a and "".join(h for _op, _r, h in ops) == b
