"""Real-time streaming end to end: fake TWS (accelerated market clock) → ib_async → streamer →
lake and WebSocket, including a dropped connection that must be backfilled from history."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest
from fastapi.testclient import TestClient

from market_spine.api.app import create_app
from market_spine.catalog.registry import drift, undeclared
from market_spine.client import Spine
from market_spine.fakes.tws import FakeTWS, FakeTWSConfig
from market_spine.lake import Lake
from market_spine.providers.ib_connection import IBSettings
from market_spine.providers.ib_pacing import PacingRules
from market_spine.providers.simulated import SimulatedMarket
from market_spine.streaming.aggregator import MinuteAggregator, aggregate
from market_spine.streaming.lander import land_minutes, new_capture_id
from market_spine.streaming.messages import BarMessage
from market_spine.streaming.service import StreamConfig, Streamer
from market_spine_tests.kit.api import auth_headers
from market_spine_tests.kit.homes import settings_for

START = datetime(2024, 3, 5, 15, 0, tzinfo=UTC)
DAY = date(2024, 3, 5)


def _bar(second: int, price: float, volume: int = 10, minute: int = 0) -> dict:
    ts = START + timedelta(minutes=minute, seconds=second)
    return {
        "ts": ts,
        "symbol": "CL",
        "contract": "CLJ4",
        "open": price,
        "high": price + 0.02,
        "low": price - 0.01,
        "close": price + 0.01,
        "volume": volume,
        "wap": price,
        "count": 2,
    }


def test_a_minute_closes_on_twelve_bars_a_later_bar_or_the_grace() -> None:
    agg = MinuteAggregator(grace=timedelta(seconds=10))
    for i in range(11):
        agg.add(_bar(5 * i, 80 + i / 100))
    agg.add(_bar(0, 80.0))  # a repeat replaces, never double counts
    assert agg.closed(START + timedelta(seconds=59)) == []
    agg.add(_bar(55, 80.2))
    (minute,) = agg.closed(START + timedelta(seconds=60))
    assert minute["complete"] and minute["open"] == 80.0 and minute["close"] == pytest.approx(80.21)
    assert minute["high"] == pytest.approx(80.22) and minute["volume"] == 120
    assert minute["trades"] == 24
    agg.add(_bar(0, 81.0, minute=1))
    assert agg.closed(START + timedelta(seconds=70)) == []
    (partial,) = agg.closed(START + timedelta(seconds=130))  # grace passed: closed, incomplete
    assert not partial["complete"]
    agg.add(_bar(0, 82.0, minute=3))
    agg.add(_bar(0, 83.0, minute=4))  # a later minute closes the earlier one
    assert [m["ts"].minute for m in agg.closed(START)] == [3]
    assert aggregate([_bar(5, 1.0, 0)])["vwap"] == pytest.approx(1.01)


@pytest.fixture
def tws():
    with FakeTWS.running(FakeTWSConfig(start=START, speed=30)) as server:
        yield server


def _stream(home, tws, symbols=("CL", "ES")) -> tuple[Streamer, object]:
    app = create_app(settings_for(home))
    config = StreamConfig(
        symbols,
        IBSettings(tws.host, tws.port, client_id=11),
        flush_seconds=0.2,
        backfill_delay_seconds=1.0,
        pacing=PacingRules().scaled(0.01),
    )
    streamer = Streamer(Lake(home / "lake"), config, hub=app.state.hub, clock=tws.server.clock.now)
    app.state.streamer = streamer
    return streamer, app


@pytest.mark.timeout(120)
def test_stream_lands_minutes_equal_to_history_and_survives_a_drop(home, tws) -> None:
    streamer, app = _stream(home, tws)
    messages: list[dict] = []
    with (
        TestClient(app, headers=auth_headers(app, "operator")) as http,
        http.websocket_connect("/v1/stream/bars?symbols=CL") as ws,
    ):
        assert streamer.start() == {"CL": "CLJ4", "ES": "ESH4"}
        assert ws.receive_json()["event"] == "subscribed"
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            messages.append(ws.receive_json())
        assert tws.drop_connections() == 1
        deadline = time.monotonic() + 12
        while time.monotonic() < deadline:
            messages.append(ws.receive_json())
        status = http.get("/v1/stream/status").json()
        streamer.stop()
    bars = [m for m in messages if m["type"] == "bar"]
    assert {m["symbol"] for m in bars} == {"CL"}  # the subscriber's filter holds
    for m in bars:
        BarMessage.model_validate(m)  # the documented schema
    assert {m["interval"] for m in bars} == {"5s", "1m"}
    assert any(m["origin"] == "backfill" for m in bars)
    assert status["running"] and status["disconnects"] == 1 and status["backfilled_minutes"] > 0

    stored = Spine(settings=settings_for(home)).bars("CL", "2024-03-05")
    assert stored.height >= 6
    # Every minute from the first to the last is there exactly once, gap included.
    steps = stored["ts"].diff().drop_nulls().unique().to_list()
    assert steps == [timedelta(minutes=1)]
    # The streamed and backfilled minutes are the market's own 1-minute bars.
    truth = SimulatedMarket(seed=7, clock=lambda: START + timedelta(days=1)).bars(
        "CL", datetime(2024, 3, 5).date()
    )
    joined = stored.join(truth, on="ts", suffix="_h")
    assert joined.height == stored.height
    for column in ("open", "high", "low", "close", "volume", "trades"):
        assert (joined[column] == joined[f"{column}_h"]).all(), column
    # Backfilled minutes cite a history capture in raw/futures_bars_1m; streamed ones a
    # micro-batch in raw/futures_bars_5s.
    lake = Lake(home / "lake")
    history = set(lake.read("raw/futures_bars_1m")["capture_id"])
    batches = set(lake.read("raw/futures_bars_5s")["capture_id"])
    cited = set(stored["capture_id"])
    assert cited & history and cited & batches and cited <= history | batches
    one_minute = [m for m in bars if m["interval"] == "1m"]
    assert {m["ts"] for m in one_minute} <= {
        t.isoformat().replace("+00:00", "Z") for t in stored["ts"]
    }


def test_websocket_refuses_bad_requests_and_a_missing_stream(home) -> None:
    app = create_app(settings_for(home))
    with TestClient(app, headers=auth_headers(app, "operator")) as http:
        with http.websocket_connect("/v1/stream/bars?symbols=XX") as ws:
            error = ws.receive_json()
            assert error["type"] == "error" and error["field"] == "symbols"
            assert "XX" in error["error"]
        with http.websocket_connect("/v1/stream/bars?symbols=CL&interval=2m") as ws:
            assert ws.receive_json()["field"] == "interval"
        with http.websocket_connect("/v1/stream/bars?symbols=CL") as ws:
            assert "market-spine stream" in ws.receive_json()["error"]
        assert http.get("/v1/stream/status").json()["running"] is False


def test_streamed_rows_are_one_per_minute_in_normalized(home, tws) -> None:
    streamer, _ = _stream(home, tws, symbols=("ES",))
    streamer.start()
    time.sleep(5)
    streamer.stop()
    rows = Lake(home / "lake").read("normalized/futures_bars_1m")
    assert rows.height >= 1
    assert rows.select(pl.struct("symbol", "ts").is_unique().all()).item()
    lake = Lake(home / "lake")
    assert "raw/futures_bars_5s" in lake.datasets()
    assert undeclared(lake) == [] and drift(lake) == {}  # the stream's table is catalogued


def test_a_failed_write_keeps_its_bars_for_the_next_flush(home, monkeypatch) -> None:
    import market_spine.streaming.service as service

    now = START + timedelta(minutes=2)
    streamer = Streamer(
        Lake(home / "lake"), StreamConfig(("CL",)), clock=lambda: now
    )  # never started: bars are fed by hand, as the connection thread would
    for i in range(12):
        streamer._on_bar(_bar(5 * i, 80 + i / 100))
    real = service.land_micro_batch
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("commit conflict")
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "land_micro_batch", flaky)
    with pytest.raises(OSError):
        streamer._flush()
    streamer._flush()
    lake = Lake(home / "lake")
    assert lake.read("raw/futures_bars_5s").height == 12  # every bar landed, once
    minute = lake.read("normalized/futures_bars_1m")
    assert minute.height == 1 and minute["volume"][0] == 120


def _market_minutes(first: datetime, last: datetime, symbol: str = "CL") -> pl.DataFrame:
    """The market's own minutes of `symbol` in [first, last]."""
    truth = SimulatedMarket(seed=7, clock=lambda: START + timedelta(hours=1)).bars(symbol, DAY)
    return truth.filter(pl.col("ts").is_between(first, last))


