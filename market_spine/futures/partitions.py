"""Futures partitions: trade date × symbol, weekends excluded.

The date dimension runs in UTC+2 (`Etc/GMT-2`) so that a trade date's partition appears when
its CME session opens (18:00 ET is 22:00 or 23:00 UTC, i.e. midnight or 01:00 at UTC+2).
The symbol dimension is CL, ES, NG plus the roots of the home's instruments file
(`Settings.instruments_path`), read when the home's definitions are built: a root added there
becomes a partition on the next start.
"""

from __future__ import annotations

from datetime import date

import dagster as dg

from market_spine.markets.dates import TRADE_DATE_TIMEZONE
from market_spine.settings import DEFAULT_SYMBOLS, Settings

FIRST_TRADE_DATE = "2019-01-01"

trade_dates = dg.DailyPartitionsDefinition(
    start_date=FIRST_TRADE_DATE,
    timezone=TRADE_DATE_TIMEZONE,
    end_offset=1,
    exclusions=["0 0 * * 6", "0 0 * * 0"],
)


def partition_symbols(settings: Settings) -> tuple[str, ...]:
    """The symbol partitions of a home: CL, ES, NG, then the roots its instruments file adds
    (registered with `markets.instruments` on the way). A bad file raises InvalidInput."""
    configured = settings.configured_roots()
    return (*DEFAULT_SYMBOLS, *(r for r in configured if r not in DEFAULT_SYMBOLS))


def futures_partitions(settings: Settings) -> dg.MultiPartitionsDefinition:
    """Trade date × symbol for a home: every futures asset, check and job shares it."""
    symbols = dg.StaticPartitionsDefinition(list(partition_symbols(settings)))
    return dg.MultiPartitionsDefinition({"date": trade_dates, "symbol": symbols})


def partition_key(trade_date: date, symbol: str) -> str:
    """The multi-partition key string of one (date, symbol) partition."""
    return dg.MultiPartitionKey({"date": trade_date.isoformat(), "symbol": symbol})


def split_keys(keys: list[str]) -> dict[str, list[date]]:
    """Group a run's partition keys by symbol, each with its sorted trade dates."""
    by_symbol: dict[str, list[date]] = {}
    for key in keys:
        parts = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else None
        if parts is None:
            day, symbol = key.split("|")
        else:
            day, symbol = parts["date"], parts["symbol"]
        by_symbol.setdefault(symbol, []).append(date.fromisoformat(day))
    return {s: sorted(days) for s, days in sorted(by_symbol.items())}


def captured_symbols(settings: Settings) -> list[str]:
    """The symbol partitions a provider captures: those among `settings.symbols` (default CL,
    ES, NG). Other configured roots are import-only: no schedule re-captures them over imported
    files and no freshness SLA applies to them."""
    wanted = set(settings.symbols)
    return [s for s in partition_symbols(settings) if s in wanted]
