"""Options partitions: one per day the Cboe index-options market opens (weekends and exchange
holidays excluded, so a backfill across a holiday owes nothing for it)."""

from __future__ import annotations

from datetime import date, datetime, time

import dagster as dg

from market_spine.markets.dates import TRADE_DATE_TIMEZONE
from market_spine.markets.expirations import closed_weekdays

FIRST_TRADE_DATE = "2022-01-03"


def _holidays_through_next_year() -> list[datetime]:
    """Cboe closures from the first partition to the end of next year, as partition starts (the
    partitions reach one day ahead, so next year's holidays are known before they are needed)."""
    last = date(date.today().year + 1, 12, 31)
    return [
        datetime.combine(d, time())
        for d in closed_weekdays(date.fromisoformat(FIRST_TRADE_DATE), last)
    ]


option_days = dg.DailyPartitionsDefinition(
    start_date=FIRST_TRADE_DATE,
    timezone=TRADE_DATE_TIMEZONE,
    end_offset=1,
    exclusions=["0 0 * * 6", "0 0 * * 0", *_holidays_through_next_year()],
)


def run_days(context: dg.AssetExecutionContext) -> list[date]:
    """The trade dates a run materializes, oldest first."""
    return sorted(date.fromisoformat(k) for k in context.partition_keys)
