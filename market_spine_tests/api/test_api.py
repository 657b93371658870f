"""The HTTP read layer over real HTTP: uvicorn on a free loopback port, httpx as the client."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from market_spine import Spine
from market_spine.security.bootstrap import served_home as home_served
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import SYMBOLS, home_with_instance, settings_for

DAY = "2024-03-05"


@pytest.fixture(scope="module")
def served_home(materialized_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The materialized lake plus a real Dagster instance folder, as `market-spine up` leaves a
    home (the shared fixture materializes through a throwaway instance, so it has none)."""
    return home_with_instance(materialized_home, tmp_path_factory.mktemp("api") / "home")


@pytest.fixture(scope="module")
def api(served_home: Path) -> Iterator[httpx.Client]:
    """A client of the API serving `served_home`."""
    with serving(served_home) as client:
        yield client


@pytest.fixture(scope="module")
def spine(served_home: Path) -> Spine:
    """The library read of the same home, the reference every HTTP answer is compared to."""
    return Spine(settings=settings_for(served_home))


def frame_of_json(body: dict) -> pl.DataFrame:
    """The `data` rows of a JSON answer, in its column order."""
    return pl.DataFrame(body["data"]).select(body["columns"])


def test_healthz(api: httpx.Client, served_home: Path) -> None:
    r = api.get("/healthz", headers={"Authorization": ""})
    assert r.status_code == 200
    # The served home's id, so the command line knows whom it would send its key to.
    assert r.json() == {"status": "ok", "home": home_served(served_home)}


def test_readyz_on_materialized_home(api: httpx.Client) -> None:
    r = api.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["checks"]["lake"]["ok"] and body["checks"]["dagster"]["ok"]


def test_home_without_lake_is_not_ready_and_has_no_data(tmp_path: Path) -> None:
    home = tmp_path / "empty"
    home.mkdir()
    with serving(home) as client:
        r = client.get("/readyz")
        assert r.status_code == 503
        assert "lake" in r.json()["failed"]
        assert "does not exist" in r.json()["checks"]["lake"]["detail"]
        r = client.get("/v1/bars", params={"symbol": "CL", "start": DAY})
        assert r.status_code == 404
        assert "market-spine process" in r.json()["error"]


def test_dataset_not_materialized_is_404(materialized_home: Path, tmp_path: Path) -> None:
    # Minute bars exist, the daily table was never built.
    home = tmp_path / "partial"
    (home / "lake").mkdir(parents=True)
    normalized = materialized_home / "lake" / "normalized"
    (home / "lake" / "normalized").symlink_to(normalized, target_is_directory=True)
    with serving(home) as client:
        assert client.get("/v1/bars", params={"symbol": "CL", "start": DAY}).status_code == 200
        r = client.get("/v1/bars/daily", params={"symbol": "CL", "start": DAY})
        assert r.status_code == 404
        assert r.json()["field"] is None
        assert "analytics/futures_bars_daily" in r.json()["error"]
        assert "market-spine process" in r.json()["error"]


