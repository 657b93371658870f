"""Options tables' columns, declared once (polars dtypes; the checks validate against them)."""

from __future__ import annotations

import polars as pl

from market_spine.providers.base import CHAIN_SCHEMA, QUOTE_SCHEMA

PROVENANCE: dict[str, pl.DataType] = {
    "capture_id": pl.String(),
    "captured_at": pl.Datetime("ns", "UTC"),
    "source": pl.String(),
    "request": pl.String(),
    "payload_sha256": pl.String(),
}

#: Raw EOD captures: the chain as the source sent it, plus provenance.
RAW_CHAIN: dict[str, pl.DataType] = {"trade_date": pl.Date(), **CHAIN_SCHEMA, **PROVENANCE}

#: Raw intraday captures: a day of one expiration's 1-minute quotes, plus provenance.
RAW_QUOTES: dict[str, pl.DataType] = {"trade_date": pl.Date(), **QUOTE_SCHEMA, **PROVENANCE}

#: One row per contract per day.
NORMALIZED_CHAIN: dict[str, pl.DataType] = {
    "trade_date": pl.Date(),
    "osi": pl.String(),
    **{k: v for k, v in CHAIN_SCHEMA.items()},
    "mid": pl.Float64(),
    "days_to_expiry": pl.Int64(),
    "t": pl.Float64(),
    "capture_id": pl.String(),
}

#: Normalized rows plus the parity forward/discount, implied vols and greeks.
GREEKS: dict[str, pl.DataType] = {
    **NORMALIZED_CHAIN,
    "forward": pl.Float64(),
    "discount": pl.Float64(),
    "iv": pl.Float64(),
    "iv_bid": pl.Float64(),
    "iv_ask": pl.Float64(),
    "iv_converged": pl.Boolean(),
    "iv_reason": pl.Int64(),
    "delta": pl.Float64(),
    "gamma": pl.Float64(),
    "vega": pl.Float64(),
    "theta": pl.Float64(),
    "rho": pl.Float64(),
}

#: Per expiry: ATM vol, 25-delta risk reversal and butterfly (the term structure by t).
SURFACE: dict[str, pl.DataType] = {
    "trade_date": pl.Date(),
    "root": pl.String(),
    "expiration": pl.Date(),
    "t": pl.Float64(),
    "forward": pl.Float64(),
    "atm_iv": pl.Float64(),
    "rr25": pl.Float64(),
    "bf25": pl.Float64(),
    "strikes": pl.Int64(),
}
