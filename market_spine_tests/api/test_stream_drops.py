"""Messages dropped for a slow WebSocket subscriber are reported to it (a `dropped` message
before its next one) and in `GET /v1/stream/status`, over a real server on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from market_spine.api.app import create_app
from market_spine.streaming.hub import BarHub
from market_spine.streaming.messages import DropMessage
from market_spine.streaming.service import StreamStats
from market_spine_tests.kit.api import serving_app
from market_spine_tests.kit.homes import settings_for

QUEUE = 10


class _Streamer:
    """What the stream routes read of a running streamer; the hub is what is under test."""

    def __init__(self) -> None:
        self.subscribed = {"CL": "CLJ4"}
        self.stats = StreamStats()


@pytest.fixture
def served(home: Path) -> Iterator[tuple[httpx.Client, BarHub]]:
    app = create_app(settings_for(home))
    app.state.hub = BarHub(queue_size=QUEUE)
    app.state.streamer = _Streamer()
    with serving_app(app) as client:
        yield client, app.state.hub


def _subscribe(client: httpx.Client) -> ClientConnection:
    url = f"ws://127.0.0.1:{client.base_url.port}/v1/stream/bars?symbols=CL"
    token = client.headers["authorization"].removeprefix("Bearer ")
    ws = connect(url, subprotocols=[Subprotocol(f"bearer.{token}")])
    assert json.loads(ws.recv(timeout=5))["event"] == "subscribed"
    return ws


def _bar(seq: int, pad: int = 0) -> dict[str, Any]:
    return {"type": "bar", "symbol": "CL", "seq": seq, "pad": "x" * pad}


def _read_until_stopping(ws: ClientConnection) -> list[dict[str, Any]]:
    received = []
    while True:
        message = json.loads(ws.recv(timeout=30))
        received.append(message)
        if message.get("event") == "stopping":
            return received


def _settled(client: httpx.Client) -> dict[str, Any]:
    """The stream status once the hub's queue stopped changing (offers run on the loop)."""
    last: dict[str, Any] | None = None
    for _ in range(100):
        status = client.get("/v1/stream/status").json()
        if status == last:
            return status
        last = status
        time.sleep(0.05)
    return status


def test_a_burst_beyond_the_queue_is_reported_before_the_next_message(served) -> None:
    client, hub = served
    ws = _subscribe(client)
    assert client.get("/v1/stream/status").json()["subscribers"] == 1
    # One publish offers all 100 in one callback on the loop: the queue keeps the newest 10.
    hub.publish([_bar(i) for i in range(100)])
    report, *bars = (json.loads(ws.recv(timeout=5)) for _ in range(1 + QUEUE))
    assert DropMessage.model_validate(report).dropped == report["dropped_total"] == 90
    assert [b["seq"] for b in bars] == list(range(90, 100))
    hub.publish([_bar(100)])
    assert json.loads(ws.recv(timeout=5))["seq"] == 100  # nothing new lost: no report
    status = _settled(client)
    (mine,) = status["subscriptions"]
    assert mine["dropped"] == 90 and mine["dropped_unreported"] == 0
    assert mine["queue_size"] == QUEUE and mine["queue_depth"] == 0
    assert status["dropped_total"] == 90
    ws.close()
    for _ in range(100):
        status = client.get("/v1/stream/status").json()
        if status["subscribers"] == 0:
            break
        time.sleep(0.05)
    assert status["subscribers"] == 0 and status["dropped_total"] == 90  # kept after it left
    metrics = client.get("/metrics").text
    assert "market_spine_stream_dropped_messages_total 90.0" in metrics
    assert "market_spine_stream_subscribers 0.0" in metrics


@pytest.mark.timeout(120)
def test_a_slow_reader_gets_every_message_or_its_count(served) -> None:
    client, hub = served
    ws = _subscribe(client)
    # Left to itself the kernel grows a socket's receive buffer up to tcp_rmem's maximum (32 MB
    # here), which would swallow the whole burst: a reader that reads nothing holds little.
    ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    published = 3000

    def publish() -> None:  # as the streamer does: small batches from its own thread
        for start in range(0, published, 10):
            hub.publish([_bar(i, pad=8000) for i in range(start, start + 10)])
            time.sleep(0.0005)

    publisher = threading.Thread(target=publish)
    publisher.start()
    publisher.join()
    # The client read nothing while 24 MB were published: its queue overflowed.
    stalled = _settled(client)
    (mine,) = stalled["subscriptions"]
    assert mine["dropped"] > 0 and 0 <= mine["queue_depth"] <= QUEUE
    assert client.get("/metrics").text.count("market_spine_stream_subscribers 1.0") == 1
    hub.close()
    received = _read_until_stopping(ws)
    reports = [m for m in received if m["type"] == "dropped"]
    seqs = [m["seq"] for m in received if m["type"] == "bar"]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # in order, none twice
    # Every message was either delivered or counted in a report the client got.
    lost = sum(r["dropped"] for r in reports)
    assert reports and len(seqs) + lost == published
    assert reports[-1]["dropped_total"] == lost
    ws.close()
