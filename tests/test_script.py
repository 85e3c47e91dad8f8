"""The page-script rule (crnn_ocr.script): on Latin pages, unsure CJK characters are read again
without CJK; confident ones, Chinese pages and single crops are left alone."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from crnn_ocr.charset import BLANK_INDEX, Charset
from crnn_ocr.recognize import Recognizer
from crnn_ocr.script import is_cjk, latin_page, without_cjk
from crnn_ocr.types import CharConfidence, DecodeOptions, Recognition

CHARS = tuple("abcdefghijklmnopqrstuvwxyzMB:") + ("沪", "：", "中", "文")
CHARSET = Charset(CHARS)


def _rec(text: str, conf: float = 0.99) -> Recognition:
    return Recognition(text, conf, tuple(CharConfidence(c, conf, None) for c in text))


def test_is_cjk_leaves_full_width_ascii_out() -> None:
    assert is_cjk("沪") and is_cjk("。") and is_cjk("【")
    assert not is_cjk("：") and not is_cjk("５") and not is_cjk("M") and not is_cjk("é")


@pytest.mark.parametrize(
    ("texts", "latin"),
    [
        (["the quick brown fox", "jumps over"], True),  # 25 letters, no CJK
        (["the quick brown fox", "jumps over 沪"], True),  # 1 of 26: under 5 %
        (["the quick brown", "沪沪"], False),  # 2 of 15
        (["short words"], False),  # 10 letters: too few to judge
        (["中文中文中文中文", "abc"], False),
        (["1234567890 1234567890 12345"], False),  # digits are no script
    ],
)
def test_latin_page(texts: list[str], latin: bool) -> None:
    assert latin_page([_rec(t) for t in texts]) is latin


def test_without_cjk_keeps_the_blank_and_the_user_mask() -> None:
    keep = without_cjk(CHARSET, None)
    assert keep[BLANK_INDEX]
    assert [c for i, c in enumerate(CHARS, 1) if not keep[i]] == ["沪", "中", "文"]
    user = np.ones(CHARSET.num_classes, bool)
    user[CHARS.index("M") + 1] = False
    assert not without_cjk(CHARSET, user)[CHARS.index("M") + 1]


def _frames(*columns: dict[str, float]) -> np.ndarray:
    """[T, C] probabilities, one frame per dict (the rest of each frame's mass on the blank)."""
    out = np.zeros((len(columns), CHARSET.num_classes))
    for t, col in enumerate(columns):
        for ch, p in col.items():
            out[t, CHARS.index(ch) + 1] = p
        out[t, BLANK_INDEX] = 1.0 - sum(col.values())
    return out


def _word(text: str) -> list[dict[str, float]]:
    cols: list[dict[str, float]] = []
    for ch in text:
        cols += [{ch: 0.97}, {}]
    return cols


class _FixedRecognizer(Recognizer):
    """A Recognizer whose network output is given: one [T, C] array per crop."""

    def __init__(self, outputs: list[np.ndarray]) -> None:
        spec = SimpleNamespace(width_stride=4, input_height=32, min_width=16, max_train_width=None, charset=CHARSET)
        super().__init__(SimpleNamespace(spec=spec))  # type: ignore[arg-type]
        self._outputs = outputs

    def probabilities(self, crops):  # noqa: ANN001, ANN201
        return self._outputs


# "沪" read with 0.6 where the image most likely shows "M" (0.35): a plate-like misread.
UNSURE = _frames({"沪": 0.6, "M": 0.35}, {}, {"B": 0.97}, {}, {"：": 0.9}, {})
SURE = _frames({"中": 0.98}, {}, {"文": 0.97}, {})
ENGLISH = _frames(*_word("thequickbrownfoxjumpsoverthelazydog"))
CROPS = [np.full((32, 64), 255, np.uint8)] * 4
FOX = "thequickbrownfoxjumpsoverthelazydog"


def test_latin_page_rereads_unsure_cjk_and_keeps_sure_cjk() -> None:
    # 71 Latin letters and 3 CJK characters (4 %): a Latin page.
    rec = _FixedRecognizer([ENGLISH, ENGLISH, UNSURE, SURE])
    texts = [r.text for r in rec.recognize_page(CROPS)]
    assert texts == [FOX, FOX, "MB：", "中文"]
    # Off: as read.
    off = rec.recognize_page(CROPS, DecodeOptions(page_script=False))
    assert [r.text for r in off] == [FOX, FOX, "沪B：", "中文"]
    # Single crops (recognize, not recognize_page) are never changed.
    assert [r.text for r in rec.recognize(CROPS)] == [r.text for r in off]


def test_chinese_page_is_left_alone() -> None:
    rec = _FixedRecognizer([ENGLISH, UNSURE, SURE, SURE])  # 6 of 42 characters CJK: not Latin
    assert [r.text for r in rec.recognize_page(CROPS)] == [FOX, "沪B：", "中文", "中文"]


def test_page_rule_respects_the_users_denylist() -> None:
    rec = _FixedRecognizer([ENGLISH, UNSURE])
    out = rec.recognize_page(CROPS[:2], DecodeOptions(denylist="B"))
    assert out[0].text == FOX
    assert out[1].text == "M："  # the re-read drops 沪 and still never reads the denied B
