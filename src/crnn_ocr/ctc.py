"""CTC decoding: per-frame class probabilities -> text with per-character confidences.

Input ``probs`` is float [T, C]: softmax probabilities of one line, T frames, C classes, class
``BLANK_INDEX`` the CTC blank. Output is a ``Recognition``.

Confidences, the same rule for both decoders:
- a character's confidence is the highest probability its own class reaches over the frames the
  character occupies. Greedy decoding reads those frames off its best path; beam decoding first
  finds the labelling, then aligns it to the frames with the CTC Viterbi alignment (the most
  probable single path that spells exactly that text) and reads them off that path. When beam
  and greedy agree on the text, the two give the same confidences.
- the line's confidence is the geometric mean of its characters' confidences (a single doubtful
  character pulls it down, many confident ones do not hide it the way an arithmetic mean would).
- for an empty result it is the geometric mean over frames of the blank probability: how sure
  the model is that there is nothing to read.

Positions, the same rule for both decoders: each character carries ``frames``, the first and last
frame (inclusive) it occupies on that same path (greedy: its run; beam: its Viterbi alignment).
The recognizer and pipeline turn them into boxes.

An allowlist/denylist arrives as ``mask`` (one bool per class, blank always kept, see
``Charset.mask``): the excluded classes' probabilities are zeroed and every frame renormalised
before decoding, so confidences are relative to the characters that may be produced.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from crnn_ocr.charset import BLANK_INDEX, Charset
from crnn_ocr.types import CharConfidence, Recognition

_NEG_INF = -np.inf
_TINY = 1e-30
_LOG_TINY = math.log(_TINY)


def apply_mask(probs: np.ndarray, mask: Sequence[bool] | np.ndarray | None) -> np.ndarray:
    """[T, C] probabilities with the classes where ``mask`` is False removed and rows renormalised.

    A frame whose whole mass was on removed classes becomes a certain blank.
    """
    if mask is None:
        return np.asarray(probs)
    probs = np.asarray(probs, dtype=np.float64)
    keep = np.asarray(mask, dtype=bool)
    if keep.shape != (probs.shape[1],):
        raise ValueError(f"mask has {keep.size} entries for {probs.shape[1]} classes")
    out = np.where(keep[None, :], probs, 0.0)
    total = out.sum(axis=1, keepdims=True)
    empty = total[:, 0] <= 0.0
    out[empty, BLANK_INDEX] = 1.0
    total[empty] = 1.0
    return out / total


def _check(probs: np.ndarray, charset: Charset) -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] != charset.num_classes:
        raise ValueError(
            f"probs must be [T, {charset.num_classes}] for this charset; got shape {probs.shape}"
        )
    return probs


def geometric_mean(values: Sequence[float] | np.ndarray) -> float:
    """exp(mean(log(v))) of confidences in 0..1 (floored at 1e-30), 0.0 for none: the confidence of
    a line (or a word) from its characters'."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return 0.0
    return float(np.exp(np.mean(np.log(np.maximum(values, _TINY)))))


def _recognition(
    labels: list[int], confidences: np.ndarray, frames: np.ndarray, probs: np.ndarray, charset: Charset
) -> Recognition:
    """Assemble the result; ``confidences`` [L] and ``frames`` [L, 2] (first, last) hold one row per
    label (frames of -1: not aligned)."""
    if not labels:
        return Recognition(text="", confidence=geometric_mean(probs[:, BLANK_INDEX]), chars=())
    chars = tuple(
        CharConfidence(charset.char(label), float(conf), (int(first), int(last)) if first >= 0 else None)
        for label, conf, (first, last) in zip(labels, confidences, frames)
    )
    return Recognition(
        text="".join(c.char for c in chars),
        confidence=geometric_mean(np.asarray(confidences, dtype=np.float64)),
        chars=chars,
    )


def greedy_decode(
    probs: np.ndarray, charset: Charset, mask: Sequence[bool] | np.ndarray | None = None
) -> Recognition:
    """Best-path decoding: argmax per frame, merge runs of the same class, drop blanks.

    A character's confidence is the largest probability over the frames of its run.
    """
    probs = apply_mask(_check(probs, charset), mask)
    if probs.shape[0] == 0:
        return Recognition(text="", confidence=0.0, chars=())
    best = probs.argmax(axis=1)  # [T]
    best_p = probs[np.arange(len(best)), best]  # [T]
    run_starts = np.flatnonzero(np.r_[True, best[1:] != best[:-1]])  # [R] first frame of each run
    run_class = best[run_starts]  # [R]
    run_conf = np.maximum.reduceat(best_p, run_starts)  # [R] max over each run's frames
    run_frames = np.stack([run_starts, np.r_[run_starts[1:], len(best)] - 1], axis=1)  # [R, 2]
    keep = run_class != BLANK_INDEX
    return _recognition(run_class[keep].tolist(), run_conf[keep], run_frames[keep], probs, charset)


# ---- beam search -------------------------------------------------------------------------------


