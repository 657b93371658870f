"""A capture of a live session and the stream writing one partition of normalized minutes: the
capture replaces only the minutes it covers, so minutes the stream landed after it stay."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from market_spine.futures import keys
from market_spine.futures.coverage import partial_windows
from market_spine.futures.partitions import partition_key
from market_spine.lake import Lake
from market_spine.providers.resource import MarketDataResource
from market_spine.providers.simulated import SimulatedMarket
from market_spine.runs.launch import domain_assets, resources
from market_spine.streaming.lander import land_minutes, new_capture_id
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)
CAPTURED = datetime(2024, 3, 5, 15, 30, tzinfo=UTC)  # the capture covers minutes up to 15:29
STREAM_FROM = datetime(2024, 3, 5, 15, 20, tzinfo=UTC)
STREAM_TO = datetime(2024, 3, 5, 15, 44, tzinfo=UTC)
#: Stream volumes differ from the market's by this much, so whose value a row holds shows.
MARK = 1_000


def materialize(
    home: Path, instance: dg.DagsterInstance, asset: dg.AssetKey, now: datetime
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        domain_assets(settings_for(home), "futures"),
        selection=[asset],
        partition_key=partition_key(DAY, "CL"),
        resources=resources(settings_for(home), MarketDataResource(frozen_now=now.isoformat())),
        instance=instance,
    )


def capture(home: Path, instance: dg.DagsterInstance, at: datetime, judged_at: datetime) -> dict:
    """The hourly capture: raw at `at`, then the normalized minutes rebuilt at `judged_at`."""
    materialize(home, instance, keys.RAW_BARS, at)
    result = materialize(home, instance, keys.NORMALIZED_BARS, judged_at)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    [event] = result.get_asset_materialization_events()
    return {"checks": checks, **{k: v.value for k, v in event.materialization.metadata.items()}}


def market_minutes(first: datetime, last: datetime) -> pl.DataFrame:
    bars = SimulatedMarket(seed=7, clock=lambda: last + timedelta(minutes=1)).bars("CL", DAY)
    return bars.filter(pl.col("ts").is_between(first, last))


def land_stream(home: Path) -> tuple[pl.DataFrame, str]:
    """The stream's minutes STREAM_FROM..STREAM_TO, marked, as the streamer lands them."""
    batch = new_capture_id()
    minutes = market_minutes(STREAM_FROM, STREAM_TO).with_columns(
        pl.col("volume") + MARK, trade_date=pl.lit(DAY), capture_id=pl.lit(batch)
    )
    land_minutes(Lake(home / "lake"), minutes.to_dicts(), {"source": "ib-realtime"})
    return minutes, batch


def normalized(home: Path) -> pl.DataFrame:
    return Lake(home / "lake").read(keys.table(keys.NORMALIZED_BARS)).sort("ts")


def test_a_live_capture_keeps_the_stream_minutes_after_its_end(home, instance) -> None:
    streamed, batch = land_stream(home)
    judged_at = STREAM_TO + timedelta(minutes=1)
    meta = capture(home, instance, CAPTURED, judged_at)

    rows = normalized(home)
    assert rows.select(pl.col("ts").is_unique().all()).item()
    later = rows.filter(pl.col("ts") >= CAPTURED)
    # Every minute the stream landed after the capture's end is still there, as it landed.
    assert later["ts"].to_list() == streamed.filter(pl.col("ts") >= CAPTURED)["ts"].to_list()
    assert set(later["capture_id"]) == {batch}
    assert (later["volume"] >= MARK).all()
    # Inside the capture's window the capture's values win over the stream's.
    window = rows.filter(pl.col("ts") < CAPTURED)
    truth = market_minutes(window["ts"].min(), CAPTURED - timedelta(minutes=1))
    assert window["ts"].to_list() == truth["ts"].to_list()
    assert window["volume"].to_list() == truth["volume"].to_list()
    assert batch not in set(window["capture_id"])
    # Checks judge the whole partition: the kept minutes count as present, nothing is missing.
    assert meta["checks"]["completeness"] and meta["checks"]["validity"]
    assert meta["present_bars"] == meta["expected_bars"] == rows.height
    assert meta["rows"] == rows.height


def test_a_later_capture_covering_the_stream_minutes_replaces_them(home, instance) -> None:
    _, batch = land_stream(home)
    capture(home, instance, CAPTURED, STREAM_TO + timedelta(minutes=1))
    later = datetime(2024, 3, 5, 16, 0, tzinfo=UTC)
    meta = capture(home, instance, later, later)

    rows = normalized(home)
    assert batch not in set(rows["capture_id"])
    assert rows["ts"].max() == later - timedelta(minutes=1)
    truth = market_minutes(rows["ts"].min(), rows["ts"].max())
    assert rows["volume"].to_list() == truth["volume"].to_list()
    assert meta["checks"]["completeness"]
    assert meta["present_bars"] == meta["expected_bars"] == rows.height


def raw_capture(request: dict, captured_at: datetime, last: datetime) -> pl.DataFrame:
    """One raw capture of DAY up to `last`, with its request and capture time."""
    bars = market_minutes(datetime(2024, 3, 5, 14, 0, tzinfo=UTC), last)
    return bars.with_columns(
        trade_date=pl.lit(DAY),
        capture_id=pl.lit("01HRAW"),
        request=pl.lit(json.dumps(request)),
        captured_at=pl.lit(captured_at).cast(pl.Datetime("ns", "UTC")),
    )


def test_a_capture_covers_up_to_its_until_else_up_to_when_it_was_taken() -> None:
    last = datetime(2024, 3, 5, 15, 29, tzinfo=UTC)
    opened = datetime(2024, 3, 4, 23, 0, tzinfo=UTC)  # CL's session of DAY, 17:00 CT
    live = raw_capture({"until": last.isoformat()}, datetime(2026, 1, 1, tzinfo=UTC), last)
    accepted = live.drop("request", "captured_at")
    assert partial_windows("CL", live, accepted) == {DAY: {"ts": (opened, last)}}
    # A vendor file names no `until`: it covers what had closed when it was imported.
    imported = datetime(2024, 3, 5, 15, 40, 30, tzinfo=UTC)
    vendor = raw_capture({"path": "bars.csv"}, imported, last)
    end = datetime(2024, 3, 5, 15, 39, tzinfo=UTC)
    assert partial_windows("CL", vendor, accepted) == {DAY: {"ts": (opened, end)}}
    # Taken after the close, a capture covers the whole session: the day is replaced whole.
    final = raw_capture({}, datetime(2024, 3, 5, 22, 0, tzinfo=UTC), last)
    assert partial_windows("CL", final, accepted) == {}
