"""Whether the providers the settings name can be reached: the ThetaTerminal answers a v3
request at its URL, TWS / IB Gateway accepts a TCP connection at its host and port. Only the
providers in use are probed; the others are reported as skipped."""

from __future__ import annotations

import socket
from dataclasses import dataclass

import httpx

from market_spine.config.secrets import mask
from market_spine.settings import Settings

#: Seconds a probe waits for an answer or a connection.
TIMEOUT_S = 3.0
#: Seconds the ThetaTerminal probe waits for its answer once connected.
READ_TIMEOUT_S = 20.0
#: The ThetaTerminal's answer to a client that reached it by another address than it was started
#: with (127.0.0.1 vs localhost).
_WRONG_IP = 476


@dataclass(frozen=True)
class Probe:
    """One provider's reachability: `ok` None when the probe was skipped; `detail` says what was
    found and, when it failed, how to fix it."""

    name: str
    ok: bool | None
    detail: str


#: A v3 endpoint every subscription answers, and cheaply (the expiration list of one root).
_V3_PROBE = ("/option/list/expirations", {"symbol": "SPXW", "format": "csv"})


def probe_thetadata(url: str, timeout: float = TIMEOUT_S) -> Probe:
    """GET a real v3 endpoint under `url`: data (or no data, 472) means a v3 terminal answers;
    a 404 means the URL is not the v3 API's (a v2 URL, or one without /v3)."""
    shown = mask(url)
    path, params = _V3_PROBE
    try:
        # Connecting is quick or never; a terminal's first list may take seconds to build.
        limits = httpx.Timeout(timeout, read=max(timeout, READ_TIMEOUT_S))
        reply = httpx.get(url.rstrip("/") + path, params=params, timeout=limits)
    except httpx.HTTPError as exc:
        return Probe(
            "thetadata",
            False,
            f"nothing answers at {shown} ({type(exc).__name__}): start the ThetaTerminal, or "
            "set thetadata_url to where it listens",
        )
    status = reply.status_code
    if status == 404:
        host = httpx.URL(url).host or "127.0.0.1"
        return Probe(
            "thetadata",
            False,
            f"{shown}{path} answered 404: this is not a v3 terminal URL: use "
            f"http://{host}:25503/v3 (the v2 API is not supported)",
        )
    if status == _WRONG_IP:
        return Probe(
            "thetadata",
            False,
            f"{shown} refused this address (476 wrong IP): use the host the terminal was "
            "started with (127.0.0.1 and localhost are not interchangeable)",
        )
    if status >= 500:
        return Probe(
            "thetadata",
            False,
            f"{shown} answered {status}: the terminal is not ready (starting, or "
            "disconnected from ThetaData); wait and validate again",
        )
    if status == 471:
        return Probe(
            "thetadata",
            False,
            f"{shown} answered 471 to {path}: the subscription does not include SPXW options",
        )
    if status not in (200, 472):
        return Probe(
            "thetadata", False, f"{shown}{path} answered {status}: {reply.text.strip()[:200]}"
        )
    return Probe("thetadata", True, f"{shown} is a v3 terminal ({path} answered {status})")


def probe_ib(host: str, port: int, timeout: float = TIMEOUT_S) -> Probe:
    """Open (and close) a TCP connection to TWS / IB Gateway at `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        return Probe(
            "ib",
            False,
            f"nothing accepts connections at {host}:{port} ({exc.strerror or exc}): start TWS "
            "or IB Gateway with the API enabled, or set ib_host and ib_port to where it listens",
        )
    return Probe("ib", True, f"{host}:{port} accepts connections")


def probe_providers(settings: Settings, timeout: float = TIMEOUT_S) -> list[Probe]:
    """A probe of each provider the settings use; the unused ones skipped with the reason."""
    if settings.options_provider == "thetadata":
        theta = probe_thetadata(settings.thetadata_url, timeout)
    else:
        theta = Probe(
            "thetadata", None, f"not used (options_provider is {settings.options_provider})"
        )
    if settings.provider == "ib":
        ib = probe_ib(settings.ib_host, settings.ib_port, timeout)
    else:
        ib = Probe("ib", None, f"not used (provider is {settings.provider})")
    return [theta, ib]