class CharScorer(Protocol):
    """What the beam search needs from a language model (``crnn_ocr.lm.LMScorer``)."""

    weight: float  # multiplies the LM's log-probabilities
    length_bonus: float  # added per character read

    def context(self, previous: tuple[int, ...], label: int) -> tuple[int, ...]:
        """The LM state after ``previous`` (a state, () at the line start) reads class ``label``."""
        ...

    def log_probs(self, states: Sequence[tuple[int, ...]], labels: Sequence[int]) -> np.ndarray:
        """Natural-log P(label | state) [Q]; label ``BLANK_INDEX`` scores the end of the line."""
        ...


class _Beam:
    """One prefix: best path log-probability ending in a blank (``pb``) or in its last character
    (``pnb``), and its language-model score (weighted log P plus length bonus) and state."""

    __slots__ = ("pb", "pnb", "lm", "state")

    def __init__(self, pb: float, pnb: float, lm: float, state: tuple[int, ...]) -> None:
        self.pb, self.pnb, self.lm, self.state = pb, pnb, lm, state

    def score(self) -> float:
        return max(self.pb, self.pnb) + self.lm


def beam_decode(
    probs: np.ndarray,
    charset: Charset,
    beam_width: int = 8,
    mask: Sequence[bool] | np.ndarray | None = None,
    top_k: int | None = None,
    min_prob: float = 1e-3,
    lm: CharScorer | None = None,
) -> Recognition:
    """CTC prefix beam search for the best path, with shallow fusion of a language model ``lm``.

    A prefix's score is the log-probability of its best single path (Viterbi, ``max`` where
    paths merge), plus ``lm.weight`` * log P_LM(prefix) + ``lm.length_bonus`` * len(prefix), and
    at the end of the line the LM's end-of-line probability. Each prefix keeps two path scores:
    paths ending in a blank (``pb``) and in its last character (``pnb``); extending with the
    prefix's own last character only continues ``pnb`` unless a blank separated them (``pb``).

    Best path, not the sum over paths: summing the many improbable alignments of a stretch where
    the model hesitates (blank at 0.55, the rest spread thin, as after the end of a line) makes a
    character appear that no frame reads (``Offline OCR on the CPU  _``). Without ``lm`` the
    search therefore returns exactly the greedy text (the greedy path is the best partial path at
    every frame, so it is never pruned); the LM is what lets it read something else.

    New characters are tried only among the ``top_k`` most probable classes of a frame (default
    ``max(beam_width, 8)``) that reach ``min_prob``, plus the frame's best class; frames where no
    character is proposed (nearly all blank) only extend the prefixes already there.
    Confidences come from the Viterbi alignment of the result (see the module docstring).
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1; got {beam_width}")
    probs = apply_mask(_check(probs, charset), mask)
    n_frames, n_classes = probs.shape
    if n_frames == 0:
        return Recognition(text="", confidence=0.0, chars=())
    k = min(n_classes, top_k if top_k is not None else max(beam_width, 8))
    proposals = _proposals(probs, k, min_prob)  # [T] lists of classes
    blank_logp = np.log(np.maximum(probs[:, BLANK_INDEX], _TINY)).tolist()  # [T]
    cache: dict[tuple[tuple[int, ...], int], float] = {}

    beams: dict[tuple[int, ...], _Beam] = {(): _Beam(0.0, _NEG_INF, 0.0, ())}
    for t in range(n_frames):
        row = probs[t]
        lp_blank = blank_logp[t]
        new_chars = proposals[t]
        if not new_chars:  # blank or stay on the last character: no prefix changes
            for prefix, beam in beams.items():
                stay = beam.pnb + _log(row[prefix[-1]]) if prefix else _NEG_INF
                beam.pb, beam.pnb = max(beam.pb, beam.pnb) + lp_blank, stay
            continue
        if lm is not None:
            _score_extensions(lm, beams, new_chars, cache)
        char_logp = [_log(row[c]) for c in new_chars]
        nxt: dict[tuple[int, ...], _Beam] = {}
        for prefix, beam in beams.items():
            total = max(beam.pb, beam.pnb)
            stay = beam.pnb + _log(row[prefix[-1]]) if prefix else _NEG_INF
            _merge(nxt, prefix, total + lp_blank, stay, beam.lm, beam.state)
            for c, lc in zip(new_chars, char_logp):
                source = beam.pb if prefix and c == prefix[-1] else total  # a repeat needs a blank between
                if source == _NEG_INF:
                    continue
                if lm is None:
                    lm_score, state = 0.0, ()
                else:
                    lm_score = beam.lm + lm.weight * cache[(beam.state, c)] + lm.length_bonus
                    state = lm.context(beam.state, c)
                _merge(nxt, prefix + (c,), _NEG_INF, source + lc, lm_score, state)
        beams = dict(heapq.nlargest(beam_width, nxt.items(), key=lambda item: item[1].score()))

    if lm is not None:  # the end of the line, scored by the LM
        ends = lm.log_probs([b.state for b in beams.values()], [BLANK_INDEX] * len(beams))
        for beam, end in zip(beams.values(), ends):
            beam.lm += lm.weight * float(end)
    labels = list(max(beams.items(), key=lambda item: item[1].score())[0])
    confidences, frames = viterbi_alignment(probs, labels)
    return _recognition(labels, confidences, frames, probs, charset)


def _log(p: float) -> float:
    return math.log(p) if p > _TINY else _LOG_TINY


def _proposals(probs: np.ndarray, k: int, min_prob: float) -> list[list[int]]:
    """Per frame, the characters a beam may start there: classes other than the blank reaching
    ``min_prob`` (at most the ``k`` most probable), plus the frame's best class."""
    best = probs.argmax(axis=1)  # [T]
    frames, classes = np.nonzero(probs >= max(min_prob, np.finfo(np.float32).tiny))
    out: list[list[int]] = [[] for _ in range(probs.shape[0])]
    for t, c in zip(frames.tolist(), classes.tolist()):
        if c != BLANK_INDEX:
            out[t].append(c)
    for t, chars in enumerate(out):
        if len(chars) > k:
            chars.sort(key=lambda c, t=t: -probs[t, c])
            del chars[k:]
        b = int(best[t])
        if b != BLANK_INDEX and b not in chars and probs[t, b] > 0.0:
            chars.append(b)
    return out


