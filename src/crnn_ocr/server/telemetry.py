"""Prometheus metrics (prometheus-client), served at ``GET /metrics``.

Per process, in this module's ``REGISTRY`` (not prometheus-client's global one), counted as
things happen::

    crnn_ocr_requests_total{endpoint, method, status}      HTTP answers; endpoint = route template
    crnn_ocr_request_duration_seconds{endpoint}            histogram, request in to answer out
    crnn_ocr_stage_duration_seconds{stage}                 histogram per page: load, preprocess,
                                                           detect, recognize (Page.timings)
    crnn_ocr_images_read_total{source}                     inputs read (image, PDF, TIFF): sync | job
    crnn_ocr_pages_read_total{source}                      their pages
    crnn_ocr_cache_lookups_total{result}                   hit | miss

and read from the app's ``Service`` at each scrape (``ServiceCollector``)::

    crnn_ocr_model_info{name, version, sha256}             the loaded recognizer
    crnn_ocr_ready                                         1 once the model is loaded
    crnn_ocr_inference_in_flight / _capacity               OCR calls running or queued, and the bound
    crnn_ocr_job_items{state}                              job items by state in the job store

With ``uvicorn --workers N`` each process counts its own requests (Prometheus scrapes one
process per connection); the job-item gauges come from the shared store either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Literal

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crnn_ocr.types import Document

if TYPE_CHECKING:
    from crnn_ocr.server.service import Service

log = logging.getLogger("crnn_ocr.server")

REGISTRY = CollectorRegistry()
CONTENT_TYPE = CONTENT_TYPE_LATEST  # the Prometheus text format
STAGES = ("load", "preprocess", "detect", "recognize")
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter(
    "crnn_ocr_requests", "HTTP requests answered, by endpoint (route template), method and status",
    ["endpoint", "method", "status"], registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "crnn_ocr_request_duration_seconds", "HTTP request latency, from the request to the end of its answer",
    ["endpoint"], buckets=_SECONDS, registry=REGISTRY,
)
STAGE_SECONDS = Histogram(
    "crnn_ocr_stage_duration_seconds", "time one page spent in each pipeline stage",
    ["stage"], buckets=_SECONDS, registry=REGISTRY,
)
IMAGES_READ = Counter(
    "crnn_ocr_images_read", "inputs read (an image, a PDF or a multi-page TIFF)", ["source"], registry=REGISTRY
)
PAGES_READ = Counter("crnn_ocr_pages_read", "pages read", ["source"], registry=REGISTRY)
CACHE_LOOKUPS = Counter(
    "crnn_ocr_cache_lookups", "result-cache lookups by outcome (hit, miss)", ["result"], registry=REGISTRY
)
for _stage in STAGES:  # every stage shows (at zero) before the first page is read
    STAGE_SECONDS.labels(_stage)
for _source in ("sync", "job"):
    IMAGES_READ.labels(_source)
    PAGES_READ.labels(_source)
for _result in ("hit", "miss"):
    CACHE_LOOKUPS.labels(_result)

Source = Literal["sync", "job"]


def record_document(document: Document, source: Source) -> None:
    """Count one input read and its pages, and each page's time per stage."""
    IMAGES_READ.labels(source).inc()
    PAGES_READ.labels(source).inc(len(document.pages))
    for page in document.pages:
        timings = page.timings
        for stage in STAGES:
            STAGE_SECONDS.labels(stage).observe(getattr(timings, f"{stage}_ms") / 1000.0)


def record_cache_lookup(hit: bool) -> None:
    CACHE_LOOKUPS.labels("hit" if hit else "miss").inc()


class ServiceCollector(Collector):
    """The gauges read from one app's ``Service`` when scraped."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        service = self.service
        ready = GaugeMetricFamily("crnn_ocr_ready", "1 once the model is loaded and requests are served")
        ready.add_metric([], 1.0 if service.status == "ready" else 0.0)
        yield ready
        if service.model is not None:
            info = InfoMetricFamily("crnn_ocr_model", "the loaded recognizer model")
            info.add_metric([], {
                "name": service.model.name, "version": service.model.version,
                "sha256": service.model_sha256 or "",
            })
            yield info
        in_flight = GaugeMetricFamily("crnn_ocr_inference_in_flight", "OCR calls running or waiting for a slot")
        in_flight.add_metric([], service.gate.in_flight)
        yield in_flight
        capacity = GaugeMetricFamily(
            "crnn_ocr_inference_capacity", "most OCR calls running or waiting at once (more answer 503)"
        )
        capacity.add_metric([], service.gate.capacity)
        yield capacity
        if service.jobs is not None:
            items = GaugeMetricFamily("crnn_ocr_job_items", "job items in the job store, by state", labels=["state"])
            try:
                states = service.jobs.store.item_states()
            except Exception:  # noqa: BLE001 - a scrape must not fail because the store is away
                log.exception("counting job items for /metrics failed")
            else:
                for state, count in sorted(states.items()):
                    items.add_metric([state], count)
                yield items


def scrape(service: Service | None) -> bytes:
    """The text exposition of this process's counters and ``service``'s gauges."""
    body = generate_latest(REGISTRY)
    if service is not None:
        registry = CollectorRegistry()
        registry.register(ServiceCollector(service))
        body += generate_latest(registry)
    return body


def endpoint_label(scope: Scope) -> str:
    """The matched route's path template (``/api/v1/jobs/{job_id}``), a mount's path, or
    ``other``: one label per route, never the raw path (unbounded label values)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "other"


class MetricsMiddleware:
    """Counts every HTTP answer by endpoint, method and status, and its latency."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception that escapes answers 500 further out

        async def counting_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            endpoint = endpoint_label(scope)
            REQUESTS.labels(endpoint, scope.get("method", ""), str(status)).inc()
            REQUEST_SECONDS.labels(endpoint).observe(time.perf_counter() - start)


def parse_samples(text: str) -> Iterable[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of each sample of a text exposition (tests and the load benchmark)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, dict(sample.labels), float(sample.value)
