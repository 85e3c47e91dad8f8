"""Server configuration: plain data, read from the environment (``CRNN_OCR_*``) and the CLI.

Every field can be set as an environment variable with the ``CRNN_OCR_`` prefix, e.g.
``CRNN_OCR_MAX_CONCURRENCY=4``; ``crnn-ocr serve`` flags override the environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crnn_ocr.server.sqlite import is_postgres_url
from crnn_ocr.urlfetch import UrlPolicy

MiB = 1024 * 1024
#: Most images one job may ever carry: ``max_job_items`` is at most this, and a jobs body with
#: more is refused by its schema with one error (not one per bad item).
MAX_JOB_ITEMS = 10_000
DAY = 24 * 3600.0


def default_store_path() -> Path:
    """``$XDG_DATA_HOME/crnn-ocr/store.sqlite3`` (``~/.local/share/...`` without XDG_DATA_HOME)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "crnn-ocr" / "store.sqlite3"


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRNN_OCR_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1, description="uvicorn worker processes; each loads its own model")

    model_path: str | None = Field(
        None, description="an .onnx file or a manifest model name; None = the shipped model"
    )
    threads: int | None = Field(None, ge=1, description="ONNX Runtime intra-op threads per session")
    det_model_path: str | None = Field(
        None, description="learned text-detector .onnx (None: $CRNN_OCR_DET_MODEL or the manifest's; else classical only)"
    )

    max_bytes: int = Field(20 * MiB, ge=1, description="largest encoded image accepted, in bytes")
    max_pixels: int = Field(40_000_000, ge=1, description="largest width * height accepted (per page)")
    max_pages: int = Field(50, ge=1, description="most pages read from one PDF or multi-page TIFF")
    max_concurrency: int = Field(2, ge=1, description="OCR calls running at once (per worker)")
    max_queue: int = Field(8, ge=0, description="requests waiting for a slot before 503")
    request_timeout_s: float = Field(
        60.0, gt=0, description="longest wait for a result (queue + inference) before 504"
    )
    shutdown_timeout_s: float = Field(
        10.0, gt=0, description="on SIGTERM, longest wait for requests in flight before they are cancelled"
    )
    preview_max_side: int = Field(
        2048, ge=16, description="the processed-image preview is scaled down to this long side"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    log_format: Literal["text", "json"] = Field(
        "text", description="log lines as text or as JSON objects (each with its request_id)"
    )

    # ---- jobs, history, cache (crnn_ocr.server.jobs, crnn_ocr.server.history) --------------------
    store_path: str = Field(
        default_factory=lambda: str(default_store_path()),
        description="the store of jobs (embedded mode), history, cache and API keys: a SQLite file, "
        "or postgresql://user:password@host:port/dbname shared by several servers",
    )
    data_dir: str | None = Field(
        None, description="user data: fine-tuned models (<data_dir>/models/manifest.json) and the default model "
        "chosen by an admin; None: the store file's folder ($XDG_DATA_HOME/crnn-ocr with a postgresql:// store)",
    )
    broker_url: str | None = Field(
        None, description="redis://host:port/db: jobs go to Celery workers on Redis; None = embedded workers"
    )
    job_workers: int = Field(1, ge=0, description="embedded mode: threads running job items (0: none)")
    job_lease_s: float = Field(
        30.0, gt=0, description="embedded mode: an item claimed by a worker that died is retried after this"
    )
    job_max_attempts: int = Field(3, ge=1, description="an item whose worker dies this often fails (worker_lost)")
    max_job_items: int = Field(1000, ge=1, le=MAX_JOB_ITEMS, description="most images in one job")
    max_job_bytes: int = Field(
        256 * MiB, ge=1, description="largest jobs request: all its images together, in bytes (each also max_bytes)"
    )
    broker_visibility_timeout_s: float = Field(
        300.0, gt=0, description="Redis mode: an item taken by a worker that died is redelivered after this"
    )
    result_ttl_s: float = Field(7 * DAY, gt=0, description="finished jobs and their results are kept this long")
    history: bool = Field(True, description="record every recognition (hash, options, result, timings)")
    history_ttl_s: float = Field(30 * DAY, gt=0, description="history entries (and cached results) are kept this long")
    cache: bool = Field(True, description="answer an identical image with identical options from the history")
    webhook_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="hosts a job's completion webhook may call (empty: webhooks are off)",
    )
    webhook_timeout_s: float = Field(5.0, gt=0, description="timeout of one webhook POST")
    purge_interval_s: float = Field(
        60.0, gt=0, description="expired jobs, results and history entries are deleted this often"
    )

    # ---- image URLs (crnn_ocr.urlfetch) --------------------------------------------------------
    url_input: bool = Field(True, description="fetch images given as image_url (false: air-gapped installs)")
    url_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="hosts, addresses or networks (CIDR) an image_url may reach although they are loopback, "
        "private, link-local or reserved (empty: public addresses only)",
    )
    url_timeout_s: float = Field(10.0, gt=0, description="longest time fetching one image_url may take")
    url_max_redirects: int = Field(5, ge=0, le=20, description="redirects followed from one image_url")

    # ---- access (crnn_ocr.server.auth) ---------------------------------------------------------
    insecure_open: bool = Field(
        False, description="serve without API keys on a non-loopback address (anyone reaching it reads everything)"
    )
    rate_limit_per_minute: int = Field(
        300, ge=0, description="requests a minute per API key, on average (0: no limit; a key may override it)"
    )
    rate_limit_burst: int = Field(60, ge=1, description="requests per API key allowed at once above the average")
    max_jobs_per_key: int = Field(
        4, ge=0, description="unfinished jobs per API key at once (0: no limit; a key may override it)"
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="origins (https://host[:port]) allowed to call the API from a browser; empty: none"
    )

    @field_validator("store_path", "data_dir", mode="before")
    @classmethod
    def _path_as_text(cls, value: object) -> object:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @model_validator(mode="after")
    def _check_model_path(self) -> ServerSettings:
        if self.model_path is not None and Path(self.model_path).is_dir():
            raise ValueError(f"model_path {self.model_path} is a folder; give the .onnx file")
        if self.broker_url is not None and urlsplit(self.broker_url).scheme not in ("redis", "rediss"):
            raise ValueError(f"broker_url must be a redis:// or rediss:// URL, not {self.broker_url!r}")
        return self

    @property
    def data_path(self) -> Path:
        """The user data folder: ``data_dir``, else the SQLite store's folder, else the default one."""
        if self.data_dir is not None:
            return Path(self.data_dir)
        if is_postgres_url(self.store_path):
            return default_store_path().parent
        return Path(self.store_path).parent

    @property
    def user_model_dir(self) -> Path:
        """Where user models (fine-tuned) and their manifest live: ``<data_path>/models``."""
        return self.data_path / "models"

    @property
    def redis_mode(self) -> bool:
        return self.broker_url is not None

    @property
    def url_policy(self) -> UrlPolicy:
        return UrlPolicy(
            enabled=self.url_input, allowed_hosts=tuple(self.url_allowed_hosts), max_bytes=self.max_bytes,
            timeout_s=self.url_timeout_s, max_redirects=self.url_max_redirects,
        )

    @property
    def max_body_bytes(self) -> int:
        """Largest request body: the image as base64 (4/3 of its bytes) plus room for options."""
        return (self.max_bytes + 2) // 3 * 4 + 64 * 1024

    @property
    def max_job_body_bytes(self) -> int:
        """Largest body of ``POST /api/v1/jobs``: all its images as base64, plus room for options."""
        return (max(self.max_job_bytes, self.max_bytes) + 2) // 3 * 4 + 64 * 1024 + 256 * self.max_job_items

    def to_env(self) -> dict[str, str]:
        """These settings as ``CRNN_OCR_*`` variables, for uvicorn worker processes."""
        env = {}
        for name, value in self.model_dump().items():
            if value is not None:
                env[f"CRNN_OCR_{name.upper()}"] = json.dumps(value) if isinstance(value, list) else str(value)
        return env
