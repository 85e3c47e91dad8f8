"""A bounded schemathesis run against the live app: every operation of the published OpenAPI
document (``POST /ocr`` and the jobs multipart body included), with data generated from the
schema (valid data, and data that breaks the schema on purpose), must never answer a 5xx.

The app (tiny test model, its own store, webhooks allowed to ``localhost`` only) runs under
uvicorn on a loopback port in this process; schemathesis loads ``/openapi.json`` from it and
calls it over HTTP. Bounded: ``MAX_EXAMPLES`` per operation and mode, derandomized (the same
cases every run), no example database written.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jobs_support import free_port, wait_until

schemathesis = pytest.importorskip("schemathesis", reason="the 'test' extra is not installed")
from hypothesis import HealthCheck, settings  # noqa: E402 - schemathesis brings hypothesis
from schemathesis.checks import not_a_server_error  # noqa: E402

MAX_EXAMPLES = 30


@pytest.fixture(scope="module")
def live_url(tiny_ocr, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    from crnn_ocr.server import ServerSettings, create_app

    store: Path = tmp_path_factory.mktemp("schema-fuzz") / "store.sqlite3"
    app = create_app(
        ServerSettings(store_path=store, webhook_allowed_hosts=["localhost"], request_timeout_s=30), ocr=tiny_ocr
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="schema-fuzz-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, 30, "the app to be ready", interval_s=0.05)
    yield url
    server.should_exit = True
    thread.join(30)


def test_no_operation_answers_5xx(live_url: str) -> None:
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable

    # a dataset import's body is a zip archive: sent as the raw bytes generated for it
    schemathesis.serializer.alias("application/zip", "application/octet-stream")
    schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    assert {"POST /ocr", "POST /api/v1/ocr", "POST /api/v1/jobs", "DELETE /api/v1/jobs/{job_id}"} <= labels
    failures: dict[str, str] = {}
    statuses: Counter[str] = Counter()
    calls = 0
    for operation, mode in itertools.product(operations, schemathesis.GenerationMode):
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case) -> None:
            nonlocal calls
            calls += 1
            response = case.call(timeout=60)
            statuses[f"{operation.label} {mode.value} {response.status_code}"] += 1
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Unsatisfiable:  # negative data for an operation that takes no input: nothing to break
            assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report
            failures[f"{operation.label} ({mode.value})"] = str(exc)[:2000]
    print(f"{calls} calls over {len(operations)} operations:", dict(sorted(statuses.items())))
    assert not failures, failures
    assert calls >= len(operations) * 2 * 5, calls
