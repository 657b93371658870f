"""Building the continuous series (CL, ES, NG × c.0, c.1, v.0, v.1) and the roll table over five
years, beside a naive per-day loop measured in the same run.

The input is what the lake holds after five years of captures: the simulated bars of every
contract the raw asset captures (the front, the next, and the one after in the roll window), one
root at a time in memory (generated first, not timed). Measured per root:
- ours: session volumes, holdings, the roll table and the continuous minutes as joins
  (`futures.rolls`, `futures.continuous`), then the continuous daily bars;
- baseline: the same minutes and rolls built session by session: each day's holdings, then one
  filter of the bars per series and day, and each roll's gap from filtered sessions.
Both must give the same rows (checked).

Usage: `.venv/bin/python bench/continuous.py [YEARS]` (default 5).
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, date, datetime

import polars as pl
import report

from market_spine.futures.continuous import continuous_minutes
from market_spine.futures.continuous_daily import continuous_daily_from_minutes
from market_spine.futures.rolls import (
    held_contracts,
    holdings,
    measure_rolls,
    session_volumes,
)
from market_spine.futures.schemas import CONTINUOUS_BARS, NORMALIZED_BARS
from market_spine.markets import calendars
from market_spine.markets.rolls import captured_contracts
from market_spine.providers.simulated import SimulatedMarket

ROOTS = ("CL", "ES", "NG")
LAST = date(2025, 12, 31)


def contract_bars(root: str, days: list[date]) -> pl.DataFrame:
    """Every captured contract's bars of `root` over `days`, as the lake holds them."""
    market = SimulatedMarket(clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    frames = [
        market.bars(root, d, c.local_symbol).with_columns(
            trade_date=pl.lit(d), capture_id=pl.lit(f"{d}{c.local_symbol}")
        )
        for d in days
        for c in captured_contracts(root, d)
    ]
    return pl.concat(frames).select(list(NORMALIZED_BARS)).sort("contract", "ts")


def ours(root: str, days: list[date], bars: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    held = holdings(root, days, session_volumes(bars))
    minutes = continuous_minutes(bars, held)
    continuous_daily_from_minutes(minutes)
    return minutes, measure_rolls(root, days[1:], bars)


def baseline(root: str, days: list[date], bars: pl.DataFrame) -> pl.DataFrame:
    """Session by session: the day's volumes and holdings, then one filter per series."""
    volumes: dict[tuple[date, str], int] = {}
    out: list[pl.DataFrame] = []
    for d in days:
        session = bars.filter(pl.col("trade_date") == d)
        for contract, volume in session.group_by("contract").agg(pl.col("volume").sum()).rows():
            volumes[(d, contract)] = int(volume)
        for series, contract in held_contracts(root, d, volumes).items():
            rows = session.filter(pl.col("contract") == contract.local_symbol)
            out.append(rows.with_columns(series=pl.lit(series.name)).select(list(CONTINUOUS_BARS)))
    return pl.concat(out).sort("series", "ts")


def main() -> None:
    years = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    first = date(LAST.year - years + 1, 1, 1)
    rows: list[list[object]] = []
    totals = {"ours_s": 0.0, "baseline_s": 0.0, "minutes": 0, "rolls": 0}
    for root in ROOTS:
        days = calendars.trading_days(root, first, LAST)
        t0 = time.perf_counter()
        bars = contract_bars(root, days)
        generated = time.perf_counter() - t0
        report.collect()
        t0 = time.perf_counter()
        minutes, rolled = ours(root, days, bars)
        mine = time.perf_counter() - t0
        report.collect()
        t0 = time.perf_counter()
        naive = baseline(root, days, bars)
        slow = time.perf_counter() - t0
        assert naive.equals(minutes), f"{root}: the baseline and ours differ"
        rows.append([root, len(days), bars.height, minutes.height, rolled.height, mine, slow])
        totals["ours_s"] += mine
        totals["baseline_s"] += slow
        totals["minutes"] += minutes.height
        totals["rolls"] += rolled.height
        print(f"{root}: {bars.height:,} contract bars generated in {generated:.1f} s", flush=True)
        del bars, minutes, naive
        report.collect()
    rows.append(
        [
            "all",
            None,
            None,
            totals["minutes"],
            totals["rolls"],
            totals["ours_s"],
            totals["baseline_s"],
        ]
    )
    report.table(
        f"continuous series, {years} years × {len(ROOTS)} roots ({first}..{LAST})",
        ["root", "sessions", "contract bars", "series minutes", "rolls", "ours s", "per-day s"],
        rows,
    )
    report.save(
        "continuous",
        {
            "years": years,
            "roots": list(ROOTS),
            "seconds": round(totals["ours_s"], 2),
            "baseline_seconds": round(totals["baseline_s"], 2),
            "speedup": round(totals["baseline_s"] / totals["ours_s"], 1),
            "series_minutes": totals["minutes"],
            "rolls": totals["rolls"],
            "peak_rss_mib": report.peak_rss_mib(),
        },
    )


if __name__ == "__main__":
    main()
