"""Scoring OCR output against labels: edit distance, text normalisation, CER/NED (label files: ``crnn_ocr.datasets``).

Scoring convention (``/work/shared/eval/README.md``): NFKC, case-folded, whitespace removed; the
equivalent CJK/ASCII punctuation (。. 、, “" ‘') unified; for scene-word sets and licence plates only
letters and digits count (Unicode letters, so hanzi stay).

Runtime dependency: numpy only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

ScoringMode = Literal["raw", "text", "alnum"]

# Sets whose labels are words or plates: only letters and digits are scored.
ALNUM_SETS = frozenset({"zh_license_plates", "en_svt_test", "en_icdar13_word", "zh_paddleocr_demo_words"})

# Applied after NFKC, which already maps the full-width forms (，：；！？（）) to ASCII.
_PUNCTUATION = str.maketrans({"。": ".", "、": ",", "“": '"', "”": '"', "‘": "'", "’": "'"})


# ---- edit distance ---------------------------------------------------------------------------


def _codes(text: str) -> np.ndarray:
    """Code points of ``text`` as an int32 vector (one element per character)."""
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int32)


def _last_dp_row(a: str, b: str, free_start_in_b: bool) -> np.ndarray:
    """Last row of the edit-distance table turning ``a`` into ``b`` (or into a substring of ``b``).

    Row i holds D[i, 0..len(b)]. The within-row insertion chain ``D[i, j] = D[i, j-1] + 1`` is
    solved without a Python loop: D[i, j] = j + min over k <= j of (t[k] - k), a cumulative minimum,
    where t is the row before insertions. So the loop runs len(a) times over numpy vectors.
    With ``free_start_in_b`` the first row is zero: ``a`` may start anywhere in ``b``.
    """
    b_codes = _codes(b)
    cols = np.arange(len(b) + 1, dtype=np.int32)
    row = np.zeros_like(cols) if free_start_in_b else cols.copy()
    for i, ch in enumerate(a, start=1):
        substitute = row[:-1] + (b_codes != ord(ch))
        delete = row[1:] + 1
        before_insert = np.empty_like(row)
        before_insert[0] = i
        np.minimum(substitute, delete, out=before_insert[1:])
        row = np.minimum.accumulate(before_insert - cols) + cols
    return row


def _strip_common_affixes(a: str, b: str) -> tuple[str, str]:
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end = 0
    while end < limit - start and a[-1 - end] == b[-1 - end]:
        end += 1
    return a[start : len(a) - end], b[start : len(b) - end]


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions, each cost 1) between two strings.

    Row-based DP over numpy vectors: O(len(a) * len(b)) work but only min(len) Python iterations,
    so page-sized strings (a few thousand characters) take milliseconds.
    """
    a, b = _strip_common_affixes(a, b)
    if len(a) > len(b):
        a, b = b, a
    if not a:
        return len(b)
    return int(_last_dp_row(a, b, free_start_in_b=False)[-1])


def substring_distance(needle: str, haystack: str) -> int:
    """Fewest edits turning ``needle`` into some substring of ``haystack`` (0 if it occurs in it)."""
    if not needle or needle in haystack:
        return 0
    return int(_last_dp_row(needle, haystack, free_start_in_b=True).min())


EditOp = tuple[Literal["=", "sub", "del", "ins"], str, str]


