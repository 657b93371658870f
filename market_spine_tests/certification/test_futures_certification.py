"""Certification of futures partitions through a real Dagster instance and Delta lake: each
transition a partition goes through, recorded in operations/certifications, with its revisions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from market_spine.catalog.registry import drift
from market_spine.certification import judgment_index, ledger
from market_spine.certification.certify import CERTIFIED_CHECK
from market_spine.certification.tables import (
    CERTIFICATIONS,
    READINESS_LOG,
    REVISION_ROWS,
    REVISIONS,
)
from market_spine.client import Spine
from market_spine.errors import LakeError
from market_spine.futures import keys, normalized_bars
from market_spine.futures.partitions import partition_key
from market_spine.lake import Lake
from market_spine.lake import store as store_module
from market_spine.lake.integrity import Ledger
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import domain_assets, resources
from market_spine.streaming.lander import land_minutes, new_capture_id
from market_spine.version import package_version
from market_spine_tests.kit.home_copies import copied_with_instance, kept_instance
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)
LIVE = "2024-03-05T15:30:00Z"  # during CL's session (it closes at 22:00 UTC)
NEXT_MORNING = "2024-03-06T12:00:00Z"


def run(home: Path, instance: dg.DagsterInstance, now: str, **market) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        domain_assets(settings_for(home), "futures"),
        partition_key=partition_key(DAY, "CL"),
        resources=resources(settings_for(home), MarketDataResource(frozen_now=now, **market)),
        instance=instance,
        raise_on_error=False,
    )


@pytest.fixture(scope="module")
def _certified_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a home (`home`) and its Dagster instance (`dagster`) after one clean
    capture of DAY the next morning: the first step of most tests, run once."""
    prepared = tmp_path_factory.mktemp("certified")
    with kept_instance(prepared) as instance:
        assert run(prepared / "home", instance, NEXT_MORNING).success
    return prepared


@pytest.fixture
def certified(_certified_once: Path, tmp_path: Path) -> Iterator[tuple[Path, dg.DagsterInstance]]:
    """A home and its instance as `run(home, instance, NEXT_MORNING)` left them (certified):
    a copy of `_certified_once`, so each test changes its own."""
    with copied_with_instance(_certified_once, tmp_path / "certified") as copied:
        yield copied


def certified_check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    [found] = [e for e in result.get_asset_check_evaluations() if e.check_name == CERTIFIED_CHECK]
    return found


def state_metadata(result: dg.ExecuteInProcessResult) -> str:
    [event] = [
        e for e in result.get_asset_materialization_events() if e.asset_key == keys.NORMALIZED_BARS
    ]
    return event.materialization.metadata["certification"].value


def transitions(home: Path) -> pl.DataFrame:
    """The minute bars' transitions (those computed from them record their own)."""
    rows = Lake(home / "lake").read(CERTIFICATIONS)
    return rows.filter(pl.col("dataset") == keys.table(keys.NORMALIZED_BARS)).sort("recorded_at")


def revisions(home: Path) -> pl.DataFrame:
    """The minute bars' revisions (those computed from them record their own)."""
    lake = Lake(home / "lake")
    if not lake.exists(REVISIONS):
        return pl.DataFrame()
    rows = lake.read(REVISIONS).filter(pl.col("dataset") == keys.table(keys.NORMALIZED_BARS))
    return rows.sort("recorded_at")


def test_a_live_capture_is_preliminary_and_the_next_clean_capture_certifies_it(
    home, instance
) -> None:
    live = run(home, instance, LIVE)
    assert live.success
    check = certified_check(live)
    # A live session's data is preliminary: shown, never a failure.
    assert check.passed and check.metadata["state"].value == "preliminary"
    assert state_metadata(live) == "preliminary"
    [first] = transitions(home).to_dicts()
    assert first["state"] == "preliminary" and first["previous_state"] is None
    assert first["partition"] == "2024-03-05|CL" and first["symbol"] == "CL"
    assert "before the data became final at 2024-03-05T22:00:00Z" in first["reason"]
    assert first["run_id"] == live.run_id and first["code_version"] == package_version()
    assert first["delta_version"] == 0 and first["capture_id"]
    assert json.loads(first["checks_json"])["validity"] == {
        "passed": True,
        "blocking": True,
        "certifying": False,
    }

    final = run(home, instance, NEXT_MORNING)
    assert certified_check(final).passed and state_metadata(final) == "certified"
    second = transitions(home).to_dicts()[-1]
    assert (second["previous_state"], second["state"]) == ("preliminary", "certified")
    assert second["delta_version"] == 1 and second["run_id"] == final.run_id
    # The rest of the session arrived: a revision of the preliminary data, minutes added only.
    [revision] = revisions(home).to_dicts()
    assert revision["rows_added"] > 0 and revision["rows_removed"] == 0
    assert (revision["old_version"], revision["new_version"]) == (0, 1)
    assert revision["old_capture_id"] == first["capture_id"]
    assert revision["new_capture_id"] == second["capture_id"]

    again = run(home, instance, NEXT_MORNING)
    assert certified_check(again).passed
    assert transitions(home).height == 2  # unchanged and still certified: nothing to record
    assert revisions(home).height == 1  # and a replacement that changed nothing is no revision


