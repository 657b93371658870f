"""The streaming path's own table: raw 5-second bars, one micro-batch capture per commit."""

from __future__ import annotations

import polars as pl

from market_spine.futures.schemas import RAW_BARS

RAW_BARS_5S_TABLE = "raw/futures_bars_5s"
#: The 1-minute raw capture columns, for 5-second bars (`ts` is the bar's open, UTC).
RAW_BARS_5S: dict[str, pl.DataType] = dict(RAW_BARS)
