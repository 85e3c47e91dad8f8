"""Shared fixtures: the tiny ONNX test model and the shipped model (models/, hash-checked).

``tests/`` has no ``__init__.py``; pytest puts it on ``sys.path``, so test modules import the
helpers directly (``from tiny_model import render_code_line``, ``from render import render_line``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_model import build_tiny_model

from crnn_ocr.engine import EngineConfig, OnnxEngine
from crnn_ocr.models import MANIFEST_NAME, Manifest, default_model_dir, verify_sha256
from crnn_ocr.recognize import Recognizer

#: Tests share two CPU cores with other work: one ONNX Runtime thread each.
TEST_ENGINE_CONFIG = EngineConfig(intra_op_threads=1, inter_op_threads=1)


@pytest.fixture(scope="session", autouse=True)
def _server_store(tmp_path_factory: pytest.TempPathFactory):
    """Every server the tests build keeps its job store and history in a temporary folder (never
    in the user's data folder), with the result cache off, so that repeated requests in tests of
    the OCR path really run OCR. Tests of the jobs, history and cache set their own store and turn
    the cache on."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRNN_OCR_STORE_PATH", str(tmp_path_factory.mktemp("store") / "store.sqlite3"))
        mp.setenv("CRNN_OCR_CACHE", "false")
        yield


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model (tests/tiny_model.py) written once per session."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny.onnx")


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_path: Path) -> OnnxEngine:
    return OnnxEngine(tiny_model_path, TEST_ENGINE_CONFIG)


@pytest.fixture(scope="session")
def tiny_recognizer(tiny_engine: OnnxEngine) -> Recognizer:
    return Recognizer(tiny_engine)


@pytest.fixture(scope="session")
def tiny_ocr(tiny_model_path: Path):
    """An OCR pipeline with the classical detector (no learned one) and the default preprocessor
    over the tiny model."""
    from crnn_ocr.detect import ClassicalLineDetector
    from crnn_ocr.pipeline import OCR

    return OCR(tiny_model_path, threads=1, detector=ClassicalLineDetector())


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    """The default model of models/manifest.json, hash-checked.

    The model ships with the repo: a missing, malformed or altered manifest or model fails the test.
    """
    model_dir = default_model_dir()
    if not (model_dir / MANIFEST_NAME).is_file():
        pytest.fail(f"the shipped model is missing: {model_dir / MANIFEST_NAME} does not exist")
    manifest = Manifest.read(model_dir)
    entry = manifest.models[manifest.default]
    verify_sha256(entry.path, entry.sha256)
    return entry.path


@pytest.fixture(scope="session")
def shipped_ocr(shipped_model: Path):
    """The full pipeline over the shipped model (skipped with it)."""
    from crnn_ocr.pipeline import OCR

    return OCR(shipped_model, threads=1)


@pytest.fixture(scope="session")
def postgres_admin_url():
    """A PostgreSQL server on loopback for the whole run (tests/pg_support.py), started when a
    test first asks for it; its superuser's URL. Not installed: the test fails and says so."""
    from pg_support import postgres_server

    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store of each kind: a SQLite file, and a new database on the loopback
    PostgreSQL server. Tests that take it run against both."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite3")
    from pg_support import new_database

    return new_database(request.getfixturevalue("postgres_admin_url"))
