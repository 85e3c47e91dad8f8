"""Server configuration: plain data, read from the environment (``CRNN_OCR_*``) and the CLI.

Every field can be set as an environment variable with the ``CRNN_OCR_`` prefix, e.g.
``CRNN_OCR_MAX_CONCURRENCY=4``; ``crnn-ocr serve`` flags override the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MiB = 1024 * 1024


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRNN_OCR_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, description="uvicorn worker processes; each loads its own model")

    model_path: str | None = Field(
        None, description="an .onnx file or a manifest model name; None = the shipped model"
    )
    threads: int | None = Field(None, ge=1, description="ONNX Runtime intra-op threads per session")

    max_bytes: int = Field(20 * MiB, ge=1, description="largest encoded image accepted, in bytes")
    max_pixels: int = Field(40_000_000, ge=1, description="largest width * height accepted (per page)")
    max_pages: int = Field(50, ge=1, description="most pages read from one PDF or multi-page TIFF")
    max_concurrency: int = Field(2, ge=1, description="OCR calls running at once (per worker)")
    max_queue: int = Field(8, ge=0, description="requests waiting for a slot before 503")
    request_timeout_s: float = Field(
        60.0, gt=0, description="longest wait for a result (queue + inference) before 504"
    )
    preview_max_side: int = Field(
        2048, ge=16, description="the processed-image preview is scaled down to this long side"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"

    @model_validator(mode="after")
    def _check_model_path(self) -> ServerSettings:
        if self.model_path is not None and Path(self.model_path).is_dir():
            raise ValueError(f"model_path {self.model_path} is a folder; give the .onnx file")
        return self

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: the image as base64 (4/3 of its bytes) plus room for options."""
        return (self.max_bytes + 2) // 3 * 4 + 64 * 1024

    def to_env(self) -> dict[str, str]:
        """These settings as ``CRNN_OCR_*`` variables, for uvicorn worker processes."""
        env = {}
        for name, value in self.model_dump().items():
            if value is not None:
                env[f"CRNN_OCR_{name.upper()}"] = str(value)
        return env
