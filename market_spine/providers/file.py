"""Vendor files of 1-minute bars as captures: read, validate the whole file, split by trade date.

Every problem is found before anything is written, and reported with the file, the row and the
fix. Bars become BAR_SCHEMA rows stamped at their open in UTC (`stamp="close"` moves each back
one minute), then one BarCapture per (symbol, CME trade date), `source="file"`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from market_spine.errors import InvalidInput, UnknownSymbol
from market_spine.markets import calendars
from market_spine.markets.dates import MINUTE_NS
from market_spine.markets.instruments import (
    Contract,
    front_contract,
    get_instrument,
    known_symbols,
    parse_local_symbol,
)
from market_spine.providers.base import BAR_SCHEMA, BarCapture
from market_spine.providers.file_csv import CsvDialect, decimal_hint
from market_spine.providers.file_formats import (
    SourceTable,
    detect_format,
    fail,
    group_symbol,
    read_table,
)

SOURCE = "file"
STAMPS = ("open", "close")
FIRST_FEW = 5  # line numbers a skip names
_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Skip:
    """Rows of a file left out of an import: how many, why, and the first few of them by the
    number the user sees (`label`: line, row or record)."""

    rows: int
    reason: str
    label: str
    first: tuple[int, ...]

    def __str__(self) -> str:
        where = ", ".join(map(str, self.first)) + (", ..." if self.rows > len(self.first) else "")
        many = "s" if len(self.first) > 1 else ""
        return f"{self.rows} {self.label}(s) {self.reason} ({self.label}{many} {where})"


@dataclass(frozen=True)
class FileBars:
    """A validated file: its bars (BAR_SCHEMA + trade_date, sorted) and how they were read."""

    path: Path
    sha256: str
    format: str
    stamp: str
    symbol: str  # as asked: a root (ES) or a contract (ESU4)
    root: str
    mapping: dict[str, str]
    bars: pl.DataFrame
    skipped: dict[str, int] = field(default_factory=dict)  # other instruments' rows, by name
    notes: tuple[str, ...] = ()
    skips: tuple[Skip, ...] = ()  # every row left out and why: blank lines, other instruments
    dialect: CsvDialect | None = None  # how a CSV was read

    def captures(self) -> list[tuple[date, BarCapture]]:
        """One capture per trade date; its payload is that day's rows as CSV (the file itself
        is referenced by path and SHA-256 in the request rather than copied into every one)."""
        out: list[tuple[date, BarCapture]] = []
        for (day,), rows in self.bars.group_by("trade_date", maintain_order=True):
            bars = rows.select(list(BAR_SCHEMA))
            request = {
                "path": str(self.path),
                "sha256": self.sha256,
                "format": self.format,
                "stamp": self.stamp,
                "mapping": self.mapping,
                **({"csv": self.dialect.describe()} if self.dialect else {}),
                "symbol": self.symbol,
                "trade_date": day.isoformat(),
                "rows": bars.height,
            }
            payload = bars.write_csv().encode()
            out.append((day, BarCapture(SOURCE, request, payload, bars, {"rows": bars.height})))
        return out


def read_bars(
    path: str | Path,
    symbol: str,
    fmt: str = "auto",
    stamp: str = "open",
    mapping: dict[str, str] | None = None,
    dialect: CsvDialect | None = None,
) -> FileBars:
    """Read and validate a whole vendor file; FileImportError naming row and fix on a problem.

    `dialect` says how a CSV separates values and writes decimals (default `,` and `.`).
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise InvalidInput(f"{path} does not exist or is not a file: pass the path of a bar file")
    stamp = stamp.strip().lower()
    if stamp not in STAMPS:
        raise InvalidInput(f"--stamp {stamp!r} is not open or close")
    fmt = detect_format(path, fmt)
    if fmt == "dbn" and stamp != "open":
        raise fail(path, "DBN OHLCV bars are stamped at their open by definition", "drop --stamp")
    root, wanted = _target(symbol)
    data = path.read_bytes()
    table = read_table(path, data, fmt, mapping or {}, dialect)
    frame = table.frame if table.typed else _typed(path, table)
    frame, skipped, skips = _select(path, table, frame, root, wanted)
    if table.blank_lines:
        blank = table.blank_lines
        reason = "with no values (blank, whitespace or separators only): not bars"
        skips.insert(0, Skip(len(blank), reason, "line", blank[:FIRST_FEW]))
    _check_values(path, table.row_label, frame)
    if stamp == "close":
        frame = frame.with_columns(pl.col("ts") - pl.duration(minutes=1))
    _check_minutes(path, table.row_label, frame)
    frame, notes = _trade_dates(frame, root, wanted)
    return FileBars(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        stamp=stamp,
        symbol=symbol.strip().upper(),
        root=root,
        mapping=table.mapping,
        bars=frame.sort("ts")
        .with_columns(symbol=pl.lit(root))
        .select(pl.col("trade_date"), *(pl.col(c).cast(t) for c, t in BAR_SCHEMA.items())),
        skipped=skipped,
        notes=tuple(notes),
        skips=tuple(skips),
        dialect=table.dialect,
    )


