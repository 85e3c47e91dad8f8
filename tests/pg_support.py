"""A throwaway PostgreSQL server on loopback (Debian's postgresql: initdb and pg_ctl), for the store
tests and the deployment test; each test gets its own database in it.

PostgreSQL refuses to run as root. Run as root (CI), the server runs as the ``postgres`` user that
Debian's package creates (``runuser -u postgres``), its data folder in a fresh folder under /tmp
that it owns; otherwise as the current user. It listens on 127.0.0.1 only, on a free port, with
``trust`` authentication for a superuser ``crnn`` (nothing but loopback can reach it, and it lives
for the test run), fsync off (nothing in it must survive). Stopped by ``pg_ctl stop`` at the end.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from jobs_support import free_port

SUPERUSER = "crnn"


def postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin that has initdb (Debian), else initdb on PATH."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _server_user() -> str | None:
    """Who runs the server: None (this user) unless we are root, then ``postgres`` (or ``nobody``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root, and there is no 'postgres' or 'nobody' user to run PostgreSQL as")


def _as(user: str | None, args: list[str]) -> list[str]:
    return args if user is None else ["runuser", "-u", user, "--", *args]


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yield the superuser's URL of its ``postgres`` database."""
    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (scripts/install-system-deps.sh installs Debian's postgresql)")
    user = _server_user()
    base = Path(tempfile.mkdtemp(prefix="crnn-pg-", dir="/tmp"))
    data, log = base / "data", base / "server.log"
    base.chmod(0o755)
    if user is not None:
        info = pwd.getpwnam(user)
        os.chown(base, info.pw_uid, info.pw_gid)
    port = free_port()

    def run(args: list[str]) -> None:
        done = subprocess.run(_as(user, args), capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}\n{server_log}")

    started = False
    try:
        run([str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
             "--locale=C", "--no-sync"])
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off -c full_page_writes=off"
        run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", "60", "start"])
        started = True
        yield f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
    finally:
        if started:
            run([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(base, ignore_errors=True)


def new_database(admin_url: str) -> str:
    """A new, empty database on the server of ``admin_url``; its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"
