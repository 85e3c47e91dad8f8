"""The HTTP service: FastAPI app, JSON schemas, routes, batch jobs and the web page (``static/``).

Rooms, each importing only those below it (the graph is a DAG: ``tests/test_imports.py``):

- ``app`` (``create_app``: middleware, lifespan, routers) → ``routes/`` (the HTTP endpoints) →
  ``service`` (the app's state: model, gate, keys, jobs) → ``jobs/`` (batch jobs, no HTTP) →
  ``reading`` (read one input: ``ReadRequest``, ``check_input``, ``read_bytes``; no HTTP, used by
  requests and job items alike) → the runtime (``crnn_ocr.pipeline``);
- beside them: ``model_registry`` (``load_model``, the one loader of the server's model, and the
  models a request may name), ``schemas`` (request and response bodies; ``OptionsIn`` converts to
  ``ReadRequest`` in one place), ``settings``, ``errors`` (one HTTP status per error code),
  ``auth`` (API keys, rate limits), ``history`` (results and the cache), ``sqlite`` (SQLite or
  PostgreSQL, owner scoping, paging, expiry), ``finetune_jobs`` (fine-tunes as trainer
  subprocesses, admin only), ``webhooks``, ``telemetry``, ``logs``, ``sse``,
  ``inference`` (the gate), ``cli`` (``crnn-ocr serve``, ``worker``, ``keys``).

Needs the ``serve`` extra (fastapi, uvicorn, python-multipart, pydantic-settings).
"""

from crnn_ocr.server.app import create_app
from crnn_ocr.server.settings import ServerSettings

__all__ = ["ServerSettings", "create_app"]