def _target(symbol: str) -> tuple[str, Contract | None]:
    """(root, contract or None) of `--symbol`: a configured root like ES or a contract like ESU4."""
    group = group_symbol(symbol)
    if group is not None:
        kind, root = group
        raise UnknownSymbol(
            f"{symbol.strip()} is a Databento {kind} symbol, not a root or a contract: pass "
            f"--symbol {root}"
        )
    text = symbol.strip().upper()
    try:
        return get_instrument(text).root, None
    except UnknownSymbol:
        pass
    try:
        c = parse_local_symbol(text)
    except InvalidInput:
        raise UnknownSymbol(
            f"unknown symbol {symbol!r}: pass a root ({', '.join(known_symbols())}) or one of its "
            "contracts (e.g. ESU4); add a root in instruments.toml (see instruments.example.toml)"
        ) from None
    return c.root, c


def _raise_if(
    path: Path,
    label: str,
    frame: pl.DataFrame,
    mask: pl.Expr,
    what: Callable[[dict[str, Any]], str],
    fix: str,
) -> None:
    """Raise naming the first row matching `mask` (and how many do) with `what(row)` and the fix."""
    bad = frame.filter(mask)
    if bad.height:
        row = bad.row(0, named=True)
        raise fail(path, f"{label} {row['_row']}: {what(row)} ({bad.height} row(s) like this)", fix)


def _typed(path: Path, table: SourceTable) -> pl.DataFrame:
    """Cast the mapped columns to BAR dtypes, failing on the first value that does not parse."""
    frame, label = table.frame, table.row_label
    dialect = table.dialect or CsvDialect()
    ts = _timestamps(frame["ts"])
    cols: dict[str, pl.Series] = {"_row": frame["_row"], "ts": ts}
    for name in ("open", "high", "low", "close", "volume", "vwap", "trades"):
        if name in frame.columns:
            cols[name] = _number(frame[name])
    if "contract" in frame.columns:
        cols["contract"] = frame["contract"].cast(pl.String).str.strip_chars()
    out = pl.DataFrame(cols)
    raw = frame.with_columns(pl.col(c).cast(pl.String).str.strip_chars() for c in frame.columns)
    for name in ("ts", "open", "high", "low", "close", "volume", "vwap", "trades"):
        if name not in out.columns:
            continue
        required = name in ("ts", "open", "high", "low", "close", "volume")
        blank = raw[name].is_null() | (raw[name] == "")
        broken = out[name].is_null() & ~blank
        if name == "ts":
            example = "ISO 8601 like 2024-01-02 15:30:00 (UTC) or an epoch number"
        else:
            example = "a number"
        column = table.mapping[name]
        _raise_if(
            path,
            label,
            raw.with_columns(_broken=broken),
            pl.col("_broken"),
            lambda r, n=name, c=column: (
                f"{c} {r[n]!r} does not parse as {n}" + decimal_hint(r[n], dialect)
            ),
            f"expected {example}; fix the value or map another column with --mapping {name}=COL",
        )
        if required:
            _raise_if(
                path,
                label,
                raw.with_columns(_blank=blank),
                pl.col("_blank"),
                lambda r, c=column: f"{c} is empty",
                "every bar needs ts, open, high, low, close and volume",
            )
    for name in ("volume", "trades"):
        if name in out.columns:
            _raise_if(
                path,
                label,
                out,
                pl.col(name).is_not_null() & (pl.col(name) != pl.col(name).round()),
                lambda r, n=name: f"{n} {r[n]} is not a whole number",
                f"{name} counts contracts or trades",
            )
    return out.with_columns(
        pl.col("volume").cast(pl.Int64),
        (pl.col("trades") if "trades" in out.columns else pl.lit(None))
        .cast(pl.Int64)
        .alias("trades"),
        (pl.col("vwap") if "vwap" in out.columns else pl.lit(None)).cast(pl.Float64).alias("vwap"),
    )


