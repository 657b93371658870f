"""Intraday 1-minute option quotes: the simulated source, the fake terminal's quote endpoint,
the client over real HTTP, and the raw quotes asset landing them in the lake."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import httpx
import polars as pl
import pytest
from fastapi.testclient import TestClient

from market_spine.api.app import create_app
from market_spine.certification.certify import Judged
from market_spine.client import Spine
from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal, Fault
from market_spine.lake import Lake
from market_spine.markets.expirations import quote_minutes_expected
from market_spine.options import checks, keys
from market_spine.options.raw_quotes import land_quotes, raw_spx_options_quotes_1m
from market_spine.providers.simulated_option_quotes import SimulatedQuoteProvider, simulate_quotes
from market_spine.providers.simulated_options import SimulatedOptionMarket
from market_spine.providers.thetadata import ThetaDataClient
from market_spine.runs.launch import resources
from market_spine_tests.kit.api import auth_headers
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 4)
FRIDAY = date(2024, 3, 8)


@pytest.fixture(scope="module")
def market() -> SimulatedOptionMarket:
    return SimulatedOptionMarket()


def test_last_minute_agrees_with_the_eod_chain(market) -> None:
    quotes = simulate_quotes(market, "SPXW", FRIDAY, DAY)
    chain = market.chain("SPXW", DAY).filter(pl.col("expiration") == FRIDAY)
    last = quotes.filter(pl.col("ts") == pl.col("ts").max())
    joined = chain.join(last, on=["strike", "right"], suffix="_1m")
    # Same contracts; the 16:14 quote is the 16:15 EOD quote up to a tick of index drift.
    assert joined.height == chain.height == last.height
    assert (joined["bid"] - joined["bid_1m"]).abs().max() <= 0.1 + 1e-9
    assert (joined["ask"] - joined["ask_1m"]).abs().max() <= 0.1 + 1e-9
    assert (quotes["bid"] <= quotes["ask"]).all()


def test_every_contract_has_every_minute_and_0dte_stops_at_settlement(market) -> None:
    quotes = simulate_quotes(market, "SPXW", DAY, DAY)
    per_contract = quotes.group_by("strike", "right").len()["len"].unique().to_list()
    # 09:30 → 16:00 ET: the expiring contracts settle at the close, 390 minutes.
    assert per_contract == [390] == [quote_minutes_expected("SPXW", DAY, DAY)]
    last = quotes["ts"].max().astimezone(UTC)
    assert last == datetime(2024, 3, 4, 20, 59, tzinfo=UTC)
    # A later expiry quotes through the 16:15 close: 405 minutes.
    assert quote_minutes_expected("SPXW", FRIDAY, DAY) == 405
    # An early close (day after Thanksgiving, 13:15 ET) shortens the session.
    assert quote_minutes_expected("SPXW", date(2024, 12, 6), date(2024, 11, 29)) == 225


def test_a_live_session_is_cut_at_the_last_closed_minute(market) -> None:
    now = datetime(2024, 3, 4, 15, 0, 30, tzinfo=UTC)  # 10:00:30 ET
    quotes = simulate_quotes(market, "SPXW", FRIDAY, DAY, now)
    assert quotes["ts"].max() == datetime(2024, 3, 4, 14, 59, tzinfo=UTC)
    assert quote_minutes_expected("SPXW", FRIDAY, DAY, now) == 30


def test_the_fake_serves_csv_and_json_filtered_by_time_and_interval() -> None:
    with FakeThetaTerminal(FakeThetaConfig(today=FRIDAY)) as term:
        params = {
            "symbol": "SPXW",
            "expiration": "20240308",
            "date": "20240304",
            "interval": "5m",
            "start_time": "10:00:00",
            "end_time": "10:30:00",
        }
        csv = httpx.get(f"{term.url}/option/history/quote", params=params, timeout=30)
        assert csv.status_code == 200
        frame = pl.read_csv(csv.content)
        assert frame.columns[:5] == ["symbol", "expiration", "strike", "right", "timestamp"]
        stamps = sorted(frame["timestamp"].unique())
        # Interval rows are stamped to the second, as the terminal prints them.
        assert stamps[0] == "2024-03-04T10:00:00" and stamps[-1] == "2024-03-04T10:30:00"
        assert len(stamps) == 7
        body = httpx.get(
            f"{term.url}/option/history/quote", params={**params, "format": "json"}, timeout=30
        ).json()
        first = body["response"][0]
        assert set(first["contract"]) == {"symbol", "strike", "right", "expiration"}
        assert len(first["data"]) == 7
        bad = httpx.get(
            f"{term.url}/option/history/quote", params={**params, "interval": "7m"}, timeout=30
        )
        assert bad.status_code == 473 and "interval" in bad.text
        holiday = httpx.get(
            f"{term.url}/option/history/quote",
            params={**params, "date": "20240329", "expiration": "20240405"},
            timeout=30,
        )
        assert holiday.status_code == 472


def test_client_streams_days_in_order_through_faults(market) -> None:
    faults = [Fault("429"), Fault("truncate"), Fault("drop"), Fault("571")]
    config = FakeThetaConfig(today=FRIDAY, faults=faults, concurrency=2)
    days = [date(2024, 3, d) for d in (4, 5, 6, 7)]
    with (
        FakeThetaTerminal(config) as term,
        ThetaDataClient(term.url, tier="value", backoff_initial=0.01, backoff_max=0.05) as client,
    ):
        got = list(client.iter_quotes("SPXW", date(2024, 3, 15), days))
        stats = term.stats()
    assert [c.request["date"] for c in got] == [f"{d:%Y%m%d}" for d in days]
    for capture, day in zip(got, days, strict=True):
        # Nothing lost or duplicated: exactly the simulated quotes, in the terminal's order.
        assert capture.quotes.equals(simulate_quotes(market, "SPXW", date(2024, 3, 15), day))
    assert stats["max_concurrency"] <= 2


def test_landing_streams_one_commit_per_capture_and_checks(home, market) -> None:
    lake = Lake(home / "lake")
    provider = SimulatedQuoteProvider(market)
    captures = (provider.fetch_quotes("SPXW", FRIDAY, d) for d in (DAY, date(2024, 3, 5)))
    landing = land_quotes(lake, captures, {"run_id": "test"})
    assert landing.captures == 2 and landing.versions == [0, 1]
    stored = lake.read(keys.table(keys.RAW_QUOTES))
    assert stored.height == landing.rows
    assert stored["capture_id"].n_unique() == 2
    verdicts = landing.verdicts([DAY, date(2024, 3, 5)])
    assert all(o.passed for day in verdicts.values() for o in day.values()), verdicts


def test_minute_completeness_fails_on_a_gap(home, market) -> None:
    capture = SimulatedQuoteProvider(market).fetch_quotes("SPXW", FRIDAY, DAY)
    gappy = capture.quotes.filter(
        ~((pl.col("strike") == pl.col("strike").min()) & (pl.col("ts").dt.minute() == 45))
    )
    broken = type(capture)(capture.source, capture.request, capture.payload, gappy)
    landing = land_quotes(Lake(home / "lake"), [broken], {"run_id": "test"})
    completeness = landing.verdicts([DAY])[DAY.isoformat()]["minute_completeness"]
    assert not completeness.passed
    # Both rights of the lowest strike lose the minutes stamped :45, 09:45 to 15:45 ET: 7 each.
    assert completeness.metadata["short_contracts"] == 2
    assert completeness.metadata["missing_minutes"] == 2 * 7
    # Missing quote minutes withhold the day's certification.
    verdicts = landing.verdicts([DAY])
    judged = Judged(checks.RAW_QUOTES_CHECKS, verdicts, [c.name for c in checks.RAW_QUOTES_CHECKS])
    assert judged.blocking(DAY.isoformat()) == {"minute_completeness": False}


def test_the_asset_captures_the_nearest_expirations(home, instance) -> None:
    def capture() -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [raw_spx_options_quotes_1m],
            resources=resources(settings_for(home)),
            instance=instance,
            partition_key="2024-03-04",
        )

    result = capture()
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {"minute_completeness": True, "quotes": True}
    stored = Lake(home / "lake").read(keys.table(keys.RAW_QUOTES))
    assert sorted(stored["expiration"].unique()) == [DAY, date(2024, 3, 5)]
    assert stored["capture_id"].n_unique() == 2
    # A second capture of the day supersedes the first for readers; the first stays stored.
    assert capture().success
    read = Spine(settings=settings_for(home)).quotes("2024-03-04", expiration="2024-03-05")
    assert read.height == stored.filter(pl.col("expiration") == date(2024, 3, 5)).height
    assert read["capture_id"].n_unique() == 1
    assert read["capture_id"][0] > stored["capture_id"].max()
    app = create_app(settings_for(home))
    with TestClient(app, headers=auth_headers(app, "reader")) as http:
        # A whole day is over the JSON/CSV row cap; Arrow streams it in one answer.
        answer = http.get("/v1/options/quotes", params={"date": "2024-03-04", "format": "arrow"})
        assert answer.status_code == 200
        assert int(answer.headers["X-Rows"]) == stored.height
        bad = http.get("/v1/options/quotes", params={"date": "2024-03-04", "expiration": "x"})
        assert bad.status_code == 422 and bad.json()["field"] == "expiration"
