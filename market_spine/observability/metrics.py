"""Process-wide Prometheus counters of the machinery: provider requests, their errors, and the
waits and refusals of pacing. Machinery increments them where the work happens; the API's
`/metrics` exposes them with its own.

Counters are per process (prometheus_client keeps them in memory): the API process counts the
provider traffic of the real-time stream it serves; a run's traffic is counted in the process
executing it. This module imports nothing of the platform, so any layer may count.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

#: The registry of this process's machinery counters (never prometheus_client's global one, so
#: an embedding application's own metrics cannot collide with ours).
REGISTRY = CollectorRegistry()

PROVIDER_REQUESTS = Counter(
    "market_spine_provider_requests",
    "Requests sent to a market-data provider (every attempt, retries included), by provider "
    "and request kind.",
    ("provider", "request"),
    registry=REGISTRY,
)
PROVIDER_ERRORS = Counter(
    "market_spine_provider_errors",
    "Provider requests that failed, by provider and error (an HTTP status, `transport`, or "
    "the platform error's class).",
    ("provider", "error"),
    registry=REGISTRY,
)
PACING_WAITS = Counter(
    "market_spine_provider_pacing_waits",
    "Requests held back by our own pacing (IB's historical-data rules, ThetaData's tier cap) "
    "before being sent, by provider.",
    ("provider",),
    registry=REGISTRY,
)
PACING_WAIT_SECONDS = Counter(
    "market_spine_provider_pacing_wait_seconds",
    "Seconds requests spent held back by our own pacing, by provider.",
    ("provider",),
    registry=REGISTRY,
)
PACING_VIOLATIONS = Counter(
    "market_spine_provider_pacing_violations",
    "Requests the provider refused for pacing (IB error 162, ThetaData 429), by provider.",
    ("provider",),
    registry=REGISTRY,
)


def count_request(provider: str, request: str) -> None:
    """One request sent (an attempt: a retry counts again)."""
    PROVIDER_REQUESTS.labels(provider, request).inc()


def count_error(provider: str, error: str) -> None:
    """One failed request; `error` is a short, bounded name (never a message)."""
    PROVIDER_ERRORS.labels(provider, error).inc()


def count_pacing_wait(provider: str, seconds: float) -> None:
    """One request held back `seconds` by our own pacing."""
    PACING_WAITS.labels(provider).inc()
    PACING_WAIT_SECONDS.labels(provider).inc(max(seconds, 0.0))


def count_pacing_violation(provider: str) -> None:
    """One request the provider refused for pacing."""
    PACING_VIOLATIONS.labels(provider).inc()


def requests_sent() -> dict[str, float]:
    """Requests this process has sent so far, per provider (every request kind summed)."""
    sent: dict[str, float] = {}
    for metric in PROVIDER_REQUESTS.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                provider = sample.labels["provider"]
                sent[provider] = sent.get(provider, 0.0) + sample.value
    return sent