def _number(s: pl.Series) -> pl.Series:
    if s.dtype == pl.String:
        return s.str.strip_chars().cast(pl.Float64, strict=False)
    return s.cast(pl.Float64, strict=False)


def _timestamps(s: pl.Series) -> pl.Series:
    """UTC ns timestamps from datetimes (naive = UTC), ISO strings or integer epochs; unparseable
    values become null (the caller names them)."""
    if isinstance(s.dtype, pl.Datetime):
        s = s.dt.replace_time_zone("UTC") if s.dtype.time_zone is None else s  # type: ignore[union-attr]
        return s.dt.convert_time_zone("UTC").cast(pl.Datetime("ns", "UTC"))
    if s.dtype == pl.String:
        values = s.str.strip_chars()
        present = values.drop_nulls().filter(values.drop_nulls() != "")
        if present.len() and present.str.contains(_DIGITS.pattern).all():
            return _epoch(values.cast(pl.Int64, strict=False))
        parsed = pd.to_datetime(values.to_pandas(), utc=True, format="ISO8601", errors="coerce")
        return pl.Series("ts", parsed.astype("datetime64[ns, UTC]")).cast(pl.Datetime("ns", "UTC"))
    if s.dtype.is_integer():
        return _epoch(s.cast(pl.Int64))
    return pl.Series("ts", [None] * s.len(), dtype=pl.Datetime("ns", "UTC"))


def _epoch(values: pl.Series) -> pl.Series:
    top = values.abs().max() or 0
    scale = 1 if top > 10**17 else 1_000 if top > 10**14 else 10**6 if top > 10**11 else 10**9
    return (values * scale).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC").alias("ts")


def _select(
    path: Path, table: SourceTable, frame: pl.DataFrame, root: str, wanted: Contract | None
) -> tuple[pl.DataFrame, dict[str, int], list[Skip]]:
    """Keep the rows of `--symbol` when the file names instruments; the others are counted."""
    if "contract" not in frame.columns:
        return frame, {}, []
    near = frame["ts"].min().date()  # type: ignore[union-attr]
    parsed = {v: _contract(v, near) for v in frame["contract"].drop_nulls().unique().to_list()}
    keep = {v for v, c in parsed.items() if c is not None and c.root == root}
    if wanted is not None:
        keep = {v for v in keep if parsed[v] == wanted}
    names = {v: parsed[v].local_symbol for v in keep}  # type: ignore[union-attr]
    counts = frame.group_by("contract", maintain_order=True).agg(
        pl.len(), pl.col("_row").head(FIRST_FEW)
    )
    asked = wanted.local_symbol if wanted else root
    skipped: dict[str, int] = {}
    skips: list[Skip] = []
    for name, n, first in counts.iter_rows():
        if name not in keep:
            skipped[name or "(blank)"] = n
            why = f"of {name or 'no contract'}, not {asked} (--symbol)"
            skips.append(Skip(n, why, table.row_label, tuple(first)))
    if not keep:
        present = ", ".join(sorted(str(v) for v in parsed)) or "none"
        raise fail(
            path,
            f"no rows for {wanted.local_symbol if wanted else root} (the file holds {present})",
            "pass --symbol with one of those",
        )
    frame = frame.filter(pl.col("contract").is_in(list(keep)))
    frame = frame.with_columns(pl.col("contract").replace_strict(names, return_dtype=pl.String))
    if len(keep) > 1:
        _raise_if(
            path,
            table.row_label,
            frame,
            pl.col("ts").is_duplicated(),
            lambda r: (
                f"several {root} contracts ({', '.join(sorted(names.values()))}) share "
                f"minute {r['ts']}"
            ),
            "pick one contract with --symbol, e.g. --symbol " + sorted(names.values())[0],
        )
    return frame, skipped, skips


