"""Prometheus metrics for every HTTP service: request counts and latency by route template, `GET /metrics` in
the text exposition format, and the metric objects the parts' services count their orders and messages with.

Under gunicorn (several worker processes) prometheus_client runs in multiprocess mode: each worker writes its
samples to files under PROMETHEUS_MULTIPROC_DIR (set and wiped by `common.gunicorn_conf` before the workers
fork), and a scrape, answered by any worker, sums every worker's files, so it gives the whole service. The
in-process servers (waitress beside a consumer loop) are one process and use the default registry.

Labels carry bounded values only: a route template (`/order/<path:order_id>`, never the path with its id), a
method from a fixed set, a status code, an outcome word of `common.vocabulary`, a dead-letter reason code.
"""
from __future__ import annotations

import os
import time
from typing import Callable, Iterable

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from .vocabulary import OrderStatus, ReservationOutcome

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # the route label of a request no route matched (a 404): never the raw path

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered, by route template, method and status",
                        ["route", "method", "status"])
HTTP_DURATION = Histogram("http_request_duration_seconds", "Time to answer an HTTP request, by route template",
                          ["route", "method"],
                          buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))

# The entry service (port 6000) of each part: an order counted once, by the status its answer gave
# (Part A: confirmed or failed; Parts B and C: pending, as the order is decided later), with the failure's reason.
ORDERS = Counter("orders_total", "Orders placed, by the status the entry service answered (and the failure's reason)",
                 ["outcome", "reason"])
# The inventory service or consumer (port 6001): reservations by ReservationOutcome.
RESERVATIONS = Counter("reservations_total", "Reservations processed by the inventory, by outcome", ["outcome"])
# Messaging (Parts B and C): what a consumer took from the broker, and where it went.
MESSAGES_CONSUMED = Counter("messages_consumed_total", "Messages or events consumed, by consumer", ["consumer"])
MESSAGES_DUPLICATE = Counter("messages_duplicate_total", "Messages already processed (their event_id seen), skipped",
                             ["consumer"])
DEAD_LETTERS = Counter("dead_letters_total", "Messages sent to the dead-letter path, by consumer and reason",
                       ["consumer", "reason"])
EVENTS_PRODUCED = Counter("events_produced_total", "Events written to the broker, by topic", ["topic"])


def count_order(status: str, reason: str | None = None, n: int = 1) -> None:
    """`n` orders answered with `status` (an OrderStatus) and, when failed, `reason` (a ReservationOutcome; any
    other reason, e.g. the broker's, is "other", so the label keeps a bounded set of values)."""
    reasons = set(ReservationOutcome)
    ORDERS.labels(OrderStatus(status).value, reason if reason in reasons else ("other" if reason else "")).inc(n)


def is_multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def _method(raw: str) -> str:
    return raw if raw in METHODS else "OTHER"


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def wants_exposition(accept: str | None) -> bool:
    """Does the Accept header ask for Prometheus's formats (what Prometheus itself sends when it scrapes)?"""
    accept = (accept or "").lower()
    return "application/openmetrics-text" in accept or (
        "text/plain" in accept and "version=0.0.4" in accept.replace(" ", ""))


class _Combined:
    """One scrape's collectors: the process's (or every worker's) samples, and the service's scrape-time ones."""

    def __init__(self, base: Iterable, extra: Iterable[Callable[[], Iterable[Metric]]]):
        self._base = base
        self._extra = extra

    def collect(self) -> Iterable[Metric]:
        for source in self._base:
            yield from source.collect()
        for fn in self._extra:
            yield from fn()


def exposition(accept: str | None, collectors: Iterable[Callable[[], Iterable[Metric]]] = ()) -> tuple[bytes, str]:
    """The body and content type of one scrape: OpenMetrics when asked for it, else the 0.0.4 text format."""
    if is_multiprocess():
        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)
        base: list = [workers]
    else:
        base = [REGISTRY]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Combined(base, list(collectors)))
    if "application/openmetrics-text" in (accept or "").lower():
        return generate_openmetrics(registry), OPENMETRICS_CONTENT_TYPE
    return generate_latest(registry), CONTENT_TYPE_LATEST


def instrument(app: Flask, collectors: list[Callable[[], Iterable[Metric]]] | None = None,
               route: bool = True) -> list[Callable[[], Iterable[Metric]]]:
    """Count every request of `app` and (with `route`) serve `GET /metrics`; returns the list of the service's
    scrape-time collectors (functions yielding metric families), to which the service may add its own."""
    extra = collectors if collectors is not None else []
    app.extensions["metrics_collectors"] = extra

    @app.before_request
    def _metrics_start():
        g.metrics_t0 = time.perf_counter()

    @app.after_request
    def _metrics_count(resp):
        route_label, method = _route(), _method(request.method)
        HTTP_REQUESTS.labels(route_label, method, str(resp.status_code)).inc()
        t0 = g.get("metrics_t0")
        if t0 is not None:
            HTTP_DURATION.labels(route_label, method).observe(time.perf_counter() - t0)
        return resp

    if route:
        @app.get("/metrics")
        def metrics():
            return metrics_response()

    return extra


def metrics_response() -> Response:
    """The exposition of the current app's metrics, in the format the request's Accept header asks for."""
    from flask import current_app

    accept = request.headers.get("Accept")
    body, content_type = exposition(accept, current_app.extensions.get("metrics_collectors", []))
    return Response(body, status=200, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def add_collector(app: Flask, fn: Callable[[], Iterable[Metric]]) -> None:
    """A scrape-time figure (read from the service's store or its broker when /metrics is asked, so it is the
    same whichever worker answers): `fn` yields metric families, e.g. `gauge("outbox_pending", ..., value)`."""
    app.extensions.setdefault("metrics_collectors", []).append(fn)


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    """One gauge with one sample, for a scrape-time collector."""
    return GaugeMetricFamily(name, documentation, value=value)


def gauges(name: str, documentation: str, label: str, values: dict[str, float]) -> GaugeMetricFamily:
    """One gauge family with a sample per value of one label (e.g. status -> count), for a scrape-time collector."""
    family = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


def prepare_multiprocess_dir(path: str) -> str:
    """Make `path` an empty directory for this run's worker files (a previous run's files would add up)."""
    os.makedirs(path, exist_ok=True)
    for entry in os.scandir(path):
        if entry.is_file() and entry.name.endswith(".db"):
            os.unlink(entry.path)
    return path


def mark_worker_dead(pid: int) -> None:
    """gunicorn's child_exit hook: a worker that ended no longer counts in the live gauges."""
    if is_multiprocess():
        multiprocess.mark_process_dead(pid)
