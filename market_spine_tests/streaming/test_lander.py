"""The stream lands minutes without judging them: a minute landed into a session that was
already certified revises it (a transition naming the stream) and withdraws what was computed
from it, until the next capture judges it again; minutes of a live session touch no
certification."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from market_spine.certification.tables import CERTIFICATIONS
from market_spine.client import Spine
from market_spine.futures import keys
from market_spine.lake import Lake
from market_spine.streaming.lander import land_minutes
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import futures_day

DAY = date(2024, 3, 5)
CLOSE = datetime(2024, 3, 5, 22, tzinfo=UTC)  # CL's session end that day
AFTER, DURING = "2024-03-06T12:00:00Z", datetime(2024, 3, 5, 15, 30, tzinfo=UTC)
NORMALIZED, DAILY = keys.table(keys.NORMALIZED_BARS), keys.table(keys.DAILY_BARS)


def states(home: Path) -> dict[str, str]:
    ready = Spine(home, warn_empty=False).readiness(symbols="CL", now=CLOSE)
    return dict(ready.filter(pl.col("trade_date") == DAY).select("dataset", "state").iter_rows())


def a_changed_minute(lake: Lake) -> list[dict]:
    """The session's 15:00 UTC minute as the stream would land it, a tick higher."""
    [minute] = (
        lake.read(NORMALIZED, equals={"symbol": "CL"})
        .filter(pl.col("ts") == datetime(2024, 3, 5, 15, tzinfo=UTC))
        .with_columns(close=pl.col("close") + 0.01, high=pl.col("high") + 0.01)
        .to_dicts()
    )
    return [minute]


def test_a_minute_landed_into_a_certified_session_revises_it(
    home: Path, instance: dg.DagsterInstance
) -> None:
    settings = settings_for(home)
    futures_day(settings, instance, DAY, AFTER)
    assert states(home)[NORMALIZED] == states(home)[DAILY] == "certified"
    lake = Lake(home / "lake")
    minute = a_changed_minute(lake)

    # While the session is live its data is not final: landing records nothing.
    land_minutes(lake, minute, {"source": "ib-realtime"}, now=DURING)
    minutes = pl.col("dataset") == NORMALIZED
    assert lake.read(CERTIFICATIONS).filter(minutes).height == 1
    assert states(home)[NORMALIZED] == "certified"

    land_minutes(lake, minute, {"source": "ib"}, now=datetime(2024, 3, 6, 12, tzinfo=UTC))
    last = lake.read(CERTIFICATIONS).filter(minutes).sort("recorded_at").to_dicts()[-1]
    assert (last["previous_state"], last["state"], last["run_id"]) == ("certified", "revised", "ib")
    assert "changed by ib" in last["reason"]
    assert last["delta_version"] == lake.version(NORMALIZED)
    found = states(home)
    assert found[NORMALIZED] == "revised" and "certified" not in found.values()
    spine = Spine(home, warn_empty=False)
    assert set(spine.bars("CL", DAY)["certification"]) == {"revised"}

    # The next clean captures judge it again: the stream's minute is replaced (a revision),
    # then certified once nothing changes.
    futures_day(settings, instance, DAY, AFTER)
    futures_day(settings, instance, DAY, AFTER)
    assert states(home) == dict.fromkeys(found, "certified")
