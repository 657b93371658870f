"""Withdrawing the certification of derived partitions whose input is no longer certified: the
lineage each domain declares, and the readiness rows that supersede a derived partition's
certified one, on a real Delta lake."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from market_spine.certification import ledger
from market_spine.certification.readiness import Readiness, ReadinessQuery
from market_spine.certification.rules import State
from market_spine.certification.withdrawal import dependents, withdrawn
from market_spine.futures import catalog as futures
from market_spine.lake import Lake
from market_spine.options import catalog as options

DAY = date(2024, 3, 5)
AT = datetime(2024, 3, 6, 12, tzinfo=UTC)
MINUTES, DAILY, SERIES = "normalized/minutes", "analytics/daily", "analytics/series"


def row(dataset: str, partition: str, state: str, at: datetime, symbol: str = "CL") -> dict:
    return {
        "dataset": dataset,
        "partition": partition,
        "trade_date": DAY,
        "symbol": symbol,
        "state": state,
        "unit": "days",
        "expected": 1,
        "present": 1,
        "missing": 0,
        "capture_id": "01HRZ6Q7V0000000000000000A",
        "computed_at": at,
        "run_id": "first",
    }


def test_dependents_follow_the_lineage_through_every_step() -> None:
    lineage = {DAILY: (MINUTES,), SERIES: (DAILY,), "analytics/other": ("raw/else",)}
    assert dependents(MINUTES, lineage) == (DAILY, SERIES)
    assert dependents(SERIES, lineage) == ()
    assert dependents(futures.NORMALIZED_BARS_SPEC.name, futures.CERTIFIED_FROM) == (
        futures.DAILY_BARS_SPEC.name,
        futures.CONTINUOUS_BARS_SPEC.name,
        futures.CONTINUOUS_DAILY_SPEC.name,
    )
    assert dependents(options.NORMALIZED_CHAIN_SPEC.name, options.CERTIFIED_FROM) == (
        options.GREEKS_SPEC.name,
        options.SURFACE_SPEC.name,
    )


def test_a_fallen_input_makes_only_its_certified_dependents_preliminary(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    earlier = AT - timedelta(hours=1)
    ledger.record(
        lake,
        [],
        [],
        [],
        "first",
        [
            row(DAILY, "2024-03-05|CL", "certified", earlier),
            row(SERIES, "2024-03-05|CL", "preliminary", earlier),
            row(DAILY, "2024-03-05|NG", "certified", earlier, "NG"),
        ],
    )
    states = {"2024-03-05|CL": State.FAILED, "2024-03-05|NG": State.CERTIFIED}
    days = dict.fromkeys(states, DAY)
    rows = withdrawn(lake, states, days, (DAILY, SERIES), "second", AT)
    # Only the certified daily partition over the failed input falls, failed with it; the
    # rest stand.
    assert [(r["dataset"], r["partition"], r["state"]) for r in rows] == [
        (DAILY, "2024-03-05|CL", "failed")
    ]
    [fallen] = rows
    assert (fallen["run_id"], fallen["computed_at"], fallen["present"]) == ("second", AT, 1)
    ledger.record(lake, [], [], [], "second", rows)
    ready = Readiness(lake).read(ReadinessQuery((DAILY,), None, None, None), AT)
    assert dict(ready.select("symbol", "state").iter_rows()) == {
        "CL": "failed",
        "NG": "certified",
    }
    # Nothing certified is left over the failed input: a second judgment adds nothing.
    assert withdrawn(lake, states, days, (DAILY, SERIES), "third", AT) == []


def test_nothing_is_read_while_every_input_is_certified(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")  # no readiness log at all
    assert (
        withdrawn(lake, {"2024-03-05|CL": State.FAILED}, {"2024-03-05|CL": DAY}, (DAILY,), "r", AT)
        == []
    )
    assert withdrawn(lake, {"k": State.CERTIFIED}, {"k": DAY}, (DAILY,), "r", AT) == []


def test_a_withdrawn_partition_keeps_its_own_counts_and_its_reason_names_the_input(
    tmp_path: Path,
) -> None:
    lake = Lake(tmp_path / "lake")
    ledger.record(lake, [], [], [], "first", [row(DAILY, "2024-03-05|CL", "certified", AT)])
    minutes = {
        **row(MINUTES, "2024-03-05|CL", "failed", AT),
        "unit": "minutes",
        "expected": 1380,
        "present": 120,
        "missing": 1260,
    }
    keys = {"2024-03-05|CL": DAY}
    [failed] = withdrawn(
        lake,
        {"2024-03-05|CL": State.FAILED},
        keys,
        (DAILY,),
        "second",
        AT,
        counts=[minutes],
        source=MINUTES,
    )
    # The day's own count; the minutes it stands on are the input's, named in the reason.
    assert (failed["state"], failed["unit"], failed["present"], failed["expected"]) == (
        "failed",
        "days",
        1,
        1,
    )
    assert failed["reason"] == f"input {MINUTES} FAILED: 120 of 1,380 minutes"
    # An input revised, not failed, leaves what was computed from it preliminary.
    [revised] = withdrawn(
        lake, {"2024-03-05|CL": State.REVISED}, keys, (DAILY,), "third", AT, source=MINUTES
    )
    assert (revised["state"], revised["unit"], revised["present"]) == ("preliminary", "days", 1)
    assert revised["reason"] == f"computed from uncertified input: {MINUTES} is revised"


def test_a_series_judged_apart_stands_where_its_own_input_series_does(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    key = "2024-03-05|ES"
    ledger.record(
        lake,
        [],
        [],
        [],
        "first",
        [row(DAILY, key, "certified", AT, s) for s in ("ES.c.0", "ES.c.1")],
    )
    minutes = [
        {**row(MINUTES, key, state, AT, s), "expected": 1380, "missing": missing}
        for s, state, missing in (("ES.c.0", "failed", 1260), ("ES.c.1", "certified", 0))
    ]
    rows = withdrawn(
        lake,
        {key: State.FAILED},
        {key: DAY},
        (DAILY,),
        "second",
        AT,
        counts=minutes,
        source=MINUTES,
    )
    assert [(r["symbol"], r["state"], r["reason"]) for r in rows] == [
        ("ES.c.0", "failed", f"input {MINUTES} FAILED: 120 of 1,380 days")
    ]
