"""deploy/ run on one machine, on loopback, from its own files: the nginx site
(deploy/nginx/crnn-ocr.conf), the systemd units' command lines (deploy/systemd/*.service) and the
environment file (deploy/crnn-ocr.env.example). For tests/test_deploy.py and
benchmarks/deploy_throughput.py.

What is changed from the files, and only that: nginx listens on a free loopback port instead of
port 80 and writes its logs in the run's folder, the upstream lists the ports the servers got, the
units' ``/opt/crnn-ocr/venv/bin/crnn-ocr`` is this interpreter's ``-m crnn_ocr.cli``, and the
environment file's store and broker URLs are the throwaway PostgreSQL database and Redis.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from jobs_support import free_port, kill9, redis_server, start_process, stop, wait_ready, wait_until

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
SITE = DEPLOY / "nginx" / "crnn-ocr.conf"
SERVER_UNIT = DEPLOY / "systemd" / "crnn-ocr-server@.service"
WORKER_UNIT = DEPLOY / "systemd" / "crnn-ocr-worker.service"
ENV_EXAMPLE = DEPLOY / "crnn-ocr.env.example"
INSTALLED_CLI = "/opt/crnn-ocr/venv/bin/crnn-ocr"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

_UPSTREAM = re.compile(r"^(\s*)server 127\.0\.0\.1:\d+ (.*)$", re.M)


def render_site(site: str, listen_port: int, upstream_ports: list[int], log_dir: Path) -> str:
    """The site config with the run's ports and log folder (see the module docstring)."""
    template = _UPSTREAM.findall(site)
    if not template or "listen 80;" not in site or "/var/log/nginx/" not in site:
        raise AssertionError(f"{SITE} no longer has the lines this test rewrites (upstream servers, listen 80, logs)")
    indent, options = template[0]
    lines = "\n".join(f"{indent}server 127.0.0.1:{port} {options}" for port in upstream_ports)
    seen = []

    def upstream(_match: re.Match) -> str:  # the first server line becomes ours, the others go
        seen.append(1)
        return lines if len(seen) == 1 else ""

    site = _UPSTREAM.sub(upstream, site)
    site = site.replace("listen 80;", f"listen 127.0.0.1:{listen_port};")
    return site.replace("/var/log/nginx/", f"{log_dir}/")


def nginx_conf(prefix: Path, site_path: Path) -> str:
    """A main nginx.conf around the site, everything under ``prefix`` (run as root: workers too,
    so that they can write the run's temp folders)."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
    return (
        f"{user}worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log warn;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;\n"
        f"  fastcgi_temp_path {prefix}/fastcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;\n"
        "  default_type application/octet-stream;\n"
        f"  include {site_path};\n"
        "}\n"
    )


def unit_command(unit: Path, instance: str = "") -> list[str]:
    """The unit's ExecStart, run with this interpreter, ``%i`` replaced by ``instance``."""
    exec_start = next(line.split("=", 1)[1] for line in unit.read_text().splitlines() if line.startswith("ExecStart="))
    args = shlex.split(exec_start.replace("%i", instance))
    if args[0] != INSTALLED_CLI:
        raise AssertionError(f"{unit}: ExecStart no longer runs {INSTALLED_CLI}")
    return [sys.executable, "-m", "crnn_ocr.cli", *args[1:]]


def unit_environment(overrides: dict[str, str]) -> dict[str, str]:
    """The environment file's variables, with ``overrides`` (which must name variables it sets)."""
    env = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            env[name.strip()] = value.strip()
    missing = set(overrides) - set(env)
    if missing:
        raise AssertionError(f"{ENV_EXAMPLE} no longer sets {sorted(missing)}")
    return {**env, **overrides}


@dataclass
class Stack:
    url: str  # nginx
    folder: Path
    env: dict[str, str]
    servers: list[subprocess.Popen] = field(default_factory=list)
    server_urls: list[str] = field(default_factory=list)
    worker_procs: list[subprocess.Popen] = field(default_factory=list)

    def server_log(self, n: int) -> Path:
        return self.folder / f"server-{n}.log"

    def kill_server(self, n: int) -> None:
        kill9(self.servers[n])


@contextmanager
def local_stack(store_url: str, n_servers: int = 2, n_workers: int = 1, extra_env: dict[str, str] | None = None,
                ) -> Iterator[Stack]:
    """Redis, ``n_servers`` servers and ``n_workers`` workers (from the units) sharing it and the
    PostgreSQL ``store_url``, and nginx in front (from the site config), all on loopback."""
    folder = Path(tempfile.mkdtemp(prefix="crnn-deploy-", dir="/tmp"))
    with ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, folder, True)
        redis_url = cleanup.enter_context(redis_server(folder))
        env = unit_environment({"CRNN_OCR_STORE_PATH": store_url, "CRNN_OCR_BROKER_URL": redis_url})
        env.update(extra_env or {})
        ports = [free_port() for _ in range(n_servers)]
        stack = Stack(url="", folder=folder, env=env)
        for n, port in enumerate(ports):
            proc = start_process(unit_command(SERVER_UNIT, str(port)), stack.server_log(n), env)
            cleanup.callback(stop, proc)
            stack.servers.append(proc)
            stack.server_urls.append(f"http://127.0.0.1:{port}")
        for n in range(n_workers):
            proc = start_process(unit_command(WORKER_UNIT), folder / f"worker-{n}.log", env)
            cleanup.callback(stop, proc)
            stack.worker_procs.append(proc)
        for n, url in enumerate(stack.server_urls):
            wait_ready(url, stack.servers[n], stack.server_log(n), timeout_s=180)

        listen = free_port()
        site = folder / "crnn-ocr.conf"
        site.write_text(render_site(SITE.read_text(), listen, ports, folder))
        conf = folder / "nginx.conf"
        conf.write_text(nginx_conf(folder, site))
        test = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(folder)], capture_output=True, text=True,
                              check=False)
        if test.returncode != 0:
            raise AssertionError(f"nginx -t refused the config:\n{test.stderr}")
        nginx = start_process([NGINX, "-c", str(conf), "-p", str(folder), "-g", "daemon off;"],
                              folder / "nginx.out")
        cleanup.callback(stop, nginx)
        stack.url = f"http://127.0.0.1:{listen}"

        def answers() -> bool:
            assert nginx.poll() is None, (folder / "error.log").read_text(errors="replace")
            try:
                return httpx.get(f"{stack.url}/healthz", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(answers, 20, "nginx to answer")
        yield stack
