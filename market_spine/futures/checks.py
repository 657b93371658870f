"""Futures data checks as pure functions over frames, so the assets, tests and CLI share them,
and each dataset's checks declared once (name, description, blocking) at the end.

Each returns a CheckOutcome; the assets turn it into one Dagster evaluation per partition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors
import pandera.polars as pa
import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.certification.tables import FLAG_FINDING_SCHEMA
from market_spine.check_kit import CheckDef, CheckOutcome, judge, rows_by
from market_spine.futures import no_trade
from market_spine.futures.partitions import partition_key
from market_spine.futures.rolls import AbsentContract
from market_spine.futures.schemas import (
    CONTINUOUS_BARS_SCHEMA,
    CONTINUOUS_DAILY_SCHEMA,
    DAILY_BARS_SCHEMA,
    NORMALIZED_BARS_SCHEMA,
    RAW_BARS_SCHEMA,
)
from market_spine.markets import calendars
from market_spine.markets.instruments import get_instrument

#: Missing minutes up to this many make the completeness check warn rather than error.
MINOR_MISSING_MINUTES = 2
_MINUTE = 60_000_000_000
#: Robust z-score of a 1-minute return, against a rolling median absolute deviation, that flags it.
ANOMALY_Z = 12.0
ANOMALY_WINDOW = 121
#: The flag kind of a 1-minute return past ANOMALY_Z.
RETURN_OUTLIER = "return_outlier"
WORST = 10
_NO_ACTIVITY = (np.empty(0, np.int64), np.empty(0, np.float64))


@dataclass(frozen=True)
class SessionGaps:
    """What one (symbol, trade date) lacks: absent minutes split into no-trade and missing runs
    (start ns UTC, minutes), and bars outside the session grid."""

    symbol: str
    trade_date: date
    expected: int
    present: int
    absent: int
    missing_runs: list[tuple[int, int]]
    unexpected: int

    @property
    def missing(self) -> int:
        """Minutes in missing runs."""
        return sum(n for _, n in self.missing_runs)

    def worst(self) -> dict[str, Any]:
        """The partition as an operator reads it in the check's `worst` list."""
        return {
            "symbol": self.symbol,
            "trade_date": self.trade_date.isoformat(),
            "missing_minutes": self.missing,
            "missing_runs": [f"{_iso(s)} +{n}m" for s, n in self.missing_runs[:5]],
            "unexpected_bars": self.unexpected,
        }