def test_json_one_day(api: httpx.Client, spine: Spine) -> None:
    r = api.get("/v1/bars", params={"symbol": "CL", "start": DAY, "format": "json"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    expected = spine.bars("CL", DAY)
    assert body["rows"] == len(body["data"]) == expected.height > 0
    assert body["symbol"] == "CL" and body["start"] == body["end"] == DAY and body["as_of"] is None
    assert body["columns"] == expected.columns
    first = body["data"][0]
    assert first["ts"] == "2024-03-04T23:00:00Z"  # the CME session opens the evening before
    assert first["trade_date"] == DAY
    assert r.headers["X-Rows"] == str(expected.height)
    assert r.headers["X-Delta-Version"] == str(spine.lake.version("normalized/futures_bars_1m"))


def test_csv_and_arrow_match_json(api: httpx.Client, spine: Spine) -> None:
    params = {"symbol": "ES", "start": "20240305", "end": "2024-03-06"}
    as_json = frame_of_json(api.get("/v1/bars", params=params).json())

    r = api.get("/v1/bars", params={**params, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    as_csv = pl.read_csv(io.BytesIO(r.content))
    assert_frame_equal(as_csv, as_json)

    r = api.get("/v1/bars", params={**params, "format": "arrow"})
    assert r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    table = pa.ipc.open_stream(r.content).read_all()
    assert table.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    as_arrow = pl.from_arrow(table)
    assert isinstance(as_arrow, pl.DataFrame)
    assert_frame_equal(as_arrow, spine.bars("ES", "2024-03-05", "2024-03-06"))
    assert int(r.headers["X-Rows"]) == as_arrow.height == as_json.height


def test_timestamp_range_is_half_open(api: httpx.Client, spine: Spine) -> None:
    start, end = "2024-03-05T14:30:00Z", "2024-03-05T15:30:00Z"
    body = api.get("/v1/bars", params={"symbol": "NG", "start": start, "end": end}).json()
    assert body["start"] == start and body["end"] == end
    stamps = [row["ts"] for row in body["data"]]
    assert body["rows"] == spine.bars("NG", start, end).height
    assert 0 < body["rows"] <= 60
    assert all(start <= ts < end for ts in stamps)  # ISO Z strings sort as time
    assert stamps == sorted(stamps)


def test_unencoded_plus_offset_is_accepted(api: httpx.Client) -> None:
    # A hand-typed URL sends the "+" of "+00:00" raw, and query decoding turns it into a space.
    query = "symbol=NG&start=2024-03-05T14:30:00+00:00&end=2024-03-05T15:30:00+00:00"
    r = api.get(f"/v1/bars?{query}")
    assert r.status_code == 200, r.text
    assert r.json()["start"] == "2024-03-05T14:30:00Z"


def test_daily_bars(api: httpx.Client, spine: Spine) -> None:
    r = api.get("/v1/bars/daily", params={"symbol": "es", "start": "20240304", "end": "20240308"})
    assert r.status_code == 200
    body = r.json()
    assert [row["trade_date"] for row in body["data"]] == [f"2024-03-0{d}" for d in range(4, 9)]
    assert "bar_count" in body["columns"]
    assert_frame_equal(
        frame_of_json(body).select("open", "close", "volume"),
        spine.daily("ES", "2024-03-04", "2024-03-08").select("open", "close", "volume"),
    )


def test_as_of_version_zero_and_latest(api: httpx.Client, spine: Spine) -> None:
    latest = spine.lake.version("normalized/futures_bars_1m")
    assert latest is not None and latest > 0
    grew = False
    for symbol in SYMBOLS:
        old = api.get("/v1/bars", params={"symbol": symbol, "start": DAY, "as_of": "0"})
        new = api.get("/v1/bars", params={"symbol": symbol, "start": DAY})
        assert old.headers["X-Delta-Version"] == "0"
        assert new.headers["X-Delta-Version"] == str(latest)
        assert old.json()["rows"] == spine.bars(symbol, DAY, as_of=0).height
        assert new.json()["rows"] == spine.bars(symbol, DAY).height
        grew |= old.json()["rows"] < new.json()["rows"]
    assert grew, "each symbol's run is its own commit, so version 0 lacks some symbol"
    now = datetime.now(UTC).isoformat()
    r = api.get("/v1/bars", params={"symbol": "CL", "start": DAY, "as_of": now})
    assert r.status_code == 200 and r.headers["X-Delta-Version"] == str(latest)


BAD_INPUTS = [
    pytest.param({"symbol": "XX", "start": DAY}, "symbol", ["CL", "ES", "NG"], id="unknown-symbol"),
    pytest.param(
        {"symbol": "CL", "start": "2024-13-45"},
        "start",
        ["does not exist", "no month 13"],
        id="bad-date",
    ),
    pytest.param({"symbol": "CL", "start": DAY, "end": "tomorrow"}, "end", ["ISO"], id="bad-end"),
    pytest.param(
        {"symbol": "CL", "start": "2024-03-06", "end": "2024-03-05"}, "end", ["swap"], id="reversed"
    ),
    pytest.param(
        {"symbol": "CL", "start": "2024-03-05T15:00:00Z"}, "end", ["end after start"], id="empty-ts"
    ),
    pytest.param({"symbol": "CL", "start": DAY, "format": "xml"}, "format", ["csv"], id="format"),
    pytest.param(
        {"symbol": "CL", "start": "2024-01-02", "end": "2024-03-29"},
        "end",
        ["at most 31", "narrow the range"],
        id="too-wide",
    ),
    pytest.param(
        {"symbol": "CL", "start": DAY, "as_of": "yesterday"},
        "as_of",
        ["version number"],
        id="as-of",
    ),
    pytest.param(
        {"symbol": "CL", "start": DAY, "as_of": "2024-03-05"}, "as_of", ["zone"], id="as-of-date"
    ),
    pytest.param(
        {"symbol": "CL", "start": DAY, "as_of": "999"}, "as_of", ["versions 0.."], id="v999"
    ),
    pytest.param(
        {"symbol": "CL", "start": DAY, "as_of": "2001-01-01T00:00:00Z"},
        "as_of",
        ["first written"],
        id="as-of-too-early",
    ),
    pytest.param({"symbol": "CL"}, "start", ["start=2024-03-05"], id="missing-start"),
    pytest.param({"start": DAY}, "symbol", ["symbol=CL"], id="missing-symbol"),
]


@pytest.mark.parametrize(("params", "field", "hints"), BAD_INPUTS)
def test_bad_input_is_422_with_the_fix(
    api: httpx.Client, params: dict[str, str], field: str, hints: list[str]
) -> None:
    r = api.get("/v1/bars", params=params)
    assert r.status_code == 422, r.text
    body = r.json()
    assert set(body) == {"error", "field"}
    assert body["field"] == field
    for hint in hints:
        assert hint in body["error"]


def test_unknown_route_has_the_error_shape(api: httpx.Client) -> None:
    r = api.get("/v1/nothing")
    assert r.status_code == 404
    assert "/docs" in r.json()["error"]


def test_docs_and_openapi(api: httpx.Client) -> None:
    assert api.get("/docs").status_code == 200
    spec = api.get("/openapi.json").json()
    assert spec["info"]["title"] == "Market Spine"
    assert spec["info"]["version"]
    assert {"/v1/bars", "/v1/bars/daily", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])


def test_metrics_count_requests_and_rows(api: httpx.Client) -> None:
    api.get("/v1/bars", params={"symbol": "CL", "start": DAY})
    api.get("/v1/bars", params={"symbol": "ZZ", "start": DAY})
    text = api.get("/metrics").text
    assert 'market_spine_api_requests_total{method="GET",route="/v1/bars",status="200"}' in text
    assert 'market_spine_api_requests_total{method="GET",route="/v1/bars",status="422"}' in text
    assert "market_spine_api_request_duration_seconds_bucket" in text
    assert 'market_spine_api_rows_served_total{route="/v1/bars"}' in text


def test_every_data_route_refuses_a_query_parameter_it_does_not_take(api: httpx.Client) -> None:
    app_routes = [
        route
        for route in api.get("/openapi.json").json()["paths"].items()
        if route[0].startswith("/v1/") and "get" in route[1]
    ]
    assert len(app_routes) >= 15
    for path, methods in app_routes:
        taken = {p["name"] for p in methods["get"].get("parameters", []) if p["in"] == "query"}
        url = path.replace("{", "").replace("}", "")
        r = api.get(url, params={"certifed_only": "true", "as_off": "3"})
        assert r.status_code == 400, (path, r.text)
        body = r.json()
        assert body["field"] == "as_off", path
        said = body["error"]
        assert said.startswith("unknown query parameters as_off, certifed_only:"), said
        assert all(name in said for name in taken), (path, said)
        if "certified_only" in taken:
            assert "certified_only for certifed_only" in said, said
    r = api.get("/v1/bars/daily", params={"symbol": "ES.c.0", "start": DAY, "adjustment": "ratio"})
    assert r.status_code == 400 and "did you mean adjust for adjustment?" in r.json()["error"]
    # What a route takes is not refused: the misspelt name was the only fault.
    r = api.get("/v1/bars", params={"symbol": "CL", "start": DAY, "certified_only": "false"})
    assert r.status_code == 200, r.text
