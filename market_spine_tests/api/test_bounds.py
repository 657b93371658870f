"""Every data route of the API is bounded: a row cap whose 422 names the narrower query, paging
by limit/offset that walks a read exactly, Arrow streamed in record batches, read slots that
are always given back, strict ASCII numbers and the right `field` in every 422."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import httpx
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from market_spine import Spine
from market_spine.api import paging
from market_spine.errors import InvalidInput
from market_spine.lake import Lake
from market_spine.markets.empty_reads import EmptyReadWarning
from market_spine.runs.launch import materialize_options
from market_spine.settings import Settings
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

DAY = "2024-03-05"
#: Small enough that one day of option quotes is many pages, large enough for a day of bars.
CAP = 20_000


@pytest.fixture(scope="module")
def both_home(materialized_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One options day materialized beside the shared futures week (linked table by table)."""
    home = tmp_path_factory.mktemp("bounds") / "home"
    with dg.instance_for_test() as instance:
        run = materialize_options(
            settings_for(home), date(2024, 3, 5), date(2024, 3, 5), instance=instance
        )
    assert run is not None and run.success
    futures = materialized_home / "lake"
    for table in futures.glob("*/*"):
        if table.is_dir() and not (home / "lake" / table.parent.name / table.name).exists():
            (home / "lake" / table.parent.name).mkdir(exist_ok=True)
            (home / "lake" / table.parent.name / table.name).symlink_to(table)
    return home


@pytest.fixture(scope="module")
def api(both_home: Path) -> Iterator[httpx.Client]:
    with serving(both_home, api_max_rows=CAP, api_read_slots=1) as client:
        yield client


@pytest.fixture(scope="module")
def spine(both_home: Path) -> Spine:
    return Spine(settings=settings_for(both_home), warn_empty=False)


def test_a_day_of_quotes_over_the_cap_is_a_422_naming_the_narrower_query(
    api: httpx.Client, spine: Spine
) -> None:
    total = spine.quotes(DAY).height
    assert total > CAP
    r = api.get("/v1/options/quotes", params={"date": DAY})
    assert r.status_code == 422, r.headers.get("X-Rows")
    body = r.json()
    assert set(body) == {"error", "field"} and body["field"] == "expiration"
    assert f"{total:,} rows" in body["error"]
    assert "expiration=" in body["error"] and "2024-03-05 (" in body["error"]
    assert f"limit={CAP}&offset=0" in body["error"] and "format=arrow" in body["error"]


