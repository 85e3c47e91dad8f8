"""For the benchmarks that start the service on this machine (jobs_throughput, load_test, stream):
a free loopback port. The tests' copy is ``free_port`` in tests/jobs_support.py."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
