"""The recognition models a server can read with: the one it started with, and every recognizer
the manifests list (the shipped one, and the user manifest in ``<data_dir>/models`` where
fine-tuned models are registered), each loaded the first time a request names it and kept.

``ModelRegistry.get(name)`` answers a ``LoadedModel`` (the OCR pipeline, its ``ModelInfo`` and
SHA-256); ``None`` is the server's own model. A name the manifest does not list raises
``UnknownModelError`` (422) naming those it does. Models beside the recognizer (the learned
detector, the preprocessor) are shared with the server's own model; the character language
model is loaded per recognizer (it is matched to the recognizer's charset).

``load_model(settings)`` is the one loader of the server's own model (the app's lifespan and every
job worker): ``crnn_ocr.pipeline.load_ocr`` with the settings, named and hashed once
(``identify``). Which model that is: ``--model`` (a file, a shipped or a user model's name), else
the user manifest's ``default`` (``POST /api/v1/admin/models/default``), else the shipped default.
The user manifest is read again whenever it changes, so a model registered while the server
runs is listed and can be named at once.

``describe()`` lists them for ``GET /api/v1/models``: name, version and charset size (from the
ONNX metadata, read once without keeping a session), SHA-256, whether it is loaded, the first
paragraph of its model card (a manifest entry's optional ``"card"`` file), whether it is a user model.
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
        model=model_choice(settings), threads=settings.threads, det_model=settings.det_model_path,
        max_pixels=settings.max_pixels, max_pages=settings.max_pages,
    )


def model_choice(settings: ServerSettings) -> str | None:
    """The model the server starts with (module docstring): a path or a shipped model's name for
    ``crnn_ocr.models.resolve_model``; None: the shipped default. A user model is hash-checked."""
    name = settings.model_path
    if name is not None and Path(name).is_file():
        return name
    user = read_user_manifest(settings.user_model_dir)
    if user is None:
        return name
    name = name if name is not None else user.default
    entry = user.models.get(name) if name is not None else None
    if entry is None:
        return name
    verify_sha256(entry.path, entry.sha256)
    return str(entry.path)


def read_user_manifest(user_dir: Path) -> Manifest | None:
    """The user manifest in ``user_dir`` (None when there is none)."""
    if not (user_dir / MANIFEST_NAME).is_file():
        return None
    return Manifest.read(user_dir, require_default=False)


def load_model(settings: ServerSettings) -> LoadedModel:
    """The server's own model (blocking: call it off the event loop). Raises ModelError."""
    from crnn_ocr.pipeline import load_ocr  # the engine stack, imported when first needed

    return identify(load_ocr(ocr_config(settings)), user_dir=settings.user_model_dir)


def identify(ocr: OCR, model_dir: Path | None = None, user_dir: Path | None = None) -> LoadedModel:
    """``ocr`` as a LoadedModel: named as a manifest (the shipped one, else the user one) names its
    file (else by the model's own name), with its SHA-256 (hashed at most once:
    ``OCR.model_sha256``). A stand-in without a model file is hashed by its name and version."""
    entries, _cards = read_manifest(model_dir if model_dir is not None else default_model_dir())
    if user_dir is not None:
        user_entries, _cards = read_manifest(user_dir, required=False)
        entries = {**user_entries, **entries}
    spec = ocr.model
    sha = getattr(ocr, "model_sha256", None)
    name = next((n for n, e in entries.items() if sha is not None and e.sha256 == sha), spec.name)
    if sha is None:
        sha = hashlib.sha256(f"{spec.name}\n{spec.version}".encode()).hexdigest()
    return LoadedModel(name, ocr, ModelInfo(name=name, version=spec.version), sha)


def read_manifest(model_dir: Path, *, required: bool = True) -> tuple[dict[str, ManifestEntry], dict[str, Path]]:
    """The recognizers the manifest in ``model_dir`` lists, and their model cards' files.
    ``required=False``: a user manifest (it may name no default)."""
    if not (model_dir / MANIFEST_NAME).is_file():
        return {}, {}
    manifest = Manifest.read(model_dir, require_default=required)
    raw = json.loads(manifest.path.read_text(encoding="utf-8"))
    others = {raw.get(key) for key in _NOT_RECOGNIZERS}
    entries = {n: e for n, e in manifest.models.items() if n not in others and e.path.suffix == ".onnx"}
    cards = {n: model_dir / str(raw["models"][n]["card"]) for n in entries if raw["models"][n].get("card")}
    return entries, cards


