"""Recognizer over the tiny model: preparation, batching and order, long-line pieces, options."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_model import TINY_CHARS, render_code_line

from crnn_ocr.engine import OnnxEngine
from crnn_ocr.errors import EmptyImageError, OptionsError, UnsupportedImageError
from crnn_ocr.recognize import Recognizer, fit_to_height, merge_pieces, pad_value, piece_starts
from crnn_ocr.types import DecodeOptions


def _with_border(inner: int, border: int, shape: tuple[int, int] = (6, 8)) -> np.ndarray:
    img = np.full(shape, border, np.uint8)
    img[1:-1, 1:-1] = inner
    return img


@pytest.mark.parametrize(
    ("gray", "expected"),
    [
        (_with_border(0, 255), 255),  # dark text inside, white frame
        (_with_border(255, 10), 10),  # light-on-dark
        (np.full((1, 5), 77, np.uint8), 77),
        (np.array([[0, 0, 255], [255, 0, 255], [255, 255, 0]], np.uint8), 255),  # 5 of 8 border px white
        (np.array([[0, 0, 255], [255, 0, 255], [0, 255, 0]], np.uint8), 128),  # 4 and 4: 127.5 rounded
    ],
)
def test_pad_value_is_the_median_of_the_border(gray: np.ndarray, expected: int) -> None:
    assert pad_value(gray) == expected


@pytest.mark.parametrize(
    ("shape", "min_width", "stride", "out_shape"),
    [
        ((32, 100), 16, 4, (32, 100)),
        ((32, 101), 16, 4, (32, 104)),  # padded to a multiple of the stride
        ((64, 203), 16, 4, (32, 104)),  # 101.5 rounds to 102, then pads to 104
        ((32, 5), 16, 4, (32, 16)),  # padded to min_width, not stretched
        ((16, 30), 16, 4, (32, 60)),  # enlarged
        ((300, 2), 16, 4, (32, 16)),  # very tall and thin: at least one column
    ],
)
def test_fit_to_height(shape, min_width, stride, out_shape) -> None:
    gray = np.full(shape, 200, np.uint8)
    out = fit_to_height(gray, 32, min_width, stride)
    assert out.shape == out_shape
    assert (out == 200).all()  # padding uses the crop's own background


@pytest.mark.parametrize(
    ("n_frames", "max_frames", "overlap", "starts"),
    [
        (10, 120, 16, [0]),
        (120, 120, 16, [0]),
        (121, 120, 16, [0, 1]),
        (300, 120, 16, [0, 104, 180]),
        (30, 10, 2, [0, 8, 16, 20]),
    ],
)
def test_piece_starts(n_frames: int, max_frames: int, overlap: int, starts: list[int]) -> None:
    assert piece_starts(n_frames, max_frames, overlap) == starts


@pytest.mark.parametrize(
    ("n_frames", "max_frames", "overlap"), [(121, 120, 16), (300, 120, 16), (31, 10, 2), (50, 8, 3)]
)
def test_merge_pieces_rebuilds_the_line(n_frames: int, max_frames: int, overlap: int) -> None:
    line = np.arange(n_frames)[:, None] * np.ones((1, 3))
    starts = piece_starts(n_frames, max_frames, overlap)
    pieces = [line[s : s + max_frames] for s in starts]
    np.testing.assert_array_equal(merge_pieces(pieces, starts), line)


# ---- recognition with the tiny model ----------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "42", "11", "100", "ab中文", "中文中文", TINY_CHARS])
def test_code_line_decodes_exactly(tiny_recognizer: Recognizer, text: str) -> None:
    (result,) = tiny_recognizer.recognize([render_code_line(text)])
    assert result.text == text
    assert len(result.chars) == len(text)
    assert all(c.confidence > 0.99 for c in result.chars)
    assert result.confidence > 0.99


def test_bigger_and_colour_crops_are_resized_and_converted(tiny_recognizer: Recognizer) -> None:
    big = render_code_line("9a8b", scale=3)  # 96 px tall: shrunk back to 32
    bgr = np.repeat(render_code_line("中7")[..., None], 3, axis=2)
    bgra = np.concatenate([bgr, np.full(bgr.shape[:2] + (1,), 255, np.uint8)], axis=2)
    texts = [r.text for r in tiny_recognizer.recognize([big, bgr, bgra, bgr[..., :1]])]
    assert texts == ["9a8b", "中7", "中7", "中7"]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 16])
def test_batches_sorted_by_width_come_back_in_input_order(tiny_engine: OnnxEngine, batch_size: int) -> None:
    texts = ["12345678", "0", "ab", "中文中文中文", "3", "999", "a1b20", "文"]
    crops = [render_code_line(t) for t in texts]
    results = Recognizer(tiny_engine, batch_size=batch_size).recognize(crops)
    assert [r.text for r in results] == texts


class RecordingEngine:
    """The tiny engine, keeping every batch it was given."""

    def __init__(self, engine: OnnxEngine) -> None:
        self.engine, self.spec, self.batches = engine, engine.spec, []

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.batches.append(batch.copy())
        return self.engine.run(batch)


def test_each_crop_is_padded_with_its_own_background(tiny_engine: OnnxEngine) -> None:
    dark = np.full((32, 40), 20, np.uint8)  # light-on-dark crop: background 20
    dark[8:24, 8:32] = 230
    light = render_code_line("0123456789")  # white background, 256 px
    recording = RecordingEngine(tiny_engine)
    results = Recognizer(recording, batch_size=2).recognize([dark, light])
    assert results[1].text == "0123456789"
    (batch,) = recording.batches
    assert batch.shape == (2, 1, 32, light.shape[1])
    grey = np.rint((batch * 0.5 + 0.5) * 255).astype(int)  # back to grey levels
    assert (grey[0, 0, :, 40:] == 20).all()  # sorted by width: the narrow dark crop comes first
    np.testing.assert_array_equal(grey[1, 0], light)


def test_blank_crop_reads_as_empty_text(tiny_recognizer: Recognizer) -> None:
    (result,) = tiny_recognizer.recognize([np.full((40, 120), 255, np.uint8)])
    assert result.text == "" and result.chars == ()
    assert result.confidence > 0.99


def test_no_crops_no_results(tiny_recognizer: Recognizer) -> None:
    assert tiny_recognizer.recognize([]) == []


LONG_TEXT = ("0123456789ab中文" * 15)[:200]  # 4016 px wide at height 32


@pytest.mark.parametrize(("max_width", "overlap"), [(None, None), (480, 64), (64, 16), (100, 40)])
def test_long_lines_are_split_and_merged_without_loss(tiny_engine: OnnxEngine, max_width, overlap) -> None:
    line = render_code_line(LONG_TEXT)
    whole = Recognizer(tiny_engine, max_width=10**6)
    pieces = Recognizer(tiny_engine, max_width=max_width, overlap=overlap)
    assert pieces.max_frames * 4 < line.shape[1]  # really split
    np.testing.assert_allclose(pieces.probabilities([line])[0], whole.probabilities([line])[0], atol=1e-6)
    assert [r.text for r in pieces.recognize([line, render_code_line("42")])] == [LONG_TEXT, "42"]


def test_default_piece_width_comes_from_the_model(tiny_recognizer: Recognizer) -> None:
    assert tiny_recognizer.max_frames * 4 == 480  # max_train_width in the metadata
    assert tiny_recognizer.overlap_frames * 4 == 64


@pytest.mark.parametrize(("max_width", "overlap"), [(8, 0), (480, 240), (480, -4)])
def test_bad_piece_geometry_is_rejected(tiny_engine: OnnxEngine, max_width: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="max_width"):
        Recognizer(tiny_engine, max_width=max_width, overlap=overlap)


def test_beam_decoding_reads_the_same(tiny_recognizer: Recognizer) -> None:
    crops = [render_code_line(t) for t in ("12", "a中b", "1001")]
    results = tiny_recognizer.recognize(crops, DecodeOptions(method="beam", beam_width=4))
    assert [r.text for r in results] == ["12", "a中b", "1001"]


@pytest.mark.parametrize(
    ("options", "text"),
    [
        (DecodeOptions(), "5文"),
        (DecodeOptions(denylist="文"), "5中"),  # the next-nearest grey wins
        (DecodeOptions(allowlist="5中"), "5中"),
        (DecodeOptions(method="beam", denylist="文"), "5中"),
        (DecodeOptions(denylist="xyz"), "5文"),  # characters outside the charset are ignored
    ],
)
def test_allowlist_and_denylist(tiny_recognizer: Recognizer, options: DecodeOptions, text: str) -> None:
    (result,) = tiny_recognizer.recognize([render_code_line("5文")], options)
    assert result.text == text


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (DecodeOptions(method="fancy"), "unknown decoding method 'fancy'"),  # type: ignore[arg-type]
        (DecodeOptions(method="beam", beam_width=0), "beam_width must be an integer >= 1"),
        (DecodeOptions(beam_width=2.5), "beam_width"),  # type: ignore[arg-type]
        (DecodeOptions(allowlist="xyz"), "leave no character"),
        (DecodeOptions(allowlist=""), "leave no character"),
        (DecodeOptions(denylist=TINY_CHARS), "leave no character"),
        (DecodeOptions(allowlist="12", denylist="21"), "leave no character"),
    ],
)
def test_invalid_options_are_options_errors(
    tiny_recognizer: Recognizer, options: DecodeOptions, message: str
) -> None:
    with pytest.raises(OptionsError, match=message):
        tiny_recognizer.recognize([render_code_line("1")], options)


@pytest.mark.parametrize(
    ("crop", "error"),
    [
        (np.zeros((0, 10), np.uint8), EmptyImageError),
        (np.zeros((10, 0, 3), np.uint8), EmptyImageError),
        (np.zeros((10, 10), np.float32), UnsupportedImageError),
        (np.zeros((10, 10, 2), np.uint8), UnsupportedImageError),
    ],
)
def test_unusable_crops_are_image_errors(tiny_recognizer: Recognizer, crop: np.ndarray, error: type) -> None:
    with pytest.raises(error):
        tiny_recognizer.recognize([crop])
