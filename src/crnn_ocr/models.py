"""Which model file to load, and checking shipped models against their manifest.

Resolution order (first that applies):
1. an explicit path (``OCR(model_path=...)``, ``--model``); a name listed in the manifest also works;
2. the environment variable ``CRNN_OCR_MODEL`` (a path);
3. the manifest's ``default`` in ``$CRNN_OCR_MODEL_DIR``, else in the installed package's
   ``crnn_ocr/shipped/`` (a wheel carries the shipped models there: ``importlib.resources``), else
   in the checkout's ``<repo>/models`` (an editable install or ``PYTHONPATH=src``).

``models/manifest.json``::

    {"default": "crnn_zh_en_v1",
     "models": {"crnn_zh_en_v1": {"file": "crnn_zh_en_v1.onnx", "sha256": "..."}}}

Models named by the manifest have their SHA-256 checked when resolved; explicit paths do not.
The learned detector (``"detector"``) and the character language model (``"lm"``) are optional
manifest entries resolved the same way (``resolve_detector_model``, ``resolve_lm``).

User models (fine-tuned) live in a manifest of the same form in the server's data folder
(``<data_dir>/models``; ``crnn_ocr.server.model_registry``), read with
``Manifest.read(dir, require_default=False)``: it may name no default, or a default listed in the
shipped manifest. ``register_model`` adds a model file to such a manifest, ``set_default_model``
chooses its default; both write the manifest atomically.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from crnn_ocr.errors import ModelError

MODEL_ENV = "CRNN_OCR_MODEL"
MODEL_DIR_ENV = "CRNN_OCR_MODEL_DIR"
MANIFEST_NAME = "manifest.json"


SHIPPED_PACKAGE_DIR = "shipped"


def packaged_model_dir() -> Path | None:
    """``crnn_ocr/shipped/`` of an installed wheel (it holds a manifest), else None."""
    folder = importlib.resources.files("crnn_ocr").joinpath(SHIPPED_PACKAGE_DIR)
    if not folder.joinpath(MANIFEST_NAME).is_file():
        return None
    path = Path(str(folder))  # a wheel installs as plain files: the resource is a real folder
    return path if path.is_dir() else None


def checkout_model_dir() -> Path:
    """The repository's ``models/`` folder, beside ``src/``."""
    return Path(__file__).resolve().parents[2] / "models"


def default_model_dir() -> Path:
    """``$CRNN_OCR_MODEL_DIR`` if set, else the installed package's shipped models, else the
    checkout's ``models/`` folder."""
    env = os.environ.get(MODEL_DIR_ENV)
    if env:
        return Path(env)
    return packaged_model_dir() or checkout_model_dir()


@dataclass(frozen=True)
class ManifestEntry:
    name: str
    path: Path
    sha256: str


