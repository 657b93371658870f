"""A vendor file of one contract for a session: the continuous series that hold it are judged on
their own (complete: certified), those holding the absent next contract are named with it, and
an empty read of them says which contract to import rather than advising a `process` that would
replace the imported day. Real Delta lake, Dagster instance and API served on loopback."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.client import Spine
from market_spine.futures import keys
from market_spine.runs.vendor_import import import_bars
from market_spine_tests.futures.test_capture_guard import vendor_csv
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

#: Before ES's March roll (2024-03-07): the front month is ESH4, the next ESM4, and after it
#: ESU4 (the volume series' second rank inside the roll window).
DAY = date(2024, 3, 5)
FRONT, NEXT = "ESH4", "ESM4"
CONTINUOUS = keys.table(keys.CONTINUOUS_BARS)
CONTINUOUS_DAILY = keys.table(keys.CONTINUOUS_DAILY)
LATER = datetime(2024, 3, 12, tzinfo=UTC)


def states(home: Path, series: str = "ES.c.0") -> dict[str, str]:
    """Each dataset's state on DAY: the root's, and `series`' for the continuous datasets."""
    ready = Spine(home, warn_empty=False).readiness(symbols="ES", now=LATER)
    mine = (pl.col("trade_date") == DAY) & pl.col("symbol").is_in(["ES", series])
    return dict(ready.filter(mine).select("dataset", "state").iter_rows())


@pytest.fixture
def imported(home: Path, instance: dg.DagsterInstance, tmp_path: Path) -> Path:
    """A home where a partial file of the front month was imported, then its complete day."""
    settings = settings_for(home)
    partial = import_bars(
        settings, vendor_csv(tmp_path / "cut.csv", DAY, FRONT, 120), "ES", instance=instance
    )
    assert states(home)[CONTINUOUS] == "failed", partial.checks
    full = import_bars(
        settings, vendor_csv(tmp_path / "h4.csv", DAY, FRONT), "ES", instance=instance
    )
    assert full.success
    return home


def test_a_one_contract_day_certifies_the_series_that_hold_it_and_names_the_absent_contract(
    imported: Path, instance: dg.DagsterInstance
) -> None:
    assert states(imported)[CONTINUOUS] == "certified"
    assert states(imported)[CONTINUOUS_DAILY] == "certified"
    # The series holding the absent next contract are missing: preliminary, never failed.
    assert states(imported, "ES.c.1")[CONTINUOUS] == "preliminary"
    assert states(imported, "ES.c.1")[CONTINUOUS_DAILY] == "preliminary"
    [record] = instance.fetch_materializations(dg.AssetKey(CONTINUOUS.split("/")), limit=1).records
    run_id = record.run_id
    evaluations = [
        r.dagster_event.event_specific_data
        for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    ]
    [minutes] = [
        e
        for e in evaluations
        if e.check_name == "completeness" and e.asset_key.path[-1] == "futures_continuous_1m"
    ]
    assert minutes.passed
    absent = {a["series"]: a for a in minutes.metadata["absent"].value}
    assert set(absent) == {"ES.c.1", "ES.v.1"}
    assert absent["ES.c.1"]["contract"] == NEXT
    assert absent["ES.c.1"]["reason"].startswith(
        f"no bars for {NEXT}, the next contract after {FRONT}, on {DAY}: import it"
    )
    # Only the series that hold the imported contract are counted: c.0 and v.0, whole.
    assert minutes.metadata["series"].value == 2
    assert minutes.metadata["missing_minutes"].value == 0


