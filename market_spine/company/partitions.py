"""The partitions of a daily company dataset: one per UTC calendar day of its partitioning
column (the `business_date` of its rows), from `partitioning.start` to today (UTC)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg

from market_spine.company.config import DatasetConfig

#: The clock a company dataset's days are counted on: a `timestamp` column holds UTC times and
#: a row's business date is their UTC date, so a partition key names the same day.
BUSINESS_DAY_ZONE = "UTC"


def business_days(config: DatasetConfig) -> dg.DailyPartitionsDefinition:
    """A daily dataset's partitions: UTC days from its `partitioning.start` to today's (the day
    in progress included, as its rows arrive during it)."""
    start = config.partitioning.start
    if config.partitioning.kind != "daily" or start is None:
        raise ValueError(f"{config.name} is not partitioned daily")
    return dg.DailyPartitionsDefinition(
        start_date=start.isoformat(), timezone=BUSINESS_DAY_ZONE, end_offset=1
    )


def utc_today() -> date:
    """Today's UTC date: the newest business date a row may carry."""
    return datetime.now(UTC).date()