def _land_captured(lake: Lake, first: datetime, last: datetime, symbol: str = "CL") -> pl.DataFrame:
    """Land the market's minutes [first, last] as a capture would have; returns them."""
    rows = _market_minutes(first, last, symbol).with_columns(
        trade_date=pl.lit(DAY), capture_id=pl.lit(new_capture_id())
    )
    land_minutes(lake, rows.to_dicts(), {"source": "capture"})
    return rows


@pytest.mark.timeout(120)
def test_a_start_backfills_from_the_lakes_newest_minute_to_the_join(home, tws, monkeypatch) -> None:
    lake = Lake(home / "lake")
    newest = START - timedelta(minutes=30)
    _land_captured(lake, newest - timedelta(minutes=30), newest)
    hole = [newest + timedelta(minutes=i) for i in range(1, 31)]  # up to the joined minute

    streamer, app = _stream(home, tws, symbols=("CL",))
    published: list[dict] = []
    publish = app.state.hub.publish
    monkeypatch.setattr(app.state.hub, "publish", lambda m: (published.extend(m), publish(m)))
    streamer.start()
    try:
        deadline = time.monotonic() + 60
        while not set(hole) <= set(lake.read("normalized/futures_bars_1m")["ts"]):
            assert time.monotonic() < deadline, "the hole before the join was not backfilled"
            time.sleep(0.2)
    finally:
        streamer.stop()

    rows = lake.read("normalized/futures_bars_1m", equals={"symbol": "CL"}).sort("ts")
    assert rows.select(pl.col("ts").is_unique().all()).item()  # no minute twice
    expected = _market_minutes(rows["ts"].min(), rows["ts"].max())
    assert rows["ts"].to_list() == expected["ts"].to_list()  # every minute, none missing
    filled = rows.filter(pl.col("ts").is_in(hole))
    assert filled.height == 30
    assert filled["close"].to_list() == expected.filter(pl.col("ts").is_in(hole))["close"].to_list()
    raw = lake.read("raw/futures_bars_1m")
    assert set(filled["capture_id"]) <= set(raw["capture_id"])  # landed from a history capture
    # The live history capture names the last minute it covers.
    untils = [json.loads(r).get("until") for r in raw["request"].unique()]
    assert all(u and datetime.fromisoformat(u) >= hole[-1] for u in untils)
    assert streamer.stats.backfilled_minutes >= 30
    # The status line says what the number counts.
    said = [m["detail"] for m in published if m.get("event") == "backfilled"]
    assert said and all(d.startswith("CL ") and "from history: " in d for d in said), said
    assert sum(int(d.split("from history: ")[1].split()[0]) for d in said) >= 30, said
    assert all(d.endswith(" landed") and " minute" in d for d in said), said


