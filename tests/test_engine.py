"""OnnxEngine: loading, metadata validation, running; models.py: which file gets loaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TEST_ENGINE_CONFIG
from tiny_model import BASE_METADATA, TINY_CHARS, build_tiny_model

from crnn_ocr.engine import REQUIRED_METADATA, EngineConfig, OnnxEngine
from crnn_ocr.errors import ModelError
from crnn_ocr.models import MODEL_DIR_ENV, MODEL_ENV, resolve_model, sha256_file


def test_spec_is_read_from_metadata(tiny_engine: OnnxEngine) -> None:
    spec = tiny_engine.spec
    assert spec.charset.chars == tuple(TINY_CHARS)
    assert (spec.input_height, spec.width_stride, spec.min_width, spec.max_train_width) == (32, 4, 16, 480)
    assert (spec.pixel_mean, spec.pixel_std) == (0.5, 0.5)
    assert (spec.name, spec.version) == ("tiny_test", "0.0.1")
    assert "tiny_test" in spec.describe()


@pytest.mark.parametrize(("n", "width"), [(1, 16), (3, 100), (2, 483)])
def test_run_gives_probabilities_per_stride(tiny_engine: OnnxEngine, n: int, width: int) -> None:
    batch = np.ones((n, 1, 32, width), dtype=np.float32)
    probs = tiny_engine.run(batch)
    assert probs.shape == (n, width // 4, len(TINY_CHARS) + 1)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)
    assert (probs.argmax(axis=-1) == 0).all()  # white is blank


@pytest.mark.parametrize(
    "batch",
    [
        np.ones((1, 1, 32, 16), np.float64),
        np.ones((1, 32, 16), np.float32),
        np.ones((1, 1, 48, 16), np.float32),
    ],
)
def test_run_rejects_a_malformed_batch(tiny_engine: OnnxEngine, batch: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"float32 \[N, 1, 32, W\]"):
        tiny_engine.run(batch)


@pytest.mark.parametrize("level", ["disable", "basic", "extended", "all"])
def test_engine_config_is_applied(tiny_model_path: Path, level: str) -> None:
    engine = OnnxEngine(tiny_model_path, EngineConfig(intra_op_threads=1, graph_optimization=level))
    assert engine.run(np.ones((1, 1, 32, 16), np.float32)).shape == (1, 4, 15)


def test_missing_file_is_a_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nope\.onnx: model file not found"):
        OnnxEngine(tmp_path / "nope.onnx")


def test_file_that_is_not_onnx_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.onnx"
    path.write_text("this is not a protobuf")
    with pytest.raises(ModelError, match=r"fake\.onnx: not a loadable ONNX model"):
        OnnxEngine(path, TEST_ENGINE_CONFIG)


def test_model_without_metadata_is_a_model_error(tmp_path: Path) -> None:
    path = build_tiny_model(tmp_path / "bare.onnx", drop_metadata=list(BASE_METADATA))
    with pytest.raises(ModelError, match="lacks charset, input_height, width_stride, pixel_mean, pixel_std"):
        OnnxEngine(path, TEST_ENGINE_CONFIG)


@pytest.mark.parametrize("key", REQUIRED_METADATA)
def test_each_required_metadata_key_is_checked(tmp_path: Path, key: str) -> None:
    path = build_tiny_model(tmp_path / f"no_{key}.onnx", drop_metadata=[key])
    with pytest.raises(ModelError, match=f"lacks {key}$"):
        OnnxEngine(path, TEST_ENGINE_CONFIG)


def test_optional_metadata_has_defaults(tmp_path: Path) -> None:
    path = build_tiny_model(
        tmp_path / "minimal.onnx",
        drop_metadata=["model_name", "model_version", "min_width", "max_train_width"],
    )
    spec = OnnxEngine(path, TEST_ENGINE_CONFIG).spec
    assert (spec.name, spec.version, spec.min_width, spec.max_train_width) == ("minimal", "unknown", 16, None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"charset": "not json"}, "invalid model metadata"),
        ({"charset": '{"a": 1}'}, "JSON list"),
        ({"charset": '["a", "a"]'}, "duplicate"),
        ({"blank_index": "3"}, "blank index 3"),
        ({"input_height": "tall"}, "invalid model metadata"),
        ({"width_stride": "0"}, "invalid model metadata"),
        ({"pixel_std": "0"}, "invalid model metadata"),
        ({"input_height": "48"}, r"input shape .* does not match \[N, 1, 48, W\]"),
        ({"charset": '["a", "b"]'}, r"does not match \[N, T, 3\]"),
    ],
)
def test_bad_metadata_is_a_model_error(tmp_path: Path, overrides: dict[str, str], message: str) -> None:
    path = build_tiny_model(tmp_path / "bad.onnx", metadata_overrides=overrides)
    with pytest.raises(ModelError, match=message):
        OnnxEngine(path, TEST_ENGINE_CONFIG)


def test_output_width_must_match_the_charset(tmp_path: Path) -> None:
    path = build_tiny_model(tmp_path / "wide.onnx", num_classes=20)
    with pytest.raises(ModelError, match=r"output shape .* does not match \[N, T, 15\]"):
        OnnxEngine(path, TEST_ENGINE_CONFIG)


# ---- models.py: resolution and the manifest ---------------------------------------------------


@pytest.fixture
def model_dir(tmp_path: Path, tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder with the tiny model as the manifest default, selected by the env var."""
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "tiny_v1.onnx").write_bytes(tiny_model_path.read_bytes())
    entry = {"file": "tiny_v1.onnx", "sha256": sha256_file(tiny_model_path)}
    manifest = {"default": "tiny_v1", "models": {"tiny_v1": entry}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setenv(MODEL_DIR_ENV, str(folder))
    monkeypatch.delenv(MODEL_ENV, raising=False)
    return folder


def test_manifest_default_is_resolved_and_hash_checked(model_dir: Path) -> None:
    resolved = resolve_model()
    assert (resolved.source, resolved.name) == ("manifest", "tiny_v1")
    assert resolved.path == model_dir / "tiny_v1.onnx"
    assert OnnxEngine(resolved.path, TEST_ENGINE_CONFIG).spec.name == "tiny_test"


def test_manifest_name_can_be_given_as_the_model(model_dir: Path) -> None:
    assert resolve_model("tiny_v1").source == "manifest"


def test_hash_mismatch_names_the_file_and_both_hashes(model_dir: Path) -> None:
    path = model_dir / "tiny_v1.onnx"
    expected = sha256_file(path)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ModelError) as info:
        resolve_model()
    message = str(info.value)
    assert str(path) in message and expected in message and sha256_file(path) in message


