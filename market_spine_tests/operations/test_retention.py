"""Certified versions outlive maintenance: certify a session, revise it, maintain the lake at
retention 0, then read what was certified exactly as it was read before; every pruning is
recorded in operations/prunings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from market_spine.catalog.registry import drift
from market_spine.certification.pins import certified_version
from market_spine.client import BARS_1M, BARS_DAILY, Spine
from market_spine.errors import HistoryPruned, InvalidInput, NotCertified
from market_spine.futures.partitions import partition_key
from market_spine.lake import Lake
from market_spine.lake.resource import LakeResource
from market_spine.operations.maintenance import build_lake_maintenance
from market_spine.operations.retention import PRUNINGS, maintain_lake, ranges
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import domain_assets, resources
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 5)
NEXT_MORNING = "2024-03-06T12:00:00Z"


def run(home: Path, instance: dg.DagsterInstance, **market) -> None:
    result = dg.materialize(
        domain_assets(settings_for(home), "futures"),
        partition_key=partition_key(DAY, "CL"),
        resources=resources(
            settings_for(home), MarketDataResource(frozen_now=NEXT_MORNING, **market)
        ),
        instance=instance,
        raise_on_error=False,
    )
    assert result.success


def today() -> date:
    return datetime.now(UTC).date()


@pytest.fixture
def revised_home(home: Path, instance: dg.DagsterInstance) -> Path:
    """CL on DAY certified, then revised by a capture with spikes (not certified again)."""
    run(home, instance)
    run(home, instance, defects=["spikes"])
    return home


def test_the_certified_version_reads_exactly_after_maintenance_at_retention_zero(
    home: Path, instance: dg.DagsterInstance
) -> None:
    run(home, instance)
    spine = Spine(settings=settings_for(home), warn_empty=False)
    certified_bars = spine.bars("CL", DAY)
    certified_daily = spine.daily("CL", DAY)
    assert set(certified_bars["certification"]) == {"certified"}

    run(home, instance, defects=["spikes"])
    revised = spine.bars("CL", DAY)
    assert set(revised["certification"]) == {"revised"}
    assert not revised.drop("certification").equals(certified_bars.drop("certification"))

    lake = Lake(home / "lake")
    done = maintain_lake(lake, 0, "test-run")
    assert not done.refused

    # Read after maintenance in a fresh process state: nothing cached from before.
    after = Spine(settings=settings_for(home), warn_empty=False)
    assert_frame_equal(after.bars("CL", DAY, as_certified=today()), certified_bars)
    assert_frame_equal(after.daily("CL", DAY, as_certified=today().isoformat()), certified_daily)
    assert_frame_equal(after.bars("CL", DAY), revised)

    [row] = lake.read(PRUNINGS).filter(pl.col("dataset") == BARS_1M).to_dicts()
    pinned = certified_version(lake, BARS_1M, today()).version
    # The certified version's files are past the retention: kept for the pin, and recorded.
    assert row["run_id"] == "test-run" and row["retention_hours"] == 0
    assert row["pinned_versions"] == str(pinned) and row["kept_for_pins"] > 0
    assert row["files_removed"] == 0 and row["versions_removed"] == 0
    assert drift(lake) == {}  # the prunings table is stored as declared


def test_nothing_certified_by_then_is_a_clear_error(revised_home: Path) -> None:
    spine = Spine(settings=settings_for(revised_home), warn_empty=False)
    yesterday = today() - timedelta(days=1)
    with pytest.raises(NotCertified, match=f"nothing of {BARS_1M} was certified by the end of"):
        spine.bars("CL", DAY, as_certified=yesterday)
    with pytest.raises(NotCertified, match=f"{BARS_DAILY}|nothing of {BARS_1M}"):
        spine.daily("CL", DAY, as_certified=yesterday)
    with pytest.raises(InvalidInput, match="not both"):
        spine.bars("CL", DAY, as_of=0, as_certified=today())
    with pytest.raises(InvalidInput, match="is a timestamp"):
        spine.bars("CL", DAY, as_certified=datetime.now(UTC))


def test_the_job_keeps_history_inside_the_retention_and_prunes_what_is_past_it(
    revised_home: Path, instance: dg.DagsterInstance
) -> None:
    run(revised_home, instance)  # the spikes are gone again: revised, not re-certified
    lake = Lake(revised_home / "lake")
    pinned = certified_version(lake, BARS_1M, today()).version
    spiked = lake.version(BARS_1M) - 1
    assert spiked > pinned
    job, _ = build_lake_maintenance(settings_for(revised_home))
    lake_resource = {"lake": LakeResource(root=str(lake.root))}

    kept = job.execute_in_process(instance=instance, resources=lake_resource)
    assert kept.success  # at the home's 400 days nothing is old enough to prune
    assert Lake(lake.root).read(BARS_1M, as_of=spiked).height
    assert not lake.exists(PRUNINGS)

    config = {"ops": {"maintain_lake": {"config": {"retention_hours": 0}}}}
    pruned = job.execute_in_process(run_config=config, instance=instance, resources=lake_resource)
    assert pruned.success
    fresh = Lake(lake.root)
    assert fresh.read(BARS_1M, as_of=pinned).height
    with pytest.raises(HistoryPruned, match=f"version {spiked} of {BARS_1M} was pruned"):
        fresh.read(BARS_1M, as_of=spiked)
    [row] = fresh.read(PRUNINGS).filter(pl.col("dataset") == BARS_1M).to_dicts()
    assert row["run_id"] == pruned.run_id
    assert spiked in _versions(row["versions"]) and pinned not in _versions(row["versions"])


def _versions(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("..")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def test_ranges_are_compact() -> None:
    assert ranges([6, 0, 1, 2, 3, 4]) == "0..4,6" and ranges([]) == ""
