"""Vendor files of 1-minute bars as captures: read, validate the whole file, split by trade date.

Every problem is found before anything is written, and reported with the file, the row and the
fix. Bars become BAR_SCHEMA rows stamped at their open in UTC (`stamp="close"` moves each back
one minute), then one BarCapture per (symbol, CME trade date), `source="file"`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from market_spine.errors import InvalidInput, UnknownSymbol
from market_spine.markets import calendars
from market_spine.markets.dates import parse_time_zone
from market_spine.markets.instruments import (
    Contract,
    front_contract,
    get_instrument,
    known_symbols,
    next_contract,
    parse_local_symbol,
    series_name,
)
from market_spine.markets.rolls import by_expiry
from market_spine.providers.base import BAR_SCHEMA, BarCapture
from market_spine.providers.file_csv import CsvDialect
from market_spine.providers.file_formats import (
    SourceTable,
    calendar_contract,
    detect_format,
    fail,
    group_symbol,
    read_table,
)
from market_spine.providers.file_values import (
    check_minutes,
    check_values,
    raise_if,
    typed_bars,
)

SOURCE = "file"
STAMPS = ("open", "close")
FIRST_FEW = 5  # line numbers a skip names


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
    tz: str | None = None  # the clock of the file's timestamps without an offset (--tz)

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
                **({"tz": self.tz} if self.tz else {}),
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
    tz: str | None = None,
) -> FileBars:
    """Read and validate a whole vendor file; FileImportError naming row and fix on a problem.

    `dialect` says how a CSV separates values and writes decimals (default `,` and `.`); `tz`
    (an IANA name) is the clock of timestamps written without a UTC offset, which are refused
    without it (unless their column's name says UTC). Bars outside every session are refused.
    """
    # What depends on the symbol alone is refused first: no file is read for a refusal.
    root, wanted = _target(symbol)
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise InvalidInput(f"{path} does not exist or is not a file: pass the path of a bar file")
    stamp = stamp.strip().lower()
    if stamp not in STAMPS:
        raise InvalidInput(f"--stamp {stamp!r} is not open or close")
    fmt = detect_format(path, fmt)
    if fmt == "dbn" and stamp != "open":
        raise fail(path, "DBN OHLCV bars are stamped at their open by definition", "drop --stamp")
    zone = parse_time_zone(tz) if tz is not None else None
    if fmt == "dbn" and zone is not None:
        raise fail(path, "DBN timestamps are nanoseconds since the epoch in UTC", "drop --tz")
    data = path.read_bytes()
    table = read_table(path, data, fmt, mapping or {}, dialect)
    frame = table.frame if table.typed else typed_bars(path, table, zone)
    frame, series = _series_named(path, frame, symbol, root)
    frame, skipped, skips = _select(path, table, frame, root, wanted)
    if table.blank_lines:
        blank = table.blank_lines
        reason = "with no values (blank, whitespace or separators only): not bars"
        skips.insert(0, Skip(len(blank), reason, "line", blank[:FIRST_FEW]))
    check_values(path, table.row_label, frame)
    if stamp == "close":
        frame = frame.with_columns(pl.col("ts") - pl.duration(minutes=1))
    check_minutes(path, table.row_label, frame)
    frame, notes = _trade_dates(path, table.row_label, frame, root, wanted, stamp, series)
    # A calendar series named on a file of contracts (raw symbols) is said too: a session of
    # another contract than the series holds serves that contract's own series instead.
    named = (series_name(symbol) or "").split(".")[1:2] == ["c"]
    if table.by_expiry or series is not None or named:
        notes.extend(off_front_note(frame, root, _rank(series or symbol)))
    return FileBars(
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        format=fmt,
        stamp=stamp,
        # A series keeps its canonical name (ES.c.1), which upper case would not be.
        symbol=series_name(symbol) or symbol.strip().upper(),
        root=root,
        mapping=table.mapping,
        bars=frame.sort("ts")
        .with_columns(symbol=pl.lit(root))
        .select(pl.col("trade_date"), *(pl.col(c).cast(t) for c, t in BAR_SCHEMA.items())),
        skipped=skipped,
        notes=tuple(notes),
        skips=tuple(skips),
        dialect=table.dialect,
        tz=str(zone) if zone else None,
    )


def _target(symbol: str) -> tuple[str, Contract | None]:
    """(root, contract or None) of `--symbol`: a configured root like ES or a contract like ESU4."""
    group = group_symbol(symbol)
    if group is not None and group[0] == "continuous":
        # The file's contracts are kept as they are; the continuous series are built from them.
        return _series_root(symbol), None
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


def _series_root(symbol: str) -> str:
    """The root of the continuous series `symbol` names (any case: `ES.C.1` is `ES.c.1`), known
    from the symbol alone, so a series of a root this home does not configure is refused before
    the file is read. A volume or open-interest series is not refused here: whether it imports
    depends on the file (one naming each bar's contract imports; a DBN request without them is
    refused with the request that gives them, read from its instrument ids), which
    `_series_named` and the DBN reader judge."""
    from market_spine.markets.rolls import RANKS

    series = series_name(symbol) or symbol.strip()
    root, kind, rank = [*series.split("."), "", ""][:3]
    try:
        found = get_instrument(root).root
    except UnknownSymbol:
        raise UnknownSymbol(
            f"{symbol.strip()} is the continuous series {series} of the root {root}, which is "
            f"not configured: pass a series of a configured root ({', '.join(known_symbols())}),"
            " or add the root in instruments.toml (see instruments.example.toml)"
        ) from None
    # A calendar series' bars are filed under the contract it holds by rank: a rank no read
    # serves would file them under a contract no series holds, imported but never served.
    if kind == "c" and rank.isdigit() and int(rank) not in RANKS:
        served = " or ".join(f"{found}.c.{n}" for n in RANKS)
        raise UnknownSymbol(
            f"{symbol.strip()} is not served: continuous series are ranked {RANKS}, so its bars "
            f"would be imported under a contract no read serves; pass {served} (nothing was "
            "imported)"
        )
    return found


def import_root(symbol: str) -> str:
    """The futures root an import of `--symbol` files its bars under, from the symbol alone (a
    root, a contract, or a continuous series in any case); UnknownSymbol naming what to pass
    when the symbol cannot be imported, so a refusal that depends only on the symbol comes
    before the file is read."""
    return _target(symbol)[0]


def _series_named(
    path: Path, frame: pl.DataFrame, symbol: str, root: str
) -> tuple[pl.DataFrame, str | None]:
    """The continuous series a file without contracts holds, as `--symbol` or its contract
    column names it (a vendor's export of ES.c.1 writes the series in every row), and the
    frame without that column: its bars are filed under the contract the series held each
    trade date (`_trade_dates`). None when the file's bars name contracts, or `--symbol` is
    a root or contract. A volume or open-interest series, whose contracts follow volumes or
    open interest the file does not give, is refused naming what to pass instead."""
    named = series_name(symbol) or symbol.strip()
    if "contract" in frame.columns:
        values = frame["contract"].drop_nulls().unique().to_list()
        grouped = [v for v in values if group_symbol(str(v)) is not None]
        if not grouped:
            return frame, None
        if len(values) > 1:
            raise fail(
                path,
                f"its contract column mixes continuous or parent symbols ({', '.join(grouped)})"
                " with others: bars are kept by contract",
                "export each bar's contract (raw_symbol), or one series per file",
            )
        written = series_name(str(values[0])) or str(values[0]).strip()
        asked = group_symbol(named)
        if asked is not None and asked[0] == "continuous" and written.upper() != named.upper():
            raise fail(
                path,
                f"its bars are of {written}, not {named} (--symbol)",
                f"pass --symbol {written}",
            )
        named, frame = written, frame.drop("contract")
    group = group_symbol(named)
    if group is None or group[0] != "continuous" or group[1] != root:
        return frame, None
    _, rule, rank = named.split(".")
    series = f"{root}.{rule.lower()}.{rank}"
    if rule.lower() != "c":
        held = front_contract(root, frame["ts"].min().date()).local_symbol  # type: ignore[union-attr]
        what, article = ("volume", "a") if rule.lower() == "v" else ("open interest", "an")
        raise fail(
            path,
            f"{series} is {article} {what} continuous series: the contract it holds each day "
            f"follows the {what} of more than one contract, which the file does not give, so its "
            "bars cannot be filed under their contracts",
            f"import each contract's bars by the contract (e.g. --symbol {held}), or a file "
            f"naming each bar's contract (raw_symbol); {root}.c.N files are mapped by expiry",
        )
    return frame, series


def _rank(symbol: str) -> int:
    """The rank of a calendar continuous symbol (`ES.c.1` → 1); 0 for any other symbol."""
    parts = symbol.strip().split(".")
    return int(parts[2]) if len(parts) == 3 and parts[1].lower() == "c" else 0


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
        raise_if(
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


def off_front_note(frame: pl.DataFrame, root: str, rank: int = 0) -> list[str]:
    """A note naming the sessions whose contract is not the one the roll rule's calendar series
    `ROOT.c.<rank>` holds (a continuous file by expiry holds the old month until it expires):
    there that series needs its contract's bars from another file."""
    days = frame.select("trade_date", "contract").unique()

    def held(d: date) -> str:
        return next_contract(front_contract(root, d), rank).local_symbol

    other = sorted((d, c) for d, c in days.iter_rows() if c != held(d))
    if not other:
        return []
    first, last = other[0][0], other[-1][0]
    wanted = sorted({held(d) for d, _ in other})
    whose = "front" if rank == 0 else f"{root}.c.{rank} contract"
    # Databento's calendar series roll at expiry, after our rule, so the file holding the
    # wanted contract is the rank it has by expiry then (`rank` or the one after), not simply
    # the next rank.
    ranks = [n for n in range(rank + 2) if by_expiry(root, first, n).local_symbol == held(first)]
    file = f"Databento's {root}.c.{ranks[0]} file (by expiry), or " if ranks else ""
    return [
        f"{len(other)} session(s) {first}..{last} hold {', '.join(sorted({c for _, c in other}))}"
        f", not the roll rule's {whose} ({', '.join(wanted)}): {root}.c.{rank} needs "
        f"{'the front' if rank == 0 else 'that contract'}'s bars there; import them too (e.g. "
        f"{file}{wanted[0]} by raw symbol)"
    ]


def _contract(value: str, near: date) -> Contract | None:
    try:
        return parse_local_symbol(value, near=near)
    except InvalidInput:
        return None


def _trade_dates(
    path: Path,
    label: str,
    frame: pl.DataFrame,
    root: str,
    wanted: Contract | None,
    stamp: str,
    series: str | None = None,
) -> tuple[pl.DataFrame, list[str]]:
    """Each bar's CME trade date: the session whose minutes hold it. A bar outside every
    session (a weekend, a holiday, the daily break) is refused: filed under the nearest trade
    date it would be data the exchange never traded. Bars naming no contract are labelled
    with `wanted`, the contract the calendar `series` (ES.c.1) held that day as DBN files of
    it are (`calendar_contract`), or else the roll rule's front."""
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
    if not grid.all():
        _refuse_off_session(path, label, frame.filter(pl.Series(~grid)), root, stamp)
    frame = frame.with_columns(trade_date=pl.Series(days, dtype=pl.Date))
    if "contract" not in frame.columns:
        if wanted is not None:
            contracts = {d: wanted.local_symbol for d in set(days)}
        elif series is not None:
            contracts = {d: calendar_contract(series, d.isoformat()) or "" for d in set(days)}
            notes.append(
                f"the file names no contract: each session is labelled with the contract "
                f"{series} held that day, by expiry as DBN files of it are "
                f"({', '.join(sorted(set(contracts.values())))})"
            )
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


def _refuse_off_session(
    path: Path, label: str, outside: pl.DataFrame, root: str, stamp: str
) -> None:
    """FileImportError naming the first few bars in `outside` (no session of `root` holds
    them), `root`'s session hours and what to change."""
    named = ", ".join(
        f"{label} {row} at {ts:%Y-%m-%d %H:%M} UTC ({ts.astimezone(calendars.CHICAGO):%A %H:%M %Z})"
        for row, ts in outside.select("_row", "ts").head(FIRST_FEW).iter_rows()
    )
    more = ", ..." if outside.height > FIRST_FEW else ""
    other = "close" if stamp == "open" else "open"
    raise fail(
        path,
        f"{outside.height} bar(s) fall outside every {root} session: {named}{more}; "
        f"{calendars.session_hours(root)}",
        f"if the file stamps each bar at its {other}, import it with --stamp {other}; if its "
        "clock is not UTC, write each timestamp's offset or pass --tz ZONE; otherwise remove "
        "those bars from the file",
    )
