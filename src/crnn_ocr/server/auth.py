"""Who may use the service: API keys (stored hashed), the caller of a request, rate limits.

A key reads ``crnn_<id>_<secret>``: ``id`` (12 hex digits) finds its row, the SHA-256 of
``secret`` (43 random URL-safe characters, 256 bits: no slow hash needed) is compared in constant
time. The clear key is shown once, by ``crnn-ocr keys create``, and never stored. Keys live in the
``api_keys`` table of the server's store (``store_path``: a SQLite file or a PostgreSQL database), so a key created or revoked
while the server runs counts at its next request.

Modes, decided per request by ``Authenticator``:

- **open**: no key was ever created. Every caller is ``anonymous`` (as before keys existed);
  ``crnn-ocr serve`` allows this only on a loopback address, or with ``--insecure-open``.
- **keys**: at least one key exists (revoked ones count: revoking the last key locks the service,
  it never opens it). A request needs ``Authorization: Bearer <key>`` of a key not revoked; the
  key's id owns every record the request makes. An ``admin`` key sees every owner's records.

``AuthMiddleware`` checks the key before the request body is read, then the caller's rate limit
(a token bucket per key, in this process), and hands the ``Caller`` to the routes. In open mode
it also checks the address each request arrived on: the socket actually bound may be beyond
loopback even when the configured host is not (``uvicorn --factory ... --host 0.0.0.0``), and
such a request answers 403 unless ``insecure_open``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import os
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal

import anyio.to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from crnn_ocr.server.errors import error_response
from crnn_ocr.server.sqlite import open_database

Role = Literal["user", "admin"]

#: The owner of every record in open mode (no keys).
ANONYMOUS = "anonymous"
KEY_PREFIX = "crnn"

#: Paths anyone may load: liveness, readiness, the web page and the API docs. Everything else
#: (``/api/...``, ``/ocr``, unknown paths) needs a key once keys exist.
OPEN_PATHS = frozenset({"/", "/healthz", "/readyz", "/docs", "/openapi.json", "/favicon.ico"})
OPEN_PREFIXES = ("/static/", "/docs-assets/")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  role TEXT NOT NULL,
  secret_sha256 TEXT NOT NULL,
  created_at REAL NOT NULL,
  revoked_at REAL,
  last_used_at REAL,
  rate_per_minute INTEGER,
  max_jobs INTEGER
);
"""


@dataclass(frozen=True)
class ApiKey:
    """One key as stored (never with its secret)."""

    id: str
    name: str
    role: Role
    created_at: float
    revoked_at: float | None
    last_used_at: float | None
    rate_per_minute: int | None  # None: the server's rate_limit_per_minute
    max_jobs: int | None  # None: the server's max_jobs_per_key

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class Caller:
    """Who makes a request. ``owner`` owns what it creates; ``scope`` is the owner its queries are
    limited to (None: every owner, for an admin key)."""

    owner: str
    role: Literal["open", "user", "admin"]
    key: ApiKey | None = None

    @property
    def scope(self) -> str | None:
        return None if self.role == "admin" else self.owner

    @property
    def may_administer(self) -> bool:
        """Admin endpoints: an admin key, or anyone in open mode (a single local user)."""
        return self.role in ("admin", "open")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _parse(token: str) -> tuple[str, str] | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


class KeyStore:
    """The ``api_keys`` table of the store (a SQLite file or a ``postgresql://`` URL)."""

    def __init__(self, store: str | os.PathLike) -> None:
        self.db = open_database(store, _SCHEMA)

    def create(
        self, name: str, role: Role = "user", *, rate_per_minute: int | None = None, max_jobs: int | None = None
    ) -> tuple[ApiKey, str]:
        """A new key and its clear text (``crnn_<id>_<secret>``), to show once."""
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        now = time.time()
        with self.db.write() as db:
            db.execute(
                "INSERT INTO api_keys (id, name, role, secret_sha256, created_at, rate_per_minute, max_jobs)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key_id, name, role, _hash(secret), now, rate_per_minute, max_jobs),
            )
        key = self.get(key_id)
        assert key is not None
        return key, f"{KEY_PREFIX}_{key_id}_{secret}"

    def get(self, key_id: str) -> ApiKey | None:
        row = self.db.connection().execute("SELECT * FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return None if row is None else _key(row)

    def list(self) -> list[ApiKey]:
        rows = self.db.connection().execute("SELECT * FROM api_keys ORDER BY created_at").fetchall()
        return [_key(r) for r in rows]

    def revoke(self, key_id: str) -> bool:
        """Revoke a key (kept, for the records it owns). False: no such key, or revoked already."""
        with self.db.write() as db:
            return db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (time.time(), key_id)
            ).rowcount > 0

    def configured(self) -> bool:
        """Whether any key was ever created (then every request needs one)."""
        return self.db.connection().execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None

    def verify(self, token: str, now: float | None = None) -> ApiKey | None:
        """The key ``token`` is, if it exists, matches and is not revoked; else None."""
        parsed = _parse(token.strip())
        key_id, secret = parsed if parsed is not None else ("", "")
        row = self.db.connection().execute(
            "SELECT * FROM api_keys WHERE id = ?", (key_id,)
        ).fetchone() if parsed is not None else None
        expected = row["secret_sha256"] if row is not None else _hash("no such key")
        matches = hmac.compare_digest(_hash(secret), expected)
        if row is None or not matches or row["revoked_at"] is not None:
            return None
        now = time.time() if now is None else now
        if row["last_used_at"] is None or row["last_used_at"] < now - 60:  # one write a minute at most
            with self.db.write() as db:
                db.execute("UPDATE api_keys SET last_used_at = ? WHERE id = ?", (now, key_id))
        return _key(row)

    def close(self) -> None:
        self.db.close()