@dataclass(frozen=True)
class Manifest:
    path: Path
    default: str | None  # None only in a manifest read with require_default=False
    models: dict[str, ManifestEntry]

    @classmethod
    def read(cls, model_dir: Path, *, require_default: bool = True) -> Manifest:
        """The manifest of ``model_dir``. ``require_default=False``: a user manifest (in the data
        folder), which may name no default, or a default listed in another manifest."""
        path = model_dir / MANIFEST_NAME
        if not path.is_file():
            raise ModelError(
                f"no model given and no manifest at {path}; pass a model path (--model), "
                f"set {MODEL_ENV} to an .onnx file or {MODEL_DIR_ENV} to a folder with {MANIFEST_NAME}"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            models = {
                name: ManifestEntry(name, model_dir / entry["file"], str(entry["sha256"]).lower())
                for name, entry in data.get("models", {}).items()
            }
            default = str(data["default"]) if require_default or data.get("default") is not None else None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(
                f"{path}: malformed manifest ({exc!r}); expected "
                '{"default": NAME, "models": {NAME: {"file": ..., "sha256": ...}}}'
            ) from exc
        if require_default and default not in models:
            raise ModelError(f"{path}: default model {default!r} is not listed under 'models'")
        return cls(path, default, models)


def _read_raw(model_dir: Path) -> dict:
    """A manifest's JSON as it is (cards, detector, lm kept), or an empty one."""
    path = model_dir / MANIFEST_NAME
    if not path.is_file():
        return {"models": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.setdefault("models", {}), dict):
        raise ModelError(f"{path}: malformed manifest (expected an object with 'models')")
    return data


def _write_raw(model_dir: Path, data: dict) -> Path:
    """Write a manifest atomically (a reader never sees half of it)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    path = model_dir / MANIFEST_NAME
    tmp = path.with_name(f".{MANIFEST_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def set_default_model(model_dir: Path, name: str | None) -> Path:
    """Make ``name`` the default of the manifest in ``model_dir`` (created when missing; None:
    no default). The caller checks that ``name`` names a model. Returns the manifest's path."""
    data = _read_raw(model_dir)
    if name is None:
        data.pop("default", None)
    else:
        data["default"] = name
    return _write_raw(model_dir, data)


def register_model(model_dir: Path, name: str, onnx: Path, *, card: str | None = None) -> ManifestEntry:
    """List the model file ``onnx`` as ``name`` in the manifest of ``model_dir`` (created when
    missing), copying it there as ``<name>.onnx`` when it lies elsewhere; its SHA-256 is recorded.
    ``card``: a model card file beside it. Replaces an entry of the same name."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise ModelError(f"invalid model name {name!r}: use letters, digits, '.', '_' or '-'")
    model_dir.mkdir(parents=True, exist_ok=True)
    target = model_dir / f"{name}.onnx"
    if Path(onnx).resolve() != target.resolve():
        shutil.copyfile(onnx, target)
    entry = {"file": target.name, "sha256": sha256_file(target)}
    if card is not None:
        entry["card"] = card
    data = _read_raw(model_dir)
    data["models"][name] = entry
    _write_raw(model_dir, data)
    return ManifestEntry(name, target, entry["sha256"])


@dataclass(frozen=True)
class ResolvedModel:
    path: Path
    source: Literal["explicit", "env", "manifest"]
    name: str | None = None  # manifest name, when it came from the manifest
    sha256: str | None = None  # expected hash, when it came from the manifest


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        for block in iter(lambda: fp.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str) -> None:
    """Raise ModelError naming the file and both hashes when ``path`` does not hash to ``expected``."""
    if not path.is_file():
        raise ModelError(f"{path}: model file listed in the manifest is missing")
    actual = sha256_file(path)
    if actual != expected.lower():
        raise ModelError(f"{path}: SHA-256 mismatch: manifest says {expected}, file has {actual}")


def resolve_model(model_path: str | os.PathLike | None = None, *, verify: bool = True) -> ResolvedModel:
    """The model file to load (see the module docstring); manifest models are hash-checked."""
    if model_path is not None:
        path = Path(model_path)
        if path.is_file():
            return ResolvedModel(path, "explicit")
        if path.is_dir():
            raise ModelError(f"{path}: is a folder; give the .onnx file")
        if path.name == str(model_path):  # a bare name: maybe a manifest entry
            model_dir = default_model_dir()
            if (model_dir / MANIFEST_NAME).is_file():
                entry = Manifest.read(model_dir).models.get(str(model_path))
                if entry is not None:
                    return _from_manifest(entry, verify)
        raise ModelError(f"{path}: model file not found")
    env = os.environ.get(MODEL_ENV)
    if env:
        path = Path(env)
        if not path.is_file():
            raise ModelError(f"{path}: model file not found (from ${MODEL_ENV})")
        return ResolvedModel(path, "env")
    manifest = Manifest.read(default_model_dir())
    return _from_manifest(manifest.models[manifest.default], verify)


def _from_manifest(entry: ManifestEntry, verify: bool) -> ResolvedModel:
    if verify:
        verify_sha256(entry.path, entry.sha256)
    return ResolvedModel(entry.path, "manifest", entry.name, entry.sha256)


DET_MODEL_ENV = "CRNN_OCR_DET_MODEL"


def resolve_detector_model(model_path: str | os.PathLike | None = None, *, verify: bool = True) -> Path | None:
    """The learned text-detector model to load, or None when there is none (no error: the
    classical detector needs no model).

    Order: an explicit path (must exist); ``$CRNN_OCR_DET_MODEL`` (must exist); the manifest's
    optional ``"detector"`` entry (a model name under ``models``, SHA-256 checked); else None.
    """
    return _resolve_optional(model_path, DET_MODEL_ENV, "detector", "detector model", verify, env_can_say_none=False)


def _resolve_optional(
    path: str | os.PathLike | None, env_name: str, key: str, what: str, verify: bool, *, env_can_say_none: bool
) -> Path | None:
    """An optional model beside the recognizer: ``path`` (must exist), else ``$env_name`` (must
    exist; "none" or "" loads none where ``env_can_say_none``), else the manifest's ``key`` entry
    (a name under ``models``, SHA-256 checked), else None."""
    if path is not None:
        found = Path(path)
        if not found.is_file():
            raise ModelError(f"{found}: {what} file not found")
        return found
    env = os.environ.get(env_name)
    if env_can_say_none and env in ("", "none"):
        return None
    if env:
        found = Path(env)
        if not found.is_file():
            raise ModelError(f"{found}: {what} file not found (from ${env_name})")
        return found
    model_dir = default_model_dir()
    if not (model_dir / MANIFEST_NAME).is_file():
        return None
    manifest = Manifest.read(model_dir)
    try:
        name = json.loads(manifest.path.read_text(encoding="utf-8")).get(key)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{manifest.path}: unreadable manifest ({exc})") from exc
    if name is None:
        return None
    entry = manifest.models.get(str(name))
    if entry is None:
        raise ModelError(f"{manifest.path}: {what} {name!r} is not listed under 'models'")
    return _from_manifest(entry, verify).path


LM_ENV = "CRNN_OCR_LM"


def resolve_lm(lm_path: str | os.PathLike | None = None, *, verify: bool = True) -> Path | None:
    """The character language model to load (``crnn_ocr.lm``), or None when there is none.

    Order: an explicit path (must exist); ``$CRNN_OCR_LM`` (must exist; "none" or "" loads no LM);
    the manifest's optional ``"lm"`` entry (a name under ``models``, SHA-256 checked); else None.
    """
    return _resolve_optional(lm_path, LM_ENV, "lm", "language model", verify, env_can_say_none=True)
