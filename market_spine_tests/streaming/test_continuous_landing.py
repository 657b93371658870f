"""The stream's minutes reach the continuous series holding their contract as they reach the
root: landed in both tables together (a failed write leaves both as they were), read the same
through Spine and the API, and kept by the next live capture, whose completeness check then
passes for every series.

The home holds CL's session of 2024-03-05 captured at 15:30 UTC through every futures asset:
CL.c.0 and CL.v.0 hold CLJ4 (the stream's front), CL.c.1 and CL.v.1 hold CLK4."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from fastapi.testclient import TestClient

from market_spine.api.app import create_app
from market_spine.client import Spine
from market_spine.futures import keys
from market_spine.futures.partitions import partition_key
from market_spine.lake import Lake
from market_spine.providers.resource import MarketDataResource
from market_spine.providers.simulated import SimulatedMarket
from market_spine.runs.launch import domain_assets, resources
from market_spine.streaming.lander import land_minutes, new_capture_id
from market_spine_tests.kit.api import auth_headers
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import futures_day

DAY = date(2024, 3, 5)
CAPTURED = datetime(2024, 3, 5, 15, 30, tzinfo=UTC)  # the capture holds minutes up to 15:29
STREAM_TO = datetime(2024, 3, 5, 15, 44, tzinfo=UTC)
NORMALIZED, CONTINUOUS = keys.table(keys.NORMALIZED_BARS), keys.table(keys.CONTINUOUS_BARS)
FRONT_SERIES, NEXT_SERIES = ("CL.c.0", "CL.v.0"), ("CL.c.1", "CL.v.1")
BAR = ["ts", "contract", "open", "high", "low", "close", "volume", "vwap", "trades", "capture_id"]
#: Stream volumes differ from the market's by this much, so whose value a row holds shows.
MARK = 1_000


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("streamed-series") / "home"
    with dg.instance_for_test() as instance:
        futures_day(settings_for(home), instance, DAY, CAPTURED.isoformat())
    return home


@pytest.fixture
def home(captured: Path, tmp_path: Path) -> Path:
    """A copy of the captured home for one test to stream into."""
    copy = tmp_path / "home"
    shutil.copytree(captured, copy)
    return copy


def streamed(first: datetime, last: datetime) -> list[dict]:
    """CL's market minutes [first, last] as the stream lands them, marked."""
    bars = SimulatedMarket(seed=7, clock=lambda: last + timedelta(minutes=1)).bars("CL", DAY)
    return (
        bars.filter(pl.col("ts").is_between(first, last))
        .with_columns(pl.col("volume") + MARK, trade_date=pl.lit(DAY))
        .with_columns(capture_id=pl.lit(new_capture_id()))
        .to_dicts()
    )


def root_minutes(lake: Lake) -> pl.DataFrame:
    return lake.read(NORMALIZED, equals={"symbol": "CL"}).sort("ts").select(BAR)


def series_minutes(lake: Lake, series: str) -> pl.DataFrame:
    rows = lake.read(CONTINUOUS, equals={"symbol": "CL", "series": series})
    return rows.sort("ts").select(BAR)


def test_streamed_minutes_reach_the_series_holding_their_contract(home: Path) -> None:
    lake = Lake(home / "lake")
    before = {s: series_minutes(lake, s) for s in (*FRONT_SERIES, *NEXT_SERIES)}
    assert before["CL.c.0"]["ts"].max() == CAPTURED - timedelta(minutes=1)

    land_minutes(lake, streamed(CAPTURED, STREAM_TO), {"source": "ib-realtime"}, now=STREAM_TO)

    root = root_minutes(lake)
    assert (
        root["ts"].max() == STREAM_TO
        and (root.filter(pl.col("ts") >= CAPTURED)["volume"] > MARK).all()
    )
    for series in FRONT_SERIES:
        # Minute for minute the root's, the captured ones and the streamed ones alike.
        assert series_minutes(lake, series).equals(root), series
    for series in NEXT_SERIES:
        assert series_minutes(lake, series).equals(before[series]), series

    # Spine and the API read the streamed minutes of the series as the root's.
    span = (CAPTURED - timedelta(minutes=2), STREAM_TO + timedelta(minutes=1))
    spine = Spine(settings=settings_for(home), warn_empty=False)
    assert spine.bars("CL.c.0", *span).select(BAR).equals(spine.bars("CL", *span).select(BAR))
    app = create_app(settings_for(home))
    with TestClient(app, headers=auth_headers(app, "reader")) as api:
        answers = {
            symbol: api.get(
                "/v1/bars",
                params={
                    "symbol": symbol,
                    "start": "2024-03-05T15:28:00Z",
                    "end": "2024-03-05T15:45:00Z",
                },
            )
            for symbol in ("CL", "CL.v.0")
        }
    assert {a.status_code for a in answers.values()} == {200}
    by_symbol = {
        s: [(r["ts"], r["close"], r["volume"]) for r in a.json()["data"]]
        for s, a in answers.items()
    }
    assert len(by_symbol["CL"]) == 17 and by_symbol["CL.v.0"] == by_symbol["CL"]


