"""Catalog entry of the streaming path's table: raw 5-second bars, one capture per micro-batch."""

from __future__ import annotations

from datetime import date

from market_spine.catalog.vocabulary import (
    PROVENANCE_DESCRIPTIONS,
    DatasetSpec,
    SchemaChange,
    columns_of,
)
from market_spine.futures.catalog import BAR_DESCRIPTIONS, OWNER
from market_spine.streaming.schemas import RAW_BARS_5S, RAW_BARS_5S_TABLE

RAW_BARS_5S_SPEC = DatasetSpec(
    name=RAW_BARS_5S_TABLE,
    description=(
        "Real-time 5-second futures bars from TWS as they arrived, landed every few seconds: "
        "one append-only capture per micro-batch, cited by the WebSocket messages."
    ),
    owner=OWNER,
    grain="one row per 5-second bar per capture",
    partitioning="symbol (append-only)",
    columns=columns_of(
        RAW_BARS_5S,
        {
            **BAR_DESCRIPTIONS,
            **PROVENANCE_DESCRIPTIONS,
            "ts": "Start of the bar's 5 seconds (UTC).",
            "vwap": "Volume-weighted average price of the 5 seconds (TWS `wap`).",
            "trades": "Number of trades in the 5 seconds (TWS `count`).",
        },
    ),
    history=(SchemaChange(1, date(2026, 11, 23), "first version"),),
    written_by="market-spine stream (outside Dagster: a long-running service)",
)
STREAMING_DATASETS = (RAW_BARS_5S_SPEC,)
