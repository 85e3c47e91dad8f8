"""Field grammars: accept/reject tables per built-in, user regexes, and exact constrained decoding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from crnn_ocr.charset import BLANK_INDEX, Charset
from crnn_ocr.errors import OptionsError
from crnn_ocr.grammar import compile_pattern, grammar_decode, uscc_check_char

CS = Charset.default()

ACCEPT_REJECT = {
    "plate": (
        ["京A12345", "粤BD1234", "皖A0G826", "沪C8GK31", "川A123456"],
        ["京I12345", "京O12345", "A123456", "京A1234", "京1A2345", "港A12345", "京A1234567", "京a12345"],
    ),
    "date": (
        ["2024-03-15", "2024/3/5", "1999.12.31", "2024年3月15日", "2024-01-31"],
        ["2024-13-01", "2024-00-10", "2024-03-32", "24-03-15", "2024-03/15", "2024年13月1日", "3024-01-01"],
    ),
    "time": (["12:30", "9:05", "23:59:59", "00:00"], ["24:00", "12:60", "12:3", "12:30:61", "1230"]),
    "amount": (
        ["12.50", "¥1,234.56", "-3", "1234", "￥88元", "$0.99"],
        ["12.345", "1,23", "1,2345.00", "¥", ".5", "12,50"],
    ),
    "phone": (
        ["13812345678", "+86 13812345678", "138-1234-5678", "010-62345678", "(0755)82345678", "62345678", "021-62345678-123"],
        ["12812345678", "1381234567", "138123456789", "010-1234567", "abc"],
    ),
    "uscc": (
        ["91350100M000100Y43", "9135010" + "0M000100Y4" + "3"],
        ["91350100M000100Y44", "91350100M000100Y4", "9135010OM000100Y43", "91350100M000100Y433", "9A350100M000100Y43"],
    ),
    "email": (["a.b@example.com", "user+tag@mail.example.cn", "X_Y@a-b.org"], ["a@b", "@example.com", "a b@example.com", "a@@b.com"]),
    "url": (
        ["https://www.example.com/a?b=1", "example.com", "http://gov.cn:8080/x/y.html", "www.python.org"],
        ["example", "https://", "ftp://example.com", "exa mple.com"],
    ),
    "digits": (["0", "0123456789"], ["", "12a", "1 2", "一二"]),
}


@pytest.mark.parametrize(
    ("name", "text", "accepted"),
    [(name, t, True) for name, (good, _) in ACCEPT_REJECT.items() for t in good]
    + [(name, t, False) for name, (_, bad) in ACCEPT_REJECT.items() for t in bad],
)
def test_builtin_grammars_accept_and_reject(name: str, text: str, accepted: bool) -> None:
    assert compile_pattern(name, CS).accepts_text(text, CS) is accepted


@pytest.mark.parametrize(
    ("pattern", "good", "bad"),
    [
        (r"INV-\d{4}", ["INV-2024"], ["INV-202", "inv-2024", "INV-20245"]),
        (r"(?:ab|cd)+x?", ["ab", "cdab", "abx"], ["", "a", "abxx"]),
        (r"[^0-9]{2,3}", ["ab", "中文字"], ["a1", "abcd"]),
        (r"^\w+@\w+$", ["a@b"], ["a@", "a b@c"]),
        (r"a.c", ["abc", "a中c"], ["ac", "abbc"]),
        (r"\d{2,}", ["12", "12345"], ["1"]),
    ],
)
def test_user_regex(pattern: str, good: list[str], bad: list[str]) -> None:
    grammar = compile_pattern(pattern, CS)
    assert all(grammar.accepts_text(t, CS) for t in good)
    assert not any(grammar.accepts_text(t, CS) for t in bad)


@pytest.mark.parametrize("pattern", ["(ab", "ab)", "*a", "[a-", r"\p", "a{3,1}", "a{1000}", "(?=a)", "", "[\u2603]"])
def test_bad_patterns_are_options_errors(pattern: str) -> None:
    with pytest.raises(OptionsError, match="pattern"):
        compile_pattern(pattern, CS)


def test_uscc_check_character() -> None:
    assert uscc_check_char("91350100M000100Y4") == "3"  # a published example code
    grammar = compile_pattern("uscc", CS)
    first = "91110000600037341"
    assert grammar.accepts_text(first + uscc_check_char(first), CS)


SMALL = Charset(("a", "b", "1", "2"))


def _best_accepted(probs: np.ndarray, pattern: str) -> str | None:
    """Brute force: the text of the most probable single path the grammar accepts."""
    grammar = compile_pattern(pattern, SMALL)
    best, best_p = None, -1.0
    for path in itertools.product(range(SMALL.num_classes), repeat=probs.shape[0]):
        labels = [k for i, k in enumerate(path) if k != BLANK_INDEX and (i == 0 or path[i - 1] != k)]
        if grammar.accepts(labels):
            p = float(np.prod(probs[np.arange(len(path)), path]))
            if p > best_p:
                best, best_p = SMALL.decode(labels), p
    return best


@pytest.mark.parametrize("pattern", [r"a[12]+", r"(ab|ba)1?", r"[ab]{2}", r"a*b", r"\d\d", r"a1a", r"aa"])
@pytest.mark.parametrize("seed", range(6))
def test_grammar_decoding_returns_the_best_consistent_path(pattern: str, seed: int) -> None:
    probs = np.random.default_rng(seed).dirichlet(np.full(SMALL.num_classes, 0.5), size=5)
    result = grammar_decode(probs, SMALL, compile_pattern(pattern, SMALL))
    assert result.text == (_best_accepted(probs, pattern) or "")
    if result.text:
        assert compile_pattern(pattern, SMALL).accepts_text(result.text, SMALL)
        assert all(0.0 <= c.confidence <= 1.0 and c.frames is not None for c in result.chars)


def test_grammar_overrules_the_frames_where_they_break_the_format() -> None:
    # frames read "1b2" clearly-ish; the grammar wants digits only, so b gives way to the digit
    # that frame found next most probable
    probs = np.array(
        [[0.05, 0.0, 0.0, 0.9, 0.05], [0.9, 0.0, 0.0, 0.05, 0.05], [0.1, 0.05, 0.6, 0.05, 0.2], [0.9, 0.0, 0.0, 0.05, 0.05], [0.05, 0.0, 0.0, 0.05, 0.9]]
    )
    assert grammar_decode(probs, SMALL, compile_pattern(r"\d+", SMALL)).text == "122"


def test_too_few_frames_for_the_grammar_give_an_empty_result() -> None:
    probs = np.full((2, SMALL.num_classes), 0.2)
    assert grammar_decode(probs, SMALL, compile_pattern(r"\d{3}", SMALL)).text == ""
