"""The store (jobs, history and cache, API keys) against both backends: a SQLite file and a real
PostgreSQL server started on loopback for the run (tests/pg_support.py). The same tests, the same
answers: owner scoping, paging, leases and ``worker_lost``, at-most-once outcomes, TTL purges,
cache keys, Chinese substring search, key verification and revocation; concurrent workers never
claim the same item; and the whole app serving from a PostgreSQL store."""

from __future__ import annotations

import base64
import threading
import time

import cv2
import pytest
from fastapi.testclient import TestClient
from jobs_support import wait_until
from tiny_model import render_code_line

from crnn_ocr.server import ServerSettings, create_app
from crnn_ocr.server.auth import KeyStore
from crnn_ocr.server.sqlite import describe, is_postgres_url
from crnn_ocr.server.history import HistoryEntry, HistoryStore
from crnn_ocr.server.jobs.records import ITEM_STATES, ItemOutcome, NewItem
from crnn_ocr.server.jobs.sql_store import SqlJobStore


def entry(owner: str, text: str, sha: str = "img", options: str = "{}", job_id: str | None = None) -> HistoryEntry:
    return HistoryEntry(owner=owner, source="job" if job_id else "sync", sha256=sha, options=options,
                        model_sha256="model", text=text, result=f'{{"text": "{text}"}}', total_ms=1.5,
                        job_id=job_id, item_index=0 if job_id else None)


# ---- jobs --------------------------------------------------------------------------------------


def test_jobs_are_scoped_by_owner_and_listed_newest_first(store_url: str) -> None:
    store = SqlJobStore(store_url, result_ttl_s=60)
    try:
        ids = [store.create_job("alice", "{}", [NewItem(f"a{n}", "h", b"x")], None).id for n in range(3)]
        bob = store.create_job("bob", '{"detect": false}', [NewItem("b", "h", b"\x00\xff" * 10)], "http://hook/x")
        assert store.get_job(ids[0], "bob") is None and store.get_job(bob.id, "alice") is None
        assert store.cancel_job(ids[0], "bob") is None and not store.delete_job(ids[0], "bob")
        page, total = store.list_jobs("alice", 1, 2)
        assert total == 3 and [j.id for j in page] == ids[::-1][:2]
        assert store.list_jobs("alice", 2, 2)[0][0].id == ids[0]
        assert store.list_jobs(None, 1, 10)[1] == 4  # an administrator sees everyone's
        got = store.get_job(bob.id, "bob")
        assert got.webhook_url == "http://hook/x" and got.options == '{"detect": false}' and got.total == 1
        assert store.count_unfinished("alice") == 3
        assert store.delete_all("alice") == 3 and store.list_jobs(None, 1, 10)[1] == 1
    finally:
        store.close()


def test_claim_finish_once_and_job_completion(store_url: str) -> None:
    store = SqlJobStore(store_url, result_ttl_s=60)
    try:
        job = store.create_job("o", "{}", [NewItem("a", "h1", b"\x89PNG a"), NewItem("b", "h2", b"\x89PNG b"),
                                            NewItem("c", "h3", None, error=("corrupt_image", "bad"))], None)
        assert (job.status, job.failed) == ("pending", 1)
        first = store.claim("w1")
        assert (first.index, first.data, first.name, first.owner) == (0, b"\x89PNG a", "a", "o")
        assert store.get_job(job.id, "o").status == "running"
        second = store.claim("w2")
        assert second.index == 1 and store.claim("w3") is None
        assert store.finish_item(job.id, 0, ItemOutcome(result='{"t": 1}', text="t")) is None
        assert store.finish_item(job.id, 0, ItemOutcome(result='{"t": 2}', text="t")) is None  # once only
        finished = store.finish_item(job.id, 1, ItemOutcome(error_code="corrupt_image", error_message="m"))
        assert finished is not None and finished.status == "completed" and (finished.done, finished.failed) == (1, 2)
        items = store.get_job(job.id, "o").items
        assert [i.status for i in items] == ["done", "failed", "failed"] and items[0].result == '{"t": 1}'
        assert items[0].worker == "w1" and items[0].finished_at >= items[0].started_at
        states = store.item_states()
        assert set(states) == set(ITEM_STATES) and (states["done"], states["failed"], states["pending"]) == (1, 2, 0)
    finally:
        store.close()


def test_a_lease_that_ran_out_is_claimed_again_then_given_up(store_url: str) -> None:
    store = SqlJobStore(store_url, result_ttl_s=60, lease_s=5, max_attempts=2)
    try:
        job = store.create_job("o", "{}", [NewItem("a", "h", b"x")], None)
        t0 = time.time()
        assert store.claim("w1", now=t0).attempts == 1
        assert store.claim("w2", now=t0 + 1) is None
        store.renew(job.id, 0, now=t0 + 4)
        assert store.claim("w2", now=t0 + 6) is None  # renewed until t0 + 9
        assert store.claim("w2", now=t0 + 10).attempts == 2
        given_up: list = []
        assert store.claim("w3", now=t0 + 20, on_given_up=given_up.append) is None
        assert [j.id for j in given_up] == [job.id]
        item = store.get_job(job.id, "o").items[0]
        assert (item.status, item.error_code) == ("failed", "worker_lost")
    finally:
        store.close()