def test_certified_data_that_changes_is_revised_then_recertified(certified) -> None:
    home, instance = certified
    spiked = run(home, instance, NEXT_MORNING, defects=["spikes"])
    check = certified_check(spiked)
    assert check.passed and check.metadata["state"].value == "revised"
    [revision] = revisions(home).to_dicts()
    assert revision["rows_changed"] > 0 and revision["rows_added"] == 0
    changes = json.loads(revision["column_changes_json"])
    assert "close" in revision["columns"].split(",") and changes["close"]["max_abs_change"]
    rows = Lake(home / "lake").read(REVISION_ROWS)
    detail = rows.filter(pl.col("dataset") == keys.table(keys.NORMALIZED_BARS))
    assert set(detail["revision_id"]) == {revision["revision_id"]}
    assert detail.filter(pl.col("column") == "close").height == changes["close"]["rows"]

    restored = run(home, instance, NEXT_MORNING)  # the spikes are gone: changed again
    assert certified_check(restored).metadata["state"].value == "revised"
    recertified = run(home, instance, NEXT_MORNING)  # a clean capture, nothing changed
    assert certified_check(recertified).passed
    states = transitions(home)["state"].to_list()
    assert states == ["certified", "revised", "revised", "certified"]
    assert "re-certified" in transitions(home)["reason"][-1]
    assert revisions(home).height == 2
    assert drift(Lake(home / "lake")) == {}  # the trust tables are stored as declared


def _stream_over(home: Path, first: datetime, last: datetime, **nudged: pl.Expr) -> None:
    """Land the stored minutes [first, last] of CL again as the stream would, under its own
    capture, with `nudged` columns replaced (live, so nothing is final yet)."""
    lake = Lake(home / "lake")
    rows = lake.read(keys.table(keys.NORMALIZED_BARS), equals={"symbol": "CL"}).filter(
        pl.col("ts").is_between(first, last)
    )
    streamed = rows.with_columns(capture_id=pl.lit(new_capture_id()), **nudged)
    land_minutes(lake, streamed.to_dicts(), {"source": "ib-realtime"}, now=last)


def test_a_capture_over_streamed_minutes_differing_only_in_vwap_is_no_revision(
    home, instance
) -> None:
    later = "2024-03-05T15:45:00Z"
    first, last = datetime(2024, 3, 5, 15, 30, tzinfo=UTC), datetime(2024, 3, 5, 15, 44, tzinfo=UTC)
    assert run(home, instance, later).success
    # The stream's vwap comes from its 5-second bars: a hair off the history's, as is its
    # trade count; the OHLCV are the same.
    _stream_over(home, first, last, vwap=pl.col("vwap") * 1.0001, trades=pl.col("trades") + 1)
    again = run(home, instance, later)
    assert certified_check(again).metadata["state"].value == "preliminary"
    assert revisions(home).is_empty()
    stored = Lake(home / "lake").read(keys.table(keys.NORMALIZED_BARS), equals={"symbol": "CL"})
    assert stored.filter(pl.col("ts").is_between(first, last))["capture_id"].n_unique() == 1

    # A close the stream got differently is a revision, naming the close alone.
    _stream_over(home, first, first, vwap=pl.col("vwap") * 1.0001, close=pl.col("low"))
    assert run(home, instance, later).success
    [revision] = revisions(home).to_dicts()
    assert revision["columns"] == "close" and revision["rows_changed"] == 1


def test_a_failed_blocking_check_fails_the_partition(certified) -> None:
    home, instance = certified
    crossed = run(home, instance, NEXT_MORNING, defects=["crossed"])
    assert not crossed.success  # the blocking validity check stops the daily bars
    check = certified_check(crossed)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    last = transitions(home).to_dicts()[-1]
    assert (last["previous_state"], last["state"]) == ("certified", "failed")
    assert last["reason"] == "certifying check failed: validity"


def readiness_states(home: Path) -> dict[str, str]:
    """Each futures dataset's state of CL on DAY, by the one readiness query."""
    ready = Spine(home, warn_empty=False).readiness(
        symbols="CL", now=datetime(2024, 3, 7, tzinfo=UTC)
    )
    return dict(ready.filter(pl.col("trade_date") == DAY).select("dataset", "state").iter_rows())


