"""The recognition models a server can read with: the one it started with, and every recognizer
the manifest lists, each loaded the first time a request names it and kept.

``ModelRegistry.get(name)`` answers a ``LoadedModel`` (the OCR pipeline, its ``ModelInfo`` and
SHA-256); ``None`` is the server's own model. A name the manifest does not list raises
``UnknownModelError`` (422) naming those it does. Models beside the recognizer (the learned
detector, the preprocessor) are shared with the server's own model; the character language
model is loaded per recognizer (it is matched to the recognizer's charset).

``load_model(settings)`` is the one loader of the server's own model (the app's lifespan and every
job worker): ``crnn_ocr.pipeline.load_ocr`` with the settings, named and hashed once
(``identify``).

``describe()`` lists them for ``GET /api/v1/models``: name, version and charset size (from the
ONNX metadata, read once without keeping a session), SHA-256, whether it is loaded, and the first
paragraph of its model card (a manifest entry's optional ``"card"`` file).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from crnn_ocr.errors import ModelError, UnknownModelError
from crnn_ocr.models import MANIFEST_NAME, Manifest, ManifestEntry, default_model_dir, verify_sha256
from crnn_ocr.server.schemas import ModelInfo, ModelOut
from crnn_ocr.server.settings import ServerSettings

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR, OCRConfig

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


def ocr_config(settings: ServerSettings) -> OCRConfig:
    """What the server's own model is built from."""
    from crnn_ocr.pipeline import OCRConfig

    return OCRConfig(
        model=settings.model_path, threads=settings.threads, det_model=settings.det_model_path,
        max_pixels=settings.max_pixels, max_pages=settings.max_pages,
    )


def load_model(settings: ServerSettings) -> LoadedModel:
    """The server's own model (blocking: call it off the event loop). Raises ModelError."""
    from crnn_ocr.pipeline import load_ocr  # the engine stack, imported when first needed

    return identify(load_ocr(ocr_config(settings)))


def identify(ocr: OCR, model_dir: Path | None = None) -> LoadedModel:
    """``ocr`` as a LoadedModel: named as the manifest names its file (else by the model's own
    name), with its SHA-256 (hashed at most once: ``OCR.model_sha256``). A stand-in without a
    model file is hashed by its name and version."""
    entries, _cards = read_manifest(model_dir if model_dir is not None else default_model_dir())
    spec = ocr.model
    sha = getattr(ocr, "model_sha256", None)
    name = next((n for n, e in entries.items() if sha is not None and e.sha256 == sha), spec.name)
    if sha is None:
        sha = hashlib.sha256(f"{spec.name}\n{spec.version}".encode()).hexdigest()
    return LoadedModel(name, ocr, ModelInfo(name=name, version=spec.version), sha)


def read_manifest(model_dir: Path) -> tuple[dict[str, ManifestEntry], dict[str, str]]:
    """The recognizers the manifest in ``model_dir`` lists, and their model cards' files."""
    if not (model_dir / MANIFEST_NAME).is_file():
        return {}, {}
    manifest = Manifest.read(model_dir)
    raw = json.loads(manifest.path.read_text(encoding="utf-8"))
    others = {raw.get(key) for key in _NOT_RECOGNIZERS}
    entries = {n: e for n, e in manifest.models.items() if n not in others and e.path.suffix == ".onnx"}
    cards = {n: str(raw["models"][n]["card"]) for n in entries if raw["models"][n].get("card")}
    return entries, cards


class ModelRegistry:
    def __init__(self, default: LoadedModel, *, threads: int | None = None, model_dir: Path | None = None) -> None:
        self.threads = threads
        self.model_dir = model_dir if model_dir is not None else default_model_dir()
        self._entries, self._cards = read_manifest(self.model_dir)
        self.default = default
        self._loaded: dict[str, LoadedModel] = {default.name: default}
        self._meta: dict[str, ModelOut] = {}
        self._lock = threading.Lock()

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
        return LoadedModel(name, ocr, ModelInfo(name=name, version=ocr.model.version), entry.sha256)

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