def test_a_series_whose_contract_is_only_partly_there_is_still_incomplete(
    imported: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    cut = vendor_csv(tmp_path / "m4-cut.csv", DAY, NEXT, 120)
    report = import_bars(settings_for(imported), cut, NEXT, instance=instance)
    assert states(imported, "ES.c.1")[CONTINUOUS] == "failed"
    found = [
        c
        for c in report.checks
        if c.asset == CONTINUOUS and c.check == "completeness" and not c.passed
    ]
    assert found and found[0].metadata["worst"][0]["series"] == "ES.c.1"


def test_an_empty_read_of_the_next_contracts_series_names_it_and_no_process(
    imported: Path,
) -> None:
    spine = Spine(imported, warn_empty=False)
    assert spine.bars("ES.c.1", str(DAY)).is_empty()
    reason = spine.empty_reason(CONTINUOUS, "ES.c.1", str(DAY))
    assert reason.detail.startswith(
        f"no bars for {NEXT}, the next contract after {FRONT}, on {DAY}: import it"
    )
    assert "process" not in reason.detail
    with serving(imported) as client:
        answer = client.get("/v1/bars", params={"symbol": "ES.c.1", "start": str(DAY)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["data"] == [] and body["empty_reason"]["detail"] == reason.detail
        daily = client.get("/v1/bars/daily", params={"symbol": "ES.c.1", "start": str(DAY)})
        assert NEXT in daily.json()["empty_reason"]["detail"]
        # Asked by the contract's own name: the import, not a capture that would be refused.
        contract = client.get("/v1/bars", params={"symbol": NEXT, "start": str(DAY)})
        assert contract.status_code == 422, contract.text
        said = contract.json()["error"]
        assert f"on {DAY} {NEXT} is ES.c.1, but the lake holds no {NEXT} bars" in said
        assert (
            f"import a vendor file of them with `market-spine import bars FILE --symbol {NEXT}`"
            in said
        )
        assert "process" not in said
        # No roll falls in the range: the empty roll table says so, naming the next one.
        rolls = client.get(
            "/v1/bars/rolls", params={"symbol": "ES", "start": "2024-03-01", "end": str(DAY)}
        )
        assert rolls.status_code == 200, rolls.text
        assert rolls.json()["data"] == []
        why = rolls.json()["empty_reason"]
        assert why["code"] == "no_roll"
        assert "2024-03-07 (ESH4 → ESM4)" in why["detail"]
        assert rolls.headers["X-Empty-Reason"] == "no_roll"


def test_a_day_holding_only_the_next_contract_serves_the_root_nothing_and_says_so(
    home: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    settings = settings_for(home)
    import_bars(settings, vendor_csv(tmp_path / "m4.csv", DAY, NEXT), NEXT, instance=instance)
    spine = Spine(home, warn_empty=False)
    assert spine.bars("ES", str(DAY)).is_empty()
    assert spine.bars("ES.c.1", str(DAY))["contract"].unique().to_list() == [NEXT]
    reason = spine.empty_reason(keys.table(keys.NORMALIZED_BARS), "ES", str(DAY))
    assert reason.detail.startswith(
        f"no bars for {FRONT}, the front contract of ES by the roll rule, on {DAY}: ES serves "
        "no other month in its place"
    )
    assert f"--symbol {FRONT}" in reason.detail
    ready = Spine(home, warn_empty=False).readiness(symbols="ES", now=LATER)
    root = ready.filter(
        (pl.col("dataset") == keys.table(keys.NORMALIZED_BARS)) & (pl.col("symbol") == "ES")
    ).row(0, named=True)
    # Missing, not failed: no bar of the front, and the reason says which and how to load it.
    assert (root["state"], root["present"], root["completeness"]) == ("preliminary", 0, 0.0)
    assert root["reason"].startswith(f"no bars for {FRONT}, the front contract of ES")


def _series_rows(home: Path, day: date) -> dict[str, dict[str, object]]:
    ready = Spine(home, warn_empty=False).readiness(symbols="ES", now=LATER)
    rows = ready.filter((pl.col("dataset") == CONTINUOUS) & (pl.col("trade_date") == day))
    return {r["symbol"]: r for r in rows.to_dicts()}


def test_a_series_without_its_contract_is_missing_not_failed_and_its_data_supersedes_it(
    home: Path, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    # Outside the roll window: c.0 and v.0 hold ESH4, c.1 and v.1 ESM4; ESU4 is held by none.
    day = date(2024, 2, 27)
    settings = settings_for(home)
    import_bars(settings, vendor_csv(tmp_path / "u4.csv", day, "ESU4"), "ESU4", instance=instance)
    every = _series_rows(home, day)
    assert set(every) == {"ES.c.0", "ES.c.1", "ES.v.0", "ES.v.1"}
    for name, row in every.items():
        assert row["state"] == "preliminary", (name, row["reason"])
        assert row["completeness"] == 0.0 and row["present"] == 0
    assert every["ES.c.1"]["reason"].startswith(f"no bars for {NEXT}, the next contract after")
    import_bars(settings, vendor_csv(tmp_path / "h4.csv", day, FRONT), FRONT, instance=instance)
    after = _series_rows(home, day)
    assert after["ES.c.0"]["state"] == "certified"
    assert after["ES.c.1"]["state"] == "preliminary"
    assert after["ES.c.1"]["reason"].startswith(f"no bars for {NEXT}")
    import_bars(settings, vendor_csv(tmp_path / "m4.csv", day, NEXT), NEXT, instance=instance)
    assert {n: r["state"] for n, r in _series_rows(home, day).items()} == dict.fromkeys(
        every, "certified"
    )