class ModelRegistry:
    def __init__(self, default: LoadedModel, *, threads: int | None = None, model_dir: Path | None = None,
                 user_dir: Path | None = None) -> None:
        self.threads = threads
        self.model_dir = model_dir if model_dir is not None else default_model_dir()
        self.user_dir = user_dir
        self._shipped, self._cards = read_manifest(self.model_dir)
        self._user: dict[str, ManifestEntry] = {}
        self._user_cards: dict[str, Path] = {}
        self._user_stamp: tuple[int, int] | None = None
        self.default = default
        self._loaded: dict[str, LoadedModel] = {default.name: default}
        self._meta: dict[tuple[str, str], ModelOut] = {}
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        """Read the user manifest again when it changed (a model registered, a default chosen)."""
        if self.user_dir is None:
            return
        path = self.user_dir / MANIFEST_NAME
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        if stamp == self._user_stamp:
            return
        try:
            entries, cards = read_manifest(self.user_dir, required=False)
        except ModelError as exc:  # a broken user manifest must not stop the shipped models
            log.warning("ignoring the user models: %s", exc)
            entries, cards = {}, {}
        # A shipped model's name cannot be taken by a user model.
        self._user = {n: e for n, e in entries.items() if n not in self._shipped}
        self._user_cards = {n: c for n, c in cards.items() if n in self._user}
        self._user_stamp = stamp

    @property
    def _entries(self) -> dict[str, ManifestEntry]:
        return {**self._shipped, **self._user}

    @property
    def names(self) -> list[str]:
        self._refresh()
        return list(dict.fromkeys([self.default.name, *self._shipped, *self._user]))

    def is_user_model(self, name: str) -> bool:
        self._refresh()
        return name in self._user

    def check(self, name: str | None) -> None:
        """Raise UnknownModelError unless ``name`` is None or a model this server can load."""
        self._refresh()
        if name is not None and name not in self._loaded and name not in self._entries:
            raise UnknownModelError(f"no model named {name!r}; available: {', '.join(self.names)}")

    def sha256_of(self, name: str | None) -> str:
        """The SHA-256 of the model ``name`` (None: the default), without loading it."""
        self.check(name)
        if name is None:
            return self.default.sha256
        entry = self._entries.get(name)
        return entry.sha256 if entry is not None else self._loaded[name].sha256

    def get(self, name: str | None) -> LoadedModel:
        """The model named ``name`` (None: the default), loaded on first use (blocking: call it
        off the event loop) and kept (a user model registered again under its name is reloaded)."""
        if name is None:
            return self.default
        self.check(name)
        with self._lock:  # one load per model, even when requests for it arrive together
            found = self._loaded.get(name)
            entry = self._entries.get(name)
            if found is None or (entry is not None and found is not self.default and found.sha256 != entry.sha256):
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
        user = name in self._user
        entry = self._entries.get(name)
        if loaded is not None and (entry is None or loaded.sha256 == entry.sha256):
            spec = loaded.ocr.model
            return ModelOut(
                name=name, version=spec.version, charset_size=len(spec.charset), sha256=loaded.sha256,
                default=loaded is self.default, loaded=True, card=self._card(name), user=user,
            )
        assert entry is not None
        if (name, entry.sha256) not in self._meta:
            version, charset_size = _read_metadata(entry.path)
            self._meta[(name, entry.sha256)] = ModelOut(
                name=name, version=version, charset_size=charset_size, sha256=entry.sha256, default=False,
                loaded=False, card=self._card(name), user=user,
            )
        return self._meta[(name, entry.sha256)]

    def _card(self, name: str) -> str | None:
        file = self._cards.get(name) or self._user_cards.get(name)
        if file is None:
            return None
        try:
            return card_summary(file.read_text(encoding="utf-8"))
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
