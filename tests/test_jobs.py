"""Batch jobs in the embedded mode (SQLite store + worker threads), the history and the cache,
webhooks, ``crnn-ocr submit``, and a real ``crnn-ocr serve`` killed with ``kill -9`` mid-job.

Images are pages rendered with real fonts (tests/jobs_support.py) that the shipped model reads
exactly; results are compared as exact strings.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from jobs_support import (
    b64,
    expected_text,
    free_port,
    job_body,
    kill9,
    page_png,
    start_server,
    stop,
    wait_ready,
    wait_until,
)

from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.server.jobs.records import ItemOutcome, NewItem
from crnn_ocr.server.jobs.sql_store import SqlJobStore

OWNER = "anonymous"


def wait_job(client, job_id: str, timeout_s: float = 60) -> dict:
    def finished() -> dict | None:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        return job if job["status"] in ("completed", "cancelled") else None

    return wait_until(finished, timeout_s, f"job {job_id} to finish")


@pytest.fixture()
def client(shipped_ocr, tmp_path: Path):
    settings = ServerSettings(store_path=tmp_path / "store.sqlite3", cache=True, webhook_allowed_hosts=["127.0.0.1"])
    with TestClient(create_app(settings, ocr=shipped_ocr)) as c:
        yield c


# ---- the jobs API ------------------------------------------------------------------------------


def test_json_job_reads_every_image_and_fails_bad_items_only(client: TestClient) -> None:
    images = [page_png(0), page_png(1)]
    body = job_body(images, ["a.png", "b.png"])
    body["images"] += [
        {"image_base64": "not base64!", "name": "bad-base64"},
        {"image_base64": b64(b"GIF89a not an image we read"), "name": "gif"},
        {"image_base64": b64(page_png(2)[:200]), "name": "truncated.png"},
    ]
    r = client.post("/api/v1/jobs", json=body)
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["total"] == 5 and accepted["url"] == f"/api/v1/jobs/{accepted['id']}"
    job = wait_job(client, accepted["id"])
    assert (job["status"], job["done"], job["failed"], job["progress"]) == ("completed", 2, 3, 1.0)
    items = job["items"]
    assert [i["result"]["text"] for i in items[:2]] == [expected_text(0), expected_text(1)]
    assert [i["name"] for i in items] == ["a.png", "b.png", "bad-base64", "gif", "truncated.png"]
    assert [i["error"]["code"] for i in items[2:]] == ["invalid_base64", "unsupported_image", "corrupt_image"]
    assert all(i["error"]["message"] for i in items[2:])
    assert items[0]["result"]["pages"][0]["lines"][0]["text"] == "ORDER 10000"


def test_a_job_may_carry_more_than_one_image_limit_but_not_more_than_the_job_limit(shipped_ocr, tmp_path: Path) -> None:
    images = [page_png(i) for i in range(7)]
    names = [f"p{i}" for i in range(7)]
    settings = ServerSettings(
        store_path=tmp_path / "s.sqlite3", max_bytes=max(map(len, images)), max_job_bytes=sum(map(len, images)), max_job_items=100,
        cache=False,
    )
    assert len(json.dumps(job_body(images, names))) > settings.max_body_bytes  # over a sync request's limit
    with TestClient(create_app(settings, ocr=shipped_ocr)) as c:
        r = c.post("/api/v1/jobs", json=job_body(images, names))
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json()["id"])
        assert [i["result"]["text"] for i in job["items"]] == [expected_text(i) for i in range(7)]
        # A body that size on the sync endpoint is refused by its (one image) limit.
        big = c.post("/api/v1/ocr", json={"image_base64": b64(b"".join(images))})
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
        # And a job over max_job_bytes is refused before it is read.
        over = c.post("/api/v1/jobs", json=job_body(images * 6, names * 6))
        assert over.status_code == 413 and "limit" in over.json()["error"]["message"]


def test_multipart_job_takes_the_same_options_as_the_sync_endpoint(client: TestClient) -> None:
    files = [("images", (f"p{i}.png", page_png(i), "image/png")) for i in (3, 4)]
    r = client.post("/api/v1/jobs", files=files, data={"allowlist": "0123456789ORDE "})
    assert r.status_code == 202, r.text
    job = wait_job(client, r.json()["id"])
    first_lines = [i["result"]["pages"][0]["lines"][0]["text"] for i in job["items"]]
    assert first_lines == [expected_text(3).splitlines()[0], expected_text(4).splitlines()[0]]
    assert all(set(i["result"]["text"]) <= set("0123456789ORDE \n") for i in job["items"])


@pytest.mark.parametrize(
    "body",
    [
        {"images": []},
        {"images": [{"image_base64": "AAAA"}], "options": {"decode": {"method": "nope"}}},
        {"images": [{"image_base64": "AAAA"}], "options": {"pages": "3-1"}},
        {"images": [{"image_base64": "AAAA"}], "webhook_url": "http://evil.example/hook"},
    ],
)
def test_bad_job_options_are_422_and_store_nothing(client: TestClient, body: dict) -> None:
    r = client.post("/api/v1/jobs", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_options"
    assert client.get("/api/v1/jobs").json()["total"] == 0


def test_list_page_cancel_and_delete(client: TestClient) -> None:
    ids = [client.post("/api/v1/jobs", json=job_body([page_png(i)])).json()["id"] for i in range(3)]
    for job_id in ids:
        wait_job(client, job_id)
    listing = client.get("/api/v1/jobs", params={"page": 1, "page_size": 2}).json()
    assert listing["total"] == 3 and [j["id"] for j in listing["jobs"]] == ids[::-1][:2]
    assert listing["jobs"][0]["items"] is None
    assert client.get("/api/v1/jobs", params={"page": 2, "page_size": 2}).json()["jobs"][0]["id"] == ids[0]
    r = client.delete(f"/api/v1/jobs/{ids[0]}")
    assert r.status_code == 200 and r.json() == {"id": ids[0], "deleted": True}
    assert client.get(f"/api/v1/jobs/{ids[0]}").status_code == 404
    assert client.delete(f"/api/v1/jobs/{ids[0]}").json()["error"]["code"] == "not_found"


def test_cancel_drops_the_pending_items(tmp_path: Path, shipped_ocr) -> None:
    settings = ServerSettings(store_path=tmp_path / "s.sqlite3", job_workers=0)  # nobody reads items
    with TestClient(create_app(settings, ocr=shipped_ocr)) as c:
        job_id = c.post("/api/v1/jobs", json=job_body([page_png(0), page_png(1)])).json()["id"]
        r = c.delete(f"/api/v1/jobs/{job_id}")
        assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["cancelled"] == 2
        job = c.get(f"/api/v1/jobs/{job_id}").json()
        assert [i["status"] for i in job["items"]] == ["cancelled", "cancelled"]


# ---- cache and history -------------------------------------------------------------------------


def test_identical_image_and_options_are_answered_from_the_cache(client: TestClient) -> None:
    data = page_png(5)
    first = client.post("/api/v1/ocr", json={"image_base64": b64(data)}).json()
    assert first["cached"] is False and first["text"] == expected_text(5)
    again = client.post("/api/v1/ocr", json={"image_base64": b64(data)}).json()
    assert again["cached"] is True and again["text"] == expected_text(5) and again["lines"] == first["lines"]
    other_options = client.post("/api/v1/ocr", json={"image_base64": b64(data), "options": {"preprocess": {"clahe": True}}})
    assert other_options.json()["cached"] is False
    job = wait_job(client, client.post("/api/v1/jobs", json=job_body([data])).json()["id"])
    assert job["items"][0]["cached"] is True and job["items"][0]["result"]["text"] == expected_text(5)


def test_history_lists_searches_and_deletes(client: TestClient) -> None:
    client.post("/api/v1/ocr", json={"image_base64": b64(page_png(6))})
    wait_job(client, client.post("/api/v1/jobs", json=job_body([page_png(7)], ["seven.png"])).json()["id"])
    everything = client.get("/api/v1/history").json()
    assert everything["total"] == 2
    assert [e["source"] for e in everything["entries"]] == ["job", "sync"]
    found = client.get("/api/v1/history", params={"q": "ORDER 10259"}).json()  # page 7's own line
    assert found["total"] == 1 and found["entries"][0]["name"] == "seven.png"
    entry = client.get(f"/api/v1/history/{found['entries'][0]['id']}").json()
    assert entry["result"]["text"] == expected_text(7) and entry["options"]["detect"] is True
    assert client.get("/api/v1/history", params={"q": "中文"}).json()["total"] == 2
    assert client.delete(f"/api/v1/history/{entry['id']}").status_code == 200
    assert client.get(f"/api/v1/history/{entry['id']}").status_code == 404
    assert client.get("/api/v1/history").json()["total"] == 1


# ---- the store: ownership, leases ----------------------------------------------------------------


def test_store_queries_are_scoped_by_owner(tmp_path: Path) -> None:
    store = SqlJobStore(tmp_path / "s.sqlite3", result_ttl_s=60)
    job = store.create_job("alice", "{}", [NewItem("a", "h", b"x")], None)
    assert store.get_job(job.id, "bob") is None
    assert store.list_jobs("bob", 1, 10) == ([], 0)
    assert store.cancel_job(job.id, "bob") is None and not store.delete_job(job.id, "bob")
    assert store.get_job(job.id, None) is not None  # an administrator sees everything
    assert store.get_job(job.id, "alice").owner == "alice"


def test_an_item_whose_worker_died_is_claimed_again_then_given_up(tmp_path: Path) -> None:
    store = SqlJobStore(tmp_path / "s.sqlite3", result_ttl_s=60, lease_s=5, max_attempts=2)
    job = store.create_job(OWNER, "{}", [NewItem("a", "h", b"x")], None)
    t0 = time.time()
    first = store.claim("w1", now=t0)
    assert first is not None and first.attempts == 1
    assert store.claim("w2", now=t0 + 1) is None  # leased
    second = store.claim("w2", now=t0 + 6)  # w1 never renewed: it died
    assert second is not None and second.attempts == 2
    given_up: list = []
    assert store.claim("w3", now=t0 + 20, on_given_up=given_up.append) is None  # the second claim ran out too
    assert [j.id for j in given_up] == [job.id] and given_up[0].status == "completed"  # its webhook is called
    item = store.get_job(job.id, OWNER).items[0]
    assert (item.status, item.error_code) == ("failed", "worker_lost")
    assert store.finish_item(job.id, 0, ItemOutcome(result="{}", text="")) is None  # too late: ignored


# ---- webhook -----------------------------------------------------------------------------------


def test_webhook_is_called_when_the_job_finishes(client: TestClient) -> None:
    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/done"
        body = {**job_body([page_png(8)]), "webhook_url": url}
        job_id = client.post("/api/v1/jobs", json=body).json()["id"]
        wait_job(client, job_id)
        wait_until(lambda: received, 10, "the webhook call")
        assert received[0]["id"] == job_id and received[0]["status"] == "completed" and received[0]["done"] == 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_failing_webhook_does_not_break_the_job(client: TestClient) -> None:
    body = {**job_body([page_png(9)]), "webhook_url": f"http://127.0.0.1:{free_port()}/nobody-listens"}
    job = wait_job(client, client.post("/api/v1/jobs", json=body).json()["id"])
    assert job["status"] == "completed" and job["items"][0]["result"]["text"] == expected_text(9)


# ---- a real server killed with kill -9 mid-job, then `crnn-ocr submit --wait` ------------------


def test_embedded_jobs_survive_kill_9_and_restart(tmp_path: Path, shipped_model: Path) -> None:
    import subprocess
    import sys

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    store = tmp_path / "store.sqlite3"
    args = ("--store", str(store), "--job-workers", "1", "--job-lease", "2", "--no-cache")
    log = tmp_path / "serve.log"
    server = start_server(tmp_path, port, *args)
    try:
        wait_ready(url, server, log)
        n = 40
        r = httpx.post(f"{url}/api/v1/jobs", json=job_body([page_png(i) for i in range(n)]), timeout=60)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]

        def progress() -> dict | None:
            job = httpx.get(f"{url}/api/v1/jobs/{job_id}?results=false", timeout=10).json()
            return job if job["done"] >= 1 else None

        at_kill = wait_until(progress, 60, "the first item to finish", interval_s=0.02)
        kill9(server)
        assert at_kill["done"] < n, "the job finished before the server was killed: nothing was tested"

        server = start_server(tmp_path, port, *args, log_name="serve2.log")
        wait_ready(url, server, tmp_path / "serve2.log")

        def finished() -> dict | None:
            job = httpx.get(f"{url}/api/v1/jobs/{job_id}", timeout=30).json()
            return job if job["status"] == "completed" else None

        job = wait_until(finished, 120, "the job to complete after the restart", interval_s=0.2)
        assert (job["done"], job["failed"]) == (n, 0)
        assert [i["result"]["text"] for i in job["items"]] == [expected_text(i) for i in range(n)]

        # The CLI client against the restarted server: a folder and a file, --wait, text out.
        folder = tmp_path / "batch"
        (folder / "sub").mkdir(parents=True)
        (folder / "a.png").write_bytes(page_png(10))
        (folder / "sub" / "b.png").write_bytes(page_png(11))
        bad = tmp_path / "bad.png"
        bad.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        out = subprocess.run(
            [sys.executable, "-m", "crnn_ocr.cli", "submit", str(folder), str(bad), "--server", url, "--wait"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert out.returncode == 1, out.stderr  # one item failed
        lines = out.stdout.splitlines()
        assert len(lines[0]) == 32  # the job id first
        assert f"==> a.png <==\n{expected_text(10)}\n==> sub/b.png <==\n{expected_text(11)}\n" in out.stdout
        assert "==> bad.png <==\nerror: corrupt_image" in out.stdout
        assert "error: bad.png" in out.stderr
    finally:
        stop(server)
