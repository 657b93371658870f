"""Vendor bar files (CSV, CSV.gz, Parquet, Databento DBN) read into one frame of canonical columns.

Column mapping for CSV and Parquet (names match case-insensitively; `--mapping field=column`
overrides any of them):

| field    | default column names                               | required |
|----------|----------------------------------------------------|----------|
| ts       | ts, timestamp, timestamp_utc, ts_event, time, datetime | yes |
| open, high, low, close | the same name                        | yes      |
| volume   | volume, vol                                        | yes      |
| vwap     | vwap                                               | no: null |
| trades   | trades, trade_count, num_trades                    | no: null |
| contract | contract, local_symbol, raw_symbol, symbol         | no       |

CSV files are read by pyarrow.csv (see file_csv): a BOM, CRLF line ends and quoted headers need
nothing; `;` or tab separators and decimal commas need `--separator` and `--decimal`; blank lines
are left out and counted.

Timestamps are ISO 8601 strings, datetimes or integer epochs whose unit follows their magnitude
(s, ms, us or ns; always UTC). A string or datetime without a UTC offset is read on the clock
`--tz` names, or as UTC when its column's name says so (`timestamp_utc`), and refused otherwise
(see file_values). DBN OHLCV records carry ts_event (ns UTC,
the bar's open) and fixed-point prices (×1e-9); their contract is the raw symbol the metadata's
symbol mappings give for the instrument id. Only ohlcv-1m files are accepted. A file requested with
a calendar continuous symbol (ES.c.0: the nearest expiry, ES.c.1 the next) has each instrument id
resolved to the contract that rank held on its mapping's first day (`rolls.by_expiry`), so its
bars import as their contracts and the continuous series are built from them. Volume and open
interest continuous (ES.v.0, ES.n.0) or parent (ES.FUT) symbols name contracts only through
in-stream symbol mapping records (live data); without them the file is refused with the
raw-symbol request to make.
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from market_spine.errors import InvalidInput, UnknownSymbol
from market_spine.markets.instruments import front_contract, series_name
from market_spine.markets.rolls import by_expiry
from market_spine.providers.file_csv import CsvDialect, CsvProblem, CsvRows, read_rows

FORMATS = ("csv", "parquet", "dbn")
REQUIRED = ("ts", "open", "high", "low", "close", "volume")
DEFAULT_NAMES: dict[str, tuple[str, ...]] = {
    "ts": ("ts", "timestamp", "timestamp_utc", "ts_event", "time", "datetime"),
    "open": ("open",),
    "high": ("high",),
    "low": ("low",),
    "close": ("close",),
    "volume": ("volume", "vol"),
    "vwap": ("vwap",),
    "trades": ("trades", "trade_count", "num_trades"),
    "contract": ("contract", "local_symbol", "raw_symbol", "symbol"),
}
_NUMBERS = ("open", "high", "low", "close", "volume", "vwap", "trades")
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_PRICE_SCALE = 1e-9  # DBN fixed-point prices
# Databento's symbols for groups of contracts: continuous (ES.c.0, ES.n.1, ES.v.0) and parent
# (ES.FUT); the root is the first group.
_CONTINUOUS = re.compile(r"^([A-Za-z0-9]+)\.[cnv]\.\d+$")
_CALENDAR = re.compile(r"^([A-Za-z0-9]+)\.c\.(\d+)$")
_PARENT = re.compile(r"^([A-Za-z0-9]+)\.(?:FUT|OPT)$", re.IGNORECASE)


class FileImportError(InvalidInput):
    """A vendor file cannot be imported as it is; the message names the file, row and fix."""


@dataclass(frozen=True)
class SourceTable:
    """A file's rows under canonical names, `_row` numbering them as the user sees them."""

    frame: pl.DataFrame
    row_label: str  # "line" (CSV, header is line 1), "row" (Parquet) or "record" (DBN)
    mapping: dict[str, str]  # canonical field -> the file's column it came from
    typed: bool  # True when already in BAR dtypes (DBN)
    blank_lines: tuple[int, ...] = ()  # CSV lines left out: no values on them
    dialect: CsvDialect | None = None  # how a CSV was read
    by_expiry: bool = False  # a DBN file of calendar continuous symbols (contracts resolved)


