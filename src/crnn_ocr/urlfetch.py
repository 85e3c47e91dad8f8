"""Fetch an image by URL without letting the URL reach inside the network (SSRF).

``fetch_url(url, policy)`` answers the body's bytes, or raises:

- ``UrlRefusedError`` (422): URL input is off; the scheme is not http or https (on the first URL
  or after a redirect); or the host resolves to an address that is not globally routable
  (loopback, private, link-local, shared, reserved, multicast, unspecified, an IPv4-mapped IPv6
  form of those) and is not on the allow-list;
- ``ImageTooLargeError`` (413): the body is over ``max_bytes`` (by Content-Length, and counted
  while streaming, so a lying or missing header changes nothing);
- ``UrlFetchError`` (400): unreachable, timed out, an HTTP error status, too many redirects.

The address check runs where the connection is made (``_GuardedBackend.connect_tcp``): the host
is resolved once, every address it resolves to is checked, and the connection goes to a checked
address, so a DNS answer that changes between check and connect (rebinding) cannot slip through.
Redirects are followed one hop at a time, each hop's scheme checked and its connection guarded
the same way. Proxies from the environment are ignored: a proxy would make the connection instead.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from crnn_ocr.errors import EmptyImageError, ImageTooLargeError, UrlFetchError, UrlRefusedError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = ("http", "https")
USER_AGENT = "crnn-ocr-url-fetch"


@dataclass(frozen=True)
class UrlPolicy:
    """What a URL fetch may do. ``allowed_hosts``: host names, addresses or networks (CIDR) that
    may be fetched although they are not public (e.g. ``127.0.0.1``, ``10.1.0.0/16``,
    ``images.intranet``)."""

    enabled: bool = True
    allowed_hosts: tuple[str, ...] = ()
    max_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 10.0
    max_redirects: int = 5
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _names: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        networks, names = [], set()
        for entry in self.allowed_hosts:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                names.add(entry.strip().lower().rstrip("."))
        object.__setattr__(self, "_networks", tuple(networks))
        object.__setattr__(self, "_names", frozenset(names))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self._names

    def address_allowed(self, address: IPAddress) -> bool:
        """Public (globally routable) addresses always; others only inside an allowed network."""
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:
            address = mapped
        if any(address.version == n.version and address in n for n in self._networks):
            return True
        return address.is_global and not address.is_multicast


def check_address(host: str, address: IPAddress, policy: UrlPolicy) -> None:
    """Raise UrlRefusedError when ``host`` (resolved to ``address``) may not be fetched."""
    if policy.host_allowed(host) or policy.address_allowed(address):
        return
    raise UrlRefusedError(
        f"the URL's host {host} resolves to {address}, a loopback, private, link-local or reserved "
        "address; the server fetches only public addresses (an administrator can allow a host with "
        "url_allowed_hosts)"
    )


def check_url(url: str, policy: UrlPolicy) -> httpx.URL:
    """The URL parsed, if its scheme and shape may be fetched (its address is checked on connect)."""
    if not policy.enabled:
        raise UrlRefusedError("URL input is switched off on this server (url_input = false); send the image itself")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UrlRefusedError(f"image_url is not a valid URL ({exc})") from None
    if parsed.scheme not in SCHEMES:
        raise UrlRefusedError(f"image_url must be an http:// or https:// URL, not {parsed.scheme or 'a relative'} one")
    if not parsed.host:
        raise UrlRefusedError("image_url has no host")
    return parsed


class _GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network layer with every address checked before it is connected to."""

    def __init__(self, policy: UrlPolicy) -> None:
        self.policy = policy
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Iterable | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _resolve(host, port)
        for address in addresses:
            check_address(host, address, self.policy)
        error: Exception | None = None
        for address in addresses:  # all checked: connect to the first that answers
            try:
                return self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                error = exc
        raise error or httpcore.ConnectError(f"no address for {host}")

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Iterable | None = None):
        raise UrlRefusedError("unix sockets are never fetched")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlFetchError(f"cannot resolve the URL's host {host} ({exc})") from None
    seen: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in seen:
            seen.append(address)
    return seen


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, policy: UrlPolicy) -> None:
        super().__init__(trust_env=False, retries=0)
        # httpx builds its pool without a way to pass a network backend: the same pool, guarded.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(), max_connections=4, network_backend=_GuardedBackend(policy)
        )


def fetch_url(url: str, policy: UrlPolicy) -> bytes:
    """The bytes at ``url`` (see the module docstring). Blocking: call it off the event loop."""
    target = check_url(url, policy)
    deadline = time.monotonic() + policy.timeout_s
    timeout = httpx.Timeout(policy.timeout_s)
    with httpx.Client(
        transport=_GuardedTransport(policy), timeout=timeout, follow_redirects=False, trust_env=False,
        headers={"User-Agent": USER_AGENT, "Accept": "image/*, application/pdf;q=0.9, */*;q=0.5"},
    ) as client:
        for _hop in range(policy.max_redirects + 1):
            try:
                with client.stream("GET", target) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        target = check_url(urljoin(str(target), location), policy)
                        continue
                    if response.status_code >= 400:
                        raise UrlFetchError(f"fetching {_short(target)} answered HTTP {response.status_code}")
                    return _read_limited(response, policy.max_bytes, deadline, target)
            except httpx.TimeoutException:
                raise UrlFetchError(f"fetching {_short(target)} timed out after {policy.timeout_s:g} s") from None
            except httpx.HTTPError as exc:
                raise UrlFetchError(f"fetching {_short(target)} failed ({type(exc).__name__}: {exc})") from None
    raise UrlFetchError(f"more than {policy.max_redirects} redirects from {_short(httpx.URL(url))}")


def _read_limited(response: httpx.Response, max_bytes: int, deadline: float, target: httpx.URL) -> bytes:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ImageTooLargeError(f"the image at the URL is {declared} bytes, more than the limit of {max_bytes}")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise ImageTooLargeError(f"the image at the URL is more than the limit of {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise UrlFetchError(f"fetching {_short(target)} took longer than the timeout")
        chunks.append(chunk)
    if not size:
        raise EmptyImageError(f"{_short(target)} answered an empty body")
    return b"".join(chunks)


def _short(url: httpx.URL) -> str:
    """The URL without its query and credentials, for messages."""
    parts = urlsplit(str(url))
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return f"{parts.scheme}://{netloc}{parts.path}"[:200]