def _key(row) -> ApiKey:
    return ApiKey(
        id=row["id"], name=row["name"], role=row["role"], created_at=row["created_at"],
        revoked_at=row["revoked_at"], last_used_at=row["last_used_at"],
        rate_per_minute=row["rate_per_minute"], max_jobs=row["max_jobs"],
    )


# ---- exposure check at start-up ---------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def arrived_beyond_loopback(scope: Scope) -> str | None:
    """Where a request came from when that is beyond loopback: the local address it arrived on
    (the socket actually bound, whatever the settings say) when it is an IP address beyond
    loopback, or a client named by ``X-Forwarded-For`` that is not a loopback address (a reverse
    proxy on this machine, such as deploy/'s nginx, passing on a request from the network). None
    for loopback, a Unix socket or a test client."""
    server = scope.get("server")
    host = server[0] if server else None
    if isinstance(host, str):
        try:
            if not ipaddress.ip_address(host.strip("[]")).is_loopback:
                return host
        except ValueError:
            pass
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            for client in value.decode("latin-1").split(","):
                if not is_loopback(client.strip()):
                    return f"{client.strip()[:64]!r} (forwarded by a proxy)"
    return None


def exposure_problem(host: str, keys_configured: bool, insecure_open: bool) -> str | None:
    """Why the service must not start on ``host`` (None: it may)."""
    if keys_configured or insecure_open or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host} without API keys: anyone who can reach it could read every "
        "job result and history entry. Create a key first (crnn-ocr keys create --name NAME --admin, "
        "with the same --store), or pass --insecure-open to serve without keys anyway"
    )


# ---- rate limits -------------------------------------------------------------------------------


class RateLimiter:
    """A token bucket per key: ``per_minute`` requests a minute on average, up to ``burst`` at once.
    In this process only (each uvicorn worker process limits on its own)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, time)
        self._lock = threading.Lock()

    def take(self, key: str, per_minute: int, burst: int, now: float | None = None) -> float:
        """0.0 when the request may go; else the seconds until it may."""
        if per_minute <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        rate = per_minute / 60.0
        burst = max(1, burst)
        with self._lock:
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate


def retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


# ---- per request -------------------------------------------------------------------------------


class Unauthorized(Exception):
    """No key, or a key that is not valid (unknown, wrong or revoked)."""


class Authenticator:
    """Turns a request's ``Authorization`` header into a ``Caller`` (see the module docstring)."""

    def __init__(self, keys: KeyStore, rate_per_minute: int, burst: int) -> None:
        self.keys = keys
        self.rate_per_minute = rate_per_minute
        self.burst = burst
        self.limiter = RateLimiter()

    def authenticate(self, authorization: str | None) -> Caller:
        """Raises ``Unauthorized`` when keys are configured and the header holds no valid key."""
        if not self.keys.configured():
            return Caller(ANONYMOUS, "open")
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("this server needs an API key: send Authorization: Bearer <key>")
        key = self.keys.verify(token)
        if key is None:
            raise Unauthorized("the API key is not valid (unknown, wrong or revoked)")
        return Caller(key.id, key.role, key)

    def wait_s(self, caller: Caller) -> float:
        """Seconds the caller must wait before this request (0: go). Open mode is not limited."""
        if caller.key is None:
            return 0.0
        rate = self.rate_per_minute if caller.key.rate_per_minute is None else caller.key.rate_per_minute
        return self.limiter.take(caller.key.id, rate, self.burst)


def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


class Refused(Exception):
    """A request refused before it reaches its route: the HTTP status, error code and message."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


async def admit(scope: Scope, auth: Authenticator, insecure_open: bool, authorization: str | None) -> Caller:
    """The caller of a request (HTTP or WebSocket) with this ``Authorization`` value, after the
    key, the loopback rule of open mode and the rate limit; ``Refused`` says why not."""
    try:
        caller = await anyio.to_thread.run_sync(auth.authenticate, authorization)
    except Unauthorized as exc:
        raise Refused(401, "unauthorized", str(exc), {"WWW-Authenticate": "Bearer"}) from None
    exposed = arrived_beyond_loopback(scope) if caller.role == "open" else None
    if exposed is not None and not insecure_open:
        raise Refused(
            403, "forbidden",
            f"this server has no API keys, so it answers only on loopback; it was reached on {exposed}. "
            "Create a key (crnn-ocr keys create --name NAME --admin) or serve with --insecure-open",
        )
    wait = auth.wait_s(caller)
    if wait > 0:
        raise Refused(
            429, "rate_limited", f"too many requests for this key; retry in {retry_after(wait)} s",
            {"Retry-After": retry_after(wait)},
        )
    return caller


def authorization_header(scope: Scope) -> str | None:
    return next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"authorization"), None)


class AuthMiddleware:
    """Every path but ``OPEN_PATHS`` needs a valid key (once keys exist), checked before the body is
    read; then the caller's rate limit. The ``Caller`` goes to ``scope["state"]["caller"]``.
    WebSocket routes call ``admit`` themselves: a browser cannot send the header on a WebSocket,
    so the key may come in the stream's first message."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        service = getattr(scope["app"].state, "service", None)
        auth: Authenticator | None = getattr(service, "auth", None)
        if auth is None:  # no lifespan: the route answers why
            await self.app(scope, receive, send)
            return
        try:
            caller = await admit(scope, auth, service.settings.insecure_open, authorization_header(scope))
        except Refused as exc:
            response = error_response(exc.status, exc.code, exc.message, headers=exc.headers or None)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)