def group_symbol(symbol: str) -> tuple[str, str] | None:
    """(kind, root) of a Databento continuous or parent symbol — ("continuous", "ES") for ES.c.0,
    ("parent", "ES") for ES.FUT — or None for any other symbol."""
    text = series_name(symbol) or symbol.strip()
    for kind, pattern in (("continuous", _CONTINUOUS), ("parent", _PARENT)):
        found = pattern.match(text)
        if found:
            return kind, found.group(1).upper()
    return None


def fail(path: Path, what: str, fix: str) -> FileImportError:
    """The error for a file that cannot be imported; nothing is written when it is raised."""
    return FileImportError(f"{path.name}: {what}; {fix} (nothing was imported)")


def detect_format(path: Path, fmt: str) -> str:
    """`fmt`, or the format the file name implies when `fmt` is "auto"."""
    fmt = fmt.strip().lower()
    if fmt != "auto":
        if fmt not in FORMATS:
            raise FileImportError(f"format {fmt!r} is not one of auto, {', '.join(FORMATS)}")
        return fmt
    name = path.name.lower()
    for suffixes, found in (
        ((".csv", ".csv.gz", ".txt", ".txt.gz"), "csv"),
        ((".parquet", ".pq"), "parquet"),
        ((".dbn", ".dbn.zst"), "dbn"),
    ):
        if name.endswith(suffixes):
            return found
    raise fail(path, "cannot tell the format from the file name", "pass --format csv|parquet|dbn")


def parse_mapping(items: Sequence[str] | None) -> dict[str, str]:
    """`["ts=Date Time", "volume=Vol"]` → {"ts": "Date Time", "volume": "Vol"}, fields checked."""
    out: dict[str, str] = {}
    for item in items or ():
        field, sep, column = item.partition("=")
        field = field.strip().lower()
        if not sep or not column.strip():
            raise FileImportError(f"mapping {item!r} is not FIELD=COLUMN, e.g. ts=timestamp_utc")
        if field not in DEFAULT_NAMES:
            raise FileImportError(
                f"mapping {item!r}: unknown field {field!r}; fields are {', '.join(DEFAULT_NAMES)}"
            )
        out[field] = column.strip()
    return out


def read_table(
    path: Path,
    data: bytes,
    fmt: str,
    mapping: dict[str, str],
    dialect: CsvDialect | None = None,
) -> SourceTable:
    """The file's rows under canonical names (values not yet validated); `dialect` applies to
    CSV only (decimal commas become points here, so every number parses one way)."""
    dialect = dialect or CsvDialect()
    if fmt != "csv" and not dialect.is_default:
        raise fail(path, "--separator and --decimal apply to CSV only", "drop them")
    if fmt == "dbn":
        if mapping:
            raise fail(path, "--mapping applies to CSV and Parquet only", "drop --mapping")
        return _read_dbn(path, data)
    if fmt == "csv":
        rows = _read_csv(path, data, dialect)
        frame, blank = rows.frame.rename({"_line": "_row"}), rows.blank_lines
    else:
        frame = _read_parquet(path, data).with_row_index("_row", offset=1)
        blank = ()
    if frame.height == 0:
        raise fail(path, "the file has a header but no bars", "pass a file with data rows")
    used = _resolve(path, [c for c in frame.columns if c != "_row"], mapping)
    out = frame.select(
        pl.col("_row").cast(pl.Int64), *(pl.col(col).alias(field) for field, col in used.items())
    )
    if fmt == "csv" and dialect.decimal == ",":
        out = out.with_columns(
            pl.col(f).str.replace(",", ".", literal=True) for f in _NUMBERS if f in out.columns
        )
    label = "line" if fmt == "csv" else "row"
    return SourceTable(out, label, used, False, blank, dialect if fmt == "csv" else None)


