"""Streaming freshness: seconds from a bar's close at the source to delivered on the WebSocket
(5-second bars) and to visible through `Spine.bars` (closed minutes), over ≥ 10 minutes of
fake-TWS bars for CL, ES and NG; baseline in the same run: polling history once a minute
through the same IB connection path (what you get without a stream).

The fake TWS runs a market clock at real speed from a fixed session time; every latency is read
on that clock. `BENCH_STREAM_SECONDS` shortens the run for a smoke test.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import report
import uvicorn
from websockets.sync.client import connect

from market_spine.api.app import create_app
from market_spine.client import Spine
from market_spine.fakes.tws import FakeTWS, FakeTWSConfig
from market_spine.lake import Lake
from market_spine.providers.ib import IBProvider
from market_spine.providers.ib_connection import IBSettings
from market_spine.settings import Settings
from market_spine.streaming.service import StreamConfig, Streamer

SYMBOLS = ("CL", "ES", "NG")
START = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
SECONDS = float(os.environ.get("BENCH_STREAM_SECONDS", "600"))
TARGETS = {"lake_p99_s": 10.0, "websocket_p99_s": 1.0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(app, port: int) -> uvicorn.Server:
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server


def _websocket(url: str, clock, stop: threading.Event, out: list[float]) -> None:
    with connect(url, open_timeout=10) as ws:
        while not stop.is_set():
            try:
                message = json.loads(ws.recv(timeout=1))
            except TimeoutError:
                continue
            if message.get("type") == "bar" and message["interval"] == "5s":
                closed = datetime.fromisoformat(message["ts"]) + timedelta(seconds=5)
                out.append((clock() - closed).total_seconds())


def _poll_lake(spine: Spine, clock, stop: threading.Event, seen: dict) -> None:
    while not stop.wait(0.1):
        for symbol in SYMBOLS:
            try:
                bars = spine.bars(symbol, "2024-03-05", columns=["ts"])
            except Exception:
                continue
            now = clock()
            for ts in bars["ts"]:
                seen.setdefault((symbol, ts), now)


def _poll_history(provider: IBProvider, clock, stop: threading.Event, seen: dict) -> None:
    """Baseline: ask history for the session once a minute, note when each minute shows up."""
    while not stop.wait(60):
        for symbol in SYMBOLS:
            bars = provider.fetch_bars(symbol, START.date()).bars
            now = clock()
            for ts in bars["ts"]:
                seen.setdefault((symbol, ts), now)


def _latency(seen: dict, began: datetime) -> list[float]:
    """Close-to-seen seconds of the minutes that closed after the run began."""
    out = []
    for (_, ts), at in seen.items():
        closed = ts + timedelta(minutes=1)
        if closed > began:
            out.append((at - closed).total_seconds())
    return out


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench_stream_"))
    settings = Settings.from_env({"MARKET_SPINE_HOME": str(work / "home")})
    stop = threading.Event()
    ws_latency: list[float] = []
    lake_seen: dict = {}
    poll_seen: dict = {}
    try:
        with FakeTWS.running(FakeTWSConfig(start=START, speed=1.0)) as tws:
            clock = tws.server.clock.now
            # Authentication off: this measures the stream (auth_overhead.py, authentication).
            app = create_app(replace(settings, auth="off"))
            config = StreamConfig(
                SYMBOLS, IBSettings(tws.host, tws.port, client_id=21), flush_seconds=1.0
            )
            streamer = Streamer(Lake(settings.lake_root), config, hub=app.state.hub, clock=clock)
            app.state.streamer = streamer
            port = _free_port()
            server = _serve(app, port)
            streamer.start()
            began = clock()
            provider = IBProvider(IBSettings(tws.host, tws.port, client_id=22), clock=clock)
            url = f"ws://127.0.0.1:{port}/v1/stream/bars?symbols={','.join(SYMBOLS)}&interval=5s"
            threads = [
                threading.Thread(target=_websocket, args=(url, clock, stop, ws_latency)),
                threading.Thread(
                    target=_poll_lake, args=(Spine(settings=settings), clock, stop, lake_seen)
                ),
                threading.Thread(target=_poll_history, args=(provider, clock, stop, poll_seen)),
            ]
            for t in threads:
                t.start()
            report.log(f"streaming {SYMBOLS} for {SECONDS:.0f} s of market time")
            time.sleep(SECONDS)
            stop.set()
            for t in threads:
                t.join(timeout=90)
            stats = streamer.stats.summary()
            streamer.stop()
            provider.close()
            server.should_exit = True
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lake = report.latency([x * 1000 for x in _latency(lake_seen, began)])
    ws = report.latency([x * 1000 for x in ws_latency])
    poll = report.latency([x * 1000 for x in _latency(poll_seen, began)])
    rows = [
        ["5-s bar close → WebSocket", ws["n"], ws["p50_ms"] / 1000, ws["p99_ms"] / 1000, "≤ 1 s"],
        [
            "minute close → Spine.bars (stream)",
            lake["n"],
            lake["p50_ms"] / 1000,
            lake["p99_ms"] / 1000,
            "≤ 10 s",
        ],
        [
            "minute close → history poll (baseline)",
            poll["n"],
            poll["p50_ms"] / 1000,
            poll["p99_ms"] / 1000,
            "–",
        ],
    ]
    report.table(
        f"Streaming freshness over {SECONDS:.0f} s, {len(SYMBOLS)} symbols (seconds)",
        ["path", "samples", "p50 s", "p99 s", "target"],
        rows,
    )
    report.save(
        "stream_freshness",
        {
            "seconds": SECONDS,
            "symbols": list(SYMBOLS),
            "websocket": ws,
            "lake": lake,
            "history_poll": poll,
            "streamer": stats,
            "targets": TARGETS,
        },
    )


if __name__ == "__main__":
    main()