FUTURES = tuple(
    keys.table(k)
    for k in (keys.NORMALIZED_BARS, keys.DAILY_BARS, keys.CONTINUOUS_BARS, keys.CONTINUOUS_DAILY)
)


def test_missing_minutes_fail_the_partition_though_they_stop_nothing(certified) -> None:
    home, instance = certified
    gappy = run(home, instance, NEXT_MORNING, defects=["gaps"])
    # Completeness stops no asset (the other days of a range still flow on) ...
    assert gappy.success
    # ... but a capture that lost minutes is no certified data.
    check = certified_check(gappy)
    assert not check.passed and check.metadata["state"].value == "failed"
    last = transitions(home).to_dicts()[-1]
    assert (last["previous_state"], last["state"]) == ("certified", "failed")
    assert last["reason"] == "certifying check failed: completeness"
    assert json.loads(last["checks_json"])["completeness"] == {
        "passed": False,
        "blocking": False,
        "certifying": True,
    }
    found = readiness_states(home)
    assert found[keys.table(keys.NORMALIZED_BARS)] == "failed"
    assert found[keys.table(keys.DAILY_BARS)] == "failed"
    # Every contract's capture lost minutes: every series fails on its own.
    assert "certified" not in found.values()


def test_a_partition_stopped_by_its_blocking_check_withdraws_what_was_computed_from_it(
    certified,
) -> None:
    home, instance = certified
    assert readiness_states(home) == dict.fromkeys(FUTURES, "certified")
    crossed = run(home, instance, NEXT_MORNING, defects=["crossed"])
    # Validity stops the daily bars: they are not computed again, yet the minutes they were
    # computed from failed, so they are certified no longer.
    materialized = {e.asset_key for e in crossed.get_asset_materialization_events()}
    assert keys.DAILY_BARS not in materialized
    found = readiness_states(home)
    assert found[keys.table(keys.NORMALIZED_BARS)] == "failed"
    assert found[keys.table(keys.DAILY_BARS)] == "failed"
    # The series built from the failed front month fall with it; those holding the next
    # contract keep the judgment of their own, unchanged rows: the front says nothing of them.
    series = Spine(home, warn_empty=False).readiness(
        dataset=[keys.table(keys.CONTINUOUS_BARS), keys.table(keys.CONTINUOUS_DAILY)],
        symbols="CL",
        now=datetime(2024, 3, 7, tzinfo=UTC),
    )
    by_series = {
        (r["dataset"], r["symbol"]): r["state"]
        for r in series.filter(pl.col("trade_date") == DAY).to_dicts()
    }
    assert {k: v for k, v in by_series.items() if k[1].endswith(".0")} == {
        k: "failed" for k in by_series if k[1].endswith(".0")
    }
    assert {v for k, v in by_series.items() if k[1].endswith(".1")} == {"certified"}
    # The next clean capture certifies every one of them again.
    assert run(home, instance, NEXT_MORNING).success
    assert readiness_states(home) == dict.fromkeys(FUTURES, "certified")


def test_a_change_written_by_a_run_that_crashed_before_certifying_is_still_a_revision(
    certified, monkeypatch
) -> None:
    home, instance = certified
    [judged] = transitions(home).to_dicts()
    assert judged["state"] == "certified"

    def crash(*_, **__):
        raise RuntimeError("the step died after its data commit")

    # The spiked capture is committed, then the step dies before certification records.
    monkeypatch.setattr(normalized_bars, "certify", crash)
    assert not run(home, instance, NEXT_MORNING, defects=["spikes"]).success
    monkeypatch.undo()
    lake = Lake(home / "lake")
    crashed_version = lake.version(keys.table(keys.NORMALIZED_BARS))
    assert crashed_version is not None and crashed_version > judged["delta_version"]

    # The next capture holds the same spikes as the crashed one: against the rows the crash
    # left nothing changed, against the certified ones the spikes are a revision.
    again = run(home, instance, NEXT_MORNING, defects=["spikes"])
    assert certified_check(again).metadata["state"].value == "revised"
    [revision] = revisions(home).to_dicts()
    assert revision["old_version"] == judged["delta_version"]
    assert revision["old_capture_id"] == judged["capture_id"]
    assert revision["new_version"] > crashed_version
    assert "close" in revision["columns"].split(",") and revision["rows_changed"] > 0
    last = transitions(home).to_dicts()[-1]
    assert (last["previous_state"], last["state"]) == ("certified", "revised")