def align(ref: str, hyp: str) -> list[EditOp]:
    """One minimal edit script turning ``ref`` into ``hyp``, as (op, ref_char, hyp_char) steps:
    ``=`` match, ``sub`` substitution, ``del`` a reference character missing from the hypothesis,
    ``ins`` a hypothesis character not in the reference ("" on the side that has none).

    Full O(len(ref) * len(hyp)) table with a backtrace that prefers substitutions, then deletions;
    meant for line-sized strings (error analysis), not pages.
    """
    n, m = len(ref), len(hyp)
    d = np.zeros((n + 1, m + 1), dtype=np.int32)
    d[:, 0] = np.arange(n + 1)
    d[0, :] = np.arange(m + 1)
    h_codes = _codes(hyp)
    for i in range(1, n + 1):
        sub = d[i - 1, :-1] + (h_codes != ord(ref[i - 1]))
        dele = d[i - 1, 1:] + 1
        row = np.empty(m + 1, dtype=np.int32)
        row[0] = i
        row[1:] = np.minimum(sub, dele)
        cols = np.arange(m + 1, dtype=np.int32)
        d[i] = np.minimum.accumulate(row - cols) + cols  # insertions along the row
    ops: list[EditOp] = []
    i, j = n, m
    while i > 0 or j > 0:
        if i > 0 and j > 0 and d[i, j] == d[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append(("=" if ref[i - 1] == hyp[j - 1] else "sub", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i > 0 and d[i, j] == d[i - 1, j] + 1:
            ops.append(("del", ref[i - 1], ""))
            i -= 1
        else:
            ops.append(("ins", "", hyp[j - 1]))
            j -= 1
    ops.reverse()
    return ops


# ---- normalisation ---------------------------------------------------------------------------


def _is_ignorable(ch: str) -> bool:
    """Whitespace and invisible format characters (zero-width space, BOM, ...)."""
    return ch.isspace() or unicodedata.category(ch) == "Cf"


def normalize_for_scoring(text: str, mode: ScoringMode) -> str:
    """The text as it is compared: ``raw`` unchanged; ``text`` NFKC + case-folded + punctuation
    unified + whitespace removed; ``alnum`` like ``text`` keeping only letters and digits."""
    if mode == "raw":
        return text
    if mode not in ("text", "alnum"):
        raise ValueError(f"unknown scoring mode {mode!r}; expected 'raw', 'text' or 'alnum'")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    folded = folded.translate(_PUNCTUATION)
    if mode == "alnum":
        return "".join(ch for ch in folded if ch.isalnum())
    return "".join(ch for ch in folded if not _is_ignorable(ch))


def scoring_mode_for_set(set_name: str) -> ScoringMode:
    """``alnum`` for licence plates and scene-word sets, ``text`` for every other set."""
    return "alnum" if set_name in ALNUM_SETS else "text"


# ---- scores ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalScore:
    """Scores of n (reference, hypothesis) pairs, after normalisation.

    cer: total edits / total reference characters (micro-averaged).
    ned: mean over pairs of edits / max(len(ref), len(hyp)) (0 when both are empty).
    line_accuracy: fraction of pairs that match exactly.
    seconds: time spent producing the hypotheses; lines_per_s = n / seconds (0 when not timed).
    """

    n: int
    cer: float
    ned: float
    line_accuracy: float
    chars: int
    edits: int
    seconds: float
    lines_per_s: float

    @property
    def one_minus_ned(self) -> float:
        """1 - NED, the "normalised edit distance score" of ICDAR 2019 (higher is better)."""
        return 1.0 - self.ned


def normalized_edit_distance(ref: str, hyp: str) -> float:
    longest = max(len(ref), len(hyp))
    return levenshtein(ref, hyp) / longest if longest else 0.0


def score_pairs(
    refs: Sequence[str], hyps: Sequence[str], mode: ScoringMode, seconds: float = 0.0
) -> EvalScore:
    """Score hypotheses against references (same order, same length) under ``mode``."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise ValueError("no pairs to score")
    norm_refs = [normalize_for_scoring(r, mode) for r in refs]
    norm_hyps = [normalize_for_scoring(h, mode) for h in hyps]
    edits = [levenshtein(r, h) for r, h in zip(norm_refs, norm_hyps)]
    longest = [max(len(r), len(h)) for r, h in zip(norm_refs, norm_hyps)]
    n = len(refs)
    chars = sum(len(r) for r in norm_refs)
    total_edits = sum(edits)
    return EvalScore(
        n=n,
        cer=total_edits / chars if chars else float(total_edits > 0),
        ned=sum(e / m for e, m in zip(edits, longest) if m) / n,
        line_accuracy=sum(e == 0 for e in edits) / n,
        chars=chars,
        edits=total_edits,
        seconds=seconds,
        lines_per_s=n / seconds if seconds > 0 else 0.0,
    )


# ---- order-free page scoring -----------------------------------------------------------------


def order_free_edits(ref_lines: Sequence[str], hyp_lines: Sequence[str], mode: ScoringMode) -> int:
    """Page edit count that ignores reading order and line segmentation ("bag of lines" page CER).

    Lines are normalised one by one. ``missed`` sums, over reference lines, the fewest edits to find
    the line anywhere in the concatenated hypothesis; ``spurious`` does the same for hypothesis
    lines in the concatenated reference. The result is max(missed, spurious): a substitution counts
    once, a missed line counts its length, an invented line its length, while lines in another
    order, split in two or merged with a neighbour cost nothing. It is never above the in-order
    Levenshtein distance. Repeated lines are not counted twice (a line found once is found).
    Divide by the normalised reference length for a CER.
    """
    refs = [normalize_for_scoring(line, mode) for line in ref_lines]
    hyps = [normalize_for_scoring(line, mode) for line in hyp_lines]
    ref_text, hyp_text = "".join(refs), "".join(hyps)
    missed = sum(substring_distance(r, hyp_text) for r in refs)
    spurious = sum(substring_distance(h, ref_text) for h in hyps)
    return max(missed, spurious)


LINE_BREAK = "\u241e"  # joins hypothesis lines for line_recall; never in normalised text


def line_recall(
    ref_lines: Sequence[str], hyp_lines: Sequence[str], mode: ScoringMode, max_cer: float = 0.2
) -> tuple[int, int]:
    """(found, total): reference lines read somewhere on the page with a CER below ``max_cer``.

    A reference line is found when some stretch of the hypothesis page (its lines joined in the
    engine's order) is within ``max_cer * len(line)`` edits of it, exclusive. A line the engine
    merged with a neighbour is found; one it split in two is found at the cost of one edit per
    split (the line break must be deleted). Blank reference lines (after normalisation) are not
    counted. Lines are normalised one by one under ``mode``.
    """
    refs = [r for r in (normalize_for_scoring(line, mode) for line in ref_lines) if r]
    hyp_text = LINE_BREAK.join(normalize_for_scoring(line, mode) for line in hyp_lines)
    found = sum(substring_distance(r, hyp_text) < max_cer * len(r) for r in refs)
    return found, len(refs)
