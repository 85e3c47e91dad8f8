"""The engine over ONNX Runtime: one session per model, its contract read from its metadata.

``SessionEngine`` is the one engine class (session settings, metadata, signature and shape checks);
``OnnxEngine`` is it for the line recognizer, ``crnn_ocr.detect_learned.DetectorEngine`` for the
learned text detector.

The recognizer's contract (written by ``crnn_ocr_train.export``):
    input  ``image``  float32 [N, 1, H, W]   H = input_height, W dynamic,
                      pixels (grey / 255 - pixel_mean) / pixel_std
    output ``probs``  float32 [N, T, C]      T = W // width_stride, C = len(charset) + 1,
                      softmax over C, class blank_index the CTC blank
    metadata          charset (JSON list), blank_index, input_height, width_stride, pixel_mean,
                      pixel_std, model_name, model_version, min_width, max_train_width
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

import numpy as np
import onnxruntime as ort

from crnn_ocr.charset import Charset
from crnn_ocr.errors import ModelError

_OPT_LEVELS = {
    "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}
REQUIRED_METADATA = ("charset", "input_height", "width_stride", "pixel_mean", "pixel_std")


@dataclass(frozen=True)
class EngineConfig:
    """ONNX Runtime session settings. ``None`` threads: let ONNX Runtime choose."""

    intra_op_threads: int | None = None
    inter_op_threads: int | None = 1
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"


@dataclass(frozen=True)
class ModelSpec:
    """What a model promises about its input and output, read from its metadata."""

    charset: Charset
    input_height: int
    width_stride: int  # input pixels per output frame
    pixel_mean: float
    pixel_std: float
    min_width: int  # narrowest input, in pixels
    max_train_width: int | None  # widest line seen in training, in pixels
    name: str
    version: str

    @classmethod
    def from_metadata(cls, meta: dict[str, str], where: str) -> ModelSpec:
        missing = [key for key in REQUIRED_METADATA if key not in meta]
        if missing:
            raise ModelError(f"{where}: model metadata lacks {', '.join(missing)}")
        try:
            charset = Charset.from_metadata(meta)
            spec = cls(
                charset=charset,
                input_height=int(meta["input_height"]),
                width_stride=int(meta["width_stride"]),
                pixel_mean=float(meta["pixel_mean"]),
                pixel_std=float(meta["pixel_std"]),
                min_width=int(meta.get("min_width", 4 * int(meta["width_stride"]))),
                max_train_width=int(meta["max_train_width"]) if "max_train_width" in meta else None,
                name=meta.get("model_name", Path(where).stem),
                version=meta.get("model_version", "unknown"),
            )
        except (ValueError, TypeError) as exc:  # bad numbers, bad charset JSON or entries
            raise ModelError(f"{where}: invalid model metadata: {exc}") from exc
        if spec.input_height < 1 or spec.width_stride < 1 or spec.min_width < 1 or spec.pixel_std <= 0:
            raise ModelError(f"{where}: invalid model metadata: {spec.describe()}")
        return spec

    def describe(self) -> str:
        return (
            f"{self.name} {self.version} (height {self.input_height}, stride {self.width_stride}, "
            f"{len(self.charset)} characters)"
        )


SpecT = TypeVar("SpecT")  # a model's contract read from its metadata: ModelSpec, DetectorSpec


def _fixed(dim: object) -> int | None:
    """A fixed dimension size, or None for a dynamic one (ORT gives a name or None)."""
    return dim if isinstance(dim, int) else None


def open_session(path: Path, config: EngineConfig) -> ort.InferenceSession:
    """An ONNX Runtime session for ``path`` with ``config``'s threads, providers and optimisation
    level; ModelError when the file is missing or not a loadable model. Shared by every engine."""
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    options = ort.SessionOptions()
    if config.intra_op_threads is not None:
        options.intra_op_num_threads = config.intra_op_threads
    if config.inter_op_threads is not None:
        options.inter_op_num_threads = config.inter_op_threads
    options.graph_optimization_level = _OPT_LEVELS[config.graph_optimization]
    options.log_severity_level = 3  # errors only
    try:
        return ort.InferenceSession(str(path), options, providers=list(config.providers))
    except Exception as exc:  # noqa: BLE001 - ORT raises its own types for any bad file
        raise ModelError(f"{path}: not a loadable ONNX model ({exc})") from exc


class SessionEngine(ABC, Generic[SpecT]):
    """The engine every model kind shares: one session, loaded once, the model's contract read from
    its metadata and checked against its graph, and ``run`` checking a batch on the way in and the
    output's shape on the way out. A subclass reads its contract (``_read_spec``) and says what its
    graph, its batches and its outputs look like (``_check_signature``, ``_check_batch``,
    ``_expected_output``)."""

    def __init__(self, model_path: str | Path, config: EngineConfig = EngineConfig()) -> None:
        self.path = Path(model_path)
        self.config = config
        self.session = open_session(self.path, config)
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        self.spec: SpecT = self._read_spec(meta)
        self._input_name, self._output_name = self._check_signature(self.session.get_inputs(), self.session.get_outputs())

    @abstractmethod
    def _read_spec(self, meta: dict[str, str]) -> SpecT:
        """The contract in the model's metadata; ModelError when it is missing or invalid."""

    def _check_signature(self, inputs: list, outputs: list) -> tuple[str, str]:
        """The input and output names to run, after checking the graph agrees with ``spec``;
        ModelError otherwise. Every engine takes one input [N, 1, H, W]."""
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            shapes = [(i.name, i.shape) for i in inputs]
            raise ModelError(f"{self.path}: expected one input [N, 1, H, W]; the model has {shapes}")
        return inputs[0].name, outputs[0].name

    @abstractmethod
    def _check_batch(self, batch: np.ndarray) -> None:
        """ValueError naming the expected layout when ``batch`` is not one this model takes."""

    @abstractmethod
    def _expected_output(self, batch_shape: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
        """The output shape ``spec`` promises for ``batch_shape``, and where that promise comes from."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        """The model's output for ``batch``, both checked against the contract."""
        self._check_batch(batch)
        (out,) = self.session.run([self._output_name], {self._input_name: batch})
        expected, why = self._expected_output(batch.shape)
        if out.shape != expected:
            raise ModelError(f"{self.path}: output {out.shape} for input {batch.shape}; {why}")
        return out


class OnnxEngine(SessionEngine[ModelSpec]):
    """The line recognizer's engine: ``run`` maps a normalised batch [N, 1, H, W] to probabilities
    [N, T, C]."""

    def _read_spec(self, meta: dict[str, str]) -> ModelSpec:
        return ModelSpec.from_metadata(meta, str(self.path))

    def _check_signature(self, inputs: list, outputs: list) -> tuple[str, str]:
        """One input [N, 1, H, W] and an output [N, T, C] whose fixed sizes agree with the metadata."""
        input_name, _ = super()._check_signature(inputs, outputs)
        shape = inputs[0].shape
        if _fixed(shape[1]) not in (1, None) or _fixed(shape[2]) not in (self.spec.input_height, None):
            raise ModelError(
                f"{self.path}: input shape {shape} does not match [N, 1, {self.spec.input_height}, W] "
                "from the metadata"
            )
        output = next((o for o in outputs if o.name == "probs"), outputs[0])
        classes = self.spec.charset.num_classes
        if len(output.shape) != 3 or _fixed(output.shape[2]) not in (classes, None):
            raise ModelError(
                f"{self.path}: output shape {output.shape} does not match [N, T, {classes}] "
                f"({len(self.spec.charset)} characters + blank)"
            )
        return input_name, output.name

    def _check_batch(self, batch: np.ndarray) -> None:
        h = self.spec.input_height
        if batch.dtype != np.float32 or batch.ndim != 4 or batch.shape[1:3] != (1, h):
            raise ValueError(f"batch must be float32 [N, 1, {h}, W]; got {batch.dtype} {batch.shape}")

    def _expected_output(self, batch_shape: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
        expected = (batch_shape[0], batch_shape[3] // self.spec.width_stride, self.spec.charset.num_classes)
        return expected, f"the metadata promises {expected} (width_stride {self.spec.width_stride})"

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities [N, W // width_stride, C] for a float32 batch [N, 1, input_height, W]."""
        return super().run(batch)