_Prefix = tuple[int, ...]


def _score_extensions(
    lm: CharScorer, beams: dict[_Prefix, _Beam], chars: list[int], cache: dict[tuple[_Prefix, int], float]
) -> None:
    """Fill ``cache`` with the LM log-probability of each beam's state followed by each char."""
    missing = [(b.state, c) for b in beams.values() for c in chars if (b.state, c) not in cache]
    if missing:
        scores = lm.log_probs([s for s, _ in missing], [c for _, c in missing])
        cache.update(zip(missing, scores.tolist()))


def _merge(beams: dict[_Prefix, _Beam], prefix: _Prefix, pb: float, pnb: float, lm: float, state: _Prefix) -> None:
    """Paths that reach ``prefix`` at this frame: keep the best of each kind (Viterbi)."""
    cur = beams.get(prefix)
    if cur is None:
        beams[prefix] = _Beam(pb, pnb, lm, state)
    else:
        cur.pb = max(cur.pb, pb)
        cur.pnb = max(cur.pnb, pnb)


def alignment_confidences(probs: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """Per-label confidence from the CTC Viterbi alignment of ``labels`` to ``probs`` [T, C]."""
    return viterbi_alignment(probs, labels)[0]


def viterbi_alignment(probs: np.ndarray, labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-label confidence [L] and frame span [L, 2] (first, last) on the CTC Viterbi alignment of
    ``labels`` to ``probs`` [T, C]. Without a valid path: confidences 0 and spans -1.

    The extended sequence is blank, l1, blank, l2, ..., blank (S = 2L + 1 states). The best path
    is found with a [T, S] dynamic programme (loop over frames, vectorised over states), then for
    each label the maximum of its class probability over the frames aligned to it is taken.
    """
    n_labels = len(labels)
    spans = np.full((n_labels, 2), -1, dtype=np.int64)
    if n_labels == 0:
        return np.zeros(0), spans
    n_frames = probs.shape[0]
    ext = np.full(2 * n_labels + 1, BLANK_INDEX, dtype=np.int64)
    ext[1::2] = labels
    n_states = ext.size
    logp = np.log(np.maximum(probs[:, ext], _TINY))  # [T, S]
    # A state may be entered from s - 2 when it is a label different from the label two back.
    skip = np.zeros(n_states, dtype=bool)
    skip[3::2] = ext[3::2] != ext[1:-2:2]

    score = np.full(n_states, _NEG_INF)
    score[0] = logp[0, 0]
    if n_states > 1:
        score[1] = logp[0, 1]
    back = np.zeros((n_frames, n_states), dtype=np.int8)  # 0: stay, 1: from s-1, 2: from s-2
    choices = np.full((3, n_states), _NEG_INF)  # [3, S]: stay, step, jump
    for t in range(1, n_frames):
        choices[0] = score
        choices[1, 1:] = score[:-1]
        choices[2, 2:] = np.where(skip[2:], score[:-2], _NEG_INF)
        back[t] = choices.argmax(axis=0)
        score = choices.max(axis=0) + logp[t]

    # The path ends in the last label or the final blank; too few frames: no valid path.
    ends = [n_states - 1] + ([n_states - 2] if n_states > 1 else [])
    state = max(ends, key=lambda s: score[s])
    confidences = np.zeros(n_labels)
    if score[state] == _NEG_INF:
        return confidences, spans
    for t in range(n_frames - 1, -1, -1):
        if state % 2 == 1:
            i = state // 2
            confidences[i] = max(confidences[i], probs[t, ext[state]])
            spans[i, 0] = t  # walking backwards: the last visit is the first frame
            if spans[i, 1] < 0:
                spans[i, 1] = t
        state -= int(back[t, state])
    return confidences, spans
