"""The app's long-lived state: the OCR model (loaded once: ``model_registry.load_model``), the
inference gate, the API keys, the job service, the corrections store and the fine-tune jobs.

One ``Service`` per app, created by the lifespan and kept on ``app.state.service``. Its status
moves ``loading`` → ``ready`` (or ``failed``); only ``ready`` serves OCR requests.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from crnn_ocr.errors import ModelError
from crnn_ocr.models import resolve_model
from crnn_ocr.server.auth import Authenticator, KeyStore
from crnn_ocr.server.corrections import CorrectionStore
from crnn_ocr.server.errors import InternalError, NotReadyError
from crnn_ocr.server.finetune_jobs import FinetuneJobs, default_init
from crnn_ocr.server.inference import InferenceGate
from crnn_ocr.server.jobs.service import JobService
from crnn_ocr.server.model_registry import LoadedModel, ModelRegistry, identify, load_model
from crnn_ocr.server.schemas import ModelInfo
from crnn_ocr.server.settings import ServerSettings

if TYPE_CHECKING:
    from crnn_ocr.pipeline import OCR

log = logging.getLogger("crnn_ocr.server")

Status = Literal["loading", "ready", "failed"]


@dataclass
class Service:
    settings: ServerSettings
    gate: InferenceGate
    status: Status = "loading"
    ocr: OCR | None = None
    model: ModelInfo | None = None
    error: str | None = None
    jobs: JobService | None = None
    model_sha256: str | None = None  # part of the cache key: a new model never answers from old results
    auth: Authenticator | None = None
    models: ModelRegistry | None = None  # the default model and the manifest's others, loaded on first use
    corrections: CorrectionStore | None = None  # corrected lines: the users' datasets
    finetunes: FinetuneJobs | None = None

    @classmethod
    def create(cls, settings: ServerSettings) -> Service:
        gate = InferenceGate(settings.max_concurrency, settings.max_queue, settings.request_timeout_s)
        keys = KeyStore(settings.store_path)
        auth = Authenticator(keys, settings.rate_limit_per_minute, settings.rate_limit_burst)
        finetunes = FinetuneJobs(
            settings.store_path, settings.user_model_dir, settings.data_path / "finetune_runs", _training_weights(settings),
            settings.finetune_args,
        )
        return cls(
            settings=settings, gate=gate, jobs=JobService.create(settings), auth=auth,
            corrections=CorrectionStore(settings.store_path), finetunes=finetunes,
        )

    def load(self) -> None:
        """Build the OCR model (blocking; call it off the event loop). Failures are kept, not raised."""
        start = time.perf_counter()
        try:
            loaded = load_model(self.settings)
        except ModelError as exc:
            self.fail(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - keep serving /readyz with the reason
            log.exception("loading the model failed")
            self.fail(f"loading the model failed: {type(exc).__name__}: {exc}")
            return
        self.set_ready(loaded)
        ms = (time.perf_counter() - start) * 1000
        log.info("model %s %s loaded in %.0f ms", loaded.ocr.model.name, loaded.ocr.model.version, ms)

    def set_ready(self, model: OCR | LoadedModel) -> None:
        """Serve ``model`` (an OCR built elsewhere, e.g. by a test, is named and hashed here)."""
        user_dir = self.settings.user_model_dir
        loaded = model if isinstance(model, LoadedModel) else identify(model, user_dir=user_dir)
        self.models = ModelRegistry(loaded, threads=self.settings.threads, user_dir=user_dir)
        self.model = loaded.info
        self.model_sha256 = loaded.sha256
        self.ocr = loaded.ocr
        self.status = "ready"
        if self.jobs is not None:
            self.jobs.start(loaded.sha256, self.models.get)

    def fail(self, message: str) -> None:
        log.error("model not available: %s", message)
        self.error = message
        self.status = "failed"

    def require_ocr(self) -> OCR:
        if self.ocr is None:
            if self.status == "failed":
                raise NotReadyError(f"the model failed to load: {self.error}")
            raise NotReadyError("the model is still loading; retry shortly")
        return self.ocr

    def require_models(self) -> ModelRegistry:
        self.require_ocr()
        assert self.models is not None
        return self.models

    def require_finetunes(self) -> FinetuneJobs:
        if self.finetunes is None:
            raise InternalError("fine-tune jobs are not set up on this server")
        return self.finetunes

    def close(self) -> None:
        self.gate.close()
        if self.finetunes is not None:
            self.finetunes.close()
        if self.jobs is not None:
            self.jobs.close()
        if self.auth is not None:
            self.auth.keys.close()
        if self.corrections is not None:
            self.corrections.close()


def _training_weights(settings: ServerSettings) -> Path | None:
    """The ``.pt`` weights beside the server's model (what a fine-tune starts from), or None when
    the model cannot be resolved (the fine-tune then needs ``--init`` in ``finetune_args``)."""
    try:
        model = resolve_model(settings.model_path, verify=False).path
    except ModelError:
        return None
    return default_init(model)