def test_explicit_path_wins_and_is_not_hash_checked(model_dir: Path, tiny_model_path: Path) -> None:
    (model_dir / "tiny_v1.onnx").write_bytes(b"broken")  # the manifest model is never touched
    assert resolve_model(tiny_model_path).path == tiny_model_path


def test_env_model_wins_over_the_manifest(model_dir: Path, tiny_model_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(MODEL_ENV, str(tiny_model_path))
    resolved = resolve_model()
    assert (resolved.path, resolved.source) == (tiny_model_path, "env")


def test_env_model_that_does_not_exist_is_an_error(model_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv(MODEL_ENV, "/no/such/model.onnx")
    with pytest.raises(ModelError, match=rf"model\.onnx: model file not found \(from \${MODEL_ENV}\)"):
        resolve_model()


def test_explicit_path_that_does_not_exist_is_an_error(model_dir: Path) -> None:
    with pytest.raises(ModelError, match="missing.onnx: model file not found"):
        resolve_model(model_dir / "missing.onnx")


def test_a_folder_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="is a folder"):
        resolve_model(tmp_path)


def test_no_manifest_explains_the_options(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(MODEL_ENV, raising=False)
    with pytest.raises(ModelError, match=f"no manifest at .*{MODEL_ENV}"):
        resolve_model()


@pytest.mark.parametrize(
    "manifest",
    [
        "not json",
        '{"models": {}}',
        '{"default": "x", "models": {"x": {"file": "x.onnx"}}}',
        '{"default": "y", "models": {}}',
    ],
)
def test_malformed_manifest_is_a_model_error(tmp_path: Path, monkeypatch, manifest: str) -> None:
    (tmp_path / "manifest.json").write_text(manifest)
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    monkeypatch.delenv(MODEL_ENV, raising=False)
    with pytest.raises(ModelError, match="manifest"):
        resolve_model()


def test_listed_file_missing_is_a_model_error(model_dir: Path) -> None:
    (model_dir / "tiny_v1.onnx").unlink()
    with pytest.raises(ModelError, match="listed in the manifest is missing"):
        resolve_model()
