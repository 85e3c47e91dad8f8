"""The recognition models a server can read with: the one it started with, and every recognizer
the manifest lists, each loaded the first time a request names it and kept.

``ModelRegistry.get(name)`` answers a ``LoadedModel`` (the OCR pipeline, its ``ModelInfo`` and
SHA-256); ``None`` is the server's own model. A name the manifest does not list raises
``UnknownModelError`` (422) naming those it does. Models beside the recognizer (the learned
detector, the preprocessor) are shared with the server's own model; the character language
model is loaded per recognizer (it is matched to the recognizer's charset).

``describe()`` lists them for ``GET /api/v1/models``: name, version and charset size (from the
ONNX metadata, read once without keeping a session), SHA-256, whether it is loaded, and the first
paragraph of its model card (a manifest entry's optional ``"card"`` file).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crnn_ocr.errors import ModelError, UnknownModelError
from crnn_ocr.models import MANIFEST_NAME, Manifest, ManifestEntry, default_model_dir, sha256_file, verify_sha256
from crnn_ocr.server.schemas import ModelInfo, ModelOut

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR

log = logging.getLogger("crnn_ocr.server")

#: Manifest keys that name models which are not recognizers.
_NOT_RECOGNIZERS = ("detector", "lm")


@dataclass(frozen=True)
class LoadedModel:
    name: str
    ocr: OCR
    info: ModelInfo
    sha256: str


#: How a worker asks for a model by name (None: the default): ``ModelRegistry.get``.
ModelSource = Callable[[str | None], LoadedModel]


def loaded_model(name: str, ocr: OCR, sha256: str | None = None) -> LoadedModel:
    spec = ocr.model
    path = getattr(ocr, "model_path", None)
    if sha256 is None:
        sha256 = sha256_file(path) if path is not None else _name_hash(spec.name, spec.version)
    return LoadedModel(name, ocr, ModelInfo(name=name, version=spec.version), sha256)


def _name_hash(name: str, version: str) -> str:
    import hashlib

    return hashlib.sha256(f"{name}\n{version}".encode()).hexdigest()


class ModelRegistry:
    def __init__(self, default_ocr: OCR, *, threads: int | None = None, model_dir: Path | None = None) -> None:
        self.threads = threads
        self.model_dir = model_dir if model_dir is not None else default_model_dir()
        self._entries, self._cards = self._read_manifest()
        path = getattr(default_ocr, "model_path", None)
        sha = sha256_file(path) if path is not None else None
        name = next((n for n, e in self._entries.items() if sha is not None and e.sha256 == sha), default_ocr.model.name)
        self.default = loaded_model(name, default_ocr, sha)
        self._loaded: dict[str, LoadedModel] = {name: self.default}
        self._meta: dict[str, ModelOut] = {}
        self._lock = threading.Lock()

    def _read_manifest(self) -> tuple[dict[str, ManifestEntry], dict[str, str]]:
        if not (self.model_dir / MANIFEST_NAME).is_file():
            return {}, {}
        manifest = Manifest.read(self.model_dir)
        raw = json.loads(manifest.path.read_text(encoding="utf-8"))
        others = {raw.get(key) for key in _NOT_RECOGNIZERS}
        entries = {n: e for n, e in manifest.models.items() if n not in others and e.path.suffix == ".onnx"}
        cards = {n: str(raw["models"][n]["card"]) for n in entries if raw["models"][n].get("card")}
        return entries, cards

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys([self.default.name, *self._entries]))

    def check(self, name: str | None) -> None:
        """Raise UnknownModelError unless ``name`` is None or a model this server can load."""
        if name is not None and name not in self._loaded and name not in self._entries:
            raise UnknownModelError(f"no model named {name!r}; available: {', '.join(self.names)}")

    def sha256_of(self, name: str | None) -> str:
        """The SHA-256 of the model ``name`` (None: the default), without loading it."""
        self.check(name)
        loaded = self._loaded.get(name) if name is not None else self.default
        return loaded.sha256 if loaded is not None else self._entries[str(name)].sha256

    def get(self, name: str | None) -> LoadedModel:
        """The model named ``name`` (None: the default), loaded on first use (blocking: call it
        off the event loop) and kept."""
        if name is None:
            return self.default
        self.check(name)
        with self._lock:  # one load per model, even when requests for it arrive together
            found = self._loaded.get(name)
            if found is None:
                found = self._loaded[name] = self._load(name)
            return found

    def _load(self, name: str) -> LoadedModel:
        from crnn_ocr.pipeline import OCR

        entry = self._entries[name]
        verify_sha256(entry.path, entry.sha256)
        base = self.default.ocr
        try:
            ocr = OCR(
                entry.path, threads=self.threads, detector=base.detector, learned_detector=base.learned_detector,
                preprocessor=base.preprocessor, max_pixels=base.max_pixels, max_pages=base.max_pages,
            )
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken model file is the model's error, not a bug
            raise ModelError(f"loading the model {name!r} failed: {type(exc).__name__}: {exc}") from exc
        log.info("model %s (%s %s) loaded on first use", name, ocr.model.name, ocr.model.version)
        return loaded_model(name, ocr, entry.sha256)

    def describe(self) -> list[ModelOut]:
        """Every model, the default first (reads each unloaded model's metadata once)."""
        return [self._describe(name) for name in self.names]

    def _describe(self, name: str) -> ModelOut:
        loaded = self._loaded.get(name)
        if loaded is not None:
            spec = loaded.ocr.model
            return ModelOut(
                name=name, version=spec.version, charset_size=len(spec.charset), sha256=loaded.sha256,
                default=loaded is self.default, loaded=True, card=self._card(name),
            )
        if name not in self._meta:
            entry = self._entries[name]
            version, charset_size = _read_metadata(entry.path)
            self._meta[name] = ModelOut(
                name=name, version=version, charset_size=charset_size, sha256=entry.sha256, default=False,
                loaded=False, card=self._card(name),
            )
        return self._meta[name]

    def _card(self, name: str) -> str | None:
        file = self._cards.get(name)
        if file is None:
            return None
        try:
            return card_summary((self.model_dir / file).read_text(encoding="utf-8"))
        except OSError:
            return None


def _read_metadata(path: Path) -> tuple[str | None, int | None]:
    """(model_version, charset size) from an ONNX file's metadata, without keeping a session."""
    import onnxruntime as ort

    try:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        meta = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]).get_modelmeta()
        charset = json.loads(meta.custom_metadata_map.get("charset", "[]"))
        return meta.custom_metadata_map.get("model_version"), len(charset) or None
    except Exception:  # noqa: BLE001 - listing must not fail on one unreadable model; loading it will say why
        log.warning("could not read the metadata of %s", path, exc_info=True)
        return None, None


def card_summary(markdown: str, max_chars: int = 400) -> str:
    """The first paragraph of a model card that is not a heading."""
    for block in markdown.split("\n\n"):
        text = " ".join(line.strip() for line in block.strip().splitlines())
        if text and not text.startswith("#"):
            return text if len(text) <= max_chars else text[: max_chars - 1] + "…"
    return ""
