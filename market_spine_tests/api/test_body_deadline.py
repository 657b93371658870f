"""A request body that stops arriving gets 408 at the deadline (each chunk has
`api_body_timeout_s`), and a client that closes the connection mid-body is one log line and the
audited outcome `client-closed`, over a real socket."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import pytest

from market_spine.audit.export import AuditFilter, entries_as_dicts
from market_spine.audit.recorder import flush_all
from market_spine.audit.store import AuditStore, db_path
from market_spine_tests.kit.api import serving

#: A route that reads the request body (the UI's GraphQL endpoint, behind its proxy).
BODY_ROUTE = "/dagster/graphql"


def _half_sent(port: int, authorization: str, sent: bytes = b'{"query":') -> bytes:
    return (
        f"POST {BODY_ROUTE} HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    ).encode() + sent


def _posts(home: Path) -> list[dict]:
    flush_all()
    if not db_path(home).is_file():
        return []
    store = AuditStore(home, create=False)
    try:
        found = entries_as_dicts(store, AuditFilter(action="http.post"), 1000)
    finally:
        store.close()
    return [e for e in found if e["params"]["path"] == BODY_ROUTE]


def test_a_body_that_stops_arriving_gets_408_at_the_deadline(home: Path) -> None:
    with serving(home, api_body_timeout_s=1) as client:
        port = client.base_url.port or 0
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(_half_sent(port, client.headers["authorization"]))
            answer = b""
            while chunk := sock.recv(65536):  # the server closes the connection after it
                answer += chunk
        took = time.monotonic() - started
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer
    assert b'"error":' in body and b"MARKET_SPINE_API_BODY_TIMEOUT_S" in body
    assert b"after 9 bytes" in body
    assert 0.8 < took < 5, took
    assert [e["outcome"] for e in _posts(home)] == ["408"]


def test_a_client_closing_mid_body_is_one_line_and_audited_as_such(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO), serving(home, api_body_timeout_s=30) as client:
        port = client.base_url.port or 0
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(_half_sent(port, client.headers["authorization"]))
            time.sleep(1.0)  # the app is reading the body when the client goes
        deadline = time.monotonic() + 10
        while not _posts(home) and time.monotonic() < deadline:
            time.sleep(0.05)
    [entry] = _posts(home)
    assert entry["outcome"] == "client-closed"
    closed = [r for r in caplog.records if "closed the connection" in r.getMessage()]
    assert len(closed) == 1 and BODY_ROUTE in closed[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]
