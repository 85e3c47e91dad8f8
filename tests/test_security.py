"""Access to the service: API keys, isolation of jobs / history / cache between keys, admin, rate
and job limits, CORS, retention and deletion, and the refusal to start exposed without keys.

Real app (TestClient) around the tiny test model; each test has its own store file with its own
keys, created through ``KeyStore`` or the ``crnn-ocr keys`` command.
"""

from __future__ import annotations

import base64
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from fastapi.testclient import TestClient
from jobs_support import free_port, wait_until
from tiny_model import render_code_line

from crnn_ocr.cli import main as cli_main
from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.server.auth import KeyStore, RateLimiter, exposure_problem, is_open_path

CODE_TEXT = "0123ab中文"
NO_DETECT = {"detect": False}


def line_b64(text: str = CODE_TEXT) -> str:
    ok, buf = cv2.imencode(".png", render_code_line(text))
    assert ok
    return base64.b64encode(buf.tobytes()).decode("ascii")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Keys:
    def __init__(self, store: Path) -> None:
        keys = KeyStore(store)
        _, self.admin = keys.create("ops", "admin")
        self.a_key, self.a = keys.create("alice")
        self.b_key, self.b = keys.create("bob")
        self.store = keys


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite3"


@pytest.fixture()
def keys(store: Path):
    k = Keys(store)
    yield k
    k.store.close()


def make_client(tiny_ocr, store: Path, **overrides: object) -> TestClient:
    settings = ServerSettings(store_path=store, cache=True, **overrides)
    return TestClient(create_app(settings, ocr=tiny_ocr))


def ocr(client: TestClient, token: str | None, text: str = CODE_TEXT):
    headers = bearer(token) if token else {}
    return client.post("/api/v1/ocr", json={"image_base64": line_b64(text), "options": NO_DETECT}, headers=headers)


def submit(client: TestClient, token: str | None, text: str = CODE_TEXT):
    headers = bearer(token) if token else {}
    body = {"images": [{"image_base64": line_b64(text), "name": "line.png"}], "options": NO_DETECT}
    return client.post("/api/v1/jobs", json=body, headers=headers)


def wait_job(client: TestClient, token: str, job_id: str) -> dict:
    def finished() -> dict | None:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=bearer(token)).json()
        return job if job["status"] in ("completed", "cancelled") else None

    return wait_until(finished, 30, f"job {job_id}")


