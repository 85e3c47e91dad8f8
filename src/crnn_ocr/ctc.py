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

import math
from collections.abc import Sequence

import numpy as np

from crnn_ocr.charset import BLANK_INDEX, Charset
from crnn_ocr.types import CharConfidence, Recognition

_NEG_INF = -np.inf
_TINY = 1e-30


def apply_mask(probs: np.ndarray, mask: Sequence[bool] | np.ndarray | None) -> np.ndarray:
    """[T, C] probabilities with the classes where ``mask`` is False removed and rows renormalised.

    A frame whose whole mass was on removed classes becomes a certain blank.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if mask is None:
        return probs
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


def _geometric_mean(values: np.ndarray) -> float:
    if values.size == 0:
        return 0.0
    return float(np.exp(np.mean(np.log(np.maximum(values, _TINY)))))


def _recognition(
    labels: list[int], confidences: np.ndarray, frames: np.ndarray, probs: np.ndarray, charset: Charset
) -> Recognition:
    """Assemble the result; ``confidences`` [L] and ``frames`` [L, 2] (first, last) hold one row per
    label (frames of -1: not aligned)."""
    if not labels:
        return Recognition(text="", confidence=_geometric_mean(probs[:, BLANK_INDEX]), chars=())
    chars = tuple(
        CharConfidence(charset.char(label), float(conf), (int(first), int(last)) if first >= 0 else None)
        for label, conf, (first, last) in zip(labels, confidences, frames)
    )
    return Recognition(
        text="".join(c.char for c in chars),
        confidence=_geometric_mean(np.asarray(confidences, dtype=np.float64)),
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


def _logsumexp2(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    if a > b:
        return a + math.log1p(math.exp(b - a))
    return b + math.log1p(math.exp(a - b))


def _add(beams: dict[tuple[int, ...], list[float]], prefix: tuple[int, ...], pb: float, pnb: float) -> None:
    """Accumulate path probabilities (log space) that reach ``prefix`` at this frame."""
    cur = beams.get(prefix)
    if cur is None:
        beams[prefix] = [pb, pnb]
    else:
        cur[0] = _logsumexp2(cur[0], pb)
        cur[1] = _logsumexp2(cur[1], pnb)


def beam_decode(
    probs: np.ndarray,
    charset: Charset,
    beam_width: int = 8,
    mask: Sequence[bool] | np.ndarray | None = None,
    top_k: int | None = None,
    min_prob: float = 1e-3,
) -> Recognition:
    """CTC prefix beam search in log space; returns the most probable labelling found.

    Each prefix keeps two log-probabilities: paths ending in a blank (``pb``) and paths ending in
    its last character (``pnb``). Extending with the prefix's own last character only continues
    ``pnb`` unless a blank separated them (``pb``), so "aa" needs "a-a" while "a a" frames collapse
    to "a". New characters are tried only among the ``top_k`` most probable classes of each frame
    (default ``max(beam_width, 8)``) and only when at least ``min_prob`` likely (nearly every
    frame of a confident model then proposes one or two); blank and "repeat last character"
    always use the full row.
    Confidences come from the Viterbi alignment of the result (see the module docstring).
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1; got {beam_width}")
    probs = apply_mask(_check(probs, charset), mask)
    n_frames, n_classes = probs.shape
    if n_frames == 0:
        return Recognition(text="", confidence=0.0, chars=())
    k = min(n_classes, top_k if top_k is not None else max(beam_width, 8))
    logp = np.log(np.maximum(probs, _TINY))  # [T, C]
    candidates = np.argpartition(-probs, k - 1, axis=1)[:, :k]  # [T, k] most probable classes, unordered
    proposable = probs >= max(min_prob, np.finfo(np.float64).tiny)  # masked-out classes never are

    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, _NEG_INF)}
    for t in range(n_frames):
        lp = logp[t]
        lp_blank = float(lp[BLANK_INDEX])
        nxt: dict[tuple[int, ...], list[float]] = {}
        new_chars = [int(c) for c in candidates[t] if c != BLANK_INDEX and proposable[t, c]]
        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp2(pb, pnb)
            _add(nxt, prefix, total + lp_blank, _NEG_INF)  # emit blank
            if prefix:  # stay on the last character: collapses into the same prefix
                _add(nxt, prefix, _NEG_INF, pnb + float(lp[prefix[-1]]))
            for c in new_chars:
                lc = float(lp[c])
                if prefix and c == prefix[-1]:
                    _add(nxt, prefix + (c,), _NEG_INF, pb + lc)  # a repeat needs a blank in between
                else:
                    _add(nxt, prefix + (c,), _NEG_INF, total + lc)
        ranked = sorted(nxt.items(), key=lambda item: _logsumexp2(*item[1]), reverse=True)
        beams = {prefix: (v[0], v[1]) for prefix, v in ranked[:beam_width]}

    best = max(beams.items(), key=lambda item: _logsumexp2(*item[1]))[0]
    labels = list(best)
    confidences, frames = viterbi_alignment(probs, labels)
    return _recognition(labels, confidences, frames, probs, charset)


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
    for t in range(1, n_frames):
        stay = score
        step = np.r_[_NEG_INF, score[:-1]]
        jump = np.where(skip, np.r_[_NEG_INF, _NEG_INF, score[:-2]], _NEG_INF)
        choices = np.stack([stay, step, jump])  # [3, S]
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
