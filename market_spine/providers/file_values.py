"""A vendor file's bar values: typed from text, numbers or epochs, then validated (prices,
sizes, whole and unique minutes). Every problem names the file, the first row at fault, how many
rows are like it, and the fix; nothing is written until the whole file passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import polars as pl

from market_spine.markets.dates import MINUTE_NS
from market_spine.providers.file_csv import CsvDialect, decimal_hint
from market_spine.providers.file_formats import SourceTable, fail

_DIGITS = re.compile(r"^\d+$")
#: An ISO timestamp's UTC offset after its time of day: Z, +05:30, -0600 or -06.
_OFFSET = re.compile(r"\d:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")


def raise_if(
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


def typed_bars(path: Path, table: SourceTable, zone: ZoneInfo | None = None) -> pl.DataFrame:
    """Cast the mapped columns to BAR dtypes, failing on the first value that does not parse.

    A timestamp without a UTC offset is read on the clock of `zone` (`--tz`); with no zone it is
    refused, unless its column's name says UTC (`timestamp_utc`): guessing UTC would shift every
    bar of a file kept in exchange time by hours and file them under the wrong sessions.
    """
    frame, label = table.frame, table.row_label
    dialect = table.dialect or CsvDialect()
    column = table.mapping["ts"]
    if zone is None and column.lower().replace(" ", "_").endswith("utc"):
        zone = ZoneInfo("UTC")
    ts, naive = _timestamps(frame["ts"])
    if naive.any():
        ts = _on_clock(path, label, frame, column, ts, naive, zone)
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
            example = "ISO 8601 like 2024-01-02T15:30:00Z or an epoch number"
        else:
            example = "a number"
        column = table.mapping[name]
        raise_if(
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
            raise_if(
                path,
                label,
                raw.with_columns(_blank=blank),
                pl.col("_blank"),
                lambda r, c=column: f"{c} is empty",
                "every bar needs ts, open, high, low, close and volume",
            )
    for name in ("volume", "trades"):
        if name in out.columns:
            raise_if(
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


def _timestamps(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(UTC ns timestamps, which of them carry no UTC offset) from datetimes, ISO strings or
    integer epochs (always UTC); a naive value is read as UTC here for `_on_clock` to place on
    its clock, and unparseable values become null (the caller names them)."""
    none = pl.Series("naive", [False] * s.len(), dtype=pl.Boolean)
    if isinstance(s.dtype, pl.Datetime):
        naive = s.dtype.time_zone is None  # type: ignore[union-attr]
        s = s.dt.replace_time_zone("UTC") if naive else s
        utc = s.dt.convert_time_zone("UTC").cast(pl.Datetime("ns", "UTC")).alias("ts")
        return utc, (s.is_not_null() if naive else none)
    if s.dtype == pl.String:
        values = s.str.strip_chars()
        present = values.drop_nulls().filter(values.drop_nulls() != "")
        if present.len() and present.str.contains(_DIGITS.pattern).all():
            return _epoch(values.cast(pl.Int64, strict=False)), none
        # Parsed apart: in one mixed pass pandas reads a naive value after an offset one on
        # that offset's clock.
        aware = values.str.contains(_OFFSET.pattern).fill_null(False)
        texts, with_offset = values.to_pandas(), aware.to_pandas()
        parsed = pd.Series(pd.NaT, index=texts.index, dtype="datetime64[ns, UTC]")
        for part in (with_offset, ~with_offset):
            if part.any():
                parsed[part] = _iso(texts[part])
        utc = pl.Series("ts", parsed).cast(pl.Datetime("ns", "UTC"))
        return utc, (utc.is_not_null() & ~aware).alias("naive")
    if s.dtype.is_integer():
        return _epoch(s.cast(pl.Int64)), none
    return pl.Series("ts", [None] * s.len(), dtype=pl.Datetime("ns", "UTC")), none


def _iso(texts: pd.Series) -> pd.Series:
    """ISO 8601 strings as UTC ns timestamps (naive ones read as UTC), NaT where unparseable."""
    parsed = pd.to_datetime(texts, utc=True, format="ISO8601", errors="coerce")
    return parsed.astype("datetime64[ns, UTC]")


def _on_clock(
    path: Path,
    label: str,
    frame: pl.DataFrame,
    column: str,
    utc: pl.Series,
    naive: pl.Series,
    zone: ZoneInfo | None,
) -> pl.Series:
    """`utc` with its `naive` values (read as UTC wall clocks) moved onto `zone`'s clock;
    FileImportError naming the first naive row when there is no zone, or the first wall clock
    `zone` skips or repeats (a daylight-saving change)."""
    shown = frame.with_columns(_naive=naive)
    if zone is None:
        raise_if(
            path,
            label,
            shown,
            pl.col("_naive"),
            lambda r: f"{column} '{r['ts']}' has no time zone (no UTC offset)",
            "write each timestamp with its offset (2024-03-05T14:30:00Z, or "
            "2024-03-05T08:30:00-06:00 in Chicago time), or pass --tz with the zone the file's "
            "clock keeps (e.g. --tz UTC, --tz America/Chicago)",
        )
        raise AssertionError("a naive timestamp was not named")
    wall = utc.dt.replace_time_zone(None).dt.replace_time_zone(
        str(zone), ambiguous="null", non_existent="null"
    )
    placed = wall.dt.convert_time_zone("UTC").cast(pl.Datetime("ns", "UTC"))
    out = pl.select(pl.when(naive).then(placed).otherwise(utc).alias("ts")).to_series()
    raise_if(
        path,
        label,
        shown.with_columns(_lost=out.is_null() & utc.is_not_null()),
        pl.col("_lost"),
        lambda r: (
            f"{column} '{r['ts']}' is skipped or repeated by {zone}'s clock (a daylight-saving "
            "change), so it names no single instant"
        ),
        "write those timestamps with their UTC offset, or export the file in UTC",
    )
    return out


def _epoch(values: pl.Series) -> pl.Series:
    top = values.abs().max() or 0
    scale = 1 if top > 10**17 else 1_000 if top > 10**14 else 10**6 if top > 10**11 else 10**9
    return (values * scale).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC").alias("ts")


def check_values(path: Path, label: str, frame: pl.DataFrame) -> None:
    """Prices positive, high >= low with open and close inside, sizes not negative."""
    fix = "correct or drop those rows in the file"
    raise_if(
        path,
        label,
        frame,
        pl.any_horizontal(pl.col(c).is_null() for c in ("open", "high", "low", "close")),
        lambda r: "a price is missing",
        fix,
    )
    raise_if(
        path,
        label,
        frame,
        pl.min_horizontal("open", "high", "low", "close") <= 0,
        lambda r: f"a price is not positive (open {r['open']}, low {r['low']})",
        fix,
    )
    raise_if(
        path,
        label,
        frame,
        pl.col("high") < pl.col("low"),
        lambda r: f"high {r['high']} is below low {r['low']}",
        fix,
    )
    raise_if(
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
        raise_if(
            path,
            label,
            frame,
            pl.col(name) < 0,
            lambda r, n=name: f"{n} {r[n]} is negative",
            fix,
        )


def check_minutes(path: Path, label: str, frame: pl.DataFrame) -> None:
    """1-minute bars: whole minutes, one bar per minute."""
    raise_if(
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
