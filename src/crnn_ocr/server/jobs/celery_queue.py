"""Redis mode's work queue: the Celery app on the Redis broker, one task per job item.

``make_celery(settings)`` builds the app for both sides: the server only sends ``TASK`` by name to
``QUEUE`` (``dispatch.CeleryDispatch``; it runs no OCR for jobs); ``crnn-ocr worker``
(``celery_worker``) registers the task and runs a Celery worker. Delivery is at least once and
safe against dying workers:

- ``task_acks_late``: a task is acknowledged after it ran, so a worker killed mid-item leaves its
  message unacknowledged; Redis hands it to another worker after ``broker_visibility_timeout_s``
  (the workers look for such messages every ``visibility / 4`` seconds).
- ``task_reject_on_worker_lost``: a pool process that dies puts its task back at once.
- ``worker_prefetch_multiplier=1``: a worker holds only the items it is reading.
- Recording an outcome is idempotent (``RedisJobStore.finish_item``), so a redelivered item
  that was already finished is skipped.
- An item whose workers died ``job_max_attempts`` times is failed with ``worker_lost`` at its
  next delivery (``RedisJobStore.start_item``): one poison input cannot kill workers forever.
"""

from __future__ import annotations

from celery import Celery

from crnn_ocr.server.settings import ServerSettings

TASK = "crnn_ocr.item"
QUEUE = "crnn-ocr"


def make_celery(settings: ServerSettings) -> Celery:
    if settings.broker_url is None:
        raise ValueError("Redis mode needs broker_url (redis://host:port/db)")
    visibility = settings.broker_visibility_timeout_s
    app = Celery("crnn_ocr", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={
            "visibility_timeout": visibility,
            "unacked_restore_interval": max(1, int(visibility / 4)),
            "unacked_restore_throttle": 1,
        },
    )
    return app
