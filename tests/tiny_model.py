"""A tiny, real ONNX recognizer that obeys the model contract, built with ``onnx.helper`` (no torch).

It reads "code lines": each character is a bar ``char_px`` wide on white, its top half one grey
and its bottom half another (``COLOURS[ch]``), bars separated by white gaps. The graph:

    image  [N, 1, 32, W]   normalised (grey / 255 - 0.5) / 0.5
    Neg, Slice rows 8..14 and rows 18..24 (guard rows either side of the split at row 16)
    MaxPool 6x4 /4, Neg    [N, 1, 1, T] each  T = W // 4: the darkest value of each band
    Concat, Squeeze        [N, 2, T]
    Transpose              [N, T, 2]          feature f = (top, bottom) per frame
    MatMul [2, C] + bias   [N, T, C]          logit_k = 2 a c_k . f - a |c_k|^2
    Softmax (last axis)    [N, T, C]  probs

``softmax(logit)`` equals ``softmax(-a |f - c_k|^2)``: each frame becomes the class whose centre
c_k is nearest, with probability close to 1. The blank's centre is white (1, 1); the characters'
centres lie on a quarter circle of radius 2 around it, at angles 15..75 degrees. A bar blended
with white (edges of a resized or shifted crop) moves its feature straight towards (1, 1), which
crosses only its own cell and the blank's, so lines decode exactly even when cropped by the
detector at any offset. Frames are independent of each other: splitting a line into pieces
gives exactly the frames of the whole line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

TINY_CHARS = "0123456789ab中文"
HEIGHT = 32
STRIDE = 4
SHARPNESS = 400.0  # a: logit gap between neighbouring centres at a centre ~ 10
_ANGLES = np.deg2rad(np.linspace(15.0, 75.0, len(TINY_CHARS)))
#: (top, bottom) grey of each character's bar; the blank is white.
COLOURS = {
    ch: (int(round(255 * (1 - np.cos(a)))), int(round(255 * (1 - np.sin(a)))))
    for ch, a in zip(TINY_CHARS, _ANGLES)
}

BASE_METADATA = {
    "charset": json.dumps(list(TINY_CHARS), ensure_ascii=False),
    "blank_index": "0",
    "input_height": str(HEIGHT),
    "width_stride": str(STRIDE),
    "pixel_mean": "0.5",
    "pixel_std": "0.5",
    "model_name": "tiny_test",
    "model_version": "0.0.1",
    "min_width": "16",
    "max_train_width": "480",
}


def _class_centres() -> np.ndarray:
    """[C, 2] normalised (top, bottom) grey of each class: blank (white) first, then the characters."""
    greys = np.array([(255, 255)] + [COLOURS[ch] for ch in TINY_CHARS], dtype=np.float64)
    return (greys / 255.0 - 0.5) / 0.5


def build_tiny_model(
    path: str | Path,
    *,
    metadata_overrides: dict[str, str] | None = None,
    drop_metadata: Sequence[str] = (),
    num_classes: int | None = None,
) -> Path:
    """Write the tiny model to ``path`` and return it.

    ``metadata_overrides`` / ``drop_metadata`` change the metadata (to test validation);
    ``num_classes`` makes an output of another width than the charset needs.
    """
    centres = _class_centres()  # [C, 2]
    if num_classes is not None:
        centres = np.resize(centres, (num_classes, 2))
    n_classes = centres.shape[0]
    weight = (2 * SHARPNESS * centres.T).astype(np.float32)  # [2, C]
    bias = (-SHARPNESS * (centres**2).sum(axis=1)).astype(np.float32)  # [C]

    def ints(name: str, values: list[int]) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(values, np.int64), name)

    inits = [
        ints("top_start", [8]), ints("top_end", [14]),
        ints("bottom_start", [18]), ints("bottom_end", [24]),
        ints("rows_axis", [2]), ints("squeeze_axes", [2]),
        numpy_helper.from_array(weight, "weight"),
        numpy_helper.from_array(bias, "bias"),
    ]
    pool = {"kernel_shape": [6, STRIDE], "strides": [6, STRIDE]}
    nodes = [
        helper.make_node("Neg", ["image"], ["negated"]),
        helper.make_node("Slice", ["negated", "top_start", "top_end", "rows_axis"], ["top_rows"]),
        helper.make_node("Slice", ["negated", "bottom_start", "bottom_end", "rows_axis"], ["bottom_rows"]),
        helper.make_node("MaxPool", ["top_rows"], ["top_max"], **pool),
        helper.make_node("MaxPool", ["bottom_rows"], ["bottom_max"], **pool),
        helper.make_node("Concat", ["top_max", "bottom_max"], ["neg_min"], axis=1),  # [N, 2, 1, T]
        helper.make_node("Neg", ["neg_min"], ["band_min"]),
        helper.make_node("Squeeze", ["band_min", "squeeze_axes"], ["bands"]),  # [N, 2, T]
        helper.make_node("Transpose", ["bands"], ["features"], perm=[0, 2, 1]),  # [N, T, 2]
        helper.make_node("MatMul", ["features", "weight"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_crnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, HEIGHT, "W"])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", "T", n_classes])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    metadata = {**BASE_METADATA, **(metadata_overrides or {})}
    for key in drop_metadata:
        metadata.pop(key, None)
    helper.set_model_props(model, metadata)
    onnx.checker.check_model(model)
    path = Path(path)
    onnx.save(model, str(path))
    return path


def render_code_line(
    text: str,
    *,
    char_px: int = 3 * STRIDE,
    gap_px: int = 3 * STRIDE,
    margin_px: int = 2 * STRIDE,
    height: int = HEIGHT,
    scale: int = 1,
) -> np.ndarray:
    """``text`` as the tiny model reads it: uint8 grey [height * scale, W * scale].

    Each character is a bar ``char_px`` wide and ``gap_px`` apart, spanning rows 4..28 of 32:
    rows 4..16 in its top grey, 16..28 in its bottom grey, on white. ``scale`` > 1 draws it bigger.
    """
    width = 2 * margin_px + len(text) * char_px + max(0, len(text) - 1) * gap_px
    img = np.full((height, max(width, 1)), 255, dtype=np.uint8)
    top, middle, bottom = height // 8, height // 2, height - height // 8
    for i, ch in enumerate(text):
        x = margin_px + i * (char_px + gap_px)
        img[top:middle, x : x + char_px], img[middle:bottom, x : x + char_px] = COLOURS[ch]
    if scale != 1:
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    return img
