"""A root's continuous series judged apart, on a home processed for real (Dagster, Delta lake):
one series that lost minutes fails alone, and reads of a complete series (Spine frames, the
API's `X-Certification`, readiness) carry that series' own state and counts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.certification.certify import Judged, Partition
from market_spine.certification.derived import judge_derived
from market_spine.certification.tables import CERTIFICATIONS
from market_spine.client import BARS_1M, CONTINUOUS_1M, CONTINUOUS_DAILY, Spine
from market_spine.futures import checks
from market_spine.futures.continuous_bars import series_completeness
from market_spine.futures.partitions import partition_key
from market_spine.futures.schemas import ROLLS
from market_spine.markets.calendars import data_final_at
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import futures_day

DAY = date(2024, 3, 5)
KEY = str(partition_key(DAY, "CL"))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CL's session captured after its close (every series certified), then its continuous
    minutes judged again over rows of which CL.c.0 lost an hour."""
    home = tmp_path_factory.mktemp("series") / "home"
    with dg.instance_for_test() as instance:
        futures_day(settings_for(home), instance, DAY, "2024-03-06T12:00:00Z", [])
    lake = Spine(home, warn_empty=False).lake
    rows = lake.read(CONTINUOUS_1M, equals={"symbol": "CL"}, between={"trade_date": (DAY, DAY)})
    start = rows["ts"].min()
    gap = (
        (pl.col("series") == "CL.c.0")
        & (pl.col("ts") >= start + pl.duration(hours=3))
        & (pl.col("ts") < start + pl.duration(hours=4))
    )
    short = rows.filter(~gap)
    verdicts = checks.judge_rolls_partitions(
        checks.CONTINUOUS_BARS_CHECKS, short, pl.DataFrame(schema=ROLLS), [("CL", DAY)]
    )
    partition = Partition(KEY, DAY, "CL", ("CL", DAY), data_final_at("CL", DAY))
    selected = {c.name for c in checks.CONTINUOUS_BARS_CHECKS}
    judge_derived(
        lake,
        CONTINUOUS_1M,
        (BARS_1M,),
        "series-run",
        [partition],
        ("symbol", "trade_date"),
        short,
        Judged(checks.CONTINUOUS_BARS_CHECKS, verdicts, selected),
        datetime(2024, 3, 6, 12, 30, tzinfo=UTC),
        {KEY: series_completeness(partition, verdicts[KEY], short)},
        (CONTINUOUS_DAILY,),
    )
    return home


def test_one_incomplete_series_fails_alone_with_its_own_counts(home: Path) -> None:
    spine = Spine(home, warn_empty=False)
    ready = spine.readiness(dataset=CONTINUOUS_1M, symbols="CL")
    found = {r["symbol"]: r for r in ready.to_dicts()}
    assert found["CL.c.0"]["state"] == "failed"
    assert found["CL.c.0"]["reason"] == "certifying check failed: completeness"
    # Its own minutes, not the captured bars' (which lost none).
    bars = spine.readiness(dataset=BARS_1M, symbols="CL").row(0, named=True)
    assert (bars["state"], bars["missing"]) == ("certified", 0)
    assert found["CL.c.0"]["missing"] == 60
    assert found["CL.c.0"]["present"] == found["CL.c.0"]["expected"] - 60
    assert {s: r["state"] for s, r in found.items() if s != "CL.c.0"} == {
        "CL.c.1": "certified",
        "CL.v.0": "certified",
        "CL.v.1": "certified",
    }
    assert all(r["missing"] == 0 for s, r in found.items() if s != "CL.c.0")
    # The fallen series withdraws its own daily row only.
    daily = spine.readiness(dataset=CONTINUOUS_DAILY, symbols="CL")
    assert dict(daily.select("symbol", "state").iter_rows()) == {
        "CL.c.0": "failed",
        "CL.c.1": "certified",
        "CL.v.0": "certified",
        "CL.v.1": "certified",
    }
    transitions = spine.lake.read(CERTIFICATIONS).filter(pl.col("run_id") == "series-run")
    assert sorted(transitions.select("dataset", "symbol", "previous_state", "state").rows()) == [
        (CONTINUOUS_DAILY, "CL.c.0", "certified", "failed"),
        (CONTINUOUS_1M, "CL.c.0", "certified", "failed"),
    ]


def test_reads_of_a_series_carry_its_own_state(home: Path) -> None:
    spine = Spine(home, warn_empty=False)
    assert spine.bars("CL.c.1", DAY)["certification"].unique().to_list() == ["certified"]
    assert spine.bars("CL.c.0", DAY)["certification"].unique().to_list() == ["failed"]
    assert spine.daily("CL.c.1", DAY)["certification"].to_list() == ["certified"]
    assert spine.bars("CL.c.1", DAY, certified_only=True).height > 0
    with serving(home) as client:
        whole = client.get("/v1/bars", params={"symbol": "CL.c.1", "start": DAY.isoformat()})
        assert whole.status_code == 200 and whole.headers["X-Certification"] == "certified"
        short = client.get("/v1/bars", params={"symbol": "CL.c.0", "start": DAY.isoformat()})
        assert short.headers["X-Certification"] == "failed"
