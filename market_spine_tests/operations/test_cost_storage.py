"""What the cost report charges beyond a run's own tags, on a real lake and a real Dagster
instance: storage priced day by day from the bytes recorded each day (a table that grew is not
charged its present size for the whole window), runs counted once however many assets they ran,
a run's peak memory reported as its peak, and bad windows and groupings refused by name."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest
from typer.testing import CliRunner

from market_spine.cli import app
from market_spine.errors import InvalidInput
from market_spine.lake.store import lake_at
from market_spine.operations.cost.daily import record_cost_daily
from market_spine.operations.cost.prices import PriceSheet
from market_spine.operations.cost.report import ASSET_SPLIT, cost_report, home_cost
from market_spine.operations.cost.storage import stored_bytes
from market_spine.runs import meter
from market_spine_tests.kit.frames import DS, put
from market_spine_tests.kit.homes import settings_for

#: $30 per GB-month: $1 per GB-day.
PRICES = PriceSheet(vcpu_hour=3600.0, gb_month=30.0)
#: The day the table is first measured, at noon UTC.
DAY0 = datetime(2026, 11, 2, 12, tzinfo=UTC)
SPECS = [SimpleNamespace(name=DS, kind="delta")]


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def test_a_table_that_grew_is_charged_the_bytes_it_held_each_day(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    lake = lake_at(str(tmp_path / "lake"))
    put(lake, DAY0.date(), "ES", 1.0)
    with dg.DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        # The daily record of DAY0 is the storage history's only measurement.
        record_cost_daily(instance, lake, SPECS, home, PRICES, days=1, now=DAY0)
        [small] = stored_bytes(lake, home, SPECS)
        for n, symbol in enumerate(("NQ", "CL", "GC", "ZN")):
            put(lake, DAY0.date(), symbol, 2.0 + n)
        [big] = stored_bytes(lake, home, SPECS)
        assert big.total > 3 * small.total
        # Three days later at noon, over a window opening two days before the measurement.
        now = DAY0 + timedelta(days=3)
        since = _midnight(DAY0.date() - timedelta(days=2))
        report = cost_report(
            instance, SPECS, lake, home, PRICES, since=since, by="dataset", now=now
        )
    [line] = [line for line in report.lines if line.key == DS]
    window_days = (now - since).total_seconds() / 86400
    assert line.storage_usd < big.total / 1e9 * window_days
    # DAY0 and the two days after it held what DAY0 measured; today, half gone, what is
    # measured now; the two days before DAY0 have no measurement and are not priced.
    assert line.storage_usd == pytest.approx((3 * small.total + 0.5 * big.total) / 1e9)
    assert report.storage_unrecorded_days == 2
    assert report.as_json()["storage_unrecorded_days"] == 2
    assert (line.current_bytes, line.kept_bytes) == (big.current, big.kept)


def _metered(run_id: str, assets: list[str], cpu_s: float, peak_mb: float) -> dg.DagsterRun:
    tags = {meter.METERED_RUN: run_id, meter.CPU_S: str(cpu_s), meter.PEAK_MEMORY_MB: str(peak_mb)}
    return dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_id=run_id,
        status=dg.DagsterRunStatus.SUCCESS,
        asset_selection=frozenset(dg.AssetKey.from_user_string(a) for a in assets),
        tags=tags,
    )


def test_runs_are_counted_once_and_a_peak_is_the_runs_not_a_sum(tmp_path: Path) -> None:
    five = [f"normalized/test_{n}" for n in "abcde"]
    lake = lake_at(str(tmp_path / "lake"))
    since = datetime.now(UTC) - timedelta(hours=1)
    with dg.DagsterInstance.local_temp(tempdir=str(tmp_path)) as instance:
        instance.add_run(_metered("wide-run", five, cpu_s=10.0, peak_mb=300.0))
        instance.add_run(_metered("narrow-run", five[:1], cpu_s=2.0, peak_mb=100.0))
        reports = {
            by: cost_report(instance, [], lake, tmp_path, PRICES, since=since, by=by)
            for by in ("component", "asset")
        }
    [other] = [line for line in reports["component"].lines if line.key == "other"]
    assert other.runs == 2 and reports["component"].totals.runs == 2
    assert other.as_json()["runs"] == 2
    assert other.peak_memory_mb == 300.0 and reports["component"].totals.peak_memory_mb == 300.0
    assets = {line.key: line for line in reports["asset"].lines}
    assert assets["normalized/test_a"].runs == 2 and assets["normalized/test_b"].runs == 1
    # The even split is said, not hidden: each of the wide run's assets got a fifth.
    assert assets["normalized/test_b"].cpu_s == pytest.approx(2.0)
    assert reports["asset"].as_json()["asset_split"] == ASSET_SPLIT
    assert "estimate" in ASSET_SPLIT


def test_bad_windows_and_groupings_are_refused_naming_what_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path / "home")
    for since in ("99999999d", "99999999w"):
        with pytest.raises(InvalidInput, match=r"--since '9+[dw]' reaches before any date"):
            home_cost(settings, since=since)
        with pytest.raises(InvalidInput, match=r"^since '9+[dw]'"):
            home_cost(settings, since=since, options=("since", "by"))
    monkeypatch.setenv("MARKET_SPINE_HOME", str(settings.home))
    for args, says in (
        (["--since", "99999999d"], "give a shorter age (30d, 2w)"),
        (["--since", "30x"], "neither an age (30m, 12h, 1d, 2w) nor a date"),
        (["--by", "team"], "--by 'team' is not one of dataset, asset, component"),
    ):
        result = CliRunner().invoke(app, ["cost", *args])
        assert result.exit_code == 2, result.output
        assert says in result.output and "Traceback" not in result.output
