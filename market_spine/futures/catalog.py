"""Catalog entries of the futures tables: meaning, grain, partitioning, columns, lineage."""

from __future__ import annotations

from datetime import date

from market_spine.catalog.vocabulary import (
    PROVENANCE_DESCRIPTIONS,
    DatasetSpec,
    SchemaChange,
    columns_of,
)
from market_spine.futures import keys
from market_spine.futures.schemas import DAILY_BARS, NORMALIZED_BARS, RAW_BARS

OWNER = "team:market-data"
PARTITIONING = "trade date (CME session date, UTC+2 day boundary) × symbol"
_V1 = (SchemaChange(1, date(2026, 11, 1), "first version"),)

BAR_DESCRIPTIONS: dict[str, str] = {
    "ts": "Start of the bar's minute (UTC); bars are stamped at their open.",
    "trade_date": "The CME session the bar belongs to (a Sunday-evening bar is Monday's).",
    "symbol": "Futures root: CL, NG, ES or a configured root such as 6E.",
    "contract": "The contract traded, as the local symbol (e.g. CLZ4), chosen by the roll rule.",
    "open": "First trade price of the bar.",
    "high": "Highest trade price of the bar.",
    "low": "Lowest trade price of the bar.",
    "close": "Last trade price of the bar.",
    "volume": "Contracts traded in the bar.",
    "vwap": "Volume-weighted average trade price (null when the source does not give one).",
    "trades": "Number of trades in the bar (null when the source does not give it).",
    "bar_count": "Minute bars the day was built from.",
    "expected_bars": "Minute bars the session's calendar expects (holidays, early closes aware).",
    **PROVENANCE_DESCRIPTIONS,
    "capture_id": "ULID of the capture the rows came from (the newest capture of the session).",
}

RAW_BARS_SPEC = DatasetSpec(
    name=keys.table(keys.RAW_BARS),
    description=(
        "1-minute futures bars exactly as the source sent them: one capture per provider call, "
        "append-only, with capture id, time, source, request and payload SHA-256."
    ),
    owner=OWNER,
    grain="one row per bar per capture",
    partitioning=PARTITIONING,
    columns=columns_of(RAW_BARS, {**BAR_DESCRIPTIONS, **PROVENANCE_DESCRIPTIONS}),
    history=_V1,
)
NORMALIZED_BARS_SPEC = DatasetSpec(
    name=keys.table(keys.NORMALIZED_BARS),
    description=(
        "1-minute futures bars, one row per (symbol, ts) from the newest capture of each session; "
        "each partition replaced atomically, so every past state stays readable by time travel."
    ),
    owner=OWNER,
    grain="one row per symbol and minute",
    partitioning=PARTITIONING,
    columns=columns_of(NORMALIZED_BARS, BAR_DESCRIPTIONS),
    history=_V1,
    upstream=(RAW_BARS_SPEC.name,),
    keys=("symbol", "ts"),
)
DAILY_BARS_SPEC = DatasetSpec(
    name=keys.table(keys.DAILY_BARS),
    description=(
        "Daily OHLCV per symbol and CME session, built from the normalized minutes, with the "
        "bar count against the calendar's expectation."
    ),
    owner=OWNER,
    grain="one row per symbol and trade date",
    partitioning=PARTITIONING,
    columns=columns_of(DAILY_BARS, BAR_DESCRIPTIONS),
    history=_V1,
    upstream=(NORMALIZED_BARS_SPEC.name,),
    keys=("symbol", "trade_date"),
)
FUTURES_DATASETS = (RAW_BARS_SPEC, NORMALIZED_BARS_SPEC, DAILY_BARS_SPEC)