@pytest.mark.timeout(120)
def test_a_start_mid_minute_asks_history_once_per_root(home) -> None:
    """The minute the stream joins in is partial: the backfill up to it brings it whole, so
    its closing later must not ask history for it again."""
    joined = START + timedelta(seconds=30)
    lake = Lake(home / "lake")
    newest = START - timedelta(minutes=10)
    for root in ("CL", "ES"):
        _land_captured(lake, newest - timedelta(minutes=5), newest, root)
    with FakeTWS.running(FakeTWSConfig(start=joined, speed=30)) as server:
        streamer, _ = _stream(home, server)
        streamer.start()
        try:
            deadline = time.monotonic() + 60
            # Two streamed minutes per root: the partial one has long closed by then.
            while streamer.stats.minutes < 4:
                assert time.monotonic() < deadline, "the stream landed no minutes"
                time.sleep(0.2)
        finally:
            streamer.stop()
        requests = server.stats()["requests"]
    assert requests["historical_data"] == 2, requests
    rows = lake.read("normalized/futures_bars_1m").sort("symbol", "ts")
    assert rows.select(pl.struct("symbol", "ts").is_unique().all()).item()
    for root in ("CL", "ES"):
        held = rows.filter(pl.col("symbol") == root)
        # The hole up to the join, the joined minute included, came from history once.
        hole = [newest + timedelta(minutes=i) for i in range(1, 11)]
        assert set(hole) <= set(held["ts"]), root


def test_stream_minutes_replace_only_themselves_not_the_minutes_between(home) -> None:
    lake = Lake(home / "lake")
    rows = _land_captured(lake, START, START + timedelta(minutes=4))
    # A flush holding 15:00 and 15:04 but not the minutes between (a gap's, the backfill's).
    ends = rows.filter(pl.col("ts").is_in([START, START + timedelta(minutes=4)]))
    batch = new_capture_id()
    land_minutes(lake, ends.with_columns(capture_id=pl.lit(batch)).to_dicts(), {})
    stored = lake.read("normalized/futures_bars_1m").sort("ts")
    assert stored["ts"].to_list() == rows["ts"].to_list()
    assert stored["capture_id"].to_list().count(batch) == 2


def test_a_reconnect_before_any_bar_resumes_from_the_lake(home) -> None:
    lake = Lake(home / "lake")
    newest = START - timedelta(minutes=30)
    _land_captured(lake, newest - timedelta(minutes=5), newest)
    # Never started: the connection's events are fed by hand, as its thread would.
    streamer = Streamer(lake, StreamConfig(("CL", "ES")), clock=lambda: START)
    streamer.subscribed = {"CL": "CLJ4", "ES": "ESH4"}
    streamer._on_event("disconnected", "socket closed")
    gaps = streamer._gaps
    assert gaps["CL"].start == newest + timedelta(minutes=1) and gaps["CL"].resumed
    assert gaps["ES"].start == START and not gaps["ES"].resumed  # nothing of ES to resume
    streamer._on_event("upstream_restored", "1102")  # TWS kept its data: the lake's hole stays
    assert set(streamer._gaps) == {"CL"}
