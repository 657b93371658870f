"""Readiness and anomaly flags over a home processed for real (Dagster, Delta lake): CL on a
closed session with spikes and gaps, CL on a live session, and an options day after 17:15 ET.
Every surface (Spine, SQL, HTTP, CLI) answers from the readiness log the runs wrote."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from typer.testing import CliRunner

from market_spine.catalog.registry import drift, undeclared
from market_spine.certification.tables import ANOMALY_FLAGS, READINESS_LOG
from market_spine.cli import app as cli
from market_spine.client import (
    BARS_1M,
    BARS_DAILY,
    CONTINUOUS_1M,
    CONTINUOUS_DAILY,
    OPTION_CHAIN,
    OPTION_GREEKS,
    OPTION_QUOTES,
    READINESS_DATASETS,
    VOL_SURFACE,
    Spine,
)
from market_spine.errors import InvalidInput
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import materialize_options
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import futures_day

CLOSED, LIVE = date(2024, 3, 4), date(2024, 3, 5)
FUTURES = (BARS_1M, BARS_DAILY, CONTINUOUS_1M, CONTINUOUS_DAILY)
CONTINUOUS = (CONTINUOUS_1M, CONTINUOUS_DAILY)
#: CL's continuous series, each judged apart.
SERIES = ("CL.c.0", "CL.c.1", "CL.v.0", "CL.v.1")
ROOTS = ("SPX", "SPXW")
NOW = datetime(2024, 3, 6, tzinfo=UTC)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("readiness") / "home"
    settings = settings_for(home)
    with dg.instance_for_test() as instance:
        futures_day(settings, instance, CLOSED, "2024-03-05T12:00:00Z", ["spikes", "gaps"])
        futures_day(settings, instance, LIVE, "2024-03-05T15:30:00Z", [])
        evening = MarketDataResource(frozen_now="2024-03-05T22:30:00Z")
        run = materialize_options(settings, LIVE, LIVE, instance=instance, market=evening)
        assert run is not None and run.success
    return home


def _row(frame: pl.DataFrame, dataset: str, symbol: str, day: date) -> dict:
    [row] = frame.filter(
        (pl.col("dataset") == dataset)
        & (pl.col("symbol") == symbol)
        & (pl.col("trade_date") == day)
    ).to_dicts()
    return row


def test_one_row_per_dataset_symbol_and_day_from_what_the_runs_judged(home: Path) -> None:
    spine = Spine(home, warn_empty=False)
    ready = spine.readiness(now=NOW)
    keys = ready.select("dataset", "symbol", "trade_date").rows()
    futures = [
        (d, s, day)
        for d in FUTURES
        for s in (SERIES if d in CONTINUOUS else ("CL",))
        for day in (CLOSED, LIVE)
    ]
    options = [(d, r, LIVE) for d in (OPTION_CHAIN, OPTION_GREEKS, VOL_SURFACE) for r in ROOTS]
    assert sorted(keys) == sorted([*futures, *options, (OPTION_QUOTES, "SPXW", LIVE)])
    closed = _row(ready, BARS_1M, "CL", CLOSED)
    bars = spine.bars("CL", CLOSED)
    # Its capture lost a block of minutes: a failed completeness check fails the partition.
    assert closed["state"] == "failed"
    assert closed["reason"] == "certifying check failed: completeness"
    assert closed["capture_id"] == bars["capture_id"].max()
    assert closed["unit"] == "minutes" and closed["present"] == bars.height
    assert closed["missing"] > 0 and closed["completeness"] == pytest.approx(
        (closed["expected"] - closed["missing"]) / closed["expected"]
    )
    flags = spine.lake.read(ANOMALY_FLAGS).filter(pl.col("partition") == closed["partition"])
    assert closed["anomalies"] == flags.height > 0
    assert closed["worst_anomaly_kind"] == "return_outlier"
    assert closed["worst_anomaly_score"] == flags["score"].max() > 1
    assert closed["freshness_lag_s"] == 0.0  # captured after the close
    live = _row(ready, BARS_1M, "CL", LIVE)
    assert live["state"] == "preliminary" and live["anomalies"] == 0
    # Captured at 15:30Z, final at the 22:00Z close: the capture lags the market by 6.5 hours.
    assert live["freshness_lag_s"] == 6.5 * 3600
    assert spine.readiness(
        dataset=BARS_1M, symbols="CL", now=datetime(2024, 3, 5, 16, tzinfo=UTC)
    ).filter(pl.col("trade_date") == LIVE)["freshness_lag_s"].item() == pytest.approx(1800)
    spxw = _row(ready, OPTION_CHAIN, "SPXW", LIVE)
    chain = spine.chain("SPXW", LIVE)
    assert spxw["state"] == "certified" and spxw["unit"] == "expirations"
    assert spxw["present"] == chain["expiration"].n_unique() == spxw["expected"]
    assert spxw["no_trade"] == chain.filter(pl.col("volume") == 0).height


def test_filters_narrow_and_bad_filters_say_what_to_pass(home: Path) -> None:
    spine = Spine(home, warn_empty=False)
    assert set(spine.readiness(symbols="spx,SPXW")["symbol"]) == {"SPX", "SPXW"}
    assert spine.readiness(dataset=BARS_1M, start="2024-03-05")["trade_date"].to_list() == [LIVE]
    assert spine.readiness(end=CLOSED)["dataset"].unique().sort().to_list() == sorted(FUTURES)
    # A root's continuous series are asked for by the root.
    series = spine.readiness(dataset=CONTINUOUS_1M, symbols="CL", end=CLOSED)
    assert series["symbol"].to_list() == list(SERIES)
    assert spine.readiness(start="2024-04-01").is_empty()
    with pytest.raises(InvalidInput, match="has no readiness: choose from"):
        spine.readiness(dataset="raw/futures_bars_1m")
    with pytest.raises(InvalidInput, match="'ZZ' is not known"):
        spine.readiness(symbols="ZZ")
    with pytest.raises(InvalidInput, match="is a time"):
        spine.readiness(start="2024-03-05T10:00:00Z")
    with pytest.raises(InvalidInput, match="before start"):
        spine.readiness(start=LIVE, end=CLOSED)


def test_the_trust_tables_match_their_catalog_entries(home: Path) -> None:
    lake = Spine(home, warn_empty=False).lake
    assert {READINESS_LOG, ANOMALY_FLAGS} <= set(lake.datasets())
    assert undeclared(lake) == [] and drift(lake) == {}


def test_the_sql_view_is_the_same_query(home: Path) -> None:
    spine = Spine(home, warn_empty=False)
    assert "readiness" in spine.tables()
    columns = ["dataset", "symbol", "trade_date", "state", "anomalies", "missing", "capture_id"]
    view = spine.sql("select * from readiness").select(columns).sort(columns)
    assert view.equals(spine.readiness().select(columns).sort(columns))
    joined = spine.sql(
        "select count(*) as n from futures_bars_1m b join operations.anomaly_flags f "
        "on f.instrument = b.symbol and f.ts = b.ts and f.capture_id = b.capture_id"
    )
    assert joined["n"].item() == spine.lake.read(ANOMALY_FLAGS).height


def test_flags_mark_the_rows_the_checks_flagged(home: Path) -> None:
    spine = Spine(home, warn_empty=False)
    bars = spine.bars("CL", CLOSED, LIVE, flags=True)
    marked = bars.filter(pl.col("flag_kinds").is_not_null())
    flags = spine.lake.read(ANOMALY_FLAGS)
    assert sorted(marked["ts"].to_list()) == sorted(flags["ts"].to_list())
    assert set(marked["flag_kinds"]) == {"return_outlier"}
    assert marked["flag_score"].to_list() == [
        flags.filter(pl.col("ts") == t)["score"].max() for t in marked["ts"]
    ]
    assert "flag_kinds" not in spine.bars("CL", CLOSED).columns
    chain = spine.chain("SPXW", LIVE, flags=True)
    assert {"flag_kinds", "flag_score"} <= set(chain.columns)
    assert chain["flag_kinds"].null_count() == chain.height  # the simulated chain is clean


def test_the_api_answers_readiness_and_flags(home: Path) -> None:
    with serving(home) as client:
        found = client.get(
            "/v1/readiness", params={"dataset": BARS_1M, "symbol": "CL", "end": "2024-03-04"}
        )
        assert found.status_code == 200
        [row] = found.json()["data"]
        assert (row["trade_date"], row["state"], row["anomalies"] > 0) == (
            "2024-03-04",
            "failed",
            True,
        )
        everything = client.get("/v1/readiness").json()
        # Two sessions of CL's minutes and daily bars, and of each of its four series.
        assert everything["total_rows"] == 2 * 2 + 2 * 2 * 4 + 7
        assert row["reason"] == "certifying check failed: completeness"
        # Every market dataset; the company ones have no partition in this home.
        market = set(READINESS_DATASETS)
        assert {r["dataset"] for r in everything["data"]} == market
        for params, field in (
            ({"dataset": "normalized/nope"}, "dataset"),
            ({"symbol": "ZZ"}, "symbol"),
            ({"start": "2024-03-05T10:00:00Z"}, "start"),
            ({"start": "2024-03-05", "end": "2024-03-04"}, "end"),
        ):
            bad = client.get("/v1/readiness", params=params)
            assert bad.status_code == 422 and bad.json()["field"] == field, bad.json()
        bars = client.get(
            "/v1/bars", params={"symbol": "CL", "start": "2024-03-04", "flags": "true"}
        ).json()
        assert (
            sum(1 for r in bars["data"] if r["flag_kinds"] == "return_outlier") == row["anomalies"]
        )
        daily = client.get(
            "/v1/bars/daily", params={"symbol": "CL", "start": "2024-03-04", "flags": "true"}
        )
        assert daily.status_code == 422 and daily.json()["field"] == "flags"


def test_the_command_prints_readiness(home: Path) -> None:
    env = {"MARKET_SPINE_HOME": str(home), "MARKET_SPINE_PROFILE": "dev"}
    out = CliRunner().invoke(
        cli, ["readiness", "--dataset", BARS_1M, "--symbol", "CL", "--json"], env=env
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert [(r["trade_date"], r["state"]) for r in rows] == [
        ("2024-03-04", "failed"),
        ("2024-03-05", "preliminary"),
    ]
    piped = CliRunner().invoke(cli, ["readiness", "--dataset", OPTION_CHAIN], env=env)
    lines = piped.output.strip().splitlines()
    assert lines[0].startswith("dataset\ttrade_date\tsymbol") and len(lines) == 3
    bad = CliRunner().invoke(cli, ["readiness", "--start", "2024-03-05T10:00Z"], env=env)
    assert bad.exit_code == 2 and "is a time" in bad.output


def test_a_new_judgment_replaces_the_old_one(tmp_path: Path) -> None:
    """The live session judged again after its close: readiness shows the newest judgment
    only (certified, no lag), while the log keeps both."""
    home = tmp_path / "home"
    settings = settings_for(home)
    with dg.instance_for_test() as instance:
        futures_day(settings, instance, LIVE, "2024-03-05T15:30:00Z", [])
        futures_day(settings, instance, LIVE, "2024-03-06T12:00:00Z", [])
    spine = Spine(home, warn_empty=False)
    [row] = spine.readiness(dataset=BARS_1M, now=NOW).to_dicts()
    assert (row["state"], row["freshness_lag_s"], row["present"]) == ("certified", 0.0, 1380)
    log = spine.lake.read(READINESS_LOG).filter(pl.col("dataset") == BARS_1M)
    assert log["state"].sort().to_list() == ["certified", "preliminary"]


def test_derived_datasets_are_as_certified_as_what_they_are_computed_from(home: Path) -> None:
    """The closed session's capture lost minutes: its minutes and continuous minutes fail
    their completeness, and what is computed from them is not certified; those of the live
    session are preliminary; the greeks and surface of a certified chain are certified; each
    says what it holds against what it owes, its capture and compute time."""
    spine = Spine(home, warn_empty=False)
    ready = spine.readiness(now=NOW)

    def symbol(dataset: str) -> str:
        return "CL.c.0" if dataset in CONTINUOUS else "CL"

    closed = {d: _row(ready, d, symbol(d), CLOSED)["state"] for d in FUTURES}
    assert closed == dict.fromkeys(FUTURES, "failed")
    for dataset in FUTURES:
        live = _row(ready, dataset, symbol(dataset), LIVE)
        assert live["state"] == "preliminary" and live["freshness_lag_s"] == 6.5 * 3600
    # The closed day's row keeps its own count (one day of one); the minutes it stands on
    # lost some, which its reason names.
    counts = ("unit", "expected", "present", "missing", "completeness")
    daily = _row(ready, BARS_DAILY, "CL", CLOSED)
    lost = _row(ready, BARS_1M, "CL", CLOSED)
    assert lost["missing"] > 0 and lost["completeness"] < 1
    assert {c: daily[c] for c in counts} == {
        "unit": "days",
        "expected": 1,
        "present": 1,
        "missing": 0,
        "completeness": 1.0,
    }
    front = spine.bars("CL", CLOSED)["contract"].unique().item()
    held = f"{lost['expected'] - lost['missing']:,} of {lost['expected']:,} minutes of {front}"
    assert daily["reason"] == f"input {BARS_1M} FAILED: {held}"
    live_daily = _row(ready, BARS_DAILY, "CL", LIVE)
    assert (live_daily["unit"], live_daily["expected"], live_daily["present"]) == ("days", 1, 1)
    assert live_daily["reason"] == f"computed from uncertified input: {BARS_1M} is preliminary"
    assert daily["capture_id"] == spine.daily("CL", CLOSED)["capture_id"].item()
    minutes = _row(ready, CONTINUOUS_1M, "CL.c.0", CLOSED)
    series = spine.bars("CL.c.0", CLOSED)
    # The series' own minutes: those its rows hold.
    assert minutes["unit"] == "minutes" and minutes["present"] == series.height > 0
    assert minutes["missing"] > 0  # the closed session was captured with gaps
    assert minutes["reason"].startswith("certifying check failed: completeness; input ")
    series_daily = _row(ready, CONTINUOUS_DAILY, "CL.c.0", CLOSED)
    assert (series_daily["unit"], series_daily["present"], series_daily["missing"]) == (
        "days",
        1,
        0,
    )
    assert series_daily["reason"] == f"input {CONTINUOUS_1M} FAILED: {held}"
    for root in ROOTS:
        chain = _row(ready, OPTION_CHAIN, root, LIVE)
        for dataset in (OPTION_GREEKS, VOL_SURFACE):
            row = _row(ready, dataset, root, LIVE)
            assert row["state"] == "certified" and row["capture_id"] == chain["capture_id"]
            assert row["computed_at"] >= chain["computed_at"]
    greeks = spine.chain("SPXW", LIVE)
    vols = _row(ready, OPTION_GREEKS, "SPXW", LIVE)
    assert (vols["unit"], vols["present"]) == ("vols", greeks["iv_converged"].sum())
    surface = _row(ready, VOL_SURFACE, "SPXW", LIVE)
    assert surface["present"] == spine.surface(LIVE).filter(pl.col("root") == "SPXW").height
    quotes = _row(ready, OPTION_QUOTES, "SPXW", LIVE)
    assert quotes["state"] == "certified" and quotes["unit"] == "minutes"
    assert quotes["present"] == spine.quotes(LIVE).height == quotes["expected"]


def test_derived_datasets_follow_their_inputs_when_a_session_is_judged_again(
    tmp_path: Path,
) -> None:
    """A chain captured at 16:30 ET leaves its greeks and surface preliminary (quotes are final
    at the 16:15 close); captured again after 17:15 ET, all of them are certified. The live
    futures session's daily bars follow its minutes the same way, and the materializations
    carry the state as metadata."""
    home = tmp_path / "home"
    settings = settings_for(home)
    early = MarketDataResource(frozen_now="2024-03-05T21:30:00Z")
    derived = (OPTION_GREEKS, VOL_SURFACE)
    with dg.instance_for_test() as instance:
        futures_day(settings, instance, LIVE, "2024-03-05T15:30:00Z", [])
        assert materialize_options(settings, LIVE, LIVE, instance=instance, market=early)
        spine = Spine(home, warn_empty=False)
        first = spine.readiness(now=NOW)
        for dataset in (BARS_DAILY, CONTINUOUS_1M, CONTINUOUS_DAILY, *derived):
            states = first.filter(pl.col("dataset") == dataset)["state"].unique().to_list()
            assert states == ["preliminary"], dataset
        reason = instance.get_latest_materialization_event(
            dg.AssetKey(OPTION_GREEKS.split("/"))
        ).asset_materialization.metadata["certification"]
        assert reason.value == "preliminary"
        assert _row(first, OPTION_QUOTES, "SPXW", LIVE)["state"] == "certified"

        futures_day(settings, instance, LIVE, "2024-03-06T12:00:00Z", [])
        late = MarketDataResource(frozen_now="2024-03-05T22:30:00Z")
        assert materialize_options(settings, LIVE, LIVE, instance=instance, market=late)
        daily = instance.get_latest_materialization_event(dg.AssetKey(BARS_DAILY.split("/")))
        assert daily.asset_materialization.metadata["certification"].value == "certified"
    again = spine.readiness(now=NOW)
    assert set(again["state"]) == {"certified"}
    assert again.height == first.height


def test_a_partition_captured_before_its_data_was_final_is_complete_only_so_far() -> None:
    """The terminal table says "so far" beside a share counted while the session still traded,
    never beside a failed partition or one captured after its data became final."""
    from market_spine.cli.readiness import so_far

    close = datetime(2024, 3, 5, 22, tzinfo=UTC)
    trading = {"state": "preliminary", "captured_at": close - timedelta(hours=6), "final_at": close}
    assert so_far(trading)
    assert not so_far({**trading, "captured_at": close + timedelta(minutes=5)})
    assert not so_far({**trading, "state": "failed"})
    assert not so_far({**trading, "captured_at": None})


def test_a_failed_partition_never_reads_complete_on_the_terminal() -> None:
    """A day built whole from failed minutes holds the minutes' share, as the page says it;
    without the minutes' row shown, it says FAILED rather than 100 %."""
    from market_spine.cli.readiness import failed_share

    day = date(2024, 7, 2)
    minutes = {
        "dataset": "normalized/futures_bars_1m",
        "symbol": "ES",
        "trade_date": day,
        "state": "failed",
        "completeness": 30 / 1380,
        "reason": "certifying check failed: completeness",
    }
    daily = {
        **minutes,
        "dataset": "analytics/futures_bars_daily",
        "completeness": 1.0,
        "reason": "input normalized/futures_bars_1m FAILED: 30 of 1,380 minutes",
    }
    assert failed_share(daily, [minutes, daily]) == "2.2% held (input)"
    assert failed_share(daily, [daily]) == "FAILED"
    assert failed_share(minutes, [minutes]) == "2.2% held"
