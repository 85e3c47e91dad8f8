"""The HTTP routes, one room per kind of endpoint; each module has an ``APIRouter`` named ``router``.

- ``deps``: what every route shares: ``ServiceDep``, ``CallerDep``, Content-Type checks, form parsing;
- ``health``: ``/healthz``, ``/readyz``, ``/api/v1/info``, ``/metrics``;
- ``ocr``: ``/api/v1/ocr`` (JSON, and its ``/stream`` as Server-Sent Events), ``/ocr`` (multipart),
  ``/api/v1/preprocess``, ``/api/v1/models``; they read through ``crnn_ocr.server.reading``;
- ``jobs``: ``/api/v1/jobs`` (submit, list, follow, cancel, delete) over ``crnn_ocr.server.jobs``;
- ``history``: ``/api/v1/history`` and the admin purge;
- ``corrections``: ``/api/v1/corrections``, ``/api/v1/datasets`` (export, import) and the admin's
  choice of the default model;
- ``finetune``: ``/api/v1/admin/finetune``, fine-tune jobs (``crnn_ocr.server.finetune_jobs``);
- ``stream``: ``WS /api/v1/stream``, live OCR of video frames (``crnn_ocr.stream``).

Every endpoint but the health checks, the web page and the docs needs an API key once keys exist
(``crnn_ocr.server.auth``); ``deps.get_caller`` gives the route who is asking. Nothing outside
this package imports it but ``crnn_ocr.server.app``: the job workers never see an HTTP route.
"""
