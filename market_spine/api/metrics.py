"""Prometheus metrics: requests and latency by route template and status, rows served, the
WebSocket subscribers and the messages dropped for slow ones, the provider counters of every
process of the home (this one's and the runs', through the home's ledger), and the home's
state (freshness, checks, runs, ticks, disk; see `operations.metrics`).

Each app owns its registry, so several apps in one process (tests, embedding) never collide on
prometheus_client's global default registry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from market_spine.observability import ledger
from market_spine.observability.metrics import REGISTRY as MACHINERY
from market_spine.streaming.hub import BarHub

#: Reads of a session of minute bars take milliseconds; the tail up to seconds is for wide ranges.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StreamCollector:
    """The hub's subscribers, their queued messages and the messages dropped for slow ones,
    read at collection (`hub` gives the app's current hub)."""

    def __init__(self, hub: Callable[[], BarHub]) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        hub = self._hub()
        current = hub.current()
        subscribers = GaugeMetricFamily(
            "market_spine_stream_subscribers", "WebSocket clients subscribed to the stream."
        )
        subscribers.add_metric([], len(current))
        queued = GaugeMetricFamily(
            "market_spine_stream_queued_messages",
            "Messages queued for WebSocket subscribers and not yet sent.",
        )
        queued.add_metric([], sum(s.queue.qsize() for s in current))
        dropped = CounterMetricFamily(
            "market_spine_stream_dropped_messages",
            "Messages dropped because a WebSocket subscriber read too slowly (each is told).",
        )
        dropped.add_metric([], hub.dropped_total)
        yield from (subscribers, queued, dropped)


class _Forward:
    """Another registry's metrics, collected with ours."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


class ProviderCounters:
    """The machinery's counters of every process of the home: this one's, live, plus what the
    others (the runs, above all) last wrote to the home's ledger (`observability.ledger`)."""

    def __init__(self, ledger: ledger.Ledger) -> None:
        self._ledger = ledger

    def collect(self) -> Iterator[Metric]:
        shared = ledger.others(self._ledger)
        for family in MACHINERY.collect():
            mine = {
                json.dumps(s.labels, sort_keys=True): s.value
                for s in family.samples
                if s.name == f"{family.name}_total"
            }
            theirs = {labels: v for (name, labels), v in shared.items() if name == family.name}
            series = {k: mine.get(k, 0.0) + theirs.get(k, 0.0) for k in {*mine, *theirs}}
            label_names = sorted(json.loads(next(iter(series)))) if series else []
            summed = CounterMetricFamily(family.name, family.documentation, labels=label_names)
            for labels, value in sorted(series.items()):
                values = json.loads(labels)
                summed.add_metric([values.get(n, "") for n in label_names], value)
            yield summed


class Metrics:
    """The API's collectors, registered in a registry of their own, with the stream's (`hub`),
    the process's machinery counters and the home's collector (`home`) beside them."""

    def __init__(
        self,
        hub: Callable[[], BarHub] | None = None,
        home: Collector | None = None,
        ledger: ledger.Ledger | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_Forward(MACHINERY) if ledger is None else ProviderCounters(ledger))
        if hub is not None:
            self.registry.register(StreamCollector(hub))
        if home is not None:
            self.registry.register(home)
        labels = ("route", "method", "status")
        self.requests = Counter(
            "market_spine_api_requests",
            "HTTP requests answered, by route template, method and status.",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "market_spine_api_request_duration_seconds",
            "Time to answer an HTTP request, by route template, method and status.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter(
            "market_spine_api_rows_served",
            "Data rows served, by route template.",
            ("route",),
            registry=self.registry,
        )


class MetricsMiddleware:
    """Times every HTTP request and counts it under its route template (never the raw path,
    which would make one series per URL); rows come from the handler's `X-Rows` header."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before responding
        rows = 0

        async def send_and_observe(message: Message) -> None:
            nonlocal status, rows
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"x-rows":
                        rows = int(value)
            await send(message)

        try:
            await self.app(scope, receive, send_and_observe)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            labels = (route, scope["method"], str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)
            if rows:
                self.metrics.rows.labels(route).inc(rows)


router = APIRouter(tags=["operations"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition of the API's counters and histograms, the stream's, the
    providers' and the home's (computed at most every 15 s). A plain function, so reading the
    instance runs on a worker thread, never on the event loop."""
    registry: CollectorRegistry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
