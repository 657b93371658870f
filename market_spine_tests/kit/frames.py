"""Small frames for lake tests: an hour of 1-minute bars of one symbol on one day, and writing it
as one partition of a test dataset."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from market_spine.lake import Lake

DS = "normalized/test_bars"


def day_frame(day: date, symbol: str, value: float, minutes: int = 60) -> pl.DataFrame:
    start = datetime(day.year, day.month, day.day, 14, tzinfo=UTC)
    ts = pl.datetime_range(
        start,
        start + timedelta(minutes=minutes - 1),
        "1m",
        time_unit="ns",
        time_zone="UTC",
        eager=True,
    )
    return pl.DataFrame({"ts": ts, "trade_date": day, "symbol": symbol, "close": value})


def put(lake: Lake, day: date, symbol: str, value: float) -> int:
    return lake.replace(
        DS,
        day_frame(day, symbol, value),
        equals={"trade_date": day, "symbol": symbol},
        partition_by=["symbol"],
        metadata={"capture_id": f"cap-{value}"},
    ).version


def contract_csv(path: Path, day: date, contract: str, cut: int = 0) -> Path:
    """A vendor CSV of one ES contract's session of `day` (the simulated market's bars, stamped
    at their open, naming the contract), less `cut` minutes from the 601st on: a short day."""
    from market_spine.providers.simulated import SimulatedMarket

    bars = SimulatedMarket().bars("ES", day, contract)
    if cut:
        bars = bars.filter(~pl.int_range(pl.len()).is_between(600, 600 + cut - 1))
    bars.select(
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "open",
        "high",
        "low",
        "close",
        "volume",
        "contract",
    ).write_csv(path)
    return path
