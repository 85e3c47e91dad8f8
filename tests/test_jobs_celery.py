"""Redis mode: a real ``redis-server`` on loopback, two real ``crnn-ocr worker`` processes (Celery),
and the API in Redis mode. Jobs complete through Celery on both workers; a worker killed with
``kill -9`` mid-job loses nothing (its unacknowledged item is redelivered to the other worker).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from jobs_support import (
    REDIS_SERVER,
    b64,
    cli,
    expected_text,
    job_body,
    kill9,
    page_png,
    redis_server,
    start_process,
    stop,
    wait_until,
)

pytestmark = pytest.mark.skipif(
    not os.path.exists(REDIS_SERVER),
    reason="redis-server is not installed (apt install redis-server; scripts/install-system-deps.sh does it)",
)
celery = pytest.importorskip("celery", reason="the 'jobs' extra is not installed (pip install -e '.[jobs]')")

VISIBILITY_S = 3  # a killed worker's item is redelivered after this


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


def start_worker(broker: str, log: Path):
    return start_process(
        cli("worker", "--broker", broker, "--threads", "1", "--visibility-timeout", str(VISIBILITY_S),
            "--log-level", "info"),
        log,
    )


@pytest.fixture(scope="module")
def api(broker: str, shipped_ocr, tmp_path_factory: pytest.TempPathFactory):
    from fastapi.testclient import TestClient

    from crnn_ocr.server import ServerSettings, create_app

    tmp = tmp_path_factory.mktemp("redis-api")
    settings = ServerSettings(
        broker_url=broker, store_path=tmp / "history.sqlite3", broker_visibility_timeout_s=VISIBILITY_S, cache=True
    )
    with TestClient(create_app(settings, ocr=shipped_ocr)) as client:
        yield client


@pytest.fixture(scope="module")
def workers(broker: str, api, tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("workers")
    procs = [start_worker(broker, tmp / f"worker{n}.log") for n in range(2)]
    celery_app = api.app.state.service.jobs.dispatch.celery

    def both_answer() -> bool:
        for proc, n in zip(procs, range(2)):
            assert proc.poll() is None, (tmp / f"worker{n}.log").read_text(errors="replace")
        return len(celery_app.control.ping(timeout=0.5)) >= 2

    try:
        wait_until(both_answer, 90, "two Celery workers to answer ping", interval_s=0.2)
        yield procs
    finally:
        for proc in procs:
            stop(proc)


def wait_job(api, job_id: str, timeout_s: float = 120) -> dict:
    def finished() -> dict | None:
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["status"] in ("completed", "cancelled") else None

    return wait_until(finished, timeout_s, f"job {job_id}", interval_s=0.1)


def test_jobs_complete_through_celery_on_two_workers(api, workers) -> None:
    n = 12
    images = [page_png(100 + i) for i in range(n)]
    body = job_body(images)
    body["images"].append({"image_base64": b64(b"not an image at all"), "name": "junk.bin"})
    r = api.post("/api/v1/jobs", json=body)
    assert r.status_code == 202, r.text
    job = wait_job(api, r.json()["id"])
    assert (job["status"], job["done"], job["failed"]) == ("completed", n, 1)
    assert [i["result"]["text"] for i in job["items"][:n]] == [expected_text(100 + i) for i in range(n)]
    assert job["items"][n]["error"]["code"] == "unsupported_image"
    used = {i["worker"].rsplit(":", 1)[1] for i in job["items"][:n]}
    assert used == {str(p.pid) for p in workers}, "both workers should have read items"
    assert all(i["started_at"] >= i["enqueued_at"] for i in job["items"][:n])
    # The workers' history entries reach the server's history (drained from Redis).
    wait_until(lambda: api.get("/api/v1/history").json()["total"] >= n, 20, "history entries from the workers")
    hit = api.get("/api/v1/history", params={"q": "ORDER 13700"}).json()  # page 100's own line
    assert hit["total"] == 1 and hit["entries"][0]["source"] == "job"
    # ... and feed the cache: the same image again is answered at once, in a job and synchronously.
    again = wait_job(api, api.post("/api/v1/jobs", json=job_body(images[:1])).json()["id"])
    assert again["items"][0]["cached"] is True and again["items"][0]["result"]["text"] == expected_text(100)
    sync = api.post("/api/v1/ocr", json={"image_base64": b64(images[0])}).json()
    assert sync["cached"] is True and sync["text"] == expected_text(100)


def test_killing_a_worker_mid_job_loses_nothing(api, workers) -> None:
    n = 24
    r = api.post("/api/v1/jobs", json=job_body([page_png(200 + i) for i in range(n)]))
    job_id = r.json()["id"]
    pids = {str(p.pid): p for p in workers}

    def a_worker_is_reading() -> tuple[str, int] | None:
        job = api.get(f"/api/v1/jobs/{job_id}?results=false").json()
        running = [i for i in job["items"] if i["status"] == "running" and i["worker"]]
        if running and job["done"] >= 1:
            return running[0]["worker"].rsplit(":", 1)[1], running[0]["index"]
        return None

    victim_pid, index = wait_until(a_worker_is_reading, 60, "a worker to be mid-item", interval_s=0.01)
    kill9(pids[victim_pid])
    job = wait_job(api, job_id, timeout_s=120)
    assert (job["status"], job["done"], job["failed"]) == ("completed", n, 0), job
    assert [i["result"]["text"] for i in job["items"]] == [expected_text(200 + i) for i in range(n)]
    item = job["items"][index]
    if item["worker"].rsplit(":", 1)[1] != victim_pid:  # it was not finished before the kill: redone
        assert item["attempts"] >= 2, item
    survivor = next(p for pid, p in pids.items() if pid != victim_pid)
    assert survivor.poll() is None


def test_a_poison_item_is_given_up_after_max_attempts(tmp_path: Path, shipped_ocr) -> None:
    """An item whose worker dies every time it reads it (here: killed with ``kill -9`` by the test
    as soon as the item runs) fails with ``worker_lost`` after ``job_max_attempts`` starts, as in
    embedded mode, instead of killing a worker every visibility timeout forever."""
    from fastapi.testclient import TestClient

    from crnn_ocr.server import ServerSettings, create_app

    max_attempts = 2
    with redis_server(tmp_path) as url:
        settings = ServerSettings(
            broker_url=url, store_path=tmp_path / "history.sqlite3", broker_visibility_timeout_s=VISIBILITY_S,
            job_max_attempts=max_attempts,
        )
        with TestClient(create_app(settings, ocr=shipped_ocr)) as api:
            job_id = api.post("/api/v1/jobs", json=job_body([page_png(300)])).json()["id"]
            kills = 0
            for n in range(max_attempts):
                worker = start_process(
                    cli("worker", "--broker", url, "--threads", "1", "--visibility-timeout", str(VISIBILITY_S),
                        "--max-attempts", str(max_attempts), "--log-level", "info"),
                    tmp_path / f"poison-worker{n}.log",
                )
                try:
                    def running(pid: int = worker.pid, attempt: int = n + 1) -> bool:
                        assert worker.poll() is None, (tmp_path / f"poison-worker{n}.log").read_text(errors="replace")
                        item = api.get(f"/api/v1/jobs/{job_id}?results=false").json()["items"][0]
                        return item["status"] == "running" and item["attempts"] == attempt and \
                            item["worker"].rsplit(":", 1)[1] == str(pid)

                    wait_until(running, 120, f"the worker to start attempt {n + 1}", interval_s=0.01)
                    kill9(worker)  # the item "killed" its worker
                    kills += 1
                finally:
                    stop(worker)
            # The next delivery (after the visibility timeout) gives the item up instead of reading it.
            worker = start_process(
                cli("worker", "--broker", url, "--threads", "1", "--visibility-timeout", str(VISIBILITY_S),
                    "--max-attempts", str(max_attempts), "--log-level", "info"),
                tmp_path / "poison-worker-last.log",
            )
            try:
                job = wait_job(api, job_id, timeout_s=120)
            finally:
                stop(worker)
            item = job["items"][0]
            assert kills == max_attempts
            assert (job["status"], job["done"], job["failed"]) == ("completed", 0, 1), job
            assert item["status"] == "failed" and item["error"]["code"] == "worker_lost", item
            assert item["attempts"] == max_attempts
            assert f"stopped {max_attempts} times" in item["error"]["message"]