def _contract(value: str, near: date) -> Contract | None:
    try:
        return parse_local_symbol(value, near=near)
    except InvalidInput:
        return None


def _check_values(path: Path, label: str, frame: pl.DataFrame) -> None:
    """Prices positive, high >= low with open and close inside, sizes not negative."""
    fix = "correct or drop those rows in the file"
    _raise_if(
        path,
        label,
        frame,
        pl.any_horizontal(pl.col(c).is_null() for c in ("open", "high", "low", "close")),
        lambda r: "a price is missing",
        fix,
    )
    _raise_if(
        path,
        label,
        frame,
        pl.min_horizontal("open", "high", "low", "close") <= 0,
        lambda r: f"a price is not positive (open {r['open']}, low {r['low']})",
        fix,
    )
    _raise_if(
        path,
        label,
        frame,
        pl.col("high") < pl.col("low"),
        lambda r: f"high {r['high']} is below low {r['low']}",
        fix,
    )
    _raise_if(
        path,
        label,
        frame,
        (pl.col("low") > pl.min_horizontal("open", "close"))
        | (pl.col("high") < pl.max_horizontal("open", "close")),
        lambda r: (
            f"open {r['open']} or close {r['close']} is outside low {r['low']}..high {r['high']}"
        ),
        fix,
    )
    for name in ("volume", "trades"):
        _raise_if(
            path,
            label,
            frame,
            pl.col(name) < 0,
            lambda r, n=name: f"{n} {r[n]} is negative",
            fix,
        )


def _check_minutes(path: Path, label: str, frame: pl.DataFrame) -> None:
    """1-minute bars: whole minutes, one bar per minute."""
    _raise_if(
        path,
        label,
        frame,
        pl.col("ts").dt.epoch("ns") % MINUTE_NS != 0,
        lambda r: f"timestamp {r['ts']} is not on a whole minute",
        "import 1-minute bars stamped on the minute",
    )
    dupes = frame.filter(pl.col("ts").is_duplicated()).sort("ts", "_row")
    if dupes.height:
        ts = dupes["ts"][0]
        rows = dupes.filter(pl.col("ts") == ts)["_row"].to_list()
        raise fail(
            path,
            f"{label}s {', '.join(map(str, rows))}: duplicate bar at {ts} "
            f"({dupes.height} rows share a minute with another)",
            "keep one bar per minute in the file",
        )


def _trade_dates(
    frame: pl.DataFrame, root: str, wanted: Contract | None
) -> tuple[pl.DataFrame, list[str]]:
    """Each bar's CME trade date: the session it falls in, or the last one opened before it
    (a bar in a halt or after a close stays with its session, where completeness flags it)."""
    notes: list[str] = []
    ts = frame["ts"].dt.epoch("ns").to_numpy()
    lo = pd.Timestamp(int(ts.min()), tz="UTC").date() - timedelta(days=7)
    hi = pd.Timestamp(int(ts.max()), tz="UTC").date() + timedelta(days=7)
    sessions = calendars.sessions(root, lo, hi)
    opens = np.array([s.open.value for s in sessions], dtype=np.int64)
    idx = np.searchsorted(opens, ts, side="right") - 1
    days = [sessions[i].trade_date for i in idx]
    grid = np.zeros(len(ts), dtype=bool)
    for i in np.unique(idx):
        mine = idx == i
        grid[mine] = np.isin(ts[mine], sessions[i].expected_minutes().asi8)
    outside = int((~grid).sum())
    if outside:
        first = pd.Timestamp(int(ts[~grid][0]), tz="UTC")
        notes.append(
            f"{outside} bar(s) fall outside {root}'s sessions (first at {first}); if the file "
            "stamps bars at their close, import it again with --stamp close"
        )
    frame = frame.with_columns(trade_date=pl.Series(days, dtype=pl.Date))
    if "contract" not in frame.columns:
        if wanted is not None:
            contracts = {d: wanted.local_symbol for d in set(days)}
        else:
            contracts = {d: front_contract(root, d).local_symbol for d in set(days)}
            notes.append(
                "the file names no contract: each session is labelled with the front contract "
                f"of the roll rule ({', '.join(sorted(set(contracts.values())))})"
            )
        frame = frame.with_columns(
            contract=pl.col("trade_date").replace_strict(contracts, return_dtype=pl.String)
        )
    return frame, notes