def test_a_rerun_takes_the_prior_state_from_the_judgment_and_asks_transitions_only_without_one(
    certified, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The newest judgment carries the state a partition is in, so an unchanged rerun never
    reads the transitions table; with its judgments gone (retention drops them), the
    transitions say, and the rerun records no new first certification."""
    home, instance = certified
    asked: list[list[str]] = []
    real = ledger.current_states

    def spied(lake: Lake, dataset: str, *args: Any, **kwargs: Any) -> dict:
        asked.append(list(args[2] if len(args) > 2 else kwargs.get("partitions") or []))
        return real(lake, dataset, *args, **kwargs)

    monkeypatch.setattr(ledger, "current_states", spied)
    assert certified_check(run(home, instance, NEXT_MORNING)).passed
    assert asked == []
    lake = Lake(home / "lake")
    minutes = keys.table(keys.NORMALIZED_BARS)
    judged = lake.read(READINESS_LOG, equals={"dataset": minutes})
    window = (judged["trade_date"].min(), judged["trade_date"].max())
    judgment_index.drop(lake, minutes, window, judged["partition"].unique().to_list(), {})
    assert certified_check(run(home, instance, NEXT_MORNING)).passed
    assert asked == [[partition_key(DAY, "CL")]]
    assert transitions(home)["state"].to_list() == ["certified"]


def test_a_first_write_asks_no_transitions_table(home, instance, monkeypatch) -> None:
    """A partition that held no rows and has no judgment is a first write: its prior is none,
    known without opening the transitions table."""
    asked: list[str] = []
    real = ledger.current_states

    def spied(lake: Lake, dataset: str, *args: Any, **kwargs: Any) -> dict:
        asked.append(dataset)
        return real(lake, dataset, *args, **kwargs)

    monkeypatch.setattr(ledger, "current_states", spied)
    assert certified_check(run(home, instance, NEXT_MORNING)).metadata["state"].value == (
        "certified"
    )
    assert asked == []
    [first] = transitions(home).to_dicts()
    assert (first["previous_state"], first["state"]) == (None, "certified")


def test_a_steps_journaled_records_land_together_or_not_at_all(
    certified, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's transaction fails: none of the revision's records land (no transition,
    no judgment, no index entry), so the retry finds the old state and records the revision."""
    home, instance = certified
    real = Ledger.write

    def failing(self: Ledger, statements: Any) -> None:
        statements = list(statements)
        if any("INSERT INTO journal " in sql for sql, _ in statements):
            raise sqlite3.OperationalError("disk I/O error")
        real(self, statements)

    monkeypatch.setattr(Ledger, "write", failing)
    assert not run(home, instance, NEXT_MORNING, defects=["spikes"]).success
    monkeypatch.setattr(Ledger, "write", real)
    assert readiness_states(home)[keys.table(keys.NORMALIZED_BARS)] == "certified"
    assert transitions(home)["state"].to_list() == ["certified"]
    assert revisions(home).is_empty()
    retried = run(home, instance, NEXT_MORNING, defects=["spikes"])
    assert certified_check(retried).metadata["state"].value == "revised"
    assert transitions(home)["state"].to_list() == ["certified", "revised"]
    assert readiness_states(home)[keys.table(keys.NORMALIZED_BARS)] == "revised"


def test_without_a_journal_a_judgment_is_committed_only_after_the_transition_it_records(
    certified, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a lake that commits its trust records directly (object storage keeps no journal),
    the transitions' commit fails while the revision's other records land: the readiness log
    still says certified, so the retry finds the old state and records the revision."""
    home, instance = certified
    Lake(home / "lake").fold()
    monkeypatch.setattr(store_module, "Journal", lambda ledger: None)
    store_module.lake_at.cache_clear()
    real = Lake.append_all

    def failing(self: Lake, writes: Any, **kwargs: Any) -> Any:
        if any(dataset == CERTIFICATIONS for dataset, _ in writes):
            real(self, [w for w in writes if w[0] != CERTIFICATIONS], **kwargs)
            raise LakeError(f"{CERTIFICATIONS}: the commit failed")
        return real(self, writes, **kwargs)

    monkeypatch.setattr(Lake, "append_all", failing)
    assert not run(home, instance, NEXT_MORNING, defects=["spikes"]).success
    assert readiness_states(home)[keys.table(keys.NORMALIZED_BARS)] == "certified"
    assert transitions(home)["state"].to_list() == ["certified"]
    monkeypatch.setattr(Lake, "append_all", real)
    retried = run(home, instance, NEXT_MORNING, defects=["spikes"])
    assert certified_check(retried).metadata["state"].value == "revised"
    assert transitions(home)["state"].to_list() == ["certified", "revised"]
    assert readiness_states(home)[keys.table(keys.NORMALIZED_BARS)] == "revised"
