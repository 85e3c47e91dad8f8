"""A job's completion webhook: the URL checked at submit, the summary POSTed when the job finishes.

Only hosts in the server's ``webhook_allowed_hosts`` may be called, and that holds for every hop:
redirects are never followed automatically; a 307/308 (or 301/302/303) answer's ``Location`` is
checked against the same list before the summary is POSTed there, for at most
``MAX_REDIRECTS`` hops. No proxy is taken from the environment (``HTTP_PROXY`` and friends could
send the call elsewhere). Sent with ``crnn_ocr.client``'s httpx client and retries
(``WEBHOOK_RETRY``: a hook that is down, refuses with 429/503 or answers 502/504 is tried again,
three times in all; the summary is the same each time, so a repeat does no harm). A URL with control characters or spaces is refused at submit, so it can
never forge a log line. Sending never raises: a failure is logged (the URL quoted) and False
returned, and the job is finished either way.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urljoin, urlsplit

from crnn_ocr.client import RetryPolicy, http_client, send
from crnn_ocr.errors import OptionsError
from crnn_ocr.server.jobs.records import JobRecord
from crnn_ocr.server.settings import ServerSettings

log = logging.getLogger("crnn_ocr.server.jobs")

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
WEBHOOK_RETRY = RetryPolicy(attempts=3, backoff_s=0.5, max_backoff_s=2.0)
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f]")  # control characters and spaces


def check_webhook_url(url: str, allowed_hosts: list[str]) -> None:
    """Raise OptionsError unless ``url`` is http(s) to one of ``allowed_hosts`` (none: webhooks off)
    and holds no control character or space."""
    if not allowed_hosts:
        raise OptionsError("webhooks are off on this server (no webhook_allowed_hosts configured)")
    bad = _UNSAFE.search(url)
    if bad is not None:
        raise OptionsError(
            f"webhook_url holds a control character or space ({bad.group()!r} at {bad.start()}); "
            "percent-encode it"
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:  # e.g. a malformed IPv6 literal or port
        raise OptionsError(f"webhook_url is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise OptionsError(f"webhook_url must be an http:// or https:// URL, not {url[:200]!r}")
    if host.lower() not in {h.lower() for h in allowed_hosts}:
        raise OptionsError(f"webhook host {host!r} is not in the server's webhook_allowed_hosts")


def webhook_payload(job: JobRecord) -> dict:
    return {
        "event": "job.finished", "id": job.id, "status": job.status, "total": job.total, "done": job.done,
        "failed": job.failed, "cancelled": job.cancelled, "url": f"/api/v1/jobs/{job.id}",
    }


class WebhookError(Exception):
    """The webhook could not be delivered (refused hop, too many redirects, an error status)."""


def post_webhook(
    url: str, payload: dict, allowed_hosts: list[str], timeout_s: float, retry: RetryPolicy = WEBHOOK_RETRY
) -> int:
    """POST ``payload`` to ``url``, following at most MAX_REDIRECTS redirects, each hop checked
    against ``allowed_hosts``. Returns the final status; WebhookError or httpx errors otherwise."""
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "crnn-ocr"}
    with http_client(timeout_s) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                check_webhook_url(url, allowed_hosts)
            except OptionsError as exc:
                raise WebhookError(f"refused hop to {url[:200]!r}: {exc}") from None
            request = client.build_request("POST", url, content=body, headers=headers)
            response = send(client, request, retry, repeatable=True)
            if response.status_code not in _REDIRECTS:
                if response.status_code >= 400:
                    raise WebhookError(f"answered HTTP {response.status_code}")
                return response.status_code
            location = response.headers.get("location")
            if not location:
                raise WebhookError(f"answered HTTP {response.status_code} without a Location")
            url = urljoin(url, location)
    raise WebhookError(f"more than {MAX_REDIRECTS} redirects")


def send_webhook(job: JobRecord, settings: ServerSettings) -> bool:
    """POST the job's summary to its webhook. Never raises: a failure is logged, False returned."""
    url = job.webhook_url
    if not url:
        return False
    try:
        post_webhook(url, webhook_payload(job), settings.webhook_allowed_hosts, settings.webhook_timeout_s)
        return True
    except Exception as exc:  # noqa: BLE001 - the job is done either way
        log.warning("webhook for job %s to %r failed: %s", job.id, url, exc)
        return False
