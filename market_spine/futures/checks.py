"""Futures data checks as pure functions over frames, so the assets, tests and CLI share them.

Each returns a CheckOutcome; the assets turn it into a Dagster AssetCheckResult.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import numpy as np
import pandera.errors
import pandera.polars as pa
import polars as pl

from market_spine.assetkit import CheckOutcome
from market_spine.markets import calendars
from market_spine.markets.instruments import get_instrument

#: An absent run is "no trade" while a Poisson market at the neighbouring trade rate could
#: plausibly print nothing that long (p > e^-14, allowing for overdispersion); else missing.
NO_TRADE_MAX_LOG_ODDS = 14.0
#: Neighbouring minutes on each side whose trade counts estimate the local trade rate.
RATE_WINDOW_MINUTES = 30
#: Quantile of the neighbouring per-minute trade counts taken as the local rate.
RATE_QUANTILE = 0.05
#: No market sits silent this long inside a session: such a run is missing whatever the rate.
MAX_NO_TRADE_RUN = 30
#: Missing minutes up to this many make the completeness check warn rather than error.
MINOR_MISSING_MINUTES = 2
_MINUTE = 60_000_000_000
#: Robust z-score of a 1-minute return, against a rolling median absolute deviation, that flags it.
ANOMALY_Z = 12.0
ANOMALY_WINDOW = 121
WORST = 10


def _minute_runs(missing: np.ndarray) -> list[tuple[int, int]]:
    """Split sorted ns minute stamps into (start, length) runs of consecutive minutes."""
    if missing.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(missing) != 60_000_000_000) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [missing.size]))
    return [(int(missing[s]), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def _iso(ns: int) -> str:
    return np.datetime64(ns, "ns").astype("datetime64[s]").astype(str) + "Z"


def _is_missing(
    start: int, length: int, grid: np.ndarray, ts: np.ndarray, trades: np.ndarray
) -> bool:
    """Could the market have printed nothing for `length` minutes at its local trade rate?

    Trade counts are overdispersed (busy and idle minutes cluster), so the rate is a low
    quantile of the neighbouring minutes' counts, absent minutes counting as zero trades.
    """
    if length > MAX_NO_TRADE_RUN:
        return True
    lo, hi = start - RATE_WINDOW_MINUTES * _MINUTE, start + (length + RATE_WINDOW_MINUTES) * _MINUTE
    minutes = int(np.searchsorted(grid, hi) - np.searchsorted(grid, lo)) - length
    if minutes < 5:
        return False
    counts = trades[np.searchsorted(ts, lo) : np.searchsorted(ts, hi)]
    zeros = np.zeros(max(0, minutes - counts.size))
    rate = float(np.quantile(np.concatenate((counts, zeros)), RATE_QUANTILE))
    return rate * length > NO_TRADE_MAX_LOG_ODDS


def completeness(
    bars: pl.DataFrame,
    partitions: Iterable[tuple[str, date]],
    now: datetime | None = None,
) -> CheckOutcome:
    """Compare present bars with each session's expected minute grid (holidays, breaks, early
    closes included); an absent run that thin trading explains counts as no-trade minutes, one
    the neighbouring trade rate cannot explain counts as missing data."""
    now_ns = (
        None if now is None else int(np.datetime64(now.replace(tzinfo=None), "ns").astype(np.int64))
    )
    totals = {
        "expected_bars": 0,
        "present_bars": 0,
        "no_trade_minutes": 0,
        "missing_minutes": 0,
        "unexpected_bars": 0,
    }
    worst: list[dict[str, Any]] = []
    by_key = (
        bars.sort("ts")
        .group_by("symbol", "trade_date")
        # Activity per minute: the trade count; where a source gives none, a bar that traded
        # counts as one trade (a lower bound, so thin markets are not called gappy).
        .agg(
            pl.col("ts").dt.epoch("ns"),
            pl.coalesce("trades", (pl.col("volume") > 0).cast(pl.Int64)),
        )
    )
    present_map = {
        (r[0], r[1]): (np.asarray(r[2], dtype=np.int64), np.asarray(r[3], dtype=np.float64))
        for r in by_key.iter_rows()
    }
    nothing = (np.empty(0, np.int64), np.empty(0, np.float64))
    for symbol, trade_date in partitions:
        expected = calendars.expected_minutes(symbol, trade_date).asi8
        if now_ns is not None:
            expected = expected[expected + 60_000_000_000 <= now_ns]
        ts, trades = present_map.get((symbol, trade_date), nothing)
        present = np.unique(ts)
        absent = np.setdiff1d(expected, present, assume_unique=True)
        unexpected = np.setdiff1d(present, expected, assume_unique=True)
        if now_ns is not None:
            unexpected = unexpected[unexpected + 60_000_000_000 <= now_ns]
        runs = _minute_runs(absent)
        missing_runs = [(s, n) for s, n in runs if _is_missing(s, n, expected, ts, trades)]
        missing = sum(n for _, n in missing_runs)
        totals["expected_bars"] += int(expected.size)
        totals["present_bars"] += int(present.size)
        totals["missing_minutes"] += missing
        totals["no_trade_minutes"] += int(absent.size) - missing
        totals["unexpected_bars"] += int(unexpected.size)
        if missing or unexpected.size:
            worst.append(
                {
                    "symbol": symbol,
                    "trade_date": trade_date.isoformat(),
                    "missing_minutes": missing,
                    "missing_runs": [f"{_iso(s)} +{n}m" for s, n in missing_runs[:5]],
                    "unexpected_bars": int(unexpected.size),
                }
            )
    worst.sort(key=lambda w: -(w["missing_minutes"] + w["unexpected_bars"]))
    passed = totals["missing_minutes"] == 0 and totals["unexpected_bars"] == 0
    # A stray silent minute or two is more likely a quiet market than lost data: warn, don't fail.
    minor = totals["unexpected_bars"] == 0 and totals["missing_minutes"] <= MINOR_MISSING_MINUTES
    return CheckOutcome(
        passed,
        {**totals, "partitions_with_gaps": len(worst), "worst": worst[:WORST]},
        warn_only=minor,
    )


def validity(frame: pl.DataFrame, schema: pa.DataFrameSchema, key: tuple[str, ...]) -> CheckOutcome:
    """Schema (pandera), OHLC ordering, non-negative sizes and a unique key."""
    problems: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        problems["schema"] = len(cases)
        examples.extend(
            {"check": str(r.get("check")), "column": str(r.get("column"))}
            for r in cases.head(WORST).to_dicts()
        )
    except pandera.errors.SchemaError as exc:
        problems["schema"] = 1
        examples.append({"check": "schema", "error": str(exc)[:200]})
    if {"open", "high", "low", "close"} <= set(frame.columns):
        crossed = frame.filter(
            (pl.col("low") > pl.min_horizontal("open", "close"))
            | (pl.col("high") < pl.max_horizontal("open", "close"))
            | (pl.col("low") > pl.col("high"))
        )
        problems["ohlc_order"] = crossed.height
        examples.extend({"check": "ohlc_order", **_row(r)} for r in crossed.head(WORST).to_dicts())
    dupes = frame.filter(pl.struct(list(key)).is_duplicated())
    problems["duplicate_keys"] = dupes.height
    examples.extend({"check": "duplicate_key", **_row(r)} for r in dupes.head(WORST).to_dicts())
    for col in ("volume", "trades"):
        if col in frame.columns:
            problems[f"negative_{col}"] = frame.filter(pl.col(col) < 0).height
    passed = not any(problems.values())
    return CheckOutcome(passed, {"rows": frame.height, **problems, "worst": examples[:WORST]})


def _row(r: dict[str, Any]) -> dict[str, Any]:
    keep = ("symbol", "ts", "trade_date", "open", "high", "low", "close")
    return {k: str(r[k]) for k in keep if k in r}


def anomalies(bars: pl.DataFrame, threshold: float = ANOMALY_Z) -> CheckOutcome:
    """Flag 1-minute returns whose robust z-score (against a rolling MAD) exceeds the threshold.

    The MAD is floored at one tick, since in quiet minutes most returns are zero and any tick
    would otherwise look infinite. Flagged rows stay in the table; the check warns and lists them.
    """
    if bars.is_empty():
        return CheckOutcome(True, {"flagged": 0, "worst": []}, warn_only=True)
    ticks = {s: get_instrument(s).tick_size for s in bars["symbol"].unique().to_list()}
    scored = (
        bars.sort("symbol", "ts")
        .with_columns(ret=pl.col("close").log().diff().over("symbol", "trade_date"))
        .with_columns(
            med=pl.col("ret")
            .rolling_median(ANOMALY_WINDOW, min_samples=20, center=True)
            .over("symbol", "trade_date")
        )
        .with_columns(dev=(pl.col("ret") - pl.col("med")).abs())
        .with_columns(
            mad=pl.col("dev")
            .rolling_median(ANOMALY_WINDOW, min_samples=20, center=True)
            .over("symbol", "trade_date")
        )
        .with_columns(floor=pl.col("symbol").replace_strict(ticks, default=0.01) / pl.col("close"))
        .with_columns(z=pl.col("dev") / (1.4826 * pl.max_horizontal("mad", "floor")))
    )
    flagged = scored.filter(pl.col("z") > threshold).sort("z", descending=True)
    worst = [
        {"symbol": r["symbol"], "ts": str(r["ts"]), "close": r["close"], "z": round(r["z"], 1)}
        for r in flagged.head(WORST).to_dicts()
    ]
    return CheckOutcome(
        flagged.is_empty(),
        {"flagged": flagged.height, "threshold_z": threshold, "worst": worst},
        warn_only=True,
    )
