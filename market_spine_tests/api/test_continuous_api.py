"""Continuous series and the roll table over real HTTP, compared with Spine's reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest

from market_spine import Spine
from market_spine.markets import calendars
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

WEEK = {"start": "2024-03-04", "end": "2024-03-08"}


@pytest.fixture(scope="module")
def api(materialized_home: Path) -> Iterator[httpx.Client]:
    with serving(materialized_home) as client:
        yield client


@pytest.fixture(scope="module")
def spine(materialized_home: Path) -> Spine:
    return Spine(settings=settings_for(materialized_home))


def test_a_continuous_series_back_adjusted_matches_spine(api: httpx.Client, spine: Spine) -> None:
    r = api.get("/v1/bars/daily", params={"symbol": "es.c.0", **WEEK, "adjust": "ratio"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["symbol"] == "ES.c.0" and body["adjust"] == "ratio"
    got = pl.DataFrame(body["data"])
    expected = spine.daily("ES.c.0", "2024-03-04", "2024-03-08", adjust="ratio")
    assert got["close"].to_list() == pytest.approx(expected["close"].to_list())
    assert got["contract"].to_list() == expected["contract"].to_list()


def test_minutes_of_a_volume_series(api: httpx.Client) -> None:
    r = api.get("/v1/bars", params={"symbol": "ES.v.0", "start": "2024-03-06", "format": "csv"})
    assert r.status_code == 200, r.text
    assert set(pl.read_csv(r.content)["contract"]) == {"ESM4"}


def test_the_roll_table(api: httpx.Client) -> None:
    r = api.get("/v1/bars/rolls", params={"symbol": "ES", **WEEK})
    assert r.status_code == 200, r.text
    rows = r.json()["data"]
    assert sorted(row["series"] for row in rows) == ["ES.c.0", "ES.c.1", "ES.v.0", "ES.v.1"]


def test_the_roll_table_without_an_end_reads_up_to_the_latest_trade_date(
    api: httpx.Client,
) -> None:
    latest = calendars.latest_trade_date("ES")
    assert latest is not None
    for start in ("2024-03-04", "2024-03-04T15:00:00Z"):
        r = api.get("/v1/bars/rolls", params={"symbol": "ES", "start": start})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["start"], body["end"]) == ("2024-03-04", latest.isoformat())
        # The rolls of the 6th and 7th, not just those of the start day.
        assert sorted(row["series"] for row in body["data"]) == [
            "ES.c.0",
            "ES.c.1",
            "ES.v.0",
            "ES.v.1",
        ]
    # An explicit end still bounds the read.
    r = api.get(
        "/v1/bars/rolls", params={"symbol": "ES", "start": "2024-03-04", "end": "2024-03-06"}
    )
    assert sorted(row["series"] for row in r.json()["data"]) == ["ES.v.0", "ES.v.1"]
    # The API docs say so.
    end = next(
        p
        for p in api.get("/openapi.json").json()["paths"]["/v1/bars/rolls"]["get"]["parameters"]
        if p["name"] == "end"
    )
    assert "defaults to the latest trade date" in end["description"]


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"symbol": "ES", "adjust": "ratio"}, "adjust", "applies to continuous series"),
        ({"symbol": "ES.c.0", "adjust": "back"}, "adjust", "use one of"),
        ({"symbol": "ES.n.0"}, "symbol", "not served"),
    ],
)
def test_bad_continuous_requests_name_the_parameter(
    api: httpx.Client, params: dict, field: str, says: str
) -> None:
    r = api.get("/v1/bars", params={"start": "2024-03-05", **params})
    assert r.status_code == 422
    body = r.json()
    assert says in body["error"] and body["field"] == field


def test_a_table_not_written_yet_names_the_command_for_the_days_asked(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with serving(empty) as bare:
        series = bare.get("/v1/bars", params={"symbol": "ES.c.0", "start": "2024-03-04"})
        rolls = bare.get("/v1/bars/rolls", params={"symbol": "CL", **WEEK})
    assert series.status_code == 404, series.text
    assert "--start 2024-03-04 --end 2024-03-04 --symbols ES --domain futures" in series.text
    assert rolls.status_code == 404, rolls.text
    assert "--start 2024-03-04 --end 2024-03-08 --symbols CL --domain futures" in rolls.text


@pytest.mark.parametrize("symbol", ["ES.c.-1", "ES.c", "ES..0", "ES.c.0.1", "ES.c.9", "ES.x.0"])
def test_a_malformed_series_gets_the_served_forms(api: httpx.Client, symbol: str) -> None:
    for path in ("/v1/bars", "/v1/bars/daily", "/v1/bars/rolls"):
        r = api.get(path, params={"symbol": symbol, "start": "2024-03-05"})
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["field"] == "symbol"
        assert f"{symbol} is not served: continuous series are ROOT.c.N" in body["error"]
        assert "not a root" not in body["error"]


def test_daily_bars_refuse_a_timestamp_as_spine_does(api: httpx.Client) -> None:
    for symbol in ("NG.c.0", "NG"):
        r = api.get("/v1/bars/daily", params={"symbol": symbol, "start": "2024-03-05T00:00:00Z"})
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["field"] == "start"
        assert "daily bars are selected by trade date: pass dates" in body["error"]


def test_a_series_as_certified_says_what_to_read_instead(api: httpx.Client) -> None:
    r = api.get("/v1/bars/daily", params={"symbol": "NG.v.1", **WEEK, "as_certified": "2024-03-09"})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["field"] == "as_certified"
    assert body["error"].startswith("NG.v.1 has no certified versions of its own")
    assert "read the root as_certified (symbol NG)" in body["error"]


def test_a_version_before_the_data_is_not_called_not_loaded(
    api: httpx.Client, spine: Spine
) -> None:
    table = "normalized/futures_continuous_1m"
    first = next(
        v
        for v in range(spine.lake.version(table) + 1)
        if not spine.lake.read(
            table, equals={"symbol": "NG", "series": "NG.c.0"}, as_of=v
        ).is_empty()
    )
    assert first > 0
    r = api.get("/v1/bars", params={"symbol": "NG.c.0", **WEEK, "as_of": str(first - 1)})
    assert r.status_code == 200, r.text
    reason = r.json()["empty_reason"]
    assert reason["code"] == "predates"
    assert f"pass as_of={first} or later, or drop as_of" in reason["detail"]
    said = spine.empty_reason(table, "NG.c.0", WEEK["start"], WEEK["end"], as_of=first - 1)
    assert reason == said.as_json()