def test_a_failed_write_leaves_every_table_as_it_was(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(home / "lake")
    root, series = root_minutes(lake), {s: series_minutes(lake, s) for s in FRONT_SERIES}
    minutes = streamed(CAPTURED, STREAM_TO)
    replace = Lake.replace

    def failing(self: Lake, dataset: str, data: object, **kwargs: object) -> object:
        if (kwargs.get("equals") or {}).get("series") == FRONT_SERIES[-1]:  # type: ignore[union-attr]
            raise OSError("the object store went away")
        return replace(self, dataset, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Lake, "replace", failing)
    with pytest.raises(OSError, match="went away"):
        land_minutes(lake, minutes, {"source": "ib-realtime"}, now=STREAM_TO)
    # The root's and the first series' commits were put back: nothing of the minutes stays.
    assert root_minutes(lake).equals(root)
    for name, rows in series.items():
        assert series_minutes(lake, name).equals(rows), name

    # The streamer lands the same minutes again at its next flush: all of them, everywhere.
    monkeypatch.setattr(Lake, "replace", replace)
    land_minutes(lake, minutes, {"source": "ib-realtime"}, now=STREAM_TO)
    assert root_minutes(lake)["ts"].max() == STREAM_TO
    for name in FRONT_SERIES:
        assert series_minutes(lake, name).equals(root_minutes(lake)), name


def test_the_next_live_capture_keeps_the_streamed_minutes_and_its_checks_pass(
    home: Path,
) -> None:
    """The hourly capture of a live session takes the minutes closed when it asks (up to
    15:39) and is judged a moment later (15:45), when the stream has landed more: the series
    is rebuilt with them, as its root is, so nothing is missing."""
    lake = Lake(home / "lake")
    land_minutes(lake, streamed(CAPTURED, STREAM_TO), {"source": "ib-realtime"}, now=STREAM_TO)
    settings = settings_for(home)

    def materialize(selection: list[dg.AssetKey], now: datetime) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            domain_assets(settings, "futures"),
            selection=selection,
            partition_key=partition_key(DAY, "CL"),
            resources=resources(settings, MarketDataResource(frozen_now=now.isoformat())),
            instance=instance,
        )

    with dg.instance_for_test() as instance:
        assert materialize([keys.RAW_BARS], datetime(2024, 3, 5, 15, 40, tzinfo=UTC)).success
        judged = materialize(
            [keys.NORMALIZED_BARS, keys.ROLLS, keys.CONTINUOUS_BARS],
            STREAM_TO + timedelta(minutes=1),
        )
    assert judged.success
    checks = {(e.asset_key, e.check_name): e for e in judged.get_asset_check_evaluations()}
    completeness = checks[(keys.CONTINUOUS_BARS, "completeness")]
    assert completeness.passed, completeness.metadata
    assert checks[(keys.NORMALIZED_BARS, "completeness")].passed

    root = root_minutes(lake)
    assert root["ts"].max() == STREAM_TO
    # The capture's minutes up to 15:39, the stream's after them: the root's and the series'.
    assert (
        root.filter(pl.col("ts") >= datetime(2024, 3, 5, 15, 40, tzinfo=UTC))["volume"] > MARK
    ).all()
    for series in FRONT_SERIES:
        assert series_minutes(lake, series).equals(root), series
