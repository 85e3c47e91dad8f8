"""CTC decoding on hand-made probability matrices."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crnn_ocr.charset import BLANK_INDEX, Charset
from crnn_ocr.ctc import alignment_confidences, apply_mask, beam_decode, geometric_mean, greedy_decode

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
CS = Charset(("a", "b", "c"))  # classes: 0 blank, 1 a, 2 b, 3 c


def frames(spec: str, p: float = 0.9) -> np.ndarray:
    """One frame per symbol of ``spec`` ('-' = blank): ``p`` on that class, the rest spread evenly."""
    out = np.full((len(spec), CS.num_classes), (1.0 - p) / (CS.num_classes - 1))
    for t, sym in enumerate(spec):
        out[t, BLANK_INDEX if sym == "-" else CS.index(sym)] = p
    return out


def rows(*values: list[float]) -> np.ndarray:
    """Frames given explicitly as [blank, a, b, c] probabilities."""
    return np.array(values, dtype=np.float64)


COLLAPSE_CASES = [
    ("a", "a"),
    ("aa", "a"),  # a repeat without a blank collapses
    ("a-a", "aa"),  # a blank between repeats keeps both
    ("aaa--aa", "aa"),
    ("--", ""),
    ("-a-bc-", "abc"),
    ("ab-b", "abb"),
    ("abcabc", "abcabc"),
    ("c--------c", "cc"),
]


@pytest.mark.parametrize(("spec", "text"), COLLAPSE_CASES)
def test_greedy_collapses_runs_and_blanks(spec: str, text: str) -> None:
    assert greedy_decode(frames(spec), CS).text == text


@pytest.mark.parametrize(("spec", "text"), COLLAPSE_CASES)
@pytest.mark.parametrize("beam_width", [1, 3, 8])
def test_beam_agrees_with_greedy_on_clear_input(spec: str, text: str, beam_width: int) -> None:
    assert beam_decode(frames(spec), CS, beam_width=beam_width).text == text


@pytest.mark.parametrize("decode", [greedy_decode, beam_decode])
def test_no_frames_gives_empty_text_with_zero_confidence(decode) -> None:
    result = decode(np.zeros((0, CS.num_classes)), CS)
    assert (result.text, result.confidence, result.chars) == ("", 0.0, ())


def test_greedy_char_confidence_is_max_over_its_run_and_line_is_geometric_mean() -> None:
    probs = rows(
        [0.1, 0.6, 0.2, 0.1],  # a 0.6
        [0.1, 0.9, 0.0, 0.0],  # a 0.9  (same run)
        [0.8, 0.1, 0.1, 0.0],  # blank
        [0.3, 0.0, 0.4, 0.3],  # b 0.4
    )
    result = greedy_decode(probs, CS)
    assert result.text == "ab"
    assert [c.char for c in result.chars] == ["a", "b"]
    assert [c.confidence for c in result.chars] == pytest.approx([0.9, 0.4])
    assert result.confidence == pytest.approx(np.sqrt(0.9 * 0.4))


@pytest.mark.parametrize("decode", [greedy_decode, beam_decode])
def test_empty_result_confidence_comes_from_blank_probabilities(decode) -> None:
    probs = rows([0.8, 0.1, 0.05, 0.05], [0.5, 0.2, 0.2, 0.1])
    result = decode(probs, CS)
    assert result.text == ""
    assert result.confidence == pytest.approx(np.sqrt(0.8 * 0.5))


def test_beam_does_not_invent_a_character_from_diffuse_frames() -> None:
    # The tail bug: summed over paths, "a" (a-, -a, aa: 0.64) beats "" (0.36) although no frame
    # reads an "a". The beam scores best paths, so it reads what greedy reads.
    probs = rows([0.6, 0.4, 0.0, 0.0], [0.6, 0.4, 0.0, 0.0])
    assert greedy_decode(probs, CS).text == ""
    assert beam_decode(probs, CS, beam_width=4).text == ""


def test_beam_merges_paths_through_repeats_and_blanks() -> None:
    # Best path "a a a" reads "a"; "aa" needs a blank between the a's and is less likely here,
    # but "ab"-like splits must not be invented. Prefix merging keeps "a" on top.
    probs = rows([0.3, 0.7, 0.0, 0.0], [0.45, 0.55, 0.0, 0.0], [0.3, 0.7, 0.0, 0.0])
    assert beam_decode(probs, CS, beam_width=8).text == greedy_decode(probs, CS).text == "a"


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("beam_width", [1, 4, 16])
def test_beam_without_lm_reads_exactly_the_greedy_text(seed: int, beam_width: int) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(CS.num_classes, 0.3), size=20)
    assert beam_decode(probs, CS, beam_width=beam_width).text == greedy_decode(probs, CS).text


class _ToyLM:
    """A CharScorer that likes one word: log P = 0 on its next character, -5 elsewhere."""

    def __init__(self, word: list[int], weight: float = 1.0, length_bonus: float = 0.0) -> None:
        self.word, self.weight, self.length_bonus = word, weight, length_bonus

    def context(self, previous: tuple[int, ...], label: int) -> tuple[int, ...]:
        return (*previous, label)

    def log_probs(self, states, labels) -> np.ndarray:
        out = []
        for state, label in zip(states, labels):
            want = self.word[len(state)] if len(state) < len(self.word) else BLANK_INDEX
            out.append(0.0 if label == want else -5.0)
        return np.array(out)


def test_lm_fusion_prefers_the_text_the_lm_likes_when_the_frames_hesitate() -> None:
    # frame 2 hesitates between b (0.5) and c (0.4); the LM knows "ac"
    probs = rows([0.05, 0.9, 0.05, 0.0], [0.9, 0.05, 0.05, 0.0], [0.1, 0.0, 0.5, 0.4])
    assert beam_decode(probs, CS, beam_width=4).text == "ab"
    assert beam_decode(probs, CS, beam_width=4, lm=_ToyLM([1, 3])).text == "ac"
    # a clear frame is not overruled by a weak LM
    assert beam_decode(probs, CS, beam_width=4, lm=_ToyLM([1, 3], weight=0.01)).text == "ab"


def test_beam_tail_on_the_sample_line_matches_greedy(shipped_ocr) -> None:
    """``crnn-ocr read --no-detect --beam 8 samples/line_en.png`` once printed a trailing "  _"."""
    from crnn_ocr.types import DecodeOptions, OCROptions

    greedy = shipped_ocr(SAMPLES / "line_en.png", OCROptions(detect=False, decode=DecodeOptions(method="greedy"))).text
    for width, lm in ((2, False), (4, False), (8, False), (8, True)):
        options = OCROptions(detect=False, decode=DecodeOptions(method="beam", beam_width=width, lm=lm))
        assert shipped_ocr(SAMPLES / "line_en.png", options).text == greedy == "Offline OCR on the CPU"


def test_beam_confidences_equal_greedy_when_texts_agree() -> None:
    rng = np.random.default_rng(100)
    agreed = 0
    for _ in range(60):
        probs = rng.dirichlet(np.full(CS.num_classes, 0.2), size=12)
        greedy, beam = greedy_decode(probs, CS), beam_decode(probs, CS, beam_width=8)
        if greedy.text == beam.text:  # then the Viterbi alignment is the greedy path
            agreed += 1
            assert [c.confidence for c in beam.chars] == pytest.approx([c.confidence for c in greedy.chars])
            assert beam.confidence == pytest.approx(greedy.confidence)
    assert agreed >= 20


@pytest.mark.parametrize(
    ("allow", "deny", "text", "conf"),
    [
        (None, None, "b", 0.6),
        ("a", None, "a", 0.75),  # [0.1, 0.3, -, -] renormalised: a = 0.3 / 0.4
        (None, "b", "a", 0.75),
        ("ab", "b", "a", 0.75),
        ("c", None, "", 1.0),  # only blank mass left
    ],
)
@pytest.mark.parametrize("decode", [greedy_decode, beam_decode])
def test_allowlist_and_denylist_mask_and_renormalise(allow, deny, text, conf, decode) -> None:
    probs = rows([0.1, 0.3, 0.6, 0.0])
    result = decode(probs, CS, mask=CS.mask(allow, deny))
    assert result.text == text
    assert result.confidence == pytest.approx(conf)


def test_apply_mask_turns_a_fully_masked_frame_into_blank() -> None:
    probs = rows([0.0, 0.0, 1.0, 0.0], [0.2, 0.4, 0.4, 0.0])
    masked = apply_mask(probs, [True, True, False, True])
    np.testing.assert_allclose(masked, [[1.0, 0.0, 0.0, 0.0], [1 / 3, 2 / 3, 0.0, 0.0]])


def test_masked_class_is_never_produced_even_when_beam_could_choose_it() -> None:
    probs = frames("-b-b-a")
    for decode in (greedy_decode, beam_decode):
        assert "b" not in decode(probs, CS, mask=CS.mask(deny="b")).text


@pytest.mark.parametrize("decode", [greedy_decode, beam_decode])
def test_wrong_class_count_is_rejected(decode) -> None:
    with pytest.raises(ValueError, match=r"\[T, 4\]"):
        decode(np.ones((3, 5)) / 5, CS)


def test_beam_width_must_be_positive() -> None:
    with pytest.raises(ValueError, match="beam_width"):
        beam_decode(frames("a"), CS, beam_width=0)


@pytest.mark.parametrize(
    ("spec", "labels", "expected"),
    [
        ("aa-b", [1, 2], [0.9, 0.9]),
        ("a-a", [1, 1], [0.9, 0.9]),
        ("---", [1], [0.1 / 3]),  # forced to place an "a" somewhere: its best frame
    ],
)
def test_alignment_confidences(spec: str, labels: list[int], expected: list[float]) -> None:
    np.testing.assert_allclose(alignment_confidences(frames(spec), labels), expected)


def test_alignment_without_enough_frames_gives_zero() -> None:
    # "aa" needs three frames (a, blank, a); two cannot spell it.
    np.testing.assert_allclose(alignment_confidences(frames("aa"), [1, 1]), [0.0, 0.0])


def test_cli_beam_prints_what_greedy_prints(shipped_model, capsys) -> None:
    """The issue's own command: ``crnn-ocr read --no-detect --beam 8 samples/line_en.png``."""
    from crnn_ocr.cli import main

    outputs = []
    for flags in (["--greedy"], ["--beam", "8"], ["--beam", "8", "--no-lm"], ["--beam", "4", "--no-lm"], ["--beam", "2", "--no-lm"]):
        assert main(["read", "--no-detect", "--threads", "1", *flags, str(SAMPLES / "line_en.png")]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs == ["Offline OCR on the CPU\n"] * len(outputs)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], 0.0),  # nothing to average: no confidence
        ([0.5], 0.5),
        ([1.0, 0.25], 0.5),
        (np.array([0.9, 0.9, 0.9]), 0.9),  # arrays (ctc) and lists (layout's words) alike
        ([1.0, 0.0], 1e-15),  # a zero is floored at 1e-30, so one doubtful character drags it down
    ],
)
def test_geometric_mean_table(values, expected: float) -> None:
    assert geometric_mean(values) == pytest.approx(expected, rel=1e-9)
