"""Batch jobs, without HTTP (the routes are ``crnn_ocr.server.routes.jobs``; nothing here imports them).

Rooms, from the data up:

- ``records``: the typed records (``NewItem``, ``JobRecord``, ``ItemRecord``, ``ClaimedItem``,
  ``ItemOutcome``) and the ``JobStore`` protocol;
- ``sql_store``: ``SqlJobStore``, the embedded store on SQLite or PostgreSQL (``crnn_ocr.server.sqlite``);
  ``redis_store``: ``RedisJobStore``, Redis mode's store shared with the workers;
- ``worker``: ``process_item``, the one job-item worker (options parsed once, read through
  ``crnn_ocr.server.reading``, history entry, outcome, webhook), whatever the queue;
- ``embedded``: the worker threads of embedded mode; ``celery_queue``: the Celery app and task
  name; ``celery_worker``: the ``crnn-ocr worker`` process of Redis mode;
- ``dispatch``: the store and the way items reach workers, embedded or Celery (``open_jobs``);
- ``service``: ``JobService``, the server's side: accept (store first, then dispatch), look up,
  cancel, delete, purge.
"""
