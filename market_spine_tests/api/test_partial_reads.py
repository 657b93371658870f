"""A read of whole trade dates that holds some of its range's sessions but not all says which
are missing and how to load them: Spine in a PartialReadWarning, the API in `missing` and
`X-Missing-Trade-Dates`. A complete read, a read by time and a read of the past say nothing."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from market_spine import Spine
from market_spine.markets.empty_reads import PartialReadWarning
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

LOAD_FRIDAY = "`market-spine process --date 2024-03-01 --symbols CL --domain futures`"


@pytest.fixture(scope="module")
def api(materialized_home: Path) -> Iterator[httpx.Client]:
    with serving(materialized_home) as client:
        yield client


def _said(read) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read()
    return [str(w.message) for w in caught if issubclass(w.category, PartialReadWarning)]


def test_spine_names_the_sessions_a_read_lacks(materialized_home: Path) -> None:
    spine = Spine(settings=settings_for(materialized_home))
    # The week is loaded; the Friday before it is not.
    [said] = _said(lambda: spine.bars("CL.c.0", "2024-03-01", "2024-03-08"))
    assert "1 trading day not in the lake (2024-03-01)" in said and LOAD_FRIDAY in said
    [daily] = _said(lambda: spine.daily("ES", "2024-03-01", "2024-03-12"))
    assert "3 trading days not in the lake (2024-03-01, 2024-03-11, 2024-03-12)" in daily
    # Nothing to say: the whole week, a read by time, the weekend around it.
    assert _said(lambda: spine.bars("CL", "2024-03-04", "2024-03-08")) == []
    assert _said(lambda: spine.bars("CL", "2024-03-01T00:00:00Z", "2024-03-05T00:00:00Z")) == []
    assert _said(lambda: spine.daily("NG", "2024-03-02", "2024-03-08")) == []
    assert _said(lambda: spine.bars("CL", "2024-03-01", "2024-03-08", as_of=0)) == []


def test_the_api_says_them_in_the_body_and_a_header(api: httpx.Client) -> None:
    week = {"symbol": "CL.c.0", "start": "2024-03-01", "end": "2024-03-08", "limit": 5}
    partial = api.get("/v1/bars", params=week)
    assert partial.status_code == 200, partial.text
    assert partial.headers["X-Missing-Trade-Dates"] == "2024-03-01"
    missing = partial.json()["missing"]
    assert missing["trade_dates"] == ["2024-03-01"] and LOAD_FRIDAY in missing["detail"]
    # Every page of the read says it, as the whole read lacks it, not the page.
    later = api.get("/v1/bars", params={**week, "offset": 5000})
    assert later.headers["X-Missing-Trade-Dates"] == "2024-03-01"
    csv = api.get("/v1/bars/daily", params={**week, "symbol": "ES", "format": "csv"})
    assert csv.status_code == 200 and csv.headers["X-Missing-Trade-Dates"] == "2024-03-01"

    whole = api.get("/v1/bars/daily", params={**week, "start": "2024-03-04"})
    assert "X-Missing-Trade-Dates" not in whole.headers and whole.json()["missing"] is None
    pinned = api.get("/v1/bars", params={**week, "as_of": 0})
    assert "X-Missing-Trade-Dates" not in pinned.headers