def _resolve(path: Path, columns: list[str], mapping: dict[str, str]) -> dict[str, str]:
    by_lower = {c.lower(): c for c in columns}
    used: dict[str, str] = {}
    for field, names in DEFAULT_NAMES.items():
        if field in mapping:
            column = by_lower.get(mapping[field].lower())
            if column is None:
                raise fail(
                    path,
                    f"mapping {field}={mapping[field]} names no column (columns: {columns})",
                    "map the field to one of the file's columns",
                )
            used[field] = column
            continue
        column = next((by_lower[n] for n in names if n in by_lower), None)
        if column is not None:
            used[field] = column
        elif field in REQUIRED:
            raise fail(
                path,
                f"no {field!r} column (looked for {', '.join(names)}; the file has {columns})",
                f"map it with --mapping {field}=COLUMN",
            )
    return used


def _read_csv(path: Path, data: bytes, dialect: CsvDialect) -> CsvRows:
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as exc:
            raise fail(
                path, f"the gzip stream is truncated or corrupt ({exc})", "download it again"
            ) from None
    if not data.strip():
        raise fail(path, "the file is empty", "pass a CSV with a header and bars")
    try:
        # All strings: every value is checked and converted later, with its line number.
        return read_rows(data, dialect)
    except CsvProblem as exc:
        raise fail(path, exc.what, exc.fix) from None


def _read_parquet(path: Path, data: bytes) -> pl.DataFrame:
    if not data:
        raise fail(path, "the file is empty", "pass a Parquet file with bars")
    try:
        return pl.read_parquet(io.BytesIO(data))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise fail(path, f"not a readable Parquet file ({exc})", "write it again") from None


def _read_dbn(path: Path, data: bytes) -> SourceTable:
    import databento_dbn as dbn

    if not data:
        raise fail(path, "the file is empty", "pass a DBN file with OHLCV records")
    if data[:4] == _ZSTD_MAGIC:
        # pyarrow rather than the decoder's own zstd: it reads every frame and reports a
        # truncated stream, where the decoder silently returns the records it got.
        try:
            data = pa.CompressedInputStream(pa.BufferReader(data), "zstd").read()
        except OSError as exc:
            raise fail(
                path, f"the zstd stream is truncated or corrupt ({exc})", "download it again"
            ) from None
    decoder = dbn.DBNDecoder()
    try:
        decoder.write(data)
        records = decoder.decode()
    except Exception as exc:  # DBNError has no finer classes for a bad header or record
        raise fail(path, f"not a valid DBN stream ({exc})", "download the file again") from None
    if decoder.buffer():
        where = "inside a record" if records else "inside its metadata header"
        raise fail(path, f"the DBN stream is truncated: it ends {where}", "download it again")
    if not records or not isinstance(records[0], dbn.Metadata):
        raise fail(path, "the DBN stream has no metadata header", "export it with metadata")
    meta = records[0]
    if meta.schema is not None and str(meta.schema) != "ohlcv-1m":
        raise fail(path, f"DBN schema is {meta.schema}", "import ohlcv-1m bars only")
    names, groups = _symbol_names(meta, records)
    bars = [r for r in records[1:] if isinstance(r, dbn.OHLCVMsg)]
    if not bars:
        raise fail(path, "the DBN file holds no OHLCV records", "pass an ohlcv-1m file")
    _refuse_unnamed_groups(path, names, groups, bars)
    undef = dbn.UNDEF_PRICE
    frame = pl.DataFrame(
        {
            "_row": range(1, len(bars) + 1),
            "ts": [r.ts_event for r in bars],
            **{
                k: [None if getattr(r, k) == undef else getattr(r, k) * _PRICE_SCALE for r in bars]
                for k in ("open", "high", "low", "close")
            },
            "volume": [r.volume for r in bars],
            "contract": [_name_of(names, r.instrument_id, r.ts_event) for r in bars],
        },
        schema_overrides={k: pl.Float64 for k in ("open", "high", "low", "close")},
    ).with_columns(
        pl.col("_row").cast(pl.Int64),
        pl.col("ts").cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
        pl.col("volume").cast(pl.Int64),
        vwap=pl.lit(None, pl.Float64),
        trades=pl.lit(None, pl.Int64),
    )
    by_expiry = any(_CALENDAR.match(series_name(str(s)) or "") for s in meta.mappings)
    mapping = {"ts": "ts_event", "contract": "instrument_id"}
    return SourceTable(frame, "record", mapping, True, by_expiry=by_expiry)