def minute_runs(minutes: np.ndarray) -> list[tuple[int, int]]:
    """Split sorted ns minute stamps into (start, length) runs of consecutive minutes."""
    if minutes.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(minutes) != _MINUTE) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [minutes.size]))
    return [(int(minutes[s]), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def _iso(ns: int) -> str:
    return np.datetime64(ns, "ns").astype("datetime64[s]").astype(str) + "Z"


def _closed_by(minutes: np.ndarray, now_ns: int | None) -> np.ndarray:
    """The minutes whose bar has closed by `now` (all of them when `now` is None)."""
    return minutes if now_ns is None else minutes[minutes + _MINUTE <= now_ns]


def activity(bars: pl.DataFrame) -> dict[tuple[str, date], tuple[np.ndarray, np.ndarray]]:
    """Per (symbol, trade date): sorted bar minutes (ns UTC) and each minute's trade count.

    Where a source gives no trade count, a bar that traded counts as one trade: a lower bound,
    so a thin market is not called gappy.
    """
    grouped = (
        bars.sort("ts")
        .group_by("symbol", "trade_date")
        .agg(
            pl.col("ts").dt.epoch("ns"),
            pl.coalesce("trades", (pl.col("volume") > 0).cast(pl.Int64)),
        )
    )
    return {
        (symbol, day): (np.asarray(ts, np.int64), np.asarray(trades, np.float64))
        for symbol, day, ts, trades in grouped.iter_rows()
    }


def session_gaps(
    symbol: str, trade_date: date, ts: np.ndarray, trades: np.ndarray, now_ns: int | None = None
) -> SessionGaps:
    """Compare one session's bar minutes (sorted ns, with trade counts) with the minutes the
    calendar owes by `now`: each absent run is no-trade or missing (`no_trade.is_missing`)."""
    expected = _closed_by(calendars.expected_minutes(symbol, trade_date).asi8, now_ns)
    present = np.unique(ts)
    absent = np.setdiff1d(expected, present, assume_unique=True)
    unexpected = _closed_by(np.setdiff1d(present, expected, assume_unique=True), now_ns)
    missing = [
        (start, n)
        for start, n in minute_runs(absent)
        if no_trade.is_missing(start, n, expected, ts, trades)
    ]
    return SessionGaps(
        symbol, trade_date, expected.size, present.size, absent.size, missing, unexpected.size
    )


def _outcome(gaps: list[SessionGaps]) -> CheckOutcome:
    """Totals over sessions; a stray missing minute or two only warns (more likely a quiet
    market than lost data), anything more or any bar outside a session fails."""
    missing = sum(g.missing for g in gaps)
    unexpected = sum(g.unexpected for g in gaps)
    flagged = sorted(
        (g for g in gaps if g.missing or g.unexpected), key=lambda g: -(g.missing + g.unexpected)
    )
    return CheckOutcome(
        missing == 0 and unexpected == 0,
        {
            "expected_bars": sum(g.expected for g in gaps),
            "present_bars": sum(g.present for g in gaps),
            "no_trade_minutes": sum(g.absent for g in gaps) - missing,
            "missing_minutes": missing,
            "unexpected_bars": unexpected,
            "partitions_with_gaps": len(flagged),
            "worst": [g.worst() for g in flagged[:WORST]],
        },
        warn_only=unexpected == 0 and missing <= MINOR_MISSING_MINUTES,
    )


def completeness(
    bars: pl.DataFrame,
    partitions: Iterable[tuple[str, date]],
    now: datetime | None = None,
    by_session: Mapping[tuple[str, date], tuple[np.ndarray, np.ndarray]] | None = None,
) -> CheckOutcome:
    """Compare present bars with each session's expected minute grid (holidays, breaks, early
    closes included); an absent run that the neighbouring activity explains counts as no-trade
    minutes, one it cannot explain as missing data. `now` (UTC) limits a live session to the
    minutes that have closed. `by_session` is the bars' `activity` when already known."""
    now_ns = None if now is None else int(pd.Timestamp(now).as_unit("ns").value)
    if by_session is None:
        by_session = activity(bars)
    return _outcome(
        [
            session_gaps(symbol, day, *by_session.get((symbol, day), _NO_ACTIVITY), now_ns=now_ns)
            for symbol, day in partitions
        ]
    )


def schema_problems(frame: pl.DataFrame, schema: pa.DataFrameSchema) -> list[dict[str, str]]:
    """The frame's pandera failure cases (check and column), empty when it conforms."""
    try:
        schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        return [
            {"check": str(r.get("check")), "column": str(r.get("column"))}
            for r in exc.failure_cases.to_dicts()
        ]
    except pandera.errors.SchemaError as exc:
        return [{"check": "schema", "error": str(exc)[:200]}]
    return []


class RunRows:
    """A run's whole frame, validated against a schema once: pandera costs the same for one
    partition as for a year of them, and when the whole frame conforms so does every partition
    (its checks are per row or per key), so partitions skip it."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self._conforms: dict[int, bool] = {}
        self._valid: dict[tuple[int, tuple[str, ...]], CheckOutcome] = {}
        self._flagged: dict[Any, pl.DataFrame] | None = None
        self._activity: dict[tuple[str, date], tuple[np.ndarray, np.ndarray]] | None = None
        self._empty_flagged = frame.clear()

    def conforms(self, schema: pa.DataFrameSchema) -> bool:
        """True when the whole frame passes `schema`."""
        if id(schema) not in self._conforms:
            self._conforms[id(schema)] = not schema_problems(self.frame, schema)
        return self._conforms[id(schema)]

    def valid(self, schema: pa.DataFrameSchema, key: tuple[str, ...]) -> CheckOutcome:
        """The validity of the whole frame. Its problems are per row or per key within a
        partition, so when the whole frame has none, no partition has any."""
        found = self._valid.get((id(schema), key))
        if found is None:
            found = validity(self.frame, schema, key, self.conforms(schema))
            self._valid[(id(schema), key)] = found
        return found

    def activity(self) -> dict[tuple[str, date], tuple[np.ndarray, np.ndarray]]:
        """The whole frame's `activity`, per (symbol, trade date) as each partition's is."""
        if self._activity is None:
            self._activity = activity(self.frame)
        return self._activity

    def flagged(self, symbol: str, trade_date: date) -> pl.DataFrame:
        """The partition's rows the anomaly check flags, worst first. Returns are scored per
        (symbol, trade date), so scoring the whole frame once flags what scoring each
        partition alone would."""
        if self._flagged is None:
            flagged = scored_returns(self.frame, ANOMALY_Z)
            self._empty_flagged = flagged.clear()
            self._flagged = (
                flagged.partition_by("symbol", "trade_date", as_dict=True, maintain_order=True)
                if flagged.height
                else {}
            )
        return self._flagged.get((symbol, trade_date), self._empty_flagged)


def validity(
    frame: pl.DataFrame,
    schema: pa.DataFrameSchema,
    key: tuple[str, ...],
    conforms: bool = False,
) -> CheckOutcome:
    """Schema (pandera), OHLC ordering, non-negative sizes and a unique key. `conforms` says the
    schema is already known to pass (see RunRows), so pandera is not run again."""
    problems: dict[str, int] = {}
    examples: list[dict[str, Any]] = []
    failures = [] if conforms else schema_problems(frame, schema)
    if failures:
        problems["schema"] = len(failures)
        examples.extend(failures[:WORST])
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
    return flagged_outcome(scored_returns(bars, threshold), threshold)


def scored_returns(bars: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """The bars whose 1-minute return scores past `threshold` (see `anomalies`), with their
    robust z-score `z`, worst first; returns are scored per symbol and trade date."""
    if bars.is_empty():
        return bars.with_columns(z=pl.lit(None, pl.Float64()))
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
    return scored.filter(pl.col("z") > threshold).sort("z", descending=True, maintain_order=True)


def flagged_outcome(flagged: pl.DataFrame, threshold: float = ANOMALY_Z) -> CheckOutcome:
    """The anomaly check's outcome from the rows it flagged (`scored_returns`), worst first."""
    worst = [
        {"symbol": r["symbol"], "ts": str(r["ts"]), "close": r["close"], "z": round(r["z"], 1)}
        for r in flagged.head(WORST).to_dicts()
    ]
    return CheckOutcome(
        flagged.is_empty(),
        {"flagged": flagged.height, "threshold_z": threshold, "worst": worst},
        warn_only=True,
        flagged=conform(
            flagged.select(
                "trade_date",
                "symbol",
                pl.col("symbol").alias("instrument"),
                pl.col("ts").cast(FLAG_FINDING_SCHEMA["ts"]),
                pl.lit(RETURN_OUTLIER).alias("kind"),
                (pl.col("z") / threshold).alias("score"),
                pl.col("z").alias("value"),
                pl.col("capture_id")
                if "capture_id" in flagged.columns
                else pl.lit(None, pl.String()).alias("capture_id"),
            ),
            FLAG_FINDING_SCHEMA,
        ),
    )


def missing_days(daily: pl.DataFrame, partitions: list[tuple[str, date]]) -> CheckOutcome:
    """Every trading day of the run has a daily row; days without a session need none."""
    present = set(daily.select("symbol", "trade_date").iter_rows())
    expected = [(s, d) for s, d in partitions if calendars.is_trading_day(s, d)]
    missing = [f"{s} {d.isoformat()}" for s, d in expected if (s, d) not in present]
    return CheckOutcome(
        not missing,
        {"expected_days": len(expected), "missing_days": len(missing), "worst": missing[:WORST]},
    )


@dataclass(frozen=True)
class BarsPartition:
    """One (symbol, trade date) partition's rows as its checks see them; `now` (UTC) limits a
    live session to the minutes that have closed."""

    symbol: str
    trade_date: date
    rows: pl.DataFrame
    now: datetime | None = None
    run: RunRows | None = None

    def conforms(self, schema: pa.DataFrameSchema) -> bool:
        """True when the run's whole frame is known to pass `schema`."""
        return self.run is not None and self.run.conforms(schema)


def judge_partitions(
    checks: Sequence[CheckDef[BarsPartition]],
    rows: pl.DataFrame,
    partitions: Iterable[tuple[str, date]],
    now: datetime | None = None,
) -> dict[str, dict[str, CheckOutcome]]:
    """Each (symbol, trade date) partition's outcome of every check, by partition key; a
    partition without rows is judged on an empty frame."""
    partitions = list(partitions)
    frames = rows_by(rows, ["symbol", "trade_date"], partitions)
    run = RunRows(rows)
    return {
        str(partition_key(day, symbol)): judge(
            checks, BarsPartition(symbol, day, frames[(symbol, day)], now, run)
        )
        for symbol, day in partitions
    }


def _valid(
    schema: pa.DataFrameSchema, key: tuple[str, ...]
) -> Callable[[BarsPartition], CheckOutcome]:
    """The validity check of a partition against `schema` with a unique `key`: the run's whole
    frame judged once stands for every partition when it has no problem (`RunRows.valid`)."""

    def judged(p: BarsPartition) -> CheckOutcome:
        if p.run is not None:
            whole = p.run.valid(schema, key)
            if whole.passed:
                return CheckOutcome(True, {**whole.metadata, "rows": p.rows.height})
        return validity(p.rows, schema, key, p.conforms(schema))

    return judged


def _anomalies(p: BarsPartition) -> CheckOutcome:
    """The anomaly check of a partition, from the run's whole frame scored once."""
    if p.run is None or p.rows.is_empty():
        return anomalies(p.rows)
    return flagged_outcome(p.run.flagged(p.symbol, p.trade_date))


RAW_BARS_CHECKS: tuple[CheckDef[BarsPartition], ...] = (
    CheckDef(
        "capture_validity",
        "Captured bars match the raw schema, with OHLC in order, non-negative sizes and one bar "
        "per capture and minute.",
        _valid(RAW_BARS_SCHEMA, ("capture_id", "symbol", "ts")),
    ),
)
#: Minute-bar completeness; the normalized asset also reports its counts as metadata. Missing
#: data withholds certification but stops nothing: the other days of a range still flow on.
MINUTE_COMPLETENESS: CheckDef[BarsPartition] = CheckDef(
    "completeness",
    "Every minute the session owes has a bar or is a plausible no-trade minute; no bar lies "
    "outside the session.",
    lambda p: completeness(
        p.rows,
        [(p.symbol, p.trade_date)],
        now=p.now,
        by_session=None if p.run is None else p.run.activity(),
    ),
    certifying=True,
)
NORMALIZED_BARS_CHECKS: tuple[CheckDef[BarsPartition], ...] = (
    MINUTE_COMPLETENESS,
    CheckDef(
        "validity",
        "Schema, OHLC ordering, non-negative sizes and one bar per symbol and minute.",
        _valid(NORMALIZED_BARS_SCHEMA, ("symbol", "ts")),
        blocking=True,
    ),
    CheckDef(
        "anomalies",
        "No 1-minute return beyond a robust z-score of 12 (flagged rows are kept).",
        _anomalies,
    ),
)
DAILY_BARS_CHECKS: tuple[CheckDef[BarsPartition], ...] = (
    CheckDef(
        "validity",
        "Schema, OHLC ordering, non-negative sizes and one row per symbol and trade date.",
        _valid(DAILY_BARS_SCHEMA, ("symbol", "trade_date")),
        blocking=True,
    ),
    CheckDef(
        "completeness",
        "Every trading day has its daily row; a day without a session needs none.",
        lambda p: missing_days(p.rows, [(p.symbol, p.trade_date)]),
        certifying=True,
    ),
)


# -- rolls and continuous series --------------------------------------------------------------

#: A jump at a roll beyond its recorded gap is flagged past this many robust standard deviations
#: of the series' 1-minute moves that session (the anomaly check's scale), or ROLL_JUMP_TICKS.
ROLL_JUMP_TICKS = 4


@dataclass(frozen=True)
class RollsPartition:
    """One (root, trade date) partition of the continuous datasets as their checks see it: the
    session's rows, the previous session's (`before`, for the jump at a roll) and the rolls
    taking effect that session."""

    symbol: str
    trade_date: date
    rows: pl.DataFrame
    before: pl.DataFrame
    rolls: pl.DataFrame
    now: datetime | None = None
    #: The series without bars because their contract has none that session (`AbsentContract`).
    absent: tuple[AbsentContract, ...] = ()
    #: The contracts with bars on the session before (where a roll's gap is measured); None
    #: when not known.
    held_before: frozenset[str] | None = None
    #: The open (UTC) of the last minute the lake's bars of each contract stand for that
    #: session (`coverage.covered_through`); a contract absent here is judged up to `now`.
    covered: Mapping[str, datetime] | None = None

    def judged_until(self, series: str) -> datetime | None:
        """The instant `series`' minutes are judged to: `now`, or before it the close of the
        last minute its contract's bars stand for. A live capture asks for the minutes closed
        when it runs, its judgment comes a moment later: the minute that closes in between is
        owed by the next capture (or the stream), not missing from this one."""
        held = self.rows.filter(pl.col("series") == series)["contract"]
        through = (self.covered or {}).get(held[-1]) if held.len() else None
        if self.now is None or through is None:
            return self.now
        return min(self.now, through + timedelta(minutes=1))

    def judged_series(self) -> tuple[list[str], list[dict[str, str]]]:
        """The root's series judged on their own rows, and those left out because their
        contract is absent (series, contract, reason): they are missing, not failed, even
        when every series is (the session holds only other months; a session with no bars
        at all is not loaded and has no absent series)."""
        from market_spine.markets.rolls import series_of

        every = [s.name for s in series_of(self.symbol)]
        absent = {a.series: a for a in self.absent}
        left_out = [
            {"series": a.series, "contract": a.contract, "reason": a.reason()} for a in self.absent
        ]
        return [n for n in every if n not in absent], left_out


def rolls_recorded(p: RollsPartition) -> CheckOutcome:
    """Each calendar roll of the rule on this date has its rows (c.0 and c.1), every roll has
    two different contracts and a measured gap. Each problem is named in `worst` with its
    series, its from and to contract, the contract the lake lacks and the command that
    loads it."""
    from market_spine.futures.rolls import capture_fix, unmeasured_gap
    from market_spine.markets.instruments import next_contract, roll_dates
    from market_spine.markets.rolls import RANKS, ContinuousSymbol

    due = roll_dates(p.symbol, p.trade_date, p.trade_date)
    recorded = set(p.rolls["series"].to_list())
    missing = [
        ContinuousSymbol(p.symbol, "calendar", rank).name
        for rank in RANKS
        if due and ContinuousSymbol(p.symbol, "calendar", rank).name not in recorded
    ]
    problems: list[dict[str, Any]] = []
    prev = calendars.previous_trading_day(p.symbol, p.trade_date) or p.trade_date
    for name in missing:
        rank = continuous_rank(name)
        _, old, new = due[0]
        pair = (next_contract(old, rank).local_symbol, next_contract(new, rank).local_symbol)
        problems.append(
            {
                "series": name,
                "trade_date": str(p.trade_date),
                "from_contract": pair[0],
                "to_contract": pair[1],
                "fix": f"{name} rolls {pair[0]} → {pair[1]} on {p.trade_date}, but the roll "
                f"table has no row of it: load both contracts' bars of {prev} "
                f"({capture_fix(p.symbol, prev, pair)}), then run the roll table for "
                f"{p.trade_date}",
            }
        )
    unmeasured = p.rolls.filter(pl.col("gap").is_null())
    problems += [unmeasured_gap(p.symbol, r, p.held_before) for r in unmeasured.to_dicts()]
    same = p.rolls.filter(pl.col("from_contract") == pl.col("to_contract"))
    problems += [
        {
            "series": r["series"],
            "trade_date": str(p.trade_date),
            "from_contract": r["from_contract"],
            "to_contract": r["to_contract"],
            "fix": f"{r['series']} rolls from {r['from_contract']} to itself: run the roll "
            f"table for {p.trade_date} again",
        }
        for r in same.to_dicts()
    ]
    return CheckOutcome(
        not problems,
        {
            "rolls": p.rolls.height,
            "calendar_rolls_due": len(due),
            "missing_rolls": missing,
            "gap_not_measured": unmeasured["series"].to_list(),
            "same_contract": same["series"].to_list(),
            # The first problem in one line, where lists are not shown (the import's report).
            "fix": problems[0]["fix"] + (f" (and {len(problems) - 1} more)" if problems[1:] else "")
            if problems
            else "",
            "worst": problems[:WORST],
        },
    )


def continuous_rank(series: str) -> int:
    """The rank of a continuous series' name (`ES.c.1` → 1)."""
    from market_spine.markets.rolls import continuous_symbol

    return continuous_symbol(series).rank


def _minute_scale(rows: pl.DataFrame, tick: float) -> float:
    """A robust standard deviation of the session's 1-minute close moves (at least a tick)."""
    moves = rows["close"].diff().drop_nulls().to_numpy()
    mad = float(np.median(np.abs(moves - np.median(moves)))) if moves.size else 0.0
    return max(1.4826 * mad, tick)


def roll_jumps(p: RollsPartition) -> CheckOutcome:
    """At every change of contract in a series, the jump from the previous session's last bar
    to this session's first is the recorded gap plus ordinary moves: a switch without a roll,
    or a jump the gap does not explain, fails."""
    tick = get_instrument(p.symbol).tick_size
    problems: list[dict[str, Any]] = []
    rolled = {r["series"]: r for r in p.rolls.to_dicts()}
    switches = 0
    for series in sorted(set(p.rows["series"].to_list()) | set(rolled)):
        today = p.rows.filter(pl.col("series") == series).sort("ts")
        earlier = p.before.filter(pl.col("series") == series).sort("ts")
        if today.is_empty() or earlier.is_empty():
            continue
        first, last = today.row(0, named=True), earlier.row(-1, named=True)
        roll = rolled.get(series)
        if first["contract"] == last["contract"] and roll is None:
            continue
        switches += 1
        if roll is None or roll["to_contract"] != first["contract"]:
            why = (
                "contract changed without a roll" if roll is None else "roll names another contract"
            )
            problems.append({"series": series, "problem": why, "contract": first["contract"]})
            continue
        if roll["gap"] is None:
            continue  # rolls_recorded reports it
        jump = first["open"] - last["close"]
        unexplained = jump - roll["gap"]
        limit = max(ANOMALY_Z * _minute_scale(today, tick), ROLL_JUMP_TICKS * tick)
        if abs(unexplained) > limit:
            problems.append(
                {
                    "series": series,
                    "problem": "jump beyond the recorded gap",
                    "jump": round(jump, 6),
                    "gap": round(roll["gap"], 6),
                    "limit": round(limit, 6),
                }
            )
    return CheckOutcome(not problems, {"switches": switches, "worst": problems[:WORST]})


def continuous_completeness(p: RollsPartition) -> CheckOutcome:
    """Every series of the root whose contract has bars that session has the minutes its
    session owes (as `completeness`, one series at a time); totals over those series, the
    worst named by series. A series whose contract has no bars at all (a vendor file of one
    contract) is not judged: `absent` names it, its contract and the fix."""
    judged, absent = p.judged_series()
    outcomes = {
        name: completeness(
            p.rows.filter(pl.col("series") == name),
            [(p.symbol, p.trade_date)],
            now=p.judged_until(name),
        )
        for name in judged
    }
    failing = {name: o for name, o in outcomes.items() if not o.passed}
    metadata = {
        "series": len(outcomes),
        **{
            count: sum(o.metadata[count] for o in outcomes.values())
            for count in ("expected_bars", "present_bars", "no_trade_minutes")
        },
        "missing_minutes": sum(o.metadata["missing_minutes"] for o in outcomes.values()),
        "unexpected_bars": sum(o.metadata["unexpected_bars"] for o in outcomes.values()),
        "worst": [
            {"series": name, **o.metadata["worst"][0]}
            for name, o in failing.items()
            if o.metadata["worst"]
        ][:WORST],
        "absent": absent,
        # Each series judged apart, so a complete one is certified beside an incomplete one.
        "by_series": {
            name: {
                **{c: o.metadata[c] for c in _SERIES_COUNTS},
                "passed": o.passed,
                "warn_only": o.warn_only,
            }
            for name, o in outcomes.items()
        },
    }
    return CheckOutcome(not failing, metadata, warn_only=all(o.warn_only for o in failing.values()))


#: A series' own counts in the continuous completeness check's `by_series`.
_SERIES_COUNTS = ("expected_bars", "present_bars", "missing_minutes", "no_trade_minutes")


def continuous_days(p: RollsPartition) -> CheckOutcome:
    """On a trading day every series has its daily row, but those whose contract has no bars
    that session (`absent`, as in `continuous_completeness`)."""
    if not calendars.is_trading_day(p.symbol, p.trade_date):
        return CheckOutcome(True, {"expected": 0, "missing": [], "absent": [], "judged": []})
    judged, absent = p.judged_series()
    present = set(p.rows["series"].to_list())
    missing = [name for name in judged if name not in present]
    return CheckOutcome(
        not missing,
        {"expected": len(judged), "missing": missing, "absent": absent, "judged": judged},
    )


ROLLS_CHECKS: tuple[CheckDef[RollsPartition], ...] = (
    CheckDef(
        "rolls_recorded",
        "Each calendar roll of the rule on this date has its rows; every roll is between two "
        "contracts with a gap measured at a minute both traded.",
        rolls_recorded,
    ),
)
CONTINUOUS_BARS_CHECKS: tuple[CheckDef[RollsPartition], ...] = (
    CheckDef(
        "validity",
        "Schema, OHLC ordering, non-negative sizes and one bar per series and minute.",
        lambda p: validity(p.rows, CONTINUOUS_BARS_SCHEMA, ("series", "ts")),
        blocking=True,
    ),
    CheckDef(
        "completeness",
        "Every series has the minutes its session owes (or plausible no-trade minutes).",
        continuous_completeness,
        certifying=True,
    ),
    CheckDef(
        "roll_jumps",
        "At each change of contract the series jumps by the recorded gap plus ordinary moves; "
        "no contract changes without a roll.",
        roll_jumps,
    ),
)
CONTINUOUS_DAILY_CHECKS: tuple[CheckDef[RollsPartition], ...] = (
    CheckDef(
        "validity",
        "Schema, OHLC ordering, non-negative sizes and one row per series and trade date.",
        lambda p: validity(p.rows, CONTINUOUS_DAILY_SCHEMA, ("series", "trade_date")),
        blocking=True,
    ),
    CheckDef(
        "completeness",
        "On a trading day every series has its daily row.",
        continuous_days,
        certifying=True,
    ),
)


def sessions_outside(before: pl.DataFrame, rows: pl.DataFrame) -> pl.DataFrame:
    """The rows of `before` whose (symbol, trade date) session `rows` does not hold, in their
    order. A run's context rows (the session before each block it rebuilds) can be a session
    the same run rebuilds in another block: two blocks a weekday holiday splits, or a later
    session rebuilt with an earlier one loaded after it. Taken from both frames, that
    session's rows would count twice, and a partition would fail on duplicate keys that no
    table holds; `rows` are what the run wrote, so they stand for the session."""
    if before.is_empty() or rows.is_empty():
        return before
    sessions = rows.select("symbol", "trade_date").unique()
    return before.join(sessions, on=["symbol", "trade_date"], how="anti", maintain_order="left")


def judge_rolls_partitions(
    checks: Sequence[CheckDef[RollsPartition]],
    rows: pl.DataFrame,
    rolls: pl.DataFrame,
    partitions: Iterable[tuple[str, date]],
    before: pl.DataFrame | None = None,
    now: datetime | None = None,
    absent: Mapping[tuple[str, date], tuple[AbsentContract, ...]] | None = None,
    held: Mapping[tuple[str, date], frozenset[str]] | None = None,
    covered: Mapping[tuple[str, date], Mapping[str, datetime]] | None = None,
) -> dict[str, dict[str, CheckOutcome]]:
    """Each (root, trade date) partition's outcome of every continuous-dataset check, by
    partition key. `rows` may reach one session before the partitions (the jump at a roll
    needs it); `before` adds earlier rows, only of the (root, session)s `rows` lacks
    (`sessions_outside`); `absent` gives each partition's series whose contract has no bars
    (`roll_table.absent_series`); `held` the contracts each (root, session) has bars of
    (`rolls.session_contracts`), for the rolls' gaps; `covered` how far each (root,
    session)'s bars of each contract reach (`RollsPartition.covered`)."""
    partitions = list(partitions)
    every = (
        rows
        if before is None
        else pl.concat([sessions_outside(before, rows), rows], how="vertical_relaxed")
    )
    groups = every.partition_by("symbol", "trade_date", as_dict=True) if every.height else {}
    rolls_by = rolls.partition_by("symbol", "trade_date", as_dict=True) if rolls.height else {}
    verdicts = {}
    for symbol, day in partitions:
        prev = calendars.previous_trading_day(symbol, day)
        subject = RollsPartition(
            symbol,
            day,
            groups.get((symbol, day), every.clear()),
            groups.get((symbol, prev), every.clear()),
            rolls_by.get((symbol, day), rolls.clear()),
            now,
            (absent or {}).get((symbol, day), ()),
            None if held is None else held.get((symbol, prev), frozenset()) if prev else None,
            (covered or {}).get((symbol, day)),
        )
        verdicts[str(partition_key(day, symbol))] = judge(checks, subject)
    return verdicts