def test_pages_walk_a_read_exactly_and_pin_the_version(api: httpx.Client, spine: Spine) -> None:
    expected = spine.quotes(DAY)
    url: str | None = f"/v1/options/quotes?date={DAY}&limit={CAP}&format=csv"
    pages = []
    while url:
        r = api.get(url)
        assert r.status_code == 200, r.text
        assert int(r.headers["X-Total-Rows"]) == expected.height
        pages.append(pl.read_csv(io.BytesIO(r.content), try_parse_dates=True))
        link = r.headers.get("Link")
        url = link[1 : link.index(">")] if link else None
        if url:
            assert f"as_of={r.headers['X-Delta-Version']}" in url
            assert r.headers["X-Next-Offset"] in url
    assert len(pages) == -(-expected.height // CAP)
    walked = pl.concat(pages)
    assert walked.height == expected.height
    key = ["expiration", "right", "strike", "bid"]
    assert walked.select(key).rows() == expected.select(key).rows()


def test_json_pages_carry_the_paging_fields(api: httpx.Client, spine: Spine) -> None:
    expected = spine.bars("CL", "2024-03-04", "2024-03-08")
    first = api.get(
        "/v1/bars", params={"symbol": "CL", "start": "2024-03-04", "end": "2024-03-08", "limit": 7}
    ).json()
    assert first["rows"] == 7 and first["offset"] == 0 and first["next_offset"] == 7
    assert first["total_rows"] == expected.height
    last = api.get(
        "/v1/bars",
        params={
            "symbol": "CL",
            "start": "2024-03-04",
            "end": "2024-03-08",
            "offset": expected.height - 3,
        },
    ).json()
    assert last["rows"] == 3 and last["next_offset"] is None
    assert [row["ts"][:19] for row in last["data"]] == [
        ts.strftime("%Y-%m-%dT%H:%M:%S") for ts in expected["ts"].tail(3)
    ]


def test_arrow_streams_a_whole_day_in_record_batches(api: httpx.Client, spine: Spine) -> None:
    expected = spine.quotes(DAY)
    with api.stream("GET", "/v1/options/quotes", params={"date": DAY, "format": "arrow"}) as r:
        assert r.status_code == 200
        assert "content-length" not in r.headers  # streamed, not one buffer
        chunks = list(r.iter_raw())
    reader = pa.ipc.open_stream(b"".join(chunks))
    batches = list(reader)
    assert len(batches) == -(-expected.height // paging.ARROW_BATCH_ROWS) > 1
    got = pl.from_arrow(pa.Table.from_batches(batches))
    assert isinstance(got, pl.DataFrame)
    assert_frame_equal(got, expected)
    assert reader.schema.metadata[b"total_rows"] == str(expected.height).encode()


def test_the_read_slot_comes_back_after_every_kind_of_answer(
    api: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One slot (the fixture's setting): a leak would make the next read wait, then 503.
    monkeypatch.setattr(paging, "SLOT_WAIT_S", 2.0)
    for params in (
        {"date": DAY, "format": "arrow"},
        {"date": DAY},  # over the cap: 422
        {"date": DAY, "format": "arrow", "limit": 5},
        {"date": DAY, "limit": 5},
    ):
        r = api.get("/v1/options/quotes", params=params)
        assert r.status_code in (200, 422), r.text
    assert api.get("/v1/options/surface", params={"date": DAY}).status_code == 200


def test_read_slots_refuse_past_their_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paging, "SLOT_WAIT_S", 0.05)
    slots = paging.ReadSlots(2)
    first, second = slots.take(), slots.take()
    with pytest.raises(paging.ApiError) as refused:
        slots.take()
    assert refused.value.status == 503 and "retry" in refused.value.message
    first()
    first()  # releasing twice gives back one slot, not two
    third = slots.take()
    with pytest.raises(paging.ApiError):
        slots.take()
    second()
    third()


EVERY_PARAMETER = [
    # (route, params, field)
    ("/v1/bars", {"symbol": "XX", "start": DAY}, "symbol"),
    ("/v1/bars", {"symbol": "CL", "start": "2024-13-01"}, "start"),
    ("/v1/bars", {"symbol": "CL", "start": DAY, "end": "soon"}, "end"),
    ("/v1/bars", {"symbol": "CL", "start": DAY, "format": "xml"}, "format"),
    ("/v1/bars", {"symbol": "CL", "start": DAY, "as_of": "²"}, "as_of"),
    ("/v1/bars", {"symbol": "CL", "start": DAY, "as_of": "١"}, "as_of"),
    ("/v1/bars", {"symbol": "CL", "start": "٢٠٢٤-٠٣-٠٥"}, "start"),
    ("/v1/bars", {"symbol": "CL", "start": DAY, "end": "٢٠٢٤٠٣٠٦"}, "end"),
    ("/v1/bars", {"symbol": "CL", "start": DAY, "limit": "0"}, "limit"),
    ("/v1/bars", {"symbol": "CL", "start": DAY, "limit": "١"}, "limit"),
    ("/v1/bars", {"symbol": "CL", "start": DAY, "limit": str(CAP + 1)}, "limit"),
    ("/v1/bars", {"symbol": "CL", "start": DAY, "offset": "-1"}, "offset"),
    ("/v1/bars", {"symbol": "CL", "start": DAY, "offset": "²"}, "offset"),
    ("/v1/bars/daily", {"symbol": "XX", "start": DAY}, "symbol"),
    ("/v1/bars/daily", {"symbol": "CL", "start": "x"}, "start"),
    ("/v1/bars/daily", {"symbol": "CL", "start": DAY, "end": "x"}, "end"),
    ("/v1/bars/daily", {"symbol": "CL", "start": DAY, "format": "xml"}, "format"),
    ("/v1/bars/daily", {"symbol": "CL", "start": DAY, "as_of": "²"}, "as_of"),
    ("/v1/bars/daily", {"symbol": "CL", "start": DAY, "limit": "x"}, "limit"),
    ("/v1/bars/daily", {"symbol": "CL", "start": DAY, "offset": "x"}, "offset"),
    ("/v1/options/chain", {"date": "March 5"}, "date"),
    ("/v1/options/chain", {"date": "٢٠٢٤-٠٣-٠٥"}, "date"),
    ("/v1/options/chain", {"date": DAY, "root": "NDX"}, "root"),
    ("/v1/options/chain", {"date": DAY, "expiration": "x"}, "expiration"),
    ("/v1/options/chain", {"date": DAY, "format": "xml"}, "format"),
    ("/v1/options/chain", {"date": DAY, "as_of": "١"}, "as_of"),
    ("/v1/options/chain", {"date": DAY, "limit": "-2"}, "limit"),
    ("/v1/options/chain", {"date": DAY, "offset": "x"}, "offset"),
    ("/v1/options/chain", {"date": f"{DAY}T10:00:00Z"}, "date"),
    ("/v1/options/surface", {"date": "x"}, "date"),
    ("/v1/options/surface", {"date": DAY, "format": "xml"}, "format"),
    ("/v1/options/surface", {"date": DAY, "as_of": "9999"}, "as_of"),
    ("/v1/options/surface", {"date": DAY, "limit": "0"}, "limit"),
    ("/v1/options/surface", {"date": DAY, "offset": "-5"}, "offset"),
    ("/v1/options/quotes", {"date": "x"}, "date"),
    ("/v1/options/quotes", {"date": DAY, "expiration": "٢٠٢٤-٠٣-٠٥"}, "expiration"),
    ("/v1/options/quotes", {"date": DAY, "format": "xml"}, "format"),
    ("/v1/options/quotes", {"date": DAY, "as_of": "²"}, "as_of"),
    ("/v1/options/quotes", {"date": DAY, "limit": "x"}, "limit"),
    ("/v1/options/quotes", {"date": DAY, "offset": "x"}, "offset"),
    ("/v1/options/quotes", {"date": DAY, "limit": "1", "offset": "١"}, "offset"),
]


@pytest.mark.parametrize(
    ("route", "params", "field"),
    EVERY_PARAMETER,
    ids=[f"{r.removeprefix('/v1/')}-{f}-{i}" for i, (r, _, f) in enumerate(EVERY_PARAMETER)],
)
def test_every_parameter_of_every_route_is_named_in_its_422(
    api: httpx.Client, route: str, params: dict[str, str], field: str
) -> None:
    r = api.get(route, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field, r.json()


def test_missing_required_parameters_name_themselves(api: httpx.Client) -> None:
    for route, field in (
        ("/v1/bars", "symbol"),
        ("/v1/bars/daily", "symbol"),
        ("/v1/options/chain", "date"),
        ("/v1/options/surface", "date"),
        ("/v1/options/quotes", "date"),
    ):
        r = api.get(route)
        assert r.status_code == 422 and r.json()["field"] == field, (route, r.text)


def test_a_missing_parameter_s_example_holds_that_parameter(api: httpx.Client) -> None:
    for route, field in (
        ("/v1/revisions", "dataset"),
        ("/v1/options/chain", "date"),
        ("/v1/bars/held", "symbol"),
        ("/v1/bars", "symbol"),
    ):
        r = api.get(route)
        assert r.status_code == 422 and r.json()["field"] == field, (route, r.text)
        assert f"e.g. {route}?{field}=" in r.json()["error"] or f"&{field}=" in r.json()["error"]


def test_the_lake_reads_as_of_in_ascii_only(both_home: Path) -> None:
    lake = Lake(both_home / "lake")
    dataset = "analytics/vol_surface_daily"
    assert lake.resolve_version(dataset, None) == lake.version(dataset)
    assert lake.resolve_version(dataset, "0") == 0
    for text in ("²", "١", "٠", "２", "1²"):
        with pytest.raises(InvalidInput, match="version number"):
            lake.resolve_version(dataset, text)


def test_settings_numbers_are_ascii_only() -> None:
    with pytest.raises(InvalidInput, match="MARKET_SPINE_API_PORT"):
        Settings.from_env({"MARKET_SPINE_HOME": "/tmp/x", "MARKET_SPINE_API_PORT": "٨٠٠٠"})
    with pytest.raises(InvalidInput, match="MARKET_SPINE_API_MAX_ROWS"):
        Settings.from_env({"MARKET_SPINE_HOME": "/tmp/x", "MARKET_SPINE_API_MAX_ROWS": "0"})
    settings = Settings.from_env({"MARKET_SPINE_HOME": "/tmp/x", "MARKET_SPINE_API_MAX_ROWS": "7"})
    assert settings.api_max_rows == 7


def test_empty_option_reads_say_why(api: httpx.Client, both_home: Path) -> None:
    weekend = api.get("/v1/options/surface", params={"date": "2024-03-09"})
    assert weekend.headers["X-Empty-Reason"] == "no_session"
    assert "no session on Saturday 2024-03-09" in weekend.json()["empty_reason"]["detail"]
    unloaded = api.get("/v1/options/chain", params={"date": "2024-03-06"})
    assert unloaded.json()["empty_reason"]["code"] == "not_loaded"
    assert "--date 2024-03-06 --domain options" in unloaded.json()["empty_reason"]["detail"]
    unlisted = api.get("/v1/options/quotes", params={"date": DAY, "expiration": "2031-01-17"})
    assert unlisted.headers["X-Empty-Reason"] == "not_listed"
    assert "pass one of 2024-03-05" in unlisted.json()["empty_reason"]["detail"]
    spine = Spine(settings=settings_for(both_home))
    with pytest.warns(EmptyReadWarning, match="no session on Saturday"):
        assert spine.chain("SPXW", "2024-03-09").is_empty()
    with pytest.warns(EmptyReadWarning, match="holds no expiration 2031-01-17"):
        spine.quotes(DAY, expiration="2031-01-17")
