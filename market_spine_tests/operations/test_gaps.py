"""Gap analysis against a real Dagster instance filled by real runs of the simulated market: what
is missing by the calendars, never attempted or failed, newest first, holidays never gaps."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import pytest

from market_spine.futures.definitions import ASSET_KEYS
from market_spine.home import instance as home_instance
from market_spine.markets import calendars, expirations
from market_spine.operations.gap_export import CSV_COLUMNS
from market_spine.operations.gaps import (
    FAILED,
    NEVER,
    find_gaps,
    to_csv,
    to_json,
)
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import materialize_range
from market_spine.settings import Settings
from market_spine_tests.kit.homes import settings_for

#: Every futures dataset: the bars, the rolls and the continuous series, each owed per partition.
FUTURES = tuple(k.to_user_string() for k in ASSET_KEYS)
MON, TUE, WED, THU, FRI = (date(2024, 3, d) for d in (4, 5, 6, 7, 8))
NEXT_MON = date(2024, 3, 11)


@pytest.fixture(scope="module")
def gappy_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Path]]:
    """A home with the week of 2024-03-04 loaded for CL and ES except Wednesday, nothing for NG,
    and CL's next Monday attempted with a provider that fails (an unknown simulated defect)."""
    settings = settings_for(tmp_path_factory.mktemp("gaps") / "home")
    inst = home_instance(settings)
    for first, last in ((MON, TUE), (THU, FRI)):
        runs = materialize_range(settings, ["CL", "ES"], first, last, instance=inst)
        assert all(r.success for r in runs), runs
    broken = MarketDataResource(defects=["no-such-defect"])
    [failed] = materialize_range(settings, ["CL"], NEXT_MON, NEXT_MON, instance=inst, market=broken)
    assert not failed.success
    inst.dispose()
    yield settings, settings.dagster_home


def _instance(home: tuple[Settings, Path]) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home[1]))


def test_a_week_minus_a_day_and_a_symbol_reports_exactly_those(
    gappy_home: tuple[Settings, Path],
) -> None:
    settings, _ = gappy_home
    report = find_gaps(_instance(gappy_home), settings, MON, FRI, domain="futures")
    found = {(g.dataset, g.trade_date, g.symbol, g.status) for g in report.gaps}
    expected = {(d, WED, s, NEVER) for d in FUTURES for s in ("CL", "ES")}
    expected |= {(d, day, "NG", NEVER) for d in FUTURES for day in (MON, TUE, WED, THU, FRI)}
    assert found == expected
    assert report.owed == len(FUTURES) * 5 * 3
    assert [g.trade_date for g in report.gaps] == sorted(
        (g.trade_date for g in report.gaps), reverse=True
    )
    assert report.gaps[0].trade_date == FRI and report.gaps[0].symbol == "NG"


def test_symbols_narrow_the_futures_analysed(gappy_home: tuple[Settings, Path]) -> None:
    settings, _ = gappy_home
    report = find_gaps(_instance(gappy_home), settings, MON, FRI, domain="futures", symbols=["CL"])
    assert {(g.trade_date, g.symbol) for g in report.gaps} == {(WED, "CL")}
    assert report.owed == 5 * len(FUTURES)


def test_a_failed_partition_is_reported_failed(gappy_home: tuple[Settings, Path]) -> None:
    settings, _ = gappy_home
    report = find_gaps(_instance(gappy_home), settings, NEXT_MON, NEXT_MON, domain="futures")
    by = {(g.dataset, g.symbol): g.status for g in report.gaps}
    assert by[("raw/futures_bars_1m", "CL")] == FAILED
    assert by[("raw/futures_bars_1m", "ES")] == NEVER
    assert by[("raw/futures_bars_1m", "NG")] == NEVER
    # Failed first within a day, so the report leads with what broke.
    assert report.gaps[0].status == FAILED


