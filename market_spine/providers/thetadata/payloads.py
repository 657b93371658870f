"""ThetaTerminal v3 payloads as typed frames: CSV, NDJSON and both JSON layouts, columns always
looked up by name, exchange times (America/New_York) converted to UTC.

The feed sends explicit gaps: an empty CSV cell, a JSON null, a `NaN` price. A gap in a value
field is kept as a null (never a zero, never a dropped row); a gap in what names a row (symbol,
expiration, strike, right, its timestamp) or text that is not a value at all makes the body
malformed."""

from __future__ import annotations

import io
import json
from typing import Any

import polars as pl

from market_spine.providers.base import QUOTE_SCHEMA
from market_spine.providers.thetadata.errors import _Malformed

_ET = "America/New_York"

#: The parsed EOD chain: the simulated chain's names, plus the terminal's extra fields.
EOD_SCHEMA: dict[str, pl.DataType] = {
    "root": pl.String(),
    "expiration": pl.Date(),
    "strike": pl.Float64(),
    "right": pl.String(),
    "trade_date": pl.Date(),
    "bid": pl.Float64(),
    "ask": pl.Float64(),
    "bid_size": pl.Int64(),
    "ask_size": pl.Int64(),
    "volume": pl.Int64(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "trades": pl.Int64(),
    "bid_exchange": pl.Int64(),
    "ask_exchange": pl.Int64(),
    "bid_condition": pl.Int64(),
    "ask_condition": pl.Int64(),
    "created": pl.Datetime("ns", "UTC"),
    "last_trade": pl.Datetime("ns", "UTC"),
}
#: Terminal column → (our column, dtype) for the numeric EOD fields.
_EOD_NUMERIC = {
    "bid": ("bid", pl.Float64),
    "ask": ("ask", pl.Float64),
    "bid_size": ("bid_size", pl.Int64),
    "ask_size": ("ask_size", pl.Int64),
    "volume": ("volume", pl.Int64),
    "open": ("open", pl.Float64),
    "high": ("high", pl.Float64),
    "low": ("low", pl.Float64),
    "close": ("close", pl.Float64),
    "count": ("trades", pl.Int64),
    "bid_exchange": ("bid_exchange", pl.Int64),
    "ask_exchange": ("ask_exchange", pl.Int64),
    "bid_condition": ("bid_condition", pl.Int64),
    "ask_condition": ("ask_condition", pl.Int64),
}
OPEN_INTEREST_SCHEMA: dict[str, pl.DataType] = {
    "root": pl.String(),
    "expiration": pl.Date(),
    "strike": pl.Float64(),
    "right": pl.String(),
    "open_interest": pl.Int64(),
    "ts": pl.Datetime("ns", "UTC"),
}


#: How the feed writes an absent value.
_GAPS = ("", "null", "NaN", "nan")


def _parse(payload: bytes, fmt: str) -> pl.DataFrame:
    """A 200 body as a frame of strings/values keyed by column name (layout-independent)."""
    if fmt == "csv":
        return _parse_csv(payload)
    if fmt == "ndjson":
        return _parse_ndjson(payload)
    return _parse_json(payload)


def _parse_ndjson(payload: bytes) -> pl.DataFrame:
    """One flat JSON object a line (blank lines between them allowed)."""
    if not payload.endswith(b"\n"):
        raise _Malformed("NDJSON body does not end with a line break (cut short)")
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(payload.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise _Malformed(f"NDJSON line {number} could not be parsed: {exc}") from exc
        if not isinstance(row, dict):
            raise _Malformed(f"NDJSON line {number} is a {type(row).__name__}, not an object")
        rows.append(row)
    if not rows:
        return pl.DataFrame()
    return pl.from_dicts(rows, infer_schema_length=None)


def _parse_csv(payload: bytes) -> pl.DataFrame:
    # A stream cut between rows still parses: the terminal ends every line, so demand it.
    if not payload.endswith(b"\n"):
        raise _Malformed("CSV body does not end with a line break (cut short)")
    try:
        return pl.read_csv(io.BytesIO(payload), infer_schema=False, raise_if_empty=True)
    except Exception as exc:  # polars raises several error types for broken CSV
        raise _Malformed(f"CSV could not be parsed: {exc}") from exc


def _parse_json(payload: bytes) -> pl.DataFrame:
    try:
        body = json.loads(payload)
        response = body["response"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _Malformed(f"JSON could not be parsed: {exc}") from exc
    if isinstance(response, dict):
        # Column-oriented layout: {"response": {"col": [...], ...}}.
        try:
            return pl.DataFrame(response, strict=False)
        except Exception as exc:
            raise _Malformed(f"column-oriented JSON is ragged: {exc}") from exc
    if not isinstance(response, list):
        raise _Malformed(f"JSON 'response' is a {type(response).__name__}, not a list or object")
    rows: list[dict[str, Any]] = []
    for item in response:
        if isinstance(item, dict) and "contract" in item and "data" in item:
            contract = item["contract"]
            rows.extend({**contract, **tick} for tick in item["data"])
        elif isinstance(item, dict):
            rows.append(item)
        else:
            raise _Malformed(f"JSON row is a {type(item).__name__}, not an object")
    if not rows:
        return pl.DataFrame()
    return pl.from_dicts(rows, infer_schema_length=None)


def _column(frame: pl.DataFrame, name: str) -> pl.Series:
    if name not in frame.columns:
        raise _Malformed(f"column {name!r} missing (have {frame.columns})")
    return frame[name]


def _values(series: pl.Series, dtype: type[pl.DataType], name: str) -> pl.Series:
    """A value column: gaps (empty, null, NaN) become nulls; any other text that is not a
    `dtype` makes the body malformed."""
    text = series.cast(pl.String).str.strip_chars()
    text = text.set(text.is_in(_GAPS), None)  # type: ignore[arg-type]
    try:
        return text.cast(dtype, strict=True)
    except Exception as exc:
        raise _Malformed(f"column {name!r} has values that are not {dtype}: {exc}") from exc


def _cast(series: pl.Series, dtype: type[pl.DataType], name: str) -> pl.Series:
    """A column that names the row: every value present and a `dtype`."""
    out = _values(series, dtype, name)
    if out.null_count():
        raise _Malformed(f"column {name!r} has {out.null_count()} empty values")
    return out


def _to_date(series: pl.Series, name: str) -> pl.Series:
    text = series.cast(pl.String)
    out = text.str.to_date("%Y-%m-%d", strict=False)
    # v3 answers ISO dates; accept the compact form too rather than guess wrong.
    out = out.fill_null(text.str.to_date("%Y%m%d", strict=False))
    if out.null_count():
        raise _Malformed(f"column {name!r} has values that are not dates")
    return out


def _et_to_utc(series: pl.Series, name: str, nullable: bool = False) -> pl.Series:
    """ISO Eastern wall-clock timestamps without offset, to the second or finer (the terminal
    prints both) → UTC instants; gaps are nulls where `nullable`, else the body is malformed."""
    text = series.cast(pl.String).str.strip_chars()
    text = text.set(text.is_in(_GAPS), None)  # type: ignore[arg-type]
    try:
        local = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="ns", strict=True)
    except Exception as exc:
        raise _Malformed(f"column {name!r} has values that are not timestamps: {exc}") from exc
    if not nullable and local.null_count():
        raise _Malformed(f"column {name!r} has {local.null_count()} empty values")
    return local.dt.replace_time_zone(_ET, ambiguous="earliest").dt.convert_time_zone("UTC")


def _contract_columns(raw: pl.DataFrame) -> pl.DataFrame:
    right = _column(raw, "right").cast(pl.String).str.to_uppercase()
    mapped = right.replace_strict({"CALL": "C", "PUT": "P", "C": "C", "P": "P"}, default=None)
    if mapped.null_count():
        raise _Malformed("column 'right' has values other than CALL/PUT")
    return pl.DataFrame(
        {
            "root": _column(raw, "symbol").cast(pl.String),
            "expiration": _to_date(_column(raw, "expiration"), "expiration"),
            "strike": _cast(_column(raw, "strike"), pl.Float64, "strike"),
            "right": mapped,
        }
    )


def _eod_frame(raw: pl.DataFrame) -> pl.DataFrame:
    """Terminal EOD rows → EOD_SCHEMA (names, dtypes, C/P rights, UTC timestamps)."""
    out = _contract_columns(raw).with_columns(
        _values(_column(raw, src), dtype, src).alias(dst)
        for src, (dst, dtype) in _EOD_NUMERIC.items()
    )
    created = _et_to_utc(_column(raw, "created"), "created")
    out = out.with_columns(
        created=created,
        # A contract that never traded has no last trade.
        last_trade=_et_to_utc(_column(raw, "last_trade"), "last_trade", nullable=True),
        # The report's trading date is its creation date on the Eastern calendar.
        trade_date=created.dt.convert_time_zone(_ET).dt.date(),
    )
    return out.select(pl.col(c).cast(t) for c, t in EOD_SCHEMA.items())


def _index_frame(raw: pl.DataFrame) -> pl.DataFrame:
    """Terminal index EOD rows → (trade_date, close)."""
    created = _et_to_utc(_column(raw, "created"), "created")
    return pl.DataFrame(
        {
            "trade_date": created.dt.convert_time_zone(_ET).dt.date(),
            "close": _values(_column(raw, "close"), pl.Float64, "close"),
        }
    )


def _open_interest_frame(raw: pl.DataFrame) -> pl.DataFrame:
    """Terminal open-interest rows → OPEN_INTEREST_SCHEMA."""
    out = _contract_columns(raw).with_columns(
        open_interest=_values(_column(raw, "open_interest"), pl.Int64, "open_interest"),
        ts=_et_to_utc(_column(raw, "timestamp"), "timestamp"),
    )
    return out.select(pl.col(c).cast(t) for c, t in OPEN_INTEREST_SCHEMA.items())


def _quote_frame(raw: pl.DataFrame) -> pl.DataFrame:
    """Terminal quote rows → QUOTE_SCHEMA (C/P rights, interval start in UTC)."""
    out = _contract_columns(raw).with_columns(
        ts=_et_to_utc(_column(raw, "timestamp"), "timestamp"),
        bid=_values(_column(raw, "bid"), pl.Float64, "bid"),
        ask=_values(_column(raw, "ask"), pl.Float64, "ask"),
        bid_size=_values(_column(raw, "bid_size"), pl.Int64, "bid_size"),
        ask_size=_values(_column(raw, "ask_size"), pl.Int64, "ask_size"),
    )
    return out.select(pl.col(c).cast(t) for c, t in QUOTE_SCHEMA.items())
