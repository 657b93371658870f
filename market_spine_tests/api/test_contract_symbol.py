"""A read of an outright contract (`symbol=ESM4`) is answered with the series that serves it on
that day, or the capture or import that loads it, never with advice to declare it as a root.
Real Delta lake (the materialized week), the API served on loopback, and Spine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from market_spine import Spine
from market_spine.errors import UnknownSymbol
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import home_with_instance, settings_for

#: Inside the materialized week, before ES's March roll: ESH4 is the front, ESM4 the next.
DAY = "2024-03-05"
#: After the roll, outside the materialized week: ESM4 is the front and nothing is loaded.
LATER = "2024-03-11"


@pytest.fixture(scope="module")
def served_home(materialized_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return home_with_instance(materialized_home, tmp_path_factory.mktemp("contract") / "home")


@pytest.fixture(scope="module")
def api(served_home: Path) -> Iterator[httpx.Client]:
    with serving(served_home) as client:
        yield client


def refusal(api: httpx.Client, path: str = "/v1/bars", **params: str) -> str:
    answer = api.get(path, params=params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["field"] == "symbol"
    assert "instruments.toml" not in body["error"]  # a contract is not a root to declare
    return body["error"]


def test_a_loaded_next_contract_is_served_as_its_calendar_series(api: httpx.Client) -> None:
    said = refusal(api, symbol="ESM4", start=DAY)
    assert said.startswith("ESM4 is a contract of ES, not a root or a series")
    assert f"(ESH4 on {DAY})" in said
    assert f"on {DAY} ESM4's bars are served as ES.c.1: pass symbol=ES.c.1" in said
    assert "process" not in said and "import" not in said
    # The advice holds: that series has ESM4's bars of the day.
    bars = api.get("/v1/bars", params={"symbol": "ES.c.1", "start": DAY}).json()
    assert bars["rows"] > 0 and {row["contract"] for row in bars["data"]} == {"ESM4"}
    # A timestamp range and the daily bars say the same, for any case.
    window = {"start": f"{DAY}T15:00:00Z", "end": f"{DAY}T16:00:00Z"}
    assert refusal(api, symbol="esm4", **window) == said
    assert refusal(api, "/v1/bars/daily", symbol="ESM4", start=DAY) == said


def test_an_unloaded_contract_day_names_the_capture_and_the_import(api: httpx.Client) -> None:
    said = refusal(api, symbol="ESM4", start=LATER)
    assert f"on {LATER} ESM4 is ES.c.0, but the lake holds no ESM4 bars of that day" in said
    assert f"`market-spine process --date {LATER} --symbols ES --domain futures`" in said
    assert "`market-spine import bars FILE --symbol ESM4`" in said
    assert said.endswith("then pass symbol=ES or ES.c.0")


def test_a_contract_no_series_holds_and_a_closed_day_say_so(api: httpx.Client) -> None:
    said = refusal(api, symbol="ESZ4", start=DAY)
    assert f"on {DAY} neither ES.c.0 nor ES.c.1 holds ESZ4" in said
    said = refusal(api, symbol="ESH4", start="2024-03-09")
    assert "ES has no session on Saturday 2024-03-09: pick a trading day" in said


def test_spine_says_the_same(served_home: Path, api: httpx.Client) -> None:
    spine = Spine(settings=settings_for(served_home))
    with pytest.raises(UnknownSymbol) as err:
        spine.bars("ESM4", DAY)
    assert str(err.value) == refusal(api, symbol="ESM4", start=DAY)


def test_the_roll_table_names_a_contract_as_a_contract_of_its_root(api: httpx.Client) -> None:
    said = refusal(api, "/v1/bars/rolls", symbol="ESM4", start=DAY)
    assert said == (
        "symbol=ESM4: ESM4 is a contract of ES, not a root: pass symbol=ES, the root whose "
        "data holds ESM4"
    )
