"""Options partitions: one per trading day on the Cboe index-options calendar (weekends excluded;
an exchange holiday is a partition whose chain is empty, and the checks say so)."""

from __future__ import annotations

import dagster as dg

FIRST_TRADE_DATE = "2022-01-03"

option_days = dg.DailyPartitionsDefinition(
    start_date=FIRST_TRADE_DATE,
    timezone="America/New_York",
    end_offset=1,
    exclusions=["0 0 * * 6", "0 0 * * 0"],
)