def rows(store: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return db.execute(sql).fetchall()


# ---- authentication ----------------------------------------------------------------------------


def _call_every_route(client: TestClient, headers: dict[str, str]) -> list[tuple[str, str, int]]:
    """Every documented endpoint but the open ones, called with ``headers``."""
    answers = []
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if is_open_path(path):
            continue
        path = path.replace("{job_id}", "x").replace("{entry_id}", "1")
        for method in operations:
            answers.append((method.upper(), path, client.request(method.upper(), path, headers=headers).status_code))
    return answers


def test_without_a_key_every_api_route_is_401(tiny_ocr, store: Path, keys: Keys) -> None:
    with make_client(tiny_ocr, store) as client:
        answers = _call_every_route(client, {})
        assert {p for _, p, _ in answers} >= {
            "/api/v1/ocr", "/ocr", "/api/v1/jobs", "/api/v1/history", "/api/v1/info", "/api/v1/admin/purge"}
        assert all(status == 401 for _, _, status in answers), answers
        r = client.post("/api/v1/ocr", json={"image_base64": line_b64()})
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert r.json() == {"success": False, "error": {
            "code": "unauthorized", "message": "this server needs an API key: send Authorization: Bearer <key>"}}
        for token in ("nonsense", keys.a + "x", f"crnn_{keys.a_key.id}_wrong", "crnn__"):
            assert client.get("/api/v1/info", headers=bearer(token)).status_code == 401, token
        assert client.get("/api/v1/info", headers={"Authorization": keys.a}).status_code == 401  # no scheme
        # open to everyone: health, readiness, the page and the docs
        for path in ("/healthz", "/readyz", "/", "/static/app.js", "/docs", "/openapi.json"):
            assert client.get(path).status_code == 200, path
        assert client.get("/api/v1/info", headers=bearer(keys.a)).status_code == 200
        assert ocr(client, keys.a).json()["text"] == CODE_TEXT


def test_a_revoked_key_is_401_at_its_next_request(tiny_ocr, store: Path, keys: Keys) -> None:
    with make_client(tiny_ocr, store) as client:
        assert client.get("/api/v1/jobs", headers=bearer(keys.b)).status_code == 200
        assert keys.store.revoke(keys.b_key.id)
        r = client.get("/api/v1/jobs", headers=bearer(keys.b))
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        assert client.get("/api/v1/jobs", headers=bearer(keys.a)).status_code == 200


def test_the_key_is_stored_hashed(store: Path) -> None:
    keys = KeyStore(store)
    key, token = keys.create("someone")
    secret = token.split("_", 2)[2]
    assert token.startswith(f"crnn_{key.id}_") and len(secret) >= 40
    keys.close()
    data = b"".join(p.read_bytes() for p in store.parent.glob("store.sqlite3*"))
    assert key.id.encode() in data and secret.encode() not in data


def test_keys_command_creates_lists_and_revokes(store: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["keys", "create", "--name", "scanner", "--store", str(store)]) == 0
    token = capsys.readouterr().out.strip()
    assert cli_main(["keys", "create", "--name", "ops", "--admin", "--store", str(store)]) == 0
    capsys.readouterr()
    key_id = token.split("_")[1]
    assert cli_main(["keys", "list", "--store", str(store)]) == 0
    listing = capsys.readouterr().out
    assert "scanner" in listing and "admin" in listing and key_id in listing and token not in listing
    assert cli_main(["keys", "revoke", key_id, "--store", str(store)]) == 0
    assert cli_main(["keys", "revoke", key_id, "--store", str(store)]) == 1
    keys = KeyStore(store)
    assert keys.verify(token) is None and keys.get(key_id).revoked
    keys.close()


# ---- isolation and admin -----------------------------------------------------------------------


def test_another_keys_job_result_history_and_cache_are_404(tiny_ocr, store: Path, keys: Keys) -> None:
    with make_client(tiny_ocr, store) as client:
        assert ocr(client, keys.a).json()["cached"] is False
        job = wait_job(client, keys.a, submit(client, keys.a, "0123").json()["id"])
        assert job["items"][0]["result"]["text"] == "0123"
        (entry, *_) = client.get("/api/v1/history", headers=bearer(keys.a)).json()["entries"]
        # bob sees none of it, and cannot delete it
        for method, path in (("GET", f"/api/v1/jobs/{job['id']}"), ("DELETE", f"/api/v1/jobs/{job['id']}"),
                             ("GET", f"/api/v1/history/{entry['id']}"), ("DELETE", f"/api/v1/history/{entry['id']}")):
            r = client.request(method, path, headers=bearer(keys.b))
            assert r.status_code == 404 and "0123" not in r.text, (method, path)
        assert client.get("/api/v1/jobs", headers=bearer(keys.b)).json()["total"] == 0
        assert client.get("/api/v1/history", headers=bearer(keys.b)).json()["total"] == 0
        # ... nor alice's cached result: the same image is read afresh for bob
        assert ocr(client, keys.b).json()["cached"] is False
        assert ocr(client, keys.a).json()["cached"] is True
        assert client.get("/api/v1/history", headers=bearer(keys.a)).json()["total"] == 3  # 2 sync + 1 job
        # the records are owned by the key ids
        assert {r[0] for r in rows(store, "SELECT DISTINCT owner FROM history")} == {keys.a_key.id, keys.b_key.id}


def test_admin_sees_every_key_and_purges(tiny_ocr, store: Path, keys: Keys) -> None:
    with make_client(tiny_ocr, store) as client:
        ocr(client, keys.a)
        ocr(client, keys.b, "ab01")
        job_id = submit(client, keys.a, "0123").json()["id"]
        wait_job(client, keys.a, job_id)
        admin = bearer(keys.admin)
        assert client.get(f"/api/v1/jobs/{job_id}", headers=admin).json()["items"][0]["result"]["text"] == "0123"
        assert client.get("/api/v1/jobs", headers=admin).json()["total"] == 1
        assert client.get("/api/v1/history", headers=admin).json()["total"] == 3
        r = client.post("/api/v1/admin/purge", headers=bearer(keys.a))
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
        r = client.post("/api/v1/admin/purge", params={"owner": keys.b_key.id}, headers=admin)
        assert r.json() == {"jobs": 0, "history": 1}
        assert client.get("/api/v1/history", headers=bearer(keys.b)).json()["total"] == 0
        assert client.post("/api/v1/admin/purge", headers=admin).json() == {"jobs": 1, "history": 2}
        assert client.get(f"/api/v1/jobs/{job_id}", headers=bearer(keys.a)).status_code == 404
        assert ocr(client, keys.a).json()["cached"] is False


# ---- limits ------------------------------------------------------------------------------------


def test_rate_limit_is_429_with_retry_after(tiny_ocr, store: Path, keys: Keys) -> None:
    with make_client(tiny_ocr, store, rate_limit_per_minute=6, rate_limit_burst=2) as client:
        statuses = [client.get("/api/v1/jobs", headers=bearer(keys.a)) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        r = statuses[-1]
        assert r.json()["error"]["code"] == "rate_limited" and 1 <= int(r.headers["Retry-After"]) <= 10
        assert client.get("/api/v1/jobs", headers=bearer(keys.b)).status_code == 200  # per key
        assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize(
    ("per_minute", "burst", "times", "expected"),
    [
        (60, 2, [0, 0, 0], [0.0, 0.0, 1.0]),  # a burst of 2, then one token a second
        (60, 2, [0, 0, 0.5, 1.0], [0.0, 0.0, 0.5, 0.0]),
        (0, 1, [0, 0, 0], [0.0, 0.0, 0.0]),  # 0: no limit
    ],
)
def test_token_bucket(per_minute: int, burst: int, times: list[float], expected: list[float]) -> None:
    limiter = RateLimiter()
    assert [round(limiter.take("k", per_minute, burst, now=t), 3) for t in times] == expected


def test_unfinished_jobs_per_key_are_limited(tiny_ocr, store: Path, keys: Keys) -> None:
    with make_client(tiny_ocr, store, job_workers=0, max_jobs_per_key=1) as client:  # nobody reads items
        assert submit(client, keys.a).status_code == 202
        r = submit(client, keys.a)
        assert r.status_code == 429 and r.headers["Retry-After"] == "5" and r.json()["error"]["code"] == "rate_limited"
        assert submit(client, keys.b).status_code == 202  # another key has its own limit


def test_limits_are_refused_before_the_body_is_used(tiny_ocr, store: Path, keys: Keys) -> None:
    with make_client(tiny_ocr, store, max_bytes=1000) as client:
        big = {"image_base64": "A" * 10_000}
        assert client.post("/api/v1/ocr", json=big).status_code == 401  # no key: refused first
        assert client.post("/api/v1/ocr", json=big, headers=bearer(keys.a)).status_code == 413


# ---- CORS --------------------------------------------------------------------------------------


def _preflight(client: TestClient, origin: str):
    return client.options("/api/v1/ocr", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})


def test_cors_is_closed_by_default(tiny_ocr, store: Path) -> None:
    with make_client(tiny_ocr, store) as client:
        assert "access-control-allow-origin" not in _preflight(client, "https://evil.example").headers
        r = client.get("/api/v1/info", headers={"Origin": "https://evil.example"})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_cors_opens_for_the_configured_origin_only(tiny_ocr, store: Path, keys: Keys) -> None:
    with make_client(tiny_ocr, store, cors_origins=["https://intranet.example"]) as client:
        ok = _preflight(client, "https://intranet.example")
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://intranet.example"
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-origin" not in _preflight(client, "https://evil.example").headers
        r = client.get("/api/v1/info", headers={"Origin": "https://intranet.example", **bearer(keys.a)})
        assert r.headers["access-control-allow-origin"] == "https://intranet.example"
        denied = client.get("/api/v1/info", headers={"Origin": "https://intranet.example"})
        assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == "https://intranet.example"


# ---- data hygiene ------------------------------------------------------------------------------


def test_delete_removes_the_image_the_result_and_the_cache_entry(tiny_ocr, store: Path, keys: Keys) -> None:
    with make_client(tiny_ocr, store) as client:
        job = wait_job(client, keys.a, submit(client, keys.a).json()["id"])
        assert rows(store, "SELECT count(*) FROM items WHERE data IS NOT NULL") == [(0,)]  # image gone once read
        assert rows(store, "SELECT count(*) FROM history WHERE job_id IS NOT NULL") == [(1,)]
        assert client.delete(f"/api/v1/jobs/{job['id']}", headers=bearer(keys.a)).json()["deleted"] is True
        assert rows(store, "SELECT count(*) FROM items") == [(0,)]
        assert rows(store, "SELECT count(*) FROM history") == [(0,)]
        assert ocr(client, keys.a).json()["cached"] is False  # not answered from the deleted job's result
        # a history entry: removed with its cached result (and the cache hit recorded from it)
        assert ocr(client, keys.a).json()["cached"] is True
        entries = client.get("/api/v1/history", headers=bearer(keys.a)).json()["entries"]
        r = client.delete(f"/api/v1/history/{entries[-1]['id']}", headers=bearer(keys.a))
        assert r.json() == {"id": entries[-1]["id"], "deleted": True, "removed": 2}
        assert ocr(client, keys.a).json()["cached"] is False


def test_expired_results_and_history_are_purged(tiny_ocr, store: Path, keys: Keys) -> None:
    with make_client(tiny_ocr, store, result_ttl_s=0.5, history_ttl_s=0.5, purge_interval_s=0.2) as client:
        ocr(client, keys.a)
        wait_job(client, keys.a, submit(client, keys.a, "0123").json()["id"])
        assert rows(store, "SELECT count(*) FROM jobs") == [(1,)]
        wait_until(lambda: rows(store, "SELECT (SELECT count(*) FROM jobs) + (SELECT count(*) FROM items)"
                                       " + (SELECT count(*) FROM history)") == [(0,)], 10, "the purge")


# ---- start-up ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "keys_configured", "insecure_open", "refused"),
    [
        ("127.0.0.1", False, False, False),
        ("localhost", False, False, False),
        ("::1", False, False, False),
        ("0.0.0.0", False, False, True),
        ("192.168.1.20", False, False, True),
        ("::", False, False, True),
        ("0.0.0.0", True, False, False),
        ("0.0.0.0", False, True, False),
    ],
)
def test_exposure_rule(host: str, keys_configured: bool, insecure_open: bool, refused: bool) -> None:
    assert (exposure_problem(host, keys_configured, insecure_open) is not None) == refused


