"""Start a recognizer of another shape from trained weights (``crnn-ocr-train --init`` when the
config's architecture differs from the checkpoint's): the architecture ablation of issue 16
compares shapes by short runs of equal compute from the shipped weights, not from scratch.

    widen_lstm     more LSTM units per direction; the new units start with zero outgoing
                   weights, so the grown model reads exactly as the old one until it trains
    keep_classes   a head over a subset of the charset (a script specialist): the kept
                   characters' classifier rows and the blank's, the rest dropped
    LATIN_CHARS    the Latin specialist's alphabet: printable ASCII and the symbols English
                   documents use
    alphabet       the charset a config names ("default", "latin")
    reshape        what ``crnn-ocr-train --init`` does: whichever of the two the config asks for
"""

from __future__ import annotations

import torch

from crnn_ocr.charset import BLANK_INDEX, Charset, printable_ascii

from .model import CRNN, CRNNConfig

#: Printable ASCII plus the typographic quotes, dashes and symbols of English documents.
LATIN_CHARS: tuple[str, ...] = (*printable_ascii(), *"“”‘’—…·•€£¥©®™°±§×÷№‰←→↑↓√★☆○●□■△▲℃")

ALPHABETS: dict[str, tuple[str, ...] | None] = {"default": None, "latin": LATIN_CHARS}


def alphabet(name: str) -> Charset:
    """The charset a training config names (``charset = "default" | "latin"``)."""
    if name not in ALPHABETS:
        raise SystemExit(f"unknown charset {name!r}: choose one of {', '.join(ALPHABETS)}")
    chars = ALPHABETS[name]
    return Charset.default() if chars is None else Charset(chars)


def _columns(old: torch.Tensor, width: int, h_new: int, h_old: int, bidir: bool) -> torch.Tensor:
    """``old``'s columns placed for inputs of ``width``: a bidirectional layer's [forward | backward]
    halves each at the start of their grown half (``bidir``), else at the start; new columns zero."""
    out = old.new_zeros(*old.shape[:-1], width)
    if bidir:
        out[..., :h_old] = old[..., :h_old]
        out[..., h_new : h_new + h_old] = old[..., h_old:]
    else:
        out[..., : old.shape[-1]] = old
    return out


@torch.no_grad()
def widen_lstm(model: CRNN, hidden: int) -> CRNN:
    """``model`` with ``hidden`` LSTM units per direction (at least its own), reading exactly as
    it did: the old units keep their weights and ignore the new ones (zero columns), the new units
    start from random input weights and zero outgoing weights."""
    h_old = model.config.lstm_hidden
    if hidden < h_old:
        raise SystemExit(f"cannot narrow the LSTM from {h_old} to {hidden} units: start from scratch instead")
    grown = CRNN(CRNNConfig(**{**model.config.to_dict(), "lstm_hidden": hidden})).to(next(model.parameters()).device)
    grown.backbone.load_state_dict(model.backbone.state_dict())
    new_rnn = grown.sequence.rnn
    for name, old in model.sequence.rnn.named_parameters():
        new = getattr(new_rnn, name)
        # weight_hh: inputs are this direction's own units; weight_ih of layer ≥ 1: both
        # directions of the layer below; weight_ih of layer 0: backbone features (unchanged).
        bidir = name.startswith("weight_ih") and "_l0" not in name
        for g in range(4):  # the gate blocks i, f, g, o of the old units
            rows = old[g * h_old : (g + 1) * h_old]
            if old.dim() == 2 and (bidir or name.startswith("weight_hh")):
                rows = _columns(rows, new.shape[1], hidden, h_old, bidir)
            new[g * hidden : g * hidden + h_old] = rows
    grown.classifier.weight.copy_(_columns(model.classifier.weight, 2 * hidden, hidden, h_old, bidir=True))
    grown.classifier.bias.copy_(model.classifier.bias)
    return grown


@torch.no_grad()
def keep_classes(model: CRNN, charset: Charset, keep: Charset) -> CRNN:
    """``model`` with a classifier over ``keep``'s characters (each must be in ``charset``)."""
    missing = [c for c in keep.chars if c not in charset]
    if missing:
        raise SystemExit(f"the trained charset lacks {len(missing)} of the new one's characters, e.g. {missing[:5]}")
    rows = [BLANK_INDEX, *(charset.index(c) for c in keep.chars)]
    small = CRNN(CRNNConfig(**{**model.config.to_dict(), "num_classes": keep.num_classes})).to(next(model.parameters()).device)
    small.backbone.load_state_dict(model.backbone.state_dict())
    small.sequence.load_state_dict(model.sequence.state_dict())
    small.classifier.weight.copy_(model.classifier.weight[rows])
    small.classifier.bias.copy_(model.classifier.bias[rows])
    return small


def reshape(model: CRNN, charset: Charset, hidden: int | None, alphabet_name: str | None) -> tuple[CRNN, Charset]:
    """``model`` (trained on ``charset``) grown to ``hidden`` LSTM units and cut to the named
    alphabet's classes where they are given and differ; unchanged otherwise."""
    if alphabet_name is not None:
        keep = alphabet(alphabet_name)
        if keep.chars != charset.chars:
            model, charset = keep_classes(model, charset, keep), keep
    if hidden is not None and hidden != model.config.lstm_hidden:
        model = widen_lstm(model, hidden)
    return model, charset
