"""The one SQL layer under the job store, the history/cache and the API keys: SQLite or PostgreSQL,
with the helpers every table shares (owner scoping, paging, expiry).

``open_database(store, schema)``: ``store`` is a SQLite file path (the embedded default) or a
``postgresql://user:password@host:port/dbname`` URL (psycopg 3, the ``postgresql`` extra), so
several servers share one store. Both give the same small interface, used by every store class:

- ``connection()``: this thread's connection; ``.execute(sql, args)`` answers a cursor
  (``fetchone``, ``fetchall``, ``rowcount``), rows read by column name or position;
- ``write()``: a transaction (committed at the end of the ``with``, rolled back on an error);
- ``lock_for_claim``: the clause that makes "select the next pending row, then update it" safe
  with many workers (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
  already serialises writers);
- ``close()``.

The SQL is written once, in SQLite's dialect with ``?`` placeholders; for PostgreSQL the
placeholders become ``%s`` and the schema's types their PostgreSQL names (``postgres_schema``);
``instr(text, sub)`` is defined as a SQL function there, and ``fold(text)`` (case folding, for
case-insensitive search) on both. A PostgreSQL schema is created under an
advisory lock, so servers starting together do not race.

Shared by every store: ``owner_clause`` (a record's owner, or every owner for an administrator),
``page_clause`` (newest-first listings, 1-based pages), ``expiry`` and ``delete_expired``
(records that carry an ``expires_at``).
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres_url(store: str | os.PathLike) -> bool:
    return isinstance(store, str) and store.startswith(POSTGRES_SCHEMES)


def describe(store: str | os.PathLike) -> str:
    """``store`` for messages and logs: a URL without its password."""
    if not is_postgres_url(store):
        return str(store)
    from urllib.parse import urlsplit

    parts = urlsplit(str(store))
    if parts.password is None:
        return str(store)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class Cursor(Protocol):
    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Connection(Protocol):
    def execute(self, sql: str, args: Sequence[Any] = ...) -> Cursor: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...


class Database(Protocol):
    lock_for_claim: str

    def connection(self) -> Connection: ...

    def write(self) -> Any: ...  # a context manager yielding a Connection

    def close(self) -> None: ...


def open_database(store: str | os.PathLike, schema: str) -> Database:
    """The database of ``store`` (a SQLite path or a PostgreSQL URL), its ``schema`` created."""
    if is_postgres_url(store):
        return PostgresDatabase(str(store), schema)
    return SqliteDatabase(Path(store), schema)


def owner_clause(owner: str | None, column: str = "owner") -> tuple[str, tuple]:
    """`` AND <column> = ?`` and its argument, scoping a query to ``owner``; nothing for None (an
    administrator, who sees every owner's records)."""
    return ("", ()) if owner is None else (f" AND {column} = ?", (owner,))


def page_clause(page: int, page_size: int) -> tuple[str, tuple]:
    """`` LIMIT ? OFFSET ?`` and its arguments for the 1-based ``page`` of ``page_size`` rows."""
    return " LIMIT ? OFFSET ?", (page_size, (page - 1) * page_size)


def expiry(ttl_s: float, now: float | None = None) -> float:
    """The ``expires_at`` of a record made (or finished) ``now`` that is kept ``ttl_s`` seconds."""
    return (time.time() if now is None else now) + ttl_s


def delete_expired(db: Database, table: str, now: float | None = None) -> int:
    """Delete the rows of ``table`` whose ``expires_at`` has passed (rows without one stay)."""
    now = time.time() if now is None else now
    with db.write() as conn:
        return conn.execute(
            f"DELETE FROM {table} WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
        ).rowcount


# ---- SQLite ------------------------------------------------------------------------------------


def _private_file(path: Path) -> None:
    """Make ``path`` readable by its owner only (0600) before SQLite opens it, creating its folder
    0700 when missing. SQLite gives the -wal and -shm files the database file's mode."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        # Never open and close an existing store: closing any descriptor of a file drops every
        # POSIX lock this process holds on it, SQLite connections' included.
        for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            if file.exists() and file.stat().st_mode & 0o077:
                os.chmod(file, 0o600)  # a store made by an older version (0644)


def _fold(text: str | None) -> str | None:
    """SQL ``fold(text)``: lower case, for case-insensitive search (SQLite's own ``lower`` folds
    ASCII only; PostgreSQL's ``fold`` is its ``lower``)."""
    return None if text is None else text.lower()


class SqliteDatabase:
    """One SQLite file shared by threads: a connection per thread, WAL, durable commits."""

    lock_for_claim = ""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = Path(path)
        _private_file(self.path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.connection().executescript(schema)  # CREATE ... IF NOT EXISTS: its own transaction

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
            conn.row_factory = sqlite3.Row
            conn.create_function("fold", 1, _fold, deterministic=True)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE ... COMMIT; ROLLBACK on error)."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.ProgrammingError:  # closed from another thread already
                    pass
            self._all.clear()
        self._local = threading.local()


# ---- PostgreSQL --------------------------------------------------------------------------------

_PG_TYPES = (
    ("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"),
    (" REAL", " DOUBLE PRECISION"),  # SQLite's REAL is 8 bytes; PostgreSQL's would be 4
    (" BLOB", " BYTEA"),
    (" INTEGER", " BIGINT"),
)
_SCHEMA_LOCK_ID = zlib.crc32(b"crnn-ocr schema setup") & 0x7FFFFFFF
_PG_FUNCTIONS = """
CREATE OR REPLACE FUNCTION instr(haystack TEXT, needle TEXT) RETURNS INTEGER
  LANGUAGE sql IMMUTABLE AS 'SELECT strpos(haystack, needle)';
CREATE OR REPLACE FUNCTION fold(t TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS 'SELECT lower(t)';
"""


def postgres_schema(sqlite_schema: str) -> str:
    """A schema written for SQLite, in PostgreSQL's type names."""
    schema = sqlite_schema
    for sqlite_type, pg_type in _PG_TYPES:
        schema = schema.replace(sqlite_type, pg_type)
    return schema


def postgres_sql(sql: str) -> str:
    """``?`` placeholders as psycopg's ``%s`` (the project's SQL has no ``?`` or ``%`` in literals)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Row(tuple):
    """A row read by position or by column name, like ``sqlite3.Row``."""

    _index: dict[str, int]

    def __new__(cls, values: Sequence[Any], index: dict[str, int]) -> _Row:
        row = super().__new__(cls, values)
        row._index = index
        return row

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


def _row_factory(cursor):
    names = [c.name for c in cursor.description] if cursor.description else []
    index = {name: i for i, name in enumerate(names)}
    return lambda values: _Row(values, index)


class _PgConnection:
    """A psycopg connection speaking ``?`` placeholders."""

    def __init__(self, conn) -> None:
        self.raw = conn

    def execute(self, sql: str, args: Sequence[Any] = ()):
        return self.raw.execute(postgres_sql(sql), tuple(args))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]):
        with self.raw.cursor() as cur:
            cur.executemany(postgres_sql(sql), [tuple(r) for r in rows])
            return cur


class PostgresDatabase:
    """A PostgreSQL database shared by threads (a connection per thread, autocommit outside
    ``write()``) and by every server and worker that is given the same URL."""

    lock_for_claim = " FOR UPDATE OF items SKIP LOCKED"

    def __init__(self, url: str, schema: str) -> None:
        if importlib.util.find_spec("psycopg") is None:
            raise RuntimeError("a postgresql:// store needs psycopg 3: pip install 'crnn-ocr[postgresql]'")
        self.url = url
        self._local = threading.local()
        self._all: list[_PgConnection] = []
        self._lock = threading.Lock()
        # One lock for every schema: the helper functions are shared by all of them, and two
        # servers replacing a function at once fail with "tuple concurrently updated".
        with self.write() as db:
            db.execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK_ID,))
            db.raw.execute(_PG_FUNCTIONS + postgres_schema(schema))

    def connection(self) -> _PgConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.raw.closed:
            import psycopg

            try:
                raw = psycopg.connect(self.url, autocommit=True, row_factory=_row_factory, connect_timeout=10)
            except psycopg.OperationalError as exc:
                raise RuntimeError(f"cannot connect to the store {describe(self.url)}: {exc}") from exc
            conn = _PgConnection(raw)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[_PgConnection]:
        conn = self.connection()
        with conn.raw.transaction():
            yield conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.raw.close()
            self._all.clear()
        self._local = threading.local()

