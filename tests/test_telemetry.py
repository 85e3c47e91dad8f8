"""Operations: ``/metrics`` (Prometheus text) moves with requests, is admin-only once keys exist;
``X-Request-ID`` on every answer; JSON log lines that carry it (``crnn-ocr serve --log-format json``)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import cv2
import httpx
import pytest
from fastapi.testclient import TestClient
from jobs_support import cli, free_port, start_process, stop, wait_ready, wait_until
from tiny_model import render_code_line

from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.server.auth import KeyStore
from crnn_ocr.server.logs import accepted_request_id
from crnn_ocr.server.telemetry import STAGES, parse_samples

CODE_TEXT = "0123ab中文"
NO_DETECT = {"detect": False}


def line_png(text: str = CODE_TEXT) -> bytes:
    ok, buf = cv2.imencode(".png", render_code_line(text))
    assert ok
    return buf.tobytes()


def scrape(client: TestClient, headers: dict | None = None) -> dict[tuple, float]:
    response = client.get("/metrics", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(name, tuple(sorted(labels.items()))): value for name, labels, value in parse_samples(response.text)}


def value(samples: dict[tuple, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture()
def client(tiny_ocr, tmp_path: Path):
    settings = ServerSettings(store_path=tmp_path / "store.sqlite3", cache=True)
    with TestClient(create_app(settings, ocr=tiny_ocr)) as c:
        yield c


def test_counters_and_histograms_move_with_requests(client: TestClient) -> None:
    before = scrape(client)
    body = {"image_base64": base64.b64encode(line_png()).decode(), "options": NO_DETECT}
    first = client.post("/api/v1/ocr", json=body)
    second = client.post("/api/v1/ocr", json=body)  # the same image and options: from the cache
    bad = client.post("/api/v1/ocr", json={"image_base64": "not base64!"})
    upload = client.post("/ocr", files={"image": ("x.png", line_png("42"), "image/png")}, data={"detect": "false"})
    assert first.status_code == second.status_code == upload.status_code == 200
    assert second.json()["cached"] is True
    assert bad.status_code == 400
    after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("crnn_ocr_requests_total", endpoint="/api/v1/ocr", method="POST", status="200") == 2
    assert moved("crnn_ocr_requests_total", endpoint="/api/v1/ocr", method="POST", status="400") == 1
    assert moved("crnn_ocr_requests_total", endpoint="/ocr", method="POST", status="200") == 1
    assert moved("crnn_ocr_request_duration_seconds_count", endpoint="/api/v1/ocr") == 3
    # two inputs really read (the cached one was not), one page each
    assert moved("crnn_ocr_images_read_total", source="sync") == 2
    assert moved("crnn_ocr_pages_read_total", source="sync") == 2
    for stage in STAGES:
        assert moved("crnn_ocr_stage_duration_seconds_count", stage=stage) == 2
    assert moved("crnn_ocr_stage_duration_seconds_sum", stage="recognize") > 0
    assert moved("crnn_ocr_cache_lookups_total", result="hit") == 1
    assert moved("crnn_ocr_cache_lookups_total", result="miss") == 2  # the first JSON call, and the upload
    info = [k for k in after if k[0] == "crnn_ocr_model_info"]
    assert len(info) == 1 and dict(info[0][1])["name"] and len(dict(info[0][1])["sha256"]) == 64
    assert value(after, "crnn_ocr_ready") == 1
    assert value(after, "crnn_ocr_inference_capacity") == 2 + 8
    # the previous scrape itself was counted
    assert moved("crnn_ocr_requests_total", endpoint="/metrics", method="GET", status="200") == 1


def test_job_items_by_state_and_job_reads(client: TestClient) -> None:
    before = scrape(client)
    images = [{"image_base64": base64.b64encode(line_png(t)).decode(), "name": f"{t}.png"} for t in ("12", "ab3")]
    accepted = client.post("/api/v1/jobs", json={"images": images, "options": NO_DETECT})
    assert accepted.status_code == 202
    job_id = accepted.json()["id"]
    wait_until(lambda: client.get(f"/api/v1/jobs/{job_id}").json()["status"] == "completed", 30, "the job")
    after = scrape(client)
    assert value(after, "crnn_ocr_job_items", state="done") - value(before, "crnn_ocr_job_items", state="done") == 2
    assert value(after, "crnn_ocr_job_items", state="pending") == 0
    assert value(after, "crnn_ocr_images_read_total", source="job") - value(
        before, "crnn_ocr_images_read_total", source="job") == 2
    assert value(after, "crnn_ocr_requests_total", endpoint="/api/v1/jobs/{job_id}", method="GET", status="200") >= 1


def test_metrics_needs_an_admin_key_once_keys_exist(tiny_ocr, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite3"
    keys = KeyStore(store)
    _, admin = keys.create("ops", "admin")
    _, user = keys.create("alice")
    keys.close()
    with TestClient(create_app(ServerSettings(store_path=store), ocr=tiny_ocr)) as c:
        assert c.get("/metrics").status_code == 401
        forbidden = c.get("/metrics", headers={"Authorization": f"Bearer {user}"})
        assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
        samples = scrape(c, {"Authorization": f"Bearer {admin}"})
        assert value(samples, "crnn_ocr_requests_total", endpoint="/metrics", method="GET", status="403") >= 1


# ---- request ids -------------------------------------------------------------------------------

HEX32 = re.compile(r"[0-9a-f]{32}")


def test_every_answer_has_a_request_id(client: TestClient) -> None:
    answers = [
        client.get("/healthz"),
        client.get("/nowhere"),  # 404
        client.post("/api/v1/ocr", content=b"x", headers={"Content-Type": "text/plain"}),  # 415
        client.post("/api/v1/ocr", content=b"x" * (30 * 1024 * 1024), headers={"Content-Type": "application/json"}),
        client.get("/metrics"),
    ]
    assert [a.status_code for a in answers] == [200, 404, 415, 413, 200]
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(HEX32.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123", True), ("trace.1:span_2", True), ("x" * 128, True), ("x" * 129, False), ("a b", False),
     ("evil\r\nX-Injected: 1", False), ("", False), ("ünïcode", False)],
)
def test_a_callers_request_id_is_kept_only_when_safe_to_log(given: str, kept: bool) -> None:
    result = accepted_request_id(given)
    assert (result == given) is kept
    if not kept:
        assert HEX32.fullmatch(result)


def test_the_callers_request_id_comes_back(client: TestClient) -> None:
    answer = client.get("/healthz", headers={"X-Request-ID": "client-42"})
    assert answer.headers["x-request-id"] == "client-42"
    replaced = client.get("/healthz", headers={"X-Request-ID": "two words"})
    assert HEX32.fullmatch(replaced.headers["x-request-id"])


def test_json_logs_carry_the_request_id(tiny_model_path: Path, tmp_path: Path) -> None:
    """A real ``crnn-ocr serve --log-format json``: every stderr line is a JSON object, and the
    lines of a request (uvicorn's access line among them) carry its X-Request-ID."""
    port, log = free_port(), tmp_path / "serve.log"
    proc = start_process(
        cli("serve", "--port", str(port), "--threads", "1", "--model", str(tiny_model_path),
            "--log-format", "json", "--store", str(tmp_path / "store.sqlite3")),
        log, env={"CRNN_OCR_LM": "none"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log)
        ok = httpx.post(f"{url}/ocr", files={"image": ("x.png", line_png(), "image/png")},
                        data={"detect": "false"}, headers={"X-Request-ID": "req-ocr-1"})
        bad = httpx.post(f"{url}/api/v1/ocr", json={"image_base64": "%%%"}, headers={"X-Request-ID": "req-bad-2"})
        assert ok.status_code == 200 and ok.headers["x-request-id"] == "req-ocr-1"
        assert bad.status_code == 400 and bad.headers["x-request-id"] == "req-bad-2"

        def logged() -> list[dict] | None:
            lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
            ids = {entry["request_id"] for entry in lines}
            return lines if {"req-ocr-1", "req-bad-2"} <= ids else None

        lines = wait_until(logged, 10, "the access lines of both requests")
    finally:
        stop(proc)
    assert all({"time", "level", "logger", "message", "request_id"} <= entry.keys() for entry in lines)
    access = [e for e in lines if e["logger"] == "uvicorn.access" and e["request_id"] == "req-ocr-1"]
    assert len(access) == 1 and "POST /ocr" in access[0]["message"] and "200" in access[0]["message"]
    started = [e for e in lines if "model" in e["message"] and "loaded" in e["message"]]
    assert started and started[0]["request_id"] == "-"  # outside a request


def test_job_item_states_from_the_redis_store(tmp_path: Path) -> None:
    """Redis mode's store counts its items by state too (finished ones from the job counters)."""
    from jobs_support import redis_server

    from crnn_ocr.server.jobs.records import ItemOutcome, NewItem
    from crnn_ocr.server.jobs.redis_store import RedisJobStore

    with redis_server(tmp_path) as url:
        store = RedisJobStore(url, result_ttl_s=60)
        try:
            job = store.create_job("o", "{}", [NewItem(f"i{k}", "h", b"x") for k in range(3)], None)
            refused = store.create_job("o", "{}", [NewItem("bad", "h", None, error=("corrupt_image", "m"))], None)
            assert refused.status == "completed"
            store.start_item(job.id, 0, "w")
            store.finish_item(job.id, 0, ItemOutcome(result="{}", text=""))
            store.start_item(job.id, 1, "w")
            assert store.item_states() == {"pending": 1, "running": 1, "done": 1, "failed": 1, "cancelled": 0}
            store.cancel_job(job.id, "o")
            assert store.item_states() == {"pending": 0, "running": 0, "done": 1, "failed": 1, "cancelled": 2}
        finally:
            store.close()
