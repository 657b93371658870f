"""Each continuous series judged on the contract it holds: a short front month fails the series
built from it, while the series holding the complete next contract is certified — in readiness,
Spine frames and the API's `X-Certification` alike — and the daily rows' reasons carry the
front's counts and name it. Real Delta lake, Dagster instance and API served on loopback."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.client import BARS_1M, CONTINUOUS_1M, CONTINUOUS_DAILY, Spine
from market_spine.runs.vendor_import import import_bars
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.frames import contract_csv
from market_spine_tests.kit.homes import settings_for

#: Outside ES's March roll window: the front month is ESH4, the next ESM4.
DAY = date(2024, 2, 27)
FRONT, NEXT = "ESH4", "ESM4"
CUT = 28


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ES's front month imported short by CUT minutes, its next month imported whole."""
    folder = tmp_path_factory.mktemp("own-contract")
    home = folder / "home"
    with dg.instance_for_test() as instance:
        settings = settings_for(home)
        short = contract_csv(folder / "front.csv", DAY, FRONT, CUT)
        import_bars(settings, short, FRONT, instance=instance)
        whole = import_bars(
            settings, contract_csv(folder / "next.csv", DAY, NEXT), NEXT, instance=instance
        )
        assert whole.success
    return home


def ready(home: Path, dataset: str) -> dict[str, dict]:
    rows = Spine(home, warn_empty=False).readiness(dataset=dataset, symbols="ES")
    return {r["symbol"]: r for r in rows.filter(pl.col("trade_date") == DAY).to_dicts()}


def test_the_complete_next_contracts_series_is_certified_beside_the_short_front(
    home: Path,
) -> None:
    assert ready(home, BARS_1M)["ES"]["state"] == "failed"
    minutes = ready(home, CONTINUOUS_1M)
    assert {s: r["state"] for s, r in minutes.items()} == {
        "ES.c.0": "failed",
        "ES.c.1": "certified",
        "ES.v.0": "failed",
        "ES.v.1": "certified",
    }
    # The next contract's own capture, not the front's, and no word of the front's failure.
    assert "FAILED" not in minutes["ES.c.1"]["reason"]
    front = f"input {BARS_1M} FAILED: 1,352 of 1,380 minutes of {FRONT}"
    assert minutes["ES.c.0"]["reason"].endswith(front)
    daily = ready(home, CONTINUOUS_DAILY)
    assert daily["ES.c.1"]["state"] == "certified"
    # The daily row of the short series carries the counts of its minutes and their contract.
    assert daily["ES.c.0"]["state"] == "failed"
    assert daily["ES.c.0"]["reason"] == (
        f"input {CONTINUOUS_1M} FAILED: 1,352 of 1,380 minutes of {FRONT}"
    )


def test_reads_of_the_next_contracts_series_say_certified(home: Path) -> None:
    spine = Spine(home, warn_empty=False)
    bars = spine.bars("ES.c.1", DAY)
    assert bars["contract"].unique().to_list() == [NEXT]
    assert bars["certification"].unique().to_list() == ["certified"]
    assert spine.daily("ES.c.1", DAY)["certification"].to_list() == ["certified"]
    assert spine.bars("ES.c.0", DAY)["certification"].unique().to_list() == ["failed"]
    with serving(home) as client:
        whole = client.get("/v1/bars", params={"symbol": "ES.c.1", "start": DAY.isoformat()})
        assert whole.status_code == 200, whole.text
        assert whole.headers["X-Certification"] == "certified"
        short = client.get("/v1/bars", params={"symbol": "ES.c.0", "start": DAY.isoformat()})
        assert short.headers["X-Certification"] == "failed"
        tiles = client.get("/v1/readiness", params={"symbol": "ES.c.1", "start": str(DAY)})
        assert tiles.status_code == 200, tiles.text
        states = {
            (r["dataset"], r["symbol"]): r["state"]
            for r in tiles.json()["data"]
            if r["symbol"] == "ES.c.1"
        }
        assert states == {
            (CONTINUOUS_1M, "ES.c.1"): "certified",
            (CONTINUOUS_DAILY, "ES.c.1"): "certified",
        }
