"""Each futures table's schema, declared once: pandera for validation, polars dtypes for writes."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from market_spine.providers.base import BAR_SCHEMA

_PRICE = {"open", "high", "low", "close", "vwap"}
_SIZE = {"volume", "trades"}
#: Not every source reports these (vendor OHLCV files have neither): null, never invented.
_OPTIONAL = {"vwap", "trades"}


def _bar_columns(dtypes: dict[str, pl.DataType]) -> dict[str, pa.Column]:
    columns: dict[str, pa.Column] = {}
    for name, dtype in dtypes.items():
        checks = []
        if name in _PRICE:
            checks.append(pa.Check.gt(0))
        if name in _SIZE:
            checks.append(pa.Check.ge(0))
        columns[name] = pa.Column(dtype, checks=checks, nullable=name in _OPTIONAL)
    return columns


#: Normalized 1-minute bars: one row per (symbol, ts), the accepted capture of a session.
NORMALIZED_BARS: dict[str, pl.DataType] = {
    "ts": BAR_SCHEMA["ts"],
    "trade_date": pl.Date(),
    **{k: v for k, v in BAR_SCHEMA.items() if k != "ts"},
    "capture_id": pl.String(),
}

#: Raw captures: the bars exactly as the source sent them, plus where, when and how.
RAW_BARS: dict[str, pl.DataType] = {
    **NORMALIZED_BARS,
    "captured_at": pl.Datetime("ns", "UTC"),
    "source": pl.String(),
    "request": pl.String(),
    "payload_sha256": pl.String(),
}

#: Daily bars derived from the normalized minutes of each session.
DAILY_BARS: dict[str, pl.DataType] = {
    "trade_date": pl.Date(),
    **{k: v for k, v in BAR_SCHEMA.items() if k != "ts"},
    "bar_count": pl.Int64(),
    "expected_bars": pl.Int64(),
    "capture_id": pl.String(),
}

#: One roll of one continuous series: when it takes effect, between which contracts, and the
#: price gap measured at the last minute both contracts traded before it.
ROLLS: dict[str, pl.DataType] = {
    "trade_date": pl.Date(),
    "symbol": pl.String(),
    "series": pl.String(),
    "rule": pl.String(),
    "rank": pl.Int64(),
    "roll_ts": pl.Datetime("ns", "UTC"),
    "from_contract": pl.String(),
    "to_contract": pl.String(),
    "gap_ts": pl.Datetime("ns", "UTC"),
    "from_price": pl.Float64(),
    "to_price": pl.Float64(),
    "gap": pl.Float64(),
    "ratio": pl.Float64(),
    "capture_id": pl.String(),
}

#: Continuous 1-minute bars: the bars of the contract each series holds, unadjusted.
CONTINUOUS_BARS: dict[str, pl.DataType] = {
    "ts": BAR_SCHEMA["ts"],
    "trade_date": pl.Date(),
    "symbol": pl.String(),
    "series": pl.String(),
    **{k: v for k, v in BAR_SCHEMA.items() if k not in ("ts", "symbol")},
    "capture_id": pl.String(),
}

#: Continuous daily bars, from the continuous minutes of each session.
CONTINUOUS_DAILY: dict[str, pl.DataType] = {
    "trade_date": pl.Date(),
    "symbol": pl.String(),
    "series": pl.String(),
    **{k: v for k, v in DAILY_BARS.items() if k not in ("trade_date", "symbol")},
}

RAW_BARS_SCHEMA = pa.DataFrameSchema(
    _bar_columns(RAW_BARS), name="raw/futures_bars_1m", strict=True
)
NORMALIZED_BARS_SCHEMA = pa.DataFrameSchema(
    _bar_columns(NORMALIZED_BARS),
    name="normalized/futures_bars_1m",
    strict=True,
    unique=["symbol", "ts"],
)
DAILY_BARS_SCHEMA = pa.DataFrameSchema(
    _bar_columns(DAILY_BARS),
    name="analytics/futures_bars_daily",
    strict=True,
    unique=["symbol", "trade_date"],
)
CONTINUOUS_BARS_SCHEMA = pa.DataFrameSchema(
    _bar_columns(CONTINUOUS_BARS),
    name="normalized/futures_continuous_1m",
    strict=True,
    unique=["series", "ts"],
)
CONTINUOUS_DAILY_SCHEMA = pa.DataFrameSchema(
    _bar_columns(CONTINUOUS_DAILY),
    name="analytics/futures_continuous_daily",
    strict=True,
    unique=["series", "trade_date"],
)
