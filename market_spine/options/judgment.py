"""The days of the options datasets judged per day (greeks, the vol surface, intraday quotes)
as certification sees them (`certification.derived`), and what each root of a day holds
against what it owes, for readiness."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from market_spine.certification.certify import Partition
from market_spine.certification.readiness import Completeness
from market_spine.markets.expirations import (
    ROOTS,
    eod_final_at,
    is_trading_day,
    session_bounds,
    traded_expirations,
)
from market_spine.options import quote_sides
from market_spine.pricing.black import NO_TIME_LEFT

#: The column that selects one day's rows (the values of each Partition).
DAY_COLUMNS = ("trade_date",)


def eod_days(days: Sequence[date]) -> list[Partition]:
    """The run's days as certification sees them: rows selected by trade date, final once the
    EOD reports are built (17:15 ET)."""
    return [Partition(d.isoformat(), d, None, (d,), eod_final_at(d)) for d in days]


def session_days(days: Sequence[date]) -> list[Partition]:
    """The run's days for intraday data: final at the session's close (17:15 ET on a day
    without a session, which owes nothing)."""
    return [
        Partition(d.isoformat(), d, None, (d,), bounds[1] if bounds else eod_final_at(d))
        for d in days
        for bounds in [session_bounds(d)]
    ]


def vol_completeness(greeks: pl.DataFrame) -> list[Completeness]:
    """Each root's solved vols: every two-sided quote with time left owes one; those that do
    not solve are missing, contracts with no volume did not trade."""
    found = []
    for root in ROOTS:
        rows = greeks.filter(pl.col("root") == root)
        owed = rows.filter(quote_sides.two_sided() & (pl.col("iv_reason") != NO_TIME_LEFT))
        solved = owed.filter(pl.col("iv_converged")).height
        quiet = rows.filter(pl.col("volume").fill_null(0) == 0).height
        found.append(Completeness(root, "vols", owed.height, solved, owed.height - solved, quiet))
    return found


def expiry_completeness(surface: pl.DataFrame, day: date) -> list[Completeness]:
    """Each root's surface rows against the expirations trading that day (none owed on a day
    the exchange is closed)."""
    found = []
    for root in ROOTS:
        owed = set(traded_expirations(root, day)) if is_trading_day(day) else set()
        held = set(surface.filter(pl.col("root") == root)["expiration"].to_list())
        found.append(Completeness(root, "expiries", len(owed), len(owed & held), len(owed - held)))
    return found