_Names = list[tuple[int, str, str, str]]


def _symbol_names(meta: object, records: list[object]) -> tuple[_Names, _Names]:
    """(instrument id, first day, end day (exclusive), symbol) from the metadata mappings and any
    in-stream symbol mapping records: first those naming a contract, then those naming a group
    (continuous or parent symbols, which stand for different contracts on different days)."""
    import databento_dbn as dbn

    names: _Names = []
    groups: _Names = []
    for symbol, intervals in meta.mappings.items():  # type: ignore[attr-defined]
        grouped = group_symbol(symbol) is not None
        for iv in intervals:
            if str(iv["symbol"]).isdigit():
                row = (int(iv["symbol"]), str(iv["start_date"]), str(iv["end_date"]), symbol)
                held = calendar_contract(symbol, str(iv["start_date"])) if grouped else None
                if held is not None:
                    names.append((*row[:3], held))
                else:
                    (groups if grouped else names).append(row)
    for r in records:
        # Live data names each instrument's contract here, also under continuous symbols.
        if (
            isinstance(r, dbn.SymbolMappingMsg)
            and not r.stype_out_symbol.isdigit()
            and group_symbol(r.stype_out_symbol) is None
        ):
            names.append((r.instrument_id, "0000-00-00", "9999-99-99", r.stype_out_symbol))
    return names, groups


def calendar_contract(symbol: str, first_day: str) -> str | None:
    """The contract a calendar continuous symbol (`ES.c.0`) stood for from `first_day` (ISO),
    as a local symbol; None for any other symbol or a root we do not know."""
    found = _CALENDAR.match(series_name(symbol) or "")
    if found is None:
        return None
    try:
        held = by_expiry(found[1], date.fromisoformat(first_day), int(found[2]))
    except (UnknownSymbol, ValueError):
        return None
    return held.local_symbol


def _refuse_unnamed_groups(path: Path, names: _Names, groups: _Names, bars: list[Any]) -> None:
    """A file requested by continuous or parent symbol without the contract of each instrument:
    refused, naming the raw-symbol request that gives a file this importer takes."""
    named = {iid for iid, *_ in names}
    unnamed = [r for r in bars if r.instrument_id not in named]
    held: dict[str, dict[int, list[str]]] = {}
    for r in unnamed:
        day = datetime.fromtimestamp(r.ts_event / 1e9, UTC).date().isoformat()
        for iid, start, end, symbol in groups:
            if iid == r.instrument_id and start <= day < end:
                held.setdefault(symbol, {}).setdefault(iid, []).append(day)
    if not held:
        return
    symbol, ids = next(iter(held.items()))
    kind, root = group_symbol(symbol) or ("continuous", symbol.split(".")[0].upper())
    spans = ", ".join(f"{iid} on {min(d)}..{max(d)}" for iid, d in ids.items())
    days = sorted({d for ds in ids.values() for d in ds})
    raise fail(
        path,
        f"{symbol} is a Databento {kind} symbol (stype_in={kind}): the file gives instrument "
        f"ids ({spans}) but not the contract each stands for, and bars are kept by contract",
        f"request the same bars with stype_in=raw_symbol and symbols={_contracts(root, days)} "
        f"(our roll rule's front month then; Databento's symbology.resolve names the contract "
        f"{symbol} stood for) and import that file with --symbol {root}",
    )


def _contracts(root: str, days: list[str]) -> str:
    """The front contracts of `root`'s roll rule over `days`, as an example to request."""
    try:
        found = {front_contract(root, date.fromisoformat(d)).local_symbol for d in days}
    except UnknownSymbol:
        return f"{root}<month><year> (e.g. {root}U4)"
    return ",".join(sorted(found))


def _name_of(names: list[tuple[int, str, str, str]], iid: int, ts_ns: int) -> str:
    day = datetime.fromtimestamp(ts_ns / 1e9, UTC).date().isoformat()
    for i, start, end, raw in names:
        if i == iid and start <= day < end:
            return raw
    return str(iid)  # unmapped: kept as the id, so --symbol cannot match it by accident
