"""Readiness: is a dataset's partition safe to use, per dataset × symbol × trade date — its
certification, completeness, anomalies, capture, last compute time and freshness lag.

Computed once, where a partition is judged (`readiness_rows`, called by certify), into the
small `operations/readiness_log` table; every surface (Spine, the API, the CLI, the SQL view
`readiness`, the warehouse's `operations.readiness`) reads it through the one query
`current_sql`, so none of them scans the data.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.certification.rules import State
from market_spine.certification.tables import READINESS_LOG, READINESS_LOG_SCHEMA
from market_spine.errors import InvalidInput
from market_spine.lake.filters import RowFilter
from market_spine.lake.reader import Snapshot, read_table
from market_spine.lake.store import Lake

if TYPE_CHECKING:
    from market_spine.check_kit import CheckOutcome

#: The SQL view of readiness wherever the lake's tables are views (Spine.sql, the warehouse).
READINESS_VIEW = "readiness"

_LOG = READINESS_LOG_SCHEMA
#: The columns readiness answers with, in order (one row per dataset, symbol and trade date):
#: the newest log row's, with the completeness share and freshness lag computed at read time.
READINESS_SCHEMA: dict[str, pl.DataType] = {
    **{c: _LOG[c] for c in ("dataset", "trade_date", "symbol", "partition", "state", "reason")},
    "completeness": pl.Float64(),
    **{c: _LOG[c] for c in ("unit", "expected", "present", "missing", "no_trade", "anomalies")},
    **{c: _LOG[c] for c in ("worst_anomaly_score", "worst_anomaly_kind", "computed_at")},
    **{c: _LOG[c] for c in ("capture_id", "captured_at", "final_at")},
    "freshness_lag_s": pl.Float64(),
    **{c: _LOG[c] for c in ("run_id", "delta_version")},
}

#: What each column of a readiness answer means (the API, the CLI and the dbt mart say it too).
READINESS_DESCRIPTIONS: dict[str, str] = {
    "dataset": "The dataset, e.g. normalized/futures_bars_1m.",
    "trade_date": "The trade date.",
    "symbol": "The futures root, a continuous series (ES.c.1: each is judged on its own), or "
    "the option root (SPX, SPXW) of a day's chain, greeks, surface or quotes.",
    "partition": "The Dagster partition key behind the row.",
    "state": "Certification: certified, preliminary, revised or failed. A derived dataset is "
    "certified only when what it was computed from was certified and its own certifying checks "
    "passed; it fails when what it was computed from failed.",
    "reason": 'Why it is in that state, e.g. "input normalized/futures_bars_1m FAILED: 120 of '
    '1,380 minutes of CLJ4" or the certifying checks that failed; null for rows judged before '
    "reasons were kept.",
    "completeness": "Share of what is owed that is accounted for: (expected − missing) / "
    "expected; for a failed partition what it holds: present / expected (at most that), so "
    "a failed partition never reads as complete for minutes explained as no trade; null when "
    "nothing is owed. A partition captured before its data became final (captured_at < "
    "final_at: a session still trading) owes only what had closed by its capture, so its "
    "share is of that so far, not of the whole day.",
    "unit": "What expected, present and missing count: minutes (bars, continuous series, "
    "intraday quotes), days (daily bars, a continuous series' daily row), expirations (the "
    "chain), vols (greeks) or expiries (the surface). Always the dataset's own counts: what "
    "an input it was computed from lacks is in the reason.",
    "expected": "Owed: session minutes, trading days, series, listed expirations, two-sided "
    "quotes with time left (a vol each), or expirations trading that day.",
    "present": "Held: bar or quote minutes, daily rows, expirations with quotes, solved vols, "
    "or surface expiries.",
    "missing": "Owed, absent and unexplained (lost data).",
    "no_trade": "Absent minutes explained as no trade; option contracts with no volume.",
    "anomalies": "Rows the anomaly checks flagged (operations/anomaly_flags).",
    "worst_anomaly_score": "The worst flag's score (1 = at its check's threshold).",
    "worst_anomaly_kind": "The worst flag's kind.",
    "computed_at": "When the partition was last computed and judged (UTC).",
    "capture_id": "The newest capture behind the partition's rows.",
    "captured_at": "When that capture saw the market (UTC).",
    "final_at": "When the partition's data became final (UTC).",
    "freshness_lag_s": "Seconds the capture lags the market: from when it was taken to now, or "
    "to when the data became final if that is earlier; 0 once a capture taken after the data "
    "was final holds it.",
    "run_id": "The Dagster run that computed it.",
    "delta_version": "The dataset's Delta version holding the judged rows.",
}


@dataclass(frozen=True)
class Completeness:
    """What one partition (or one symbol it holds) holds against what the calendar owes it,
    in `unit`s (minutes, expirations); None where a count is not known. `verdicts` are the
    partition's checks judged on this symbol alone, by name, where its checks judge each
    symbol apart (a root's continuous series): they stand in for the partition's verdicts
    in this symbol's state, so one incomplete series fails only itself. `instrument` is the
    contract the counts are of (None: not one contract) and `capture_id` the newest capture
    behind this symbol's own rows where it is not the partition's (a continuous series holds
    one contract's captures): a symbol of another contract than its inputs judged is judged
    on its own checks and capture alone. `absent` says why the symbol has no rows at all
    (its instrument has none that session while others do): it is judged missing
    (`rules.missing`), not failed."""

    symbol: str | None
    unit: str | None = None
    expected: int | None = None
    present: int | None = None
    missing: int | None = None
    no_trade: int | None = None
    verdicts: Mapping[str, CheckOutcome] | None = dataclass_field(default=None, compare=False)
    instrument: str | None = None
    capture_id: str | None = None
    absent: str | None = None


@dataclass(frozen=True)
class Judgment:
    """What every readiness row of one judged partition shares: its state, the newest capture
    behind its rows and when that capture saw the market, when its data became final, when it
    was judged (all tz-aware UTC), the run, and the Delta version holding the judged rows
    (None before the table exists)."""

    state: State
    capture_id: str | None
    captured_at: datetime
    final_at: datetime
    computed_at: datetime
    run_id: str
    delta_version: int | None
    reason: str | None = None

    def columns(self) -> dict[str, Any]:
        """The readiness log's columns (READINESS_LOG_SCHEMA) this judgment fills."""
        return {
            "state": self.state.value,
            "capture_id": self.capture_id,
            "captured_at": self.captured_at,
            "final_at": self.final_at,
            "computed_at": self.computed_at,
            "run_id": self.run_id,
            "delta_version": self.delta_version,
            "reason": self.reason,
        }


def readiness_rows(
    dataset: str,
    partition: Any,
    completeness: Sequence[Completeness],
    flags: pl.DataFrame,
    judged: Judgment,
) -> list[dict[str, Any]]:
    """The readiness log's rows of one judged partition (any object with `key`, `trade_date`
    and `symbol`), one per entry of `completeness` (the partition's own symbol when empty),
    with the anomalies among `flags` (ANOMALY_FLAGS_SCHEMA) of that partition and symbol,
    and the columns every row shares from `judged`."""
    shared = judged.columns()
    entries = list(completeness) or [Completeness(partition.symbol)]
    # A judgment's flags are few: looked through as tuples, not queried per symbol.
    mine = (
        [
            (symbol, score, kind)
            for key, symbol, score, kind in flags.select(
                "partition", "symbol", "score", "kind"
            ).iter_rows()
            if key == partition.key
        ]
        if flags.height
        else []
    )
    rows = []
    for entry in entries:
        found = [f for f in mine if entry.symbol is None or f[0] == entry.symbol]
        worst = _worst(found)
        rows.append(
            {
                "dataset": dataset,
                "partition": partition.key,
                "trade_date": partition.trade_date,
                "symbol": entry.symbol,
                "unit": entry.unit,
                "expected": entry.expected,
                "present": entry.present,
                "missing": entry.missing,
                "no_trade": entry.no_trade,
                "instrument": entry.instrument,
                "anomalies": len(found),
                "worst_anomaly_score": worst[1] if worst else None,
                "worst_anomaly_kind": worst[2] if worst else None,
                **shared,
            }
        )
    return rows


def _worst(
    flags: Sequence[tuple[str | None, float | None, str | None]],
) -> tuple[str | None, float | None, str | None] | None:
    """The flag of highest score (NaN above every number, null below), the first of equals;
    None without flags."""
    if not flags:
        return None
    return max(
        flags,
        key=lambda f: (f[1] is not None, f[1] is not None and math.isnan(f[1]), f[1] or 0.0),
    )


#: The readiness columns that say what a partition holds against what it owes.
COUNT_COLUMNS = ("unit", "expected", "present", "missing", "no_trade")


def shortfall(rows: Sequence[Mapping[str, Any]]) -> str | None:
    """What the readiness rows of one partition lack, e.g. "120 of 1,380 minutes of ESH4"
    (the contract named where the row knows it; each symbol's named when there are several);
    None when none lacks anything."""
    short = [r for r in rows if (r.get("missing") or 0) > 0 and r.get("expected")]
    if not short:
        return None
    named = len(rows) > 1
    return ", ".join(
        f"{r['symbol'] + ' ' if named and r.get('symbol') else ''}"
        f"{r['expected'] - r['missing']:,} of {r['expected']:,} {r.get('unit') or ''}".rstrip()
        + (f" of {r['instrument']}" if r.get("instrument") else "")
        for r in short
    )


def speaking_for(
    rows: Sequence[Mapping[str, Any]], symbol: str | None, instrument: str | None = None
) -> list[Mapping[str, Any]]:
    """Among one partition's readiness rows, those that speak for `symbol`: its own, else its
    root's (a continuous series' root) or the whole partition's, else all of them (symbol
    None: the whole partition). The root's rows speak for a symbol of `instrument` (the
    contract a continuous series holds) only when they judged that contract or do not say
    which they judged: none do for a series of another contract (empty), which is judged on
    its own."""
    if symbol is None:
        return list(rows)
    own = [r for r in rows if r.get("symbol") == symbol]
    if own:
        return own
    root = symbol.split(".")[0]
    above = [r for r in rows if r.get("symbol") in (root, None)]
    if above and instrument is not None:
        return [r for r in above if r.get("instrument") in (instrument, None)]
    return above or list(rows)


def worst_state(rows: Sequence[Mapping[str, Any]]) -> State | None:
    """The state of a partition (or symbol) judged in several readiness rows: failed when one
    failed, else the first that is not certified, else certified; None without rows."""
    states = [State(r["state"]) if r.get("state") else None for r in rows]
    if not states:
        return None
    if State.FAILED in states:
        return State.FAILED
    return next((s for s in states if s is not State.CERTIFIED), State.CERTIFIED)


def log_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows read from the readiness log as READINESS_LOG_SCHEMA: a log written before a
    column was declared (the reason) reads it as null."""
    absent = [pl.lit(None, t).alias(c) for c, t in READINESS_LOG_SCHEMA.items() if c not in frame]
    return conform(frame.with_columns(absent) if absent else frame, READINESS_LOG_SCHEMA)


def current_sql(log: str, now: str = "now()", newest: bool = False) -> str:
    """The readiness query over the readiness log `log` (a table or view name): the newest row
    of each dataset, partition and symbol with its completeness share and freshness lag at
    `now` (a SQL expression). The SQL view `readiness` is this query; so is every read.
    `newest` says `log` already holds just those rows, with every column (a reader's cache):
    nothing is left to pick."""
    # A log written before reasons were kept has no reason column: it reads as null.
    rows = (
        log
        if newest
        else f"(select * from {log} union all by name select null::varchar as reason where false)"
    )
    pick = (
        ""
        if newest
        else "qualify row_number() over (\n"
        "    partition by dataset, partition, coalesce(symbol, '') order by computed_at desc\n"
        ") = 1"
    )
    return f"""
select
    dataset, trade_date, symbol, partition, state, reason,
    case when expected > 0 then (
        case when state = 'failed'
            then least(coalesce(present, 0), expected - coalesce(missing, 0))
            else expected - coalesce(missing, 0)
        end
    )::double / expected end as completeness,
    unit, expected, present, missing, no_trade,
    anomalies, worst_anomaly_score, worst_anomaly_kind,
    computed_at, capture_id, captured_at, final_at,
    greatest(epoch(least({now}, final_at)) - epoch(captured_at), 0.0) as freshness_lag_s,
    run_id, delta_version
from {rows}
{pick}
"""


@dataclass(frozen=True)
class ReadinessQuery:
    """Validated filters of a readiness read: datasets and symbols (None: all), and a range
    of trade dates (None: open-ended)."""

    datasets: tuple[str, ...] | None
    symbols: tuple[str, ...] | None
    start: date | None
    end: date | None


def _names(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    parts = tuple(p.strip() for item in items for p in str(item).split(",") if p.strip())
    return parts or None


def parse_datasets(
    value: str | Sequence[str] | None, known: Sequence[str]
) -> tuple[str, ...] | None:
    """Dataset names (a comma splits a list) among `known`, the datasets with readiness;
    None: all of them. Anything else is InvalidInput naming the choices."""
    names = _names(value)
    if names is None:
        return None
    names = tuple(n.strip("/") for n in names)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidInput(
            f"dataset {', '.join(map(repr, unknown))} has no readiness: choose from "
            f"{', '.join(known)}"
        )
    return names


def symbol_filter(symbols: Sequence[str]) -> pl.Expr:
    """Readiness rows of `symbols` (as `parse_symbols` gives them): a root's own rows and
    its continuous series' (judged apart, kept as `ROOT.c.N`); a series' own rows and its
    root's, which the series is built from."""
    series = [s for s in symbols if "." in s]
    roots = [s for s in symbols if "." not in s]
    symbol = pl.col("symbol")
    root = symbol.str.split(".").list.first()
    return (
        root.is_in(roots) | symbol.is_in(series) | symbol.is_in([s.split(".")[0] for s in series])
    )


def parse_symbols(
    value: str | Sequence[str] | None, known: Sequence[str]
) -> tuple[str, ...] | None:
    """Symbols (any case; a comma splits a list) among `known`; None: all. A futures contract
    (`CLJ4`) stands for its root, which its readiness is kept by; a continuous series of a
    known root (`cl.C.0`) is kept as the series (`CL.c.0`), judged on its own."""
    from market_spine.markets.rolls import continuous_symbol, is_continuous, root_of

    names = _names(value)
    if names is None:
        return None
    found: list[str] = []
    unknown: list[str] = []
    for name in names:
        symbol = name.upper()
        if symbol not in known:
            try:
                symbol = root_of(name)
            except InvalidInput:
                symbol = ""
        if symbol not in known:
            unknown.append(name)
        elif is_continuous(name):
            found.append(continuous_symbol(name).name)
        else:
            found.append(symbol)
    if unknown:
        raise InvalidInput(
            f"symbol {', '.join(map(repr, unknown))} is not known: choose from {', '.join(known)}"
            ", a contract (e.g. CLJ4) or a continuous series (ROOT.c.N or ROOT.v.N, e.g. ES.c.1)"
        )
    return tuple(dict.fromkeys(found))


def parse_day(value: str | date | None, name: str) -> date | None:
    """A trade date (`2024-03-05`, `20240305` or a date); None when absent. A time is
    InvalidInput: readiness is kept per trade date."""
    from market_spine.errors import InvalidDate, NoSuchDate
    from market_spine.markets.dates import DAY_ONLY, parse_point

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        point = parse_point(value, name)
    except NoSuchDate as exc:
        raise NoSuchDate(exc.problem, f"{name} takes {DAY_ONLY}") from None
    except InvalidDate:
        raise InvalidDate(f"invalid {name} {value!r}: expected {DAY_ONLY}") from None
    if isinstance(point, datetime):
        raise InvalidInput(
            f"{name}={value!r} is a time: readiness is per trade date, pass a date like 2024-03-05"
        )
    return point


class FilterError(InvalidInput):
    """A readiness filter that is wrong, naming the parameter at fault in `field`."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse_query(
    dataset: str | Sequence[str] | None,
    symbols: str | Sequence[str] | None,
    start: str | date | None,
    end: str | date | None,
    datasets: Sequence[str],
    known_symbols: Sequence[str],
) -> ReadinessQuery:
    """A readiness read's filters checked one by one (`parse_datasets`, `parse_symbols`,
    `parse_day`), and an end on or after the start; FilterError names the one at fault."""
    found: dict[str, Any] = {}
    for field, parse in (
        ("dataset", lambda: parse_datasets(dataset, datasets)),
        ("symbol", lambda: parse_symbols(symbols, known_symbols)),
        ("start", lambda: parse_day(start, "start")),
        ("end", lambda: parse_day(end, "end")),
    ):
        try:
            found[field] = parse()
        except InvalidInput as exc:
            raise FilterError(str(exc), field) from None
    first, last = found["start"], found["end"]
    if first is not None and last is not None and last < first:
        raise FilterError(f"end {last} is before start {first}: pass an end on or after it", "end")
    return ReadinessQuery(found["dataset"], found["symbol"], first, last)


class Readiness:
    """Readiness reads of one lake. The newest row of each partition is kept in memory and a
    new version of the log that only added files reads just those; one that removed files (a
    compaction, or retention deleting a partition's rows) reads the log again. Every read runs
    `current_sql` on DuckDB over that."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._con = duckdb.connect()
        self._con.execute("SET TimeZone = 'UTC'")
        self._version: int | None = None
        self._seen: set[str] = set()
        self._newest = pl.DataFrame(schema=READINESS_LOG_SCHEMA)
        self._lock = threading.Lock()

    def _refresh(self) -> pl.DataFrame:
        """The newest log row of each partition and symbol, as of the log's latest version."""
        version = self.lake.version(READINESS_LOG)
        if version is None:
            return self._newest.clear()
        with self._lock:
            if version == self._version:
                return self._newest
            snapshot = self.lake.snapshot(READINESS_LOG)
            current = {f.path for f in snapshot.files}
            if self._seen - current:
                # Files went (a compaction, or retention deleting rows): rows the old files
                # held may be gone, so the newest rows are read again from what is left.
                self._newest, self._seen = self._newest.clear(), set()
            added = tuple(f for f in snapshot.files if f.path not in self._seen)
            if added:
                fresh = read_table(
                    Snapshot.of(
                        snapshot.uri,
                        snapshot.version,
                        snapshot.schema,
                        snapshot.partition_columns,
                        added,
                    ),
                    RowFilter(),
                    None,
                )
                self._newest = (
                    pl.concat([self._newest, log_rows(fresh)])
                    .sort("computed_at")
                    .unique(["dataset", "partition", "symbol"], keep="last", maintain_order=True)
                )
            self._seen = current
            self._version = version
            return self._newest

    def read(self, query: ReadinessQuery, now: datetime) -> pl.DataFrame:
        """READINESS_SCHEMA rows matching `query`, by dataset, symbol and trade date, with the
        freshness lag at `now` (tz-aware); empty when nothing was judged yet."""
        rows = self._refresh()
        if query.datasets is not None:
            rows = rows.filter(pl.col("dataset").is_in(list(query.datasets)))
        if query.symbols is not None:
            rows = rows.filter(symbol_filter(query.symbols))
        if query.start is not None:
            rows = rows.filter(pl.col("trade_date") >= query.start)
        if query.end is not None:
            rows = rows.filter(pl.col("trade_date") <= query.end)
        # A cursor per read: the API reads from several threads at once.
        cursor = self._con.cursor()
        cursor.register("readiness_log", rows.to_arrow())
        sql = current_sql("readiness_log", "?::timestamptz", newest=True)
        found = cursor.execute(sql + " order by dataset, symbol, trade_date", [now]).pl()
        return conform(found, READINESS_SCHEMA)