def test_cancel_then_ttl_purge(store_url: str) -> None:
    store = SqlJobStore(store_url, result_ttl_s=100)
    try:
        job = store.create_job("o", "{}", [NewItem("a", "h", b"x"), NewItem("b", "h", b"y")], None)
        cancelled = store.cancel_job(job.id, "o")
        assert cancelled.status == "cancelled" and cancelled.cancelled == 2 and store.claim("w") is None
        kept = store.create_job("o", "{}", [NewItem("a", "h", b"x")], None)  # unfinished: never expires
        assert store.purge_expired(now=time.time() + 50) == 0
        assert store.purge_expired(now=time.time() + 101) == 1
        assert store.get_job(job.id, None) is None and store.get_job(kept.id, "o") is not None
    finally:
        store.close()


def test_concurrent_workers_never_claim_the_same_item(store_url: str) -> None:
    n = 40
    setup = SqlJobStore(store_url, result_ttl_s=60)
    setup.create_job("o", "{}", [NewItem(f"i{k}", "h", b"x") for k in range(n)], None)
    setup.close()
    stores = [SqlJobStore(store_url, result_ttl_s=60) for _ in range(2)]  # two "servers"
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()

    def work(store: SqlJobStore, name: str) -> None:
        while (item := store.claim(name)) is not None:
            with lock:
                claimed.append((item.job_id, item.index))
            store.finish_item(item.job_id, item.index, ItemOutcome(result="{}", text=""))

    threads = [threading.Thread(target=work, args=(s, f"w{k}-{t}")) for k, s in enumerate(stores) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert len(claimed) == n and len(set(claimed)) == n
        assert stores[0].item_states()["done"] == n
        assert stores[1].list_jobs("o", 1, 1)[0][0].status == "completed"
    finally:
        for s in stores:
            s.close()


# ---- history and cache -------------------------------------------------------------------------


def test_history_cache_search_delete_and_ttl(store_url: str) -> None:
    history = HistoryStore(store_url, ttl_s=100)
    try:
        now = time.time()
        first = history.record(entry("alice", "增值税发票 No.123"), now=now - 10)
        second = history.record(entry("alice", "增值税发票 No.123"), now=now - 5)
        other = history.record(entry("alice", "Invoice total", sha="img2"), now=now)
        history.record(entry("bob", "增值税发票 No.123"), now=now)
        key = entry("alice", "").cache_key
        assert first < second < other
        assert history.cached_result("alice", key) == '{"text": "增值税发票 No.123"}'
        assert history.cached_result("carol", key) is None  # never another owner's
        found, total = history.search("alice", "发票", 1, 10)
        assert total == 2 and [r.id for r in found] == [second, first] and found[0].entry.text == "增值税发票 No.123"
        assert history.search(None, "发票", 1, 10)[1] == 3 and history.search("alice", None, 1, 10)[1] == 3
        assert history.search("alice", "nothing like it", 1, 10) == ([], 0)
        assert history.get(other, "bob") is None and history.get(other, "alice").entry.text == "Invoice total"
        assert history.delete(first, "alice") == 2  # both entries of that image and options: its cache
        assert history.cached_result("alice", key) is None and history.cached_result("bob", key) is not None
        assert history.purge_expired(now=now + 99) == 0 and history.purge_expired(now=now + 101) == 2
        job_entry = history.record(entry("alice", "from a job", job_id="j1"))
        assert history.delete_job("j1", "bob") == 0 and history.delete_job("j1", "alice") == 1
        assert history.get(job_entry, None) is None
    finally:
        history.close()


def test_history_search_ignores_case_finds_chinese_substrings_and_pages(store_url: str) -> None:
    history = HistoryStore(store_url, ttl_s=100)
    try:
        now = time.time()
        plates = [history.record(entry("alice", f"JOHOR {n} 柔佛州车牌", sha=f"p{n}"), now=now + n) for n in range(5)]
        history.record(entry("alice", "Straße und 增值税发票", sha="s"), now=now)
        history.record(entry("bob", "johor", sha="b"), now=now)
        for query in ("johor", "JOHOR", "JoHoR", "柔佛", "佛州车"):
            assert history.search("alice", query, 1, 10)[1] == 5, query
        first, total = history.search("alice", "johor", 1, 2)
        second, _ = history.search("alice", "johor", 2, 2)
        last, _ = history.search("alice", "johor", 3, 2)
        assert total == 5 and [r.id for r in first + second + last] == plates[::-1]
        assert [r.entry.text for r in history.search("alice", "STRASSE UND", 1, 10)[0]] == []
        assert [r.entry.text for r in history.search("alice", "straße UND", 1, 10)[0]] == ["Straße und 增值税发票"]
        assert history.search("alice", "税发", 1, 10)[1] == 1 and history.search("alice", "johor 9", 1, 10)[1] == 0
    finally:
        history.close()


# ---- API keys ----------------------------------------------------------------------------------


def test_keys_verify_revoke_and_last_use(store_url: str) -> None:
    keys = KeyStore(store_url)
    try:
        assert not keys.configured()
        key, token = keys.create("scanner", "user", rate_per_minute=10, max_jobs=2)
        admin, admin_token = keys.create("ops", "admin")
        assert keys.configured() and [k.name for k in keys.list()] == ["scanner", "ops"]
        assert keys.verify(token).id == key.id and keys.verify(admin_token).role == "admin"
        assert keys.get(key.id).last_used_at is not None
        assert keys.verify(token[:-1] + ("x" if token[-1] != "x" else "y")) is None
        assert keys.verify("crnn_nosuch_secret") is None and keys.verify("garbage") is None
        assert keys.revoke(key.id) and not keys.revoke(key.id)
        assert keys.verify(token) is None and keys.get(key.id).revoked
        assert (keys.get(key.id).rate_per_minute, keys.get(key.id).max_jobs) == (10, 2)
    finally:
        keys.close()


# ---- the app on a PostgreSQL store -------------------------------------------------------------


def test_the_app_serves_from_a_shared_postgresql_store(tiny_ocr, postgres_admin_url: str) -> None:
    """Two apps (two servers) on one PostgreSQL database: a key made in it works on both, one's
    result is the other's cache hit, and a job submitted to one is read by the other's workers."""
    from pg_support import new_database

    url = new_database(postgres_admin_url)
    keys = KeyStore(url)
    _, token = keys.create("alice")
    keys.close()
    auth = {"Authorization": f"Bearer {token}"}
    ok, buf = cv2.imencode(".png", render_code_line("0123ab"))
    body = {"image_base64": base64.b64encode(buf.tobytes()).decode(), "options": {"detect": False}}
    one = TestClient(create_app(ServerSettings(store_path=url, cache=True, job_workers=0), ocr=tiny_ocr))
    two = TestClient(create_app(ServerSettings(store_path=url, cache=True, job_workers=1), ocr=tiny_ocr))
    with one, two:
        assert one.post("/api/v1/ocr", json=body).status_code == 401
        first = one.post("/api/v1/ocr", json=body, headers=auth).json()
        again = two.post("/api/v1/ocr", json=body, headers=auth).json()
        assert first["text"] == again["text"] == "0123ab" and first["cached"] is False and again["cached"] is True
        job = one.post("/api/v1/jobs", json={"images": [{"image_base64": body["image_base64"], "name": "x.png"}],
                                             "options": {"detect": False, "decode": {"method": "greedy"}}},
                       headers=auth).json()
        done = wait_until(lambda: (j := one.get(f"/api/v1/jobs/{job['id']}", headers=auth).json())["status"]
                          == "completed" and j, 30, "the job, read by the second server's worker")
        assert done["items"][0]["result"]["text"] == "0123ab"
        history = two.get("/api/v1/history?q=0123", headers=auth).json()
        assert history["total"] == 3


@pytest.mark.parametrize(("store", "shown"), [
    ("postgresql://u:secret@db:5432/ocr", "postgresql://u:***@db:5432/ocr"),
    ("postgresql://u@db/ocr", "postgresql://u@db/ocr"),
    ("/srv/crnn/store.sqlite3", "/srv/crnn/store.sqlite3"),
])
def test_store_urls_are_told_apart_and_logged_without_passwords(store: str, shown: str) -> None:
    assert is_postgres_url(store) is store.startswith("postgresql://")
    assert describe(store) == shown


def test_stores_opened_at_once_by_many_servers_set_up_one_database(postgres_admin_url: str) -> None:
    """Servers and workers starting together open every store (keys, history, jobs) on one new
    database at the same moment: the schemas share helper functions, and replacing one function from
    two connections at once fails ("tuple concurrently updated") unless setup is serialised."""
    from pg_support import new_database

    from crnn_ocr.server.sqlite import open_database

    schemas = ["CREATE TABLE IF NOT EXISTS t%d (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);" % i for i in range(6)]
    for round_ in range(3):
        url = new_database(postgres_admin_url)
        start = threading.Barrier(len(schemas) * 2)
        errors: list[BaseException] = []
        opened = []

        def open_one(schema: str) -> None:
            start.wait()
            try:
                opened.append(open_database(url, schema))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=open_one, args=(s,)) for s in schemas * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for db in opened:
            db.close()
        assert not errors, f"round {round_}: {errors[0]!r}"
        assert len(opened) == len(schemas) * 2
