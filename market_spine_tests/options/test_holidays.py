"""No chain, expiration or partition is owed on a day the Cboe index-options market is closed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from market_spine.markets.expirations import closed_weekdays, is_trading_day
from market_spine.options import checks
from market_spine.options.partitions import option_days
from market_spine.options.schemas import RAW_CHAIN
from market_spine.providers.simulated_options import SimulatedOptionMarket

#: Every weekday Cboe closed its index-options market in 2019-2026, from its holiday notices:
#: New Year, MLK, Presidents', Good Friday, Memorial, Juneteenth (from 2022), Independence,
#: Labor, Thanksgiving and Christmas, each as observed, and the national day of mourning for
#: President Carter (2025-01-09).
_CLOSED_BY_YEAR = {
    "2019": "01-01 01-21 02-18 04-19 05-27 07-04 09-02 11-28 12-25",
    "2020": "01-01 01-20 02-17 04-10 05-25 07-03 09-07 11-26 12-25",
    "2021": "01-01 01-18 02-15 04-02 05-31 07-05 09-06 11-25 12-24",
    "2022": "01-17 02-21 04-15 05-30 06-20 07-04 09-05 11-24 12-26",
    "2023": "01-02 01-16 02-20 04-07 05-29 06-19 07-04 09-04 11-23 12-25",
    "2024": "01-01 01-15 02-19 03-29 05-27 06-19 07-04 09-02 11-28 12-25",
    "2025": "01-01 01-09 01-20 02-17 04-18 05-26 06-19 07-04 09-01 11-27 12-25",
    "2026": "01-01 01-19 02-16 04-03 05-25 06-19 07-03 09-07 11-26 12-25",
}
CBOE_HOLIDAYS = [
    date.fromisoformat(f"{year}-{day}")
    for year, days in _CLOSED_BY_YEAR.items()
    for day in days.split()
]
NO_CHAIN = pl.DataFrame(schema=RAW_CHAIN)


def _neighbours(day: date) -> tuple[date, date]:
    before, after = day - timedelta(days=1), day + timedelta(days=1)
    while not is_trading_day(before):
        before -= timedelta(days=1)
    while not is_trading_day(after):
        after += timedelta(days=1)
    return before, after


def test_the_calendar_knows_every_closure() -> None:
    assert closed_weekdays(date(2019, 1, 1), date(2026, 12, 31)) == CBOE_HOLIDAYS


@pytest.mark.parametrize("holiday", CBOE_HOLIDAYS, ids=str)
def test_a_closed_day_owes_no_expiration(holiday: date) -> None:
    outcome = checks.completeness(NO_CHAIN, [holiday])
    assert outcome.passed, outcome.metadata["worst"]
    assert outcome.metadata["expected_expirations"] == 0
    assert outcome.metadata["closed_days"] == [holiday.isoformat()]


@pytest.mark.parametrize("holiday", [h for h in CBOE_HOLIDAYS if h >= date(2022, 1, 3)], ids=str)
def test_a_closed_day_is_no_partition(holiday: date) -> None:
    assert not option_days.has_partition_key(holiday.isoformat())
    listed = [d for d in _neighbours(holiday) if d <= date.today()]  # partitions end tomorrow
    assert all(option_days.has_partition_key(d.isoformat()) for d in listed)


#: MLK, Good Friday, Thanksgiving 2024, the Carter closure, Thanksgiving 2026.
BACKFILLED = ["2024-01-15", "2024-03-29", "2024-11-28", "2025-01-09", "2026-11-26"]


@pytest.mark.parametrize("holiday", [date.fromisoformat(d) for d in BACKFILLED], ids=str)
def test_a_backfill_across_a_holiday_passes(holiday: date) -> None:
    """The simulated chains of the trading days around a holiday, with the holiday in the run."""
    market = SimulatedOptionMarket()
    days = [_neighbours(holiday)[0], holiday, _neighbours(holiday)[1]]
    chain = pl.concat(
        market.chain(root, day).with_columns(trade_date=pl.lit(day))
        for day in days
        for root in ("SPX", "SPXW")
    )
    outcome = checks.completeness(chain, days)
    assert outcome.passed, outcome.metadata["worst"]
    assert outcome.metadata["expected_expirations"] > 100
    assert outcome.metadata["closed_days"] == [holiday.isoformat()]


def test_a_real_backfill_across_thanksgiving_passes_every_check(tmp_path, instance) -> None:
    """The options assets over 2024-11-27..29 through Dagster into a real lake: Thanksgiving is
    no partition and owes nothing; the day after is an early close whose EOD snapshot is 13:15
    ET, so its time to expiry starts there."""
    from market_spine.lake import Lake
    from market_spine.markets.expirations import YEAR_SECONDS, settlement
    from market_spine.options import keys
    from market_spine.runs.launch import materialize_options
    from market_spine_tests.kit.homes import settings_for

    settings = settings_for(tmp_path / "home")
    run = materialize_options(settings, date(2024, 11, 27), date(2024, 11, 29), instance=instance)
    assert run is not None and run.success, run
    assert run.failed_checks == ()
    assert (run.start, run.end) == (date(2024, 11, 27), date(2024, 11, 29))
    lake = Lake(settings.home / "lake")
    chain = lake.read(keys.table(keys.NORMALIZED_CHAIN))
    assert sorted(chain["trade_date"].unique().to_list()) == [
        date(2024, 11, 27),
        date(2024, 11, 29),
    ]
    greeks = lake.read(keys.table(keys.GREEKS))
    friday = greeks.filter(
        (pl.col("trade_date") == date(2024, 11, 29))
        & (pl.col("root") == "SPXW")
        & (pl.col("expiration") == date(2024, 12, 2))
    )
    snapshot = datetime(2024, 11, 29, 18, 15, tzinfo=UTC)  # 13:15 ET, the early close
    t = (settlement("SPXW", date(2024, 12, 2)) - snapshot).total_seconds() / YEAR_SECONDS
    assert friday.height > 0 and friday["t"].unique().to_list() == [pytest.approx(t)]
