"""SIGINT and SIGTERM stop every long-running command within 5 s, with clients connected, and
even when the shell started it with SIGINT ignored (a background job)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from market_spine.cli.stream import market_closed_note
from market_spine.home import open_instance
from market_spine.security.keys import KeyStore

STOP_WITHIN_S = 5.0
CLI = [sys.executable, "-m", "market_spine.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_background_job() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start(args: list[str], home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "MARKET_SPINE_HOME": str(home)}
    return subprocess.Popen(
        [*CLI, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_background_job,
    )


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def stop_time(child: subprocess.Popen[str], sig: signal.Signals) -> float:
    started = time.monotonic()
    child.send_signal(sig)
    try:
        child.wait(STOP_WITHIN_S + 5)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        return float("inf")
    return time.monotonic() - started


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_fake_tws_stops_with_a_client_connected(home: Path, sig: signal.Signals) -> None:
    port = free_port()
    child = start(["fake", "tws", "--port", str(port)], home)
    client = wait_for(lambda: socket.create_connection(("127.0.0.1", port)), 60, "the fake")
    try:
        assert stop_time(child, sig) <= STOP_WITHIN_S
    finally:
        client.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stream_stops_with_a_websocket_client_connected(home: Path, sig: signal.Signals) -> None:
    port = free_port()
    child = start(["stream", "--fake", "--port", str(port), "--symbols", "CL"], home)
    url = f"ws://127.0.0.1:{port}/v1/stream/bars?symbols=CL"
    token = KeyStore(home).create("reader").token
    protocols = [Subprotocol(f"bearer.{token}")]
    ws = wait_for(lambda: connect(url, subprotocols=protocols), 120, "the stream's WebSocket")
    try:
        assert '"subscribed"' in ws.recv(timeout=10)
        assert stop_time(child, sig) <= STOP_WITHIN_S
        _, err = child.communicate()
        assert "Traceback" not in err
    finally:
        ws.close()


def test_process_stops_mid_run_and_the_run_ends(home: Path) -> None:
    child = start(["process", "--start", "2024-01-02", "--end", "2024-03-29"], home)
    wait_for((home / "dagster" / "dagster.yaml").is_file, 120, "the home's instance")
    instance = open_instance(home / "dagster")
    started = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
    wait_for(lambda: instance.get_runs(started), 120, "a started run")
    assert stop_time(child, signal.SIGTERM) <= STOP_WITHIN_S
    [run] = instance.get_runs()
    assert run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def test_a_closed_market_says_when_it_opens() -> None:
    saturday = datetime(2024, 3, 9, 15, 0, tzinfo=UTC)
    note = market_closed_note(["CL", "ES"], saturday)
    assert note is not None and "CL Sun 2024-03-10 22:00 UTC" in note
    assert market_closed_note(["CL"], datetime(2024, 3, 5, 15, 0, tzinfo=UTC)) is None