def test_the_estimate_comes_from_measured_runs(gappy_home: tuple[Settings, Path]) -> None:
    settings, _ = gappy_home
    report = find_gaps(_instance(gappy_home), settings, MON, FRI, domain="futures")
    times = report.run_times["futures"]
    assert times.runs == 4 and not times.fills
    assert times.per_run_s is not None and times.per_day_s is not None
    # 7 (date, symbol) partitions to run: CL and ES on Wednesday, NG all week; as runs, one
    # per symbol and stretch of consecutive missing days: CL Wed, ES Wed, NG Mon..Fri.
    assert report.units() == {"futures": 7}
    fill = report.estimate()
    assert fill.runs == 3 and fill.concurrency == 2
    one_day, five_days = times.seconds(1), times.seconds(5)
    assert one_day is not None and five_days is not None
    # Two at once: NG's week beside CL's day, then ES's day in the slot that frees first.
    assert fill.seconds == pytest.approx(max(five_days, 2 * one_day))
    assert "futures:" in fill.basis() and "the last 4 runs, launch to end" in fill.basis()
    options = find_gaps(_instance(gappy_home), settings, MON, FRI, domain="options")
    assert options.run_times["options"].runs == 0 and options.estimate_seconds() is None


def test_holidays_and_weekends_are_never_gaps(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    inst = home_instance(settings)
    start, end = date(2024, 11, 25), date(2024, 12, 31)
    report = find_gaps(inst, settings, start, end, symbols=["CL"])
    days = {g.trade_date for g in report.gaps}
    assert date(2024, 11, 28) not in days  # Thanksgiving
    assert date(2024, 12, 25) not in days  # Christmas
    assert all(d.weekday() < 5 for d in days)
    cl = {g.trade_date for g in report.gaps if g.domain == "futures"}
    spx = {g.trade_date for g in report.gaps if g.domain == "options"}
    assert cl == set(calendars.trading_days("CL", start, end))
    weekdays = {start + timedelta(days=i) for i in range((end - start).days + 1)}
    weekdays = {d for d in weekdays if d.weekday() < 5}
    assert spx == {d for d in weekdays if expirations.is_trading_day(d)}
    assert spx == weekdays - {date(2024, 11, 28), date(2024, 12, 25)}
    # The early closes are sessions and so owed: the Friday after Thanksgiving, Christmas Eve.
    assert {date(2024, 11, 29), date(2024, 12, 24)} <= cl & spx
    assert all(g.status == NEVER for g in report.gaps)
    options = {g.dataset for g in report.gaps if g.domain == "options"}
    assert options == {
        "raw/spx_options_eod",
        "normalized/options_chain_eod",
        "analytics/options_greeks_eod",
        "analytics/vol_surface_daily",
        "raw/spx_options_quotes_1m",
    }


def test_exports_carry_every_gap(gappy_home: tuple[Settings, Path]) -> None:
    settings, _ = gappy_home
    report = find_gaps(_instance(gappy_home), settings, MON, NEXT_MON, domain="futures")
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(report.gaps)
    assert rows[0]["trade_date"] == "2024-03-11" and rows[0]["status"] == "failed"
    assert {r["partition"] for r in rows if r["symbol"] == "CL"} == {
        "2024-03-06|CL",
        "2024-03-11|CL",
    }
    doc = json.loads(to_json(report))
    assert doc["never"] + doc["failed"] == len(doc["gaps"]) == len(rows)
    assert doc["failed"] == len(FUTURES)
    assert doc["gaps"][0]["trade_date"] == "2024-03-11"
    assert doc["estimate_seconds"] == pytest.approx(report.estimate_seconds())


def test_bad_input_is_a_clear_error(gappy_home: tuple[Settings, Path]) -> None:
    from market_spine.errors import InvalidInput

    settings, _ = gappy_home
    inst = _instance(gappy_home)
    with pytest.raises(InvalidInput, match="swap them"):
        find_gaps(inst, settings, FRI, MON)
    with pytest.raises(InvalidInput, match="futures, options, all"):
        find_gaps(inst, settings, MON, FRI, domain="bonds")
    with pytest.raises(InvalidInput, match="known symbols are CL, ES, NG"):
        find_gaps(inst, settings, MON, FRI, symbols=["XX"])
