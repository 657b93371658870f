"""Limits of the API served for real on loopback: per-key rate (429 with Retry-After), request
head size (431) and deadline (408, then closed), body size (413), and the WebSocket's origin
check and per-key subscriber cap."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from market_spine.api.app import create_app
from market_spine_tests.kit.api import serving, serving_app
from market_spine_tests.kit.homes import settings_for


def _raw(port: int, data: bytes, wait_s: float = 5.0) -> bytes:
    """Send `data` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
        return b"".join(chunks)


def _one_response(sock: socket.socket) -> bytes:
    """One whole response (head and its Content-Length of body) read off a kept-alive socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return data


def test_a_key_over_its_rate_gets_429_with_retry_after(home: Path) -> None:
    with serving(home, api_rate_limit=2) as client:
        codes = [client.get("/v1/stream/status").status_code for _ in range(6)]
        over = client.get("/v1/stream/status")
        assert client.get("/healthz").status_code == 200  # public routes are not counted
    assert codes[:4] == [200] * 4  # a burst of twice the rate
    assert over.status_code == 429 and int(over.headers["retry-after"]) >= 1
    assert "requests a second" in over.json()["error"]


def test_an_address_whose_credentials_keep_failing_is_refused_before_any_derivation(
    home: Path,
) -> None:
    """Guessing secrets costs the guesser, not the real users: past a burst of refusals an
    address gets 429 without a key derivation, and the trail names the key it claimed."""
    from market_spine.audit.recorder import recorder
    from market_spine.security.keys import KeyStore
    from market_spine.security.limits import RateLimiter

    app = create_app(settings_for(home))
    # Ten refusals, then (at this rate) none for minutes: the test does not race the refill.
    app.state.access.failures = RateLimiter(0.001, 10)
    issued = KeyStore(home).create("operator")
    guess = "_".join(issued.token.split("_", 2)[:2]) + "_" + "A" * 43
    with serving_app(app, role=None) as client:
        wrong = {"Authorization": f"Bearer {guess}"}
        codes = [client.get("/v1/stream/status", headers=wrong).status_code for _ in range(14)]
        right = {"Authorization": f"Bearer {issued.token}"}
        held_back = client.get("/v1/stream/status", headers=right)
        recorder(home).flush()
        compliance = KeyStore(home).create("compliance").token
        app.state.access.failures = RateLimiter(1, 10)
        trail = client.get(
            "/v1/audit",
            params={"actor": "anonymous", "limit": 2},
            headers={"Authorization": f"Bearer {compliance}"},
        )
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    assert held_back.status_code == 429 and "retry after" in held_back.json()["error"]
    assert trail.status_code == 200, trail.text
    assert trail.json()["entries"][0]["params"]["claimed"] == f"key:{issued.record.id}"


def test_a_head_over_the_cap_is_refused_with_431(home: Path) -> None:
    with serving(home, api_max_header_bytes=4096) as client:
        port = client.base_url.port or 0
        big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 200_000 + b"\r\n\r\n"
        answer = _raw(port, big)
        assert answer.startswith(b"HTTP/1.1 431")
        assert b"MARKET_SPINE_API_MAX_HEADER_BYTES" in answer
        small = _raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert small.startswith(b"HTTP/1.1 200")


def test_a_half_sent_request_is_closed_at_the_deadline(home: Path) -> None:
    with serving(home, api_header_timeout_s=1) as client:
        port = client.base_url.port or 0
        started = time.monotonic()
        answer = _raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n", wait_s=10)
        took = time.monotonic() - started
        assert answer.startswith(b"HTTP/1.1 408") and 0.8 < took < 5
        idle_started = time.monotonic()
        assert _raw(port, b"", wait_s=10) == b""  # a silent connection is closed too
        assert time.monotonic() - idle_started < 5
        # A keep-alive connection gets the deadline again for its next request.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _one_response(sock).startswith(b"HTTP/1.1 200")
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            rest = sock.recv(65536)
            assert rest.startswith(b"HTTP/1.1 408")


def test_a_body_over_the_cap_is_refused_with_413(home: Path) -> None:
    with serving(home, api_max_body_bytes=1000) as client:
        answer = client.request("GET", "/v1/stream/status", content=b"x" * 5000)
        assert answer.status_code == 413 and "1000 bytes" in answer.json()["error"]
        assert client.request("GET", "/v1/stream/status", content=b"x" * 10).status_code == 200


class _Streamer:
    def __init__(self) -> None:
        self.subscribed = {"CL": "CLJ4"}


def _ws(client: Any, token: str | None = None, **kw: Any) -> Any:
    url = f"ws://127.0.0.1:{client.base_url.port}/v1/stream/bars?symbols=CL"
    token = token or client.headers["authorization"].removeprefix("Bearer ")
    protocols = [Subprotocol("market-spine"), Subprotocol(f"bearer.{token}")]
    return connect(url, subprotocols=protocols, **kw)


def _first(ws: Any) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=5))


def test_websocket_credentials_origins_and_the_subscriber_cap(home: Path) -> None:
    app = create_app(
        settings_for(home).__class__.from_env(
            {
                "MARKET_SPINE_HOME": str(home),
                "MARKET_SPINE_PROFILE": "dev",
                "MARKET_SPINE_API_WS_PER_KEY": "2",
                "MARKET_SPINE_API_ALLOWED_ORIGINS": "https://desk.example.com",
            }
        )
    )
    app.state.streamer = _Streamer()
    with serving_app(app) as client:
        with _ws(client) as one, _ws(client) as two:
            assert one.subprotocol == "market-spine"  # the token is never echoed back
            assert _first(one)["event"] == _first(two)["event"] == "subscribed"
            with _ws(client) as third:
                refused = _first(third)
                assert "already holds 2" in refused["error"]
                with pytest.raises(ConnectionClosed):
                    third.recv(timeout=5)
                assert third.close_code == 4429
        with _ws(client) as again:  # the closed ones were counted out
            assert _first(again)["event"] == "subscribed"
        url = f"ws://127.0.0.1:{client.base_url.port}/v1/stream/bars?symbols=CL"
        with connect(url) as anonymous:
            assert "authentication required" in _first(anonymous)["error"]
            with pytest.raises(ConnectionClosed):
                anonymous.recv(timeout=5)
            assert anonymous.close_code == 4401
        token = client.headers["authorization"].removeprefix("Bearer ")
        with connect(f"{url}&token={token}") as by_query:
            assert _first(by_query)["event"] == "subscribed"
        with _ws(client, origin="https://evil.example.net") as foreign:
            assert "evil.example.net" in _first(foreign)["error"]
        with _ws(client, origin="https://desk.example.com") as allowed:
            assert _first(allowed)["event"] == "subscribed"
        own = f"http://127.0.0.1:{client.base_url.port}"
        with _ws(client, origin=own) as same:
            assert _first(same)["event"] == "subscribed"


def test_a_refused_handshake_is_not_an_http_error(home: Path) -> None:
    """Refusals come as a message and a close code a browser can read, never a failed
    handshake (which a page cannot tell from a network error)."""
    with serving(home) as client:
        try:
            with _ws(client, token="msk_0123456789abcdef_" + "x" * 43) as ws:
                assert "not valid for this home" in _first(ws)["error"]
        except InvalidStatus as exc:  # pragma: no cover - the failure this test guards
            pytest.fail(f"handshake refused: {exc}")
