"""Certification of vendor-file imports through a real Dagster instance and Delta lake: a file
holding 120 of the 1,380 minutes ES owes on 2024-03-11 fails its completeness check, so the
partition is failed and so is everything computed from it, none claiming to be complete (the
readiness query, the API and the asset metadata agree); importing the complete day certifies
all of them again."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.certification.certify import CERTIFICATION_REASONS_METADATA
from market_spine.certification.tables import CERTIFICATIONS
from market_spine.client import Spine
from market_spine.futures import keys
from market_spine.lake import Lake
from market_spine.markets import calendars
from market_spine.providers.simulated import SimulatedMarket
from market_spine.runs.vendor_import import import_bars
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 11)
PARTITION = "2024-03-11|ES"
#: The roll rule's front month that day, and the next month the continuous series' c.1 holds.
FRONT, NEXT = "ESM4", "ESU4"
MINUTES, KEPT = 1380, 120
NORMALIZED = keys.table(keys.NORMALIZED_BARS)
DAILY = keys.table(keys.DAILY_BARS)
CONTINUOUS = keys.table(keys.CONTINUOUS_BARS)
CONTINUOUS_DAILY = keys.table(keys.CONTINUOUS_DAILY)
DATASETS = (NORMALIZED, DAILY, CONTINUOUS, CONTINUOUS_DAILY)
LATER = datetime(2024, 3, 12, tzinfo=UTC)


def vendor_csv(path: Path, contract: str, minutes: int) -> Path:
    """A vendor CSV of one ES contract's first `minutes` bars of DAY (the simulated market's),
    stamped at their open, as a vendor exports them."""
    bars = SimulatedMarket().bars("ES", DAY, contract).head(minutes)
    bars.select(
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("ts"),
        "open",
        "high",
        "low",
        "close",
        "volume",
        "contract",
    ).write_csv(path)
    return path


#: The rows a dataset's ES partition is read by: the root's, and the front series' (ES.c.1 and
#: ES.v.1 hold the next contract, missing until it is imported).
OWN = pl.col("symbol").is_in(["ES", "ES.c.0"])


def states(home: Path) -> dict[str, str]:
    """Each dataset's state of DAY's ES partition, by the one readiness query."""
    ready = Spine(home, warn_empty=False).readiness(symbols="ES", now=LATER)
    mine = ready.filter((pl.col("trade_date") == DAY) & OWN)
    return dict(mine.select("dataset", "state").iter_rows())


def completeness(home: Path) -> dict[str, tuple[str, int, int, float]]:
    """Each dataset's unit, present, expected and completeness share of DAY's ES partition."""
    ready = Spine(home, warn_empty=False).readiness(symbols="ES", now=LATER)
    rows = ready.filter((pl.col("trade_date") == DAY) & OWN)
    columns = ("dataset", "unit", "present", "expected", "completeness")
    return {r[0]: r[1:] for r in rows.select(columns).iter_rows()}


def reasons(instance: dg.DagsterInstance, dataset: str) -> dict[str, str]:
    """The newest materialization's reasons for its uncertified partitions."""
    [record] = instance.fetch_materializations(dg.AssetKey(dataset.split("/")), limit=1).records
    metadata = record.asset_materialization.metadata  # type: ignore[union-attr]
    return metadata[CERTIFICATION_REASONS_METADATA].value  # type: ignore[return-value]


@pytest.fixture
def partial(tmp_path: Path) -> Path:
    return vendor_csv(tmp_path / "es-partial.csv", FRONT, KEPT)


def test_an_import_missing_most_of_the_session_is_failed_and_certifies_nothing_over_it(
    home: Path, instance: dg.DagsterInstance, partial: Path
) -> None:
    report = import_bars(settings_for(home), partial, "ES", instance=instance)
    (day,) = report.days
    assert len(calendars.expected_minutes("ES", DAY)) == MINUTES
    assert day.rows == KEPT and day.missing_minutes == MINUTES - KEPT
    found = states(home)
    assert found[NORMALIZED] == "failed"
    # What is computed from the failed minutes fails with them, each naming them and what
    # they lack, and none claims to be complete.
    assert found == dict.fromkeys(DATASETS, "failed")
    lacking = "input normalized/futures_bars_1m FAILED: 120 of 1,380 minutes of ESM4"
    assert reasons(instance, DAILY)[PARTITION] == lacking
    for dataset in (DAILY, CONTINUOUS):
        assert lacking in reasons(instance, dataset)[PARTITION], dataset
    # Computed from the continuous minutes: it names them, failed in turn.
    lacked = "input normalized/futures_continuous_1m FAILED"
    assert lacked in reasons(instance, CONTINUOUS_DAILY)[PARTITION]
    # Each counts what it holds itself: the minutes lack most of the session, the day built
    # from them is one day of one, its reason naming the minutes and what they lack.
    counts = completeness(home)
    assert counts[DAILY] == ("days", 1, 1, 1.0)
    for dataset in (NORMALIZED, CONTINUOUS):
        assert counts[dataset][1:] == (KEPT, MINUTES, KEPT / MINUTES), (dataset, counts[dataset])
    ready = Spine(home, warn_empty=False).readiness(symbols="ES", now=LATER)
    why = dict(
        ready.filter((pl.col("trade_date") == DAY) & OWN).select("dataset", "reason").iter_rows()
    )
    assert why[DAILY] == lacking and why[CONTINUOUS_DAILY].startswith(lacked)
    transitions = Lake(home / "lake").read(CERTIFICATIONS)
    [transition] = transitions.filter(pl.col("dataset") == NORMALIZED).to_dicts()
    assert transition["state"] == "failed" and "completeness" in transition["reason"]
    # The Dagster check that shows the certification fails with it.
    [certified] = [c for c in report.checks if c.check == "certified"]
    assert not certified.passed and certified.metadata["state"] == "failed"
    # The API's readiness says the same.
    with serving(home) as client:
        answer = client.get("/v1/readiness", params={"symbol": "ES", "start": "2024-03-11"})
        assert answer.status_code == 200, answer.text
        served = {
            r["dataset"]: r["state"]
            for r in answer.json()["data"]
            if r["symbol"] in ("ES", "ES.c.0")
        }
    assert {d: served[d] for d in DATASETS} == found


def test_importing_the_complete_day_certifies_it_and_what_is_computed_from_it(
    home: Path, instance: dg.DagsterInstance, partial: Path
) -> None:
    settings = settings_for(home)
    import_bars(settings, partial, "ES", instance=instance)
    assert states(home)[NORMALIZED] == "failed"
    # The complete front month, then the next month the continuous series' c.1 and v.1 hold.
    for contract in (FRONT, NEXT):
        path = vendor_csv(home.parent / f"es-{contract}.csv", contract, MINUTES)
        report = import_bars(settings, path, contract, instance=instance)
        assert report.success and report.rows == MINUTES
    assert states(home) == dict.fromkeys(DATASETS, "certified")
    assert reasons(instance, DAILY) == {} and reasons(instance, NORMALIZED) == {}
    history = (
        Lake(home / "lake")
        .read(CERTIFICATIONS)
        .filter(pl.col("dataset") == NORMALIZED)
        .sort("recorded_at")
    )
    assert history["state"].to_list() == ["failed", "certified"]
    assert Lake(home / "lake").read(NORMALIZED).height == MINUTES