def test_the_app_refuses_to_start_exposed_without_keys(tiny_ocr, store: Path) -> None:
    with pytest.raises(RuntimeError, match="without API keys"), make_client(tiny_ocr, store, host="0.0.0.0"):
        pass


def test_serve_on_a_non_loopback_address_without_keys_fails_clearly(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "crnn_ocr.cli", "serve", "--host", "0.0.0.0", "--port", str(free_port()),
           "--store", str(tmp_path / "s.sqlite3")]
    start = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "refusing to listen on 0.0.0.0 without API keys" in done.stderr
    assert "crnn-ocr keys create" in done.stderr and "--insecure-open" in done.stderr
    assert time.monotonic() - start < 60


@pytest.mark.parametrize(
    ("forwarded_for", "status"),
    [(None, 200), ("127.0.0.1", 200), ("::1, 127.0.0.1", 200), ("10.0.0.5", 403), ("127.0.0.1, 203.0.113.9", 403),
     ("unknown", 403)],
)
def test_open_mode_refuses_requests_a_proxy_forwards_from_the_network(
    tiny_ocr, store: Path, forwarded_for: str | None, status: int
) -> None:
    """Without keys a server answers loopback only; behind a reverse proxy on the same machine
    (deploy/'s nginx) every request arrives on loopback, so X-Forwarded-For tells."""
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    with make_client(tiny_ocr, store) as client:
        r = client.get("/api/v1/info", headers=headers)
    assert r.status_code == status
    if status == 403:
        assert "forwarded by a proxy" in r.json()["error"]["message"]
