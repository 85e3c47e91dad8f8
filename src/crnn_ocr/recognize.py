"""Recognizer: line crops -> Recognitions, batching crops and chunking long lines.

Per crop:  uint8 HxW / HxWx3 BGR / HxWx4 BGRA
        -> grey uint8 [H', W']        H' = model height, aspect kept (``fit_to_height``),
                                      width rounded, padded up to a multiple of the stride
        -> pieces of at most ``max_width`` px overlapping by ``overlap`` px (long lines only)
        -> batches of similar widths, right-padded per crop with ``pad_value`` of that crop
        -> engine -> probabilities [N, T, C] -> each crop's frames [T_i, C]
        -> pieces merged at frame level -> CTC decoding -> Recognition

Decoding (``DecodeOptions``): greedy; beam search, fused with the character language model when
one is given (``crnn_ocr.lm``); or, with a ``pattern``, the best path a field grammar accepts
(``crnn_ocr.grammar``).

The training side imports ``pad_value`` and ``fit_to_height`` so that both sides prepare lines
the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from crnn_ocr.ctc import beam_decode, greedy_decode
from crnn_ocr.errors import EmptyImageError, OptionsError, UnsupportedImageError
from crnn_ocr.grammar import Grammar, compile_pattern, grammar_decode
from crnn_ocr.lm import CharLM, LMScorer
from crnn_ocr.preprocess import resize_to_height, to_gray
from crnn_ocr.script import latin_page, unsure_cjk, without_cjk
from crnn_ocr.types import DecodeOptions, Recognition

if TYPE_CHECKING:
    from crnn_ocr.engine import ModelSpec, OnnxEngine

#: Default widest piece fed to the model, in model-height units (640 px at height 32),
#: used when the model does not state its widest training line (``max_train_width``).
DEFAULT_MAX_WIDTH_PER_HEIGHT = 20
#: Default overlap between neighbouring pieces of a long line, in model-height units (64 px at 32).
DEFAULT_OVERLAP_PER_HEIGHT = 2


def pad_value(gray: np.ndarray) -> int:
    """Background grey of a line crop: the median of its 1-pixel border frame, rounded (uint8 HxW).

    Crops 1 or 2 pixels high or wide are all border. Used to right-pad crops in a batch (here and
    in training), so light-on-dark crops are padded dark and dark-on-light crops light.
    """
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"pad_value needs a non-empty HxW array; got shape {gray.shape}")
    if min(gray.shape) <= 2:
        border = gray.ravel()
    else:
        border = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    return int(np.rint(np.median(border)))


def check_crop(crop: np.ndarray) -> np.ndarray:
    """``crop`` itself when the recognizer can read it (uint8 HxW, HxWx1, HxWx3 BGR or HxWx4 BGRA,
    with pixels); otherwise an EmptyImageError or UnsupportedImageError naming what is wrong."""
    if crop.size == 0:
        raise EmptyImageError(f"line crop of shape {crop.shape} has no pixels")
    if crop.dtype != np.uint8:
        raise UnsupportedImageError(f"line crop must be uint8; got {crop.dtype}")
    if crop.ndim == 2 or (crop.ndim == 3 and crop.shape[2] in (1, 3, 4)):
        return crop
    raise UnsupportedImageError(f"line crop of shape {crop.shape}: expected HxW, HxWx3 or HxWx4")


def fit_to_height(gray: np.ndarray, height: int, min_width: int, stride: int = 1) -> np.ndarray:
    """Resize a grey line to ``height`` rows keeping its aspect (``resize_to_height``: width
    rounded, area averaging to shrink, bicubic to enlarge), then right-pad it with ``pad_value`` of
    the resized line to at least ``min_width`` and to a multiple of ``stride``."""
    if gray.shape[0] != height:
        gray = resize_to_height(gray, height)
    width = gray.shape[1]
    target = -(-max(width, min_width) // stride) * stride
    if target > width:
        gray = cv2.copyMakeBorder(gray, 0, 0, 0, target - width, cv2.BORDER_CONSTANT, value=pad_value(gray))
    return np.ascontiguousarray(gray)


def piece_starts(n_frames: int, max_frames: int, overlap_frames: int) -> list[int]:
    """First frame of each piece covering ``n_frames`` with pieces of ``max_frames`` frames.

    Neighbours overlap by at least ``overlap_frames``; the last piece ends at the line's end.
    """
    if n_frames <= max_frames:
        return [0]
    step = max_frames - overlap_frames
    return [*range(0, n_frames - max_frames, step), n_frames - max_frames]


def merge_pieces(pieces: Sequence[np.ndarray], starts: Sequence[int]) -> np.ndarray:
    """Join the frames [T_i, C] of overlapping pieces into the line's frames [T, C].

    In each overlap, the left piece keeps the first half and the right piece the second half, so
    each piece loses the frames nearest its cut edge, where it saw the least context.
    """
    if len(pieces) == 1:
        return pieces[0]
    parts = []
    cut = 0  # first line frame not yet taken
    for i, (frames, start) in enumerate(zip(pieces, starts)):
        end = start + len(frames)
        next_cut = end if i == len(pieces) - 1 else (starts[i + 1] + end) // 2
        parts.append(frames[cut - start : next_cut - start])
        cut = next_cut
    return np.concatenate(parts, axis=0)


@dataclass(frozen=True)
class _Piece:
    """A slice of one prepared line: ``image`` [H, w] grey, its line and first frame."""

    line: int
    start_frame: int
    image: np.ndarray
    background: int


@dataclass(frozen=True)
class _DecodePlan:
    """What ``DecodeOptions`` mean for this model: the class mask (None: all) and the grammar."""

    mask: np.ndarray | None
    grammar: Grammar | None


class Recognizer:
    """Reads text lines with an ``OnnxEngine``; stateless between calls, safe to share.

    ``lm``: the character language model beam search fuses (``DecodeOptions.lm``); None: none.
    """

    def __init__(
        self,
        engine: OnnxEngine,
        batch_size: int = 16,
        max_width: int | None = None,
        overlap: int | None = None,
        lm: CharLM | LMScorer | None = None,
    ) -> None:
        spec = engine.spec
        stride, height = spec.width_stride, spec.input_height
        max_width = max_width or spec.max_train_width or DEFAULT_MAX_WIDTH_PER_HEIGHT * height
        overlap = DEFAULT_OVERLAP_PER_HEIGHT * height if overlap is None else overlap
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1; got {batch_size}")
        if max_width < max(spec.min_width, 2 * stride) or not 0 <= 2 * overlap < max_width:
            raise ValueError(
                f"need max_width >= {max(spec.min_width, 2 * stride)} and 0 <= overlap < max_width / 2; "
                f"got max_width={max_width}, overlap={overlap}"
            )
        self.engine = engine
        self.lm = LMScorer.for_charset(lm, spec.charset) if isinstance(lm, CharLM) else lm
        self.batch_size = batch_size
        self.max_frames = max_width // stride  # widest piece, in frames
        self.overlap_frames = -(-overlap // stride)

    @property
    def spec(self) -> ModelSpec:
        return self.engine.spec

    def check_options(self, options: DecodeOptions) -> np.ndarray | None:
        """Validate ``options`` against this model; the class mask to decode with (None: all)."""
        return self._plan(options).mask

    def _plan(self, options: DecodeOptions) -> _DecodePlan:
        if options.method not in ("greedy", "beam"):
            raise OptionsError(f"unknown decoding method {options.method!r}; expected 'greedy' or 'beam'")
        width = options.beam_width
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise OptionsError(f"beam_width must be an integer >= 1; got {options.beam_width!r}")
        floor = options.min_confidence
        if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0.0 <= floor <= 1.0:
            raise OptionsError(f"min_confidence must be a number from 0 to 1; got {floor!r}")
        grammar = None if options.pattern is None else compile_pattern(options.pattern, self.spec.charset)
        if options.allowlist is None and not options.denylist:
            return _DecodePlan(None, grammar)
        mask = np.asarray(self.spec.charset.mask(options.allowlist, options.denylist), dtype=bool)
        if mask.sum() <= 1:  # the blank alone: nothing could ever be read
            raise OptionsError(
                f"allowlist {options.allowlist!r} / denylist {options.denylist!r} leave no character "
                "of the model's charset"
            )
        return _DecodePlan(mask, grammar)

    def recognize(
        self, crops: Sequence[np.ndarray], options: DecodeOptions = DecodeOptions()
    ) -> list[Recognition]:
        """One Recognition per crop, in the order of ``crops``, with ``frame_width`` set so that
        each character's CTC frames map back to x-coordinates in its crop."""
        plan = self._plan(options)
        probs = self.probabilities(crops)
        return [self._decode(crop, p, options, plan) for crop, p in zip(crops, probs)]

    def recognize_page(
        self, crops: Sequence[np.ndarray], options: DecodeOptions = DecodeOptions()
    ) -> list[Recognition]:
        """``recognize`` for the lines of one page: with ``options.page_script``, lines of a page
        read almost entirely in Latin letters lose the CJK characters they were unsure of
        (``crnn_ocr.script``)."""
        return self.decode_page(crops, self.probabilities(crops), options)

    def decode_page(
        self, crops: Sequence[np.ndarray], probs: Sequence[np.ndarray], options: DecodeOptions = DecodeOptions()
    ) -> list[Recognition]:
        """``recognize_page`` from the crops' frame probabilities (``probabilities``)."""
        plan = self._plan(options)
        results = [self._decode(crop, p, options, plan) for crop, p in zip(crops, probs)]
        if not options.page_script or not latin_page(results):
            return results
        latin = _DecodePlan(without_cjk(self.spec.charset, plan.mask), plan.grammar)
        return [
            self._decode(crop, p, options, latin) if unsure_cjk(rec) else rec
            for crop, p, rec in zip(crops, probs, results)
        ]

    def _decode(
        self, crop: np.ndarray, probs: np.ndarray, options: DecodeOptions, plan: _DecodePlan
    ) -> Recognition:
        charset = self.spec.charset
        if plan.grammar is not None:
            rec = grammar_decode(probs, charset, plan.grammar, plan.mask)
        elif options.method == "beam":
            lm = self.lm if options.lm else None
            rec = beam_decode(probs, charset, options.beam_width, plan.mask, lm=lm)
        else:
            rec = greedy_decode(probs, charset, plan.mask)
        return replace(rec, frame_width=self.frame_width(crop))

    def frame_width(self, crop: np.ndarray) -> float:
        """Crop pixels per CTC frame: the stride, scaled from the model's input height back to the
        crop's (the width ``fit_to_height`` resizes the crop to, before any padding)."""
        h, w = crop.shape[:2]
        height = self.spec.input_height
        resized = w if h == height else max(1, round(w * height / h))
        return self.spec.width_stride * w / resized

    def probabilities(self, crops: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-crop frame probabilities [T_i, C], T_i = prepared width // stride, in input order."""
        pieces = self._split([self._prepare(crop) for crop in crops])
        outputs = self._run_sorted(pieces)
        frames: list[list[np.ndarray]] = [[] for _ in crops]
        starts: list[list[int]] = [[] for _ in crops]
        for piece, probs in zip(pieces, outputs):  # pieces are in line order, left to right
            frames[piece.line].append(probs)
            starts[piece.line].append(piece.start_frame)
        return [merge_pieces(f, s) for f, s in zip(frames, starts)]

    # ---- steps -----------------------------------------------------------------------------

    def _prepare(self, crop: np.ndarray) -> np.ndarray:
        spec = self.spec
        return fit_to_height(to_gray(check_crop(crop)), spec.input_height, spec.min_width, spec.width_stride)

    def _split(self, lines: list[np.ndarray]) -> list[_Piece]:
        """Pieces of at most ``max_frames`` frames of every line, in line order, left to right."""
        stride = self.spec.width_stride
        pieces = []
        for i, line in enumerate(lines):
            background = pad_value(line)
            for s in piece_starts(line.shape[1] // stride, self.max_frames, self.overlap_frames):
                image = line[:, s * stride : (s + self.max_frames) * stride]
                pieces.append(_Piece(i, s, image, background))
        return pieces

    def _run_sorted(self, pieces: list[_Piece]) -> list[np.ndarray]:
        """Frames [w_i // stride, C] of every piece: batched by similar width, in piece order."""
        spec = self.spec
        outputs: list[np.ndarray] = [np.empty((0, spec.charset.num_classes), np.float32)] * len(pieces)
        order = sorted(range(len(pieces)), key=lambda i: pieces[i].image.shape[1])
        for b in range(0, len(order), self.batch_size):
            group = [pieces[i] for i in order[b : b + self.batch_size]]
            width = max(p.image.shape[1] for p in group)
            batch = np.empty((len(group), 1, spec.input_height, width), dtype=np.uint8)
            for j, piece in enumerate(group):
                batch[j, 0, :, : piece.image.shape[1]] = piece.image
                batch[j, 0, :, piece.image.shape[1] :] = piece.background
            normalised = (batch.astype(np.float32) / 255.0 - spec.pixel_mean) / spec.pixel_std
            probs = self.engine.run(normalised.astype(np.float32, copy=False))
            for j, i in enumerate(order[b : b + self.batch_size]):
                outputs[i] = probs[j, : pieces[i].image.shape[1] // spec.width_stride]
        return outputs

