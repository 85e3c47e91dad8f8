"""deploy/ works as written: nginx (its site config) in front of two ``crnn-ocr serve`` processes and
one ``crnn-ocr worker`` (their systemd units' command lines and environment file) sharing one
Redis and one PostgreSQL store, all started on loopback (tests/deploy_support.py). OCR requests
and a job go through nginx; one server is killed with ``kill -9``; requests still succeed and the
job completes. The site's body limits match the server's."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import httpx
from deploy_support import SITE, local_stack
from jobs_support import expected_text, page_png
from pg_support import new_database

from crnn_ocr.client import OCRClient, RetryPolicy
from crnn_ocr.server import ServerSettings

MiB = 1024 * 1024


def test_the_sites_body_limits_match_the_servers() -> None:
    site = SITE.read_text()
    server_level = re.search(r"^    client_max_body_size (\d+)m;", site, re.M)
    jobs = re.search(r"location = /api/v1/jobs \{\s*client_max_body_size (\d+)m;", site)
    assert server_level and jobs
    defaults = ServerSettings(store_path="/nonexistent/store.sqlite3")
    assert int(server_level.group(1)) == math.ceil(defaults.max_body_bytes / MiB)
    assert int(jobs.group(1)) == math.ceil(defaults.max_job_body_bytes / MiB)


def served_ids(log_text: str) -> set[str]:
    """The request ids of the OCR requests in a server's JSON log (uvicorn's access lines)."""
    ids = set()
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("logger") == "uvicorn.access" and "POST /ocr" in entry.get("message", ""):
            ids.add(entry["request_id"])
    return ids


def test_nginx_two_servers_redis_and_postgresql_survive_a_server_killed(postgres_admin_url, shipped_model) -> None:
    store = new_database(postgres_admin_url)
    made = subprocess.run([sys.executable, "-m", "crnn_ocr.cli", "keys", "create", "--name", "deploy-test",
                           "--store", store], capture_output=True, text=True, timeout=60, check=True)
    token = made.stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}
    with local_stack(store, n_servers=2, n_workers=1) as stack:
        assert httpx.post(f"{stack.url}/ocr", files={"image": ("p.png", page_png(0))}).status_code == 401

        def ocr(i: int) -> httpx.Response:
            return httpx.post(f"{stack.url}/ocr", files={"image": (f"p{i}.png", page_png(i))},
                              headers={**auth, "X-Request-ID": f"deploy-{i}"}, timeout=120)

        before = [ocr(i) for i in range(4)]
        assert [r.status_code for r in before] == [200] * 4
        assert [r.json()["text"] for r in before] == [expected_text(i) for i in range(4)]
        assert [r.headers["x-request-id"] for r in before] == [f"deploy-{i}" for i in range(4)]
        per_server = [served_ids(stack.server_log(n).read_text(errors="replace")) for n in range(2)]
        assert all(per_server), f"nginx sent every request to one server: {per_server}"
        ours = {i for i in per_server[0] | per_server[1] if i.startswith("deploy-")}
        assert ours == {f"deploy-{i}" for i in range(4)}
        # the unauthenticated request came without an id: nginx's own reached the server
        assert any(re.fullmatch(r"[0-9a-f]{32}", i) for i in per_server[0] | per_server[1])
        nginx_log = (stack.folder / "crnn-ocr.access.log").read_text()
        assert all(f"rid=deploy-{i} " in nginx_log for i in range(4))

        with OCRClient(stack.url, api_key=token, retry=RetryPolicy(attempts=5, backoff_s=0.2)) as client:
            pages = list(range(20, 26))
            accepted = client.submit([(f"page-{i}.png", page_png(i)) for i in pages])
            stack.kill_server(0)
            after = [ocr(i) for i in range(4, 10)]
            assert [r.status_code for r in after] == [200] * 6, [r.text[:200] for r in after]
            assert [r.json()["text"] for r in after] == [expected_text(i) for i in range(4, 10)]
            dead = stack.server_urls[0].rsplit(":", 1)[1]
            errors = (stack.folder / "error.log").read_text()
            assert re.search(rf"Connection refused.*upstream: \"http://127\.0\.0\.1:{dead}/ocr\"", errors), errors
            job = client.wait(accepted["id"], poll_s=0.2, timeout_s=180)
            assert job["status"] == "completed" and (job["done"], job["failed"]) == (len(pages), 0)
            assert [item["result"]["text"] for item in job["items"]] == [expected_text(i) for i in pages]
            assert client.ready()["ready"] is True

            # the surviving server moves the worker's history entries into the shared store
            def drained() -> bool:
                return client.history(q="ORDER 10740")["total"] >= 1  # page 20's unique line

            from jobs_support import wait_until

            wait_until(drained, 30, "the job's history entries in PostgreSQL")
        assert httpx.get(f"{stack.url}/metrics", headers=auth).status_code == 404  # scraped per server
        assert stack.servers[1].poll() is None
