"""Import a vendor bar file: raw captures in one commit, then the normalized and daily assets (and
their checks) for the imported partitions, through Dagster like any other run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from market_spine.audit.recorder import record as audit_record
from market_spine.catalog.vocabulary import conform
from market_spine.certification.ledger import latest_transitions
from market_spine.certification.rules import State
from market_spine.futures import checks, keys
from market_spine.futures.capture_guard import (
    refuse_import_conflicts,
    refuse_minutes_lost,
    refuse_normalized_loss,
)
from market_spine.futures.normalized_bars import accepted_capture
from market_spine.futures.partitions import FIRST_TRADE_DATE, partition_key, partition_symbols
from market_spine.futures.raw_bars import capture_frame
from market_spine.futures.schemas import RAW_BARS
from market_spine.lake.store import Lake
from market_spine.markets import calendars
from market_spine.markets.instruments import front_contract, series_name
from market_spine.providers.file import FileBars, Skip, import_root, read_bars
from market_spine.providers.file_csv import CsvDialect
from market_spine.providers.file_formats import FileImportError
from market_spine.runs.launch import RunSummary, materialize_range
from market_spine.settings import Settings

#: The run skips the raw asset: it would fetch the same sessions from the configured provider.
#: The rolls and continuous series follow, so an imported file maps onto ROOT.c.N / ROOT.v.N.
IMPORT_SELECTION = (
    keys.NORMALIZED_BARS,
    keys.DAILY_BARS,
    keys.ROLLS,
    keys.CONTINUOUS_BARS,
    keys.CONTINUOUS_DAILY,
)


@dataclass(frozen=True)
class DayReport:
    """One imported session: its rows and what the completeness check finds in them."""

    trade_date: date
    contract: str
    rows: int
    first_bar: datetime
    last_bar: datetime
    expected_bars: int
    missing_minutes: int
    no_trade_minutes: int
    unexpected_bars: int
    missing_runs: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class CheckReport:
    """One asset check evaluated by the import's run, on one partition (`date|symbol`)."""

    asset: str
    check: str
    partition: str | None
    passed: bool
    severity: str
    metadata: dict[str, Any]
    #: Why the partition's data is missing rather than failed, when the check failed only
    #: because the session holds no bars of its front contract (the file brought another
    #: month): e.g. `no bars of ESH4, the front contract of ES, on 2024-02-27`; "" otherwise.
    missing: str = ""


@dataclass(frozen=True)
class FailedPartition:
    """An imported partition its checks left `failed` after the write: the data are in the lake
    but not certified, and why."""

    dataset: str
    partition: str  # `date|symbol`
    reason: str  # the certification's reason, e.g. `certifying check failed: completeness`
    series: str | None = None  # the continuous series judged apart, e.g. `ES.c.1`

    @property
    def label(self) -> str:
        """The partition, with its series when one is judged apart (`2024-03-04|ES ES.c.1`)."""
        return f"{self.partition} {self.series}" if self.series else self.partition


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote and what the checks found."""

    path: str
    sha256: str
    format: str
    stamp: str
    symbol: str
    rows: int
    raw_version: int
    skipped: dict[str, int]
    notes: tuple[str, ...]
    skips: tuple[Skip, ...]  # every row left out and why (blank lines, other instruments)
    days: tuple[DayReport, ...]
    checks: tuple[CheckReport, ...]
    runs: tuple[RunSummary, ...]
    failed: tuple[FailedPartition, ...] = ()

    @property
    def success(self) -> bool:
        """True when every Dagster run succeeded (failed non-blocking checks are reported)."""
        return all(r.success for r in self.runs)

    @property
    def certified_or_pending(self) -> bool:
        """False when a partition the import wrote was judged `failed` by its checks."""
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (dates and times as ISO strings)."""
        return _jsonable(asdict(self))


def import_bars(
    settings: Settings,
    path: str | Path,
    symbol: str,
    fmt: str = "auto",
    stamp: str = "open",
    mapping: dict[str, str] | None = None,
    instance: dg.DagsterInstance | None = None,
    dialect: CsvDialect | None = None,
    replace: bool = False,
    tz: str | None = None,
) -> ImportReport:
    """Validate the whole file, append one capture per trade date as one raw commit, then run the
    normalized and daily assets for those partitions. Nothing is written if the file is invalid
    (bars outside every session, timestamps without a UTC offset and no `tz`), or, without
    `replace`, when it would replace sessions another source captured, or remove minutes the
    lake holds of a contract the file brings, or cut a session's normalized minutes, in any
    state (WouldReplace says which and how many)."""
    symbols = partition_symbols(settings)  # registers the home's configured roots for read_bars
    # A refusal that depends on the symbol alone comes before the file is read.
    _check_root(symbol, import_root(symbol), symbols)
    bars = read_bars(path, symbol, fmt, stamp, mapping, dialect, tz)
    days = bars.bars["trade_date"].unique().sort().to_list()
    _check_days(bars, days)
    captured_at = datetime.now(UTC)
    frames = [capture_frame(c, d.isoformat(), captured_at) for d, c in bars.captures()]
    raw = pl.concat(frames)
    lake = settings.lake()
    if not replace:
        refuse_import_conflicts(lake, bars.root, raw)
        refuse_normalized_loss(lake, bars.root, _accepted_after(lake, bars.root, days, raw))
        refuse_minutes_lost(lake, bars.root, raw)
    commit = lake.append(
        keys.table(keys.RAW_BARS),
        raw,
        partition_by=["symbol"],
        metadata={
            "source": "file",
            "path": str(bars.path),
            "sha256": bars.sha256,
            "captures": [f["capture_id"][0] for f in frames],
        },
    )
    if instance is None:
        from market_spine.home import instance as home_instance

        instance = home_instance(settings)
    runs = materialize_range(
        settings,
        [bars.root],
        days[0],
        days[-1],
        instance=instance,
        selection=IMPORT_SELECTION,
        launched_from="import",
    )
    audit_record(
        settings.home,
        "import.bars",
        keys.table(keys.RAW_BARS),
        {
            "path": str(bars.path),
            "sha256": bars.sha256,
            "format": bars.format,
            "symbol": bars.symbol,
            "rows": bars.bars.height,
            "raw_version": commit.version,
            "runs": [r.run_id for r in runs],
        },
        "ok" if all(r.success for r in runs) else "failed",
    )
    return ImportReport(
        path=str(bars.path),
        sha256=bars.sha256,
        format=bars.format,
        stamp=bars.stamp,
        symbol=bars.symbol,
        rows=bars.bars.height,
        raw_version=commit.version,
        skipped=bars.skipped,
        notes=bars.notes,
        skips=bars.skips,
        days=tuple(_days(bars)),
        checks=tuple(
            _missing_fronts(bars.root, [c for r in runs for c in _checks(instance, r.run_id)])
        ),
        runs=tuple(runs),
        failed=tuple(_failed(lake, bars.root, days)),
    )


#: The datasets an import judges per (trade date, root), whose failure the import reports: the
#: root's bars and daily bars, and each continuous series built from them (judged per series).
JUDGED = (keys.NORMALIZED_BARS, keys.DAILY_BARS, keys.CONTINUOUS_BARS, keys.CONTINUOUS_DAILY)


def _failed(lake: Lake, root: str, days: list[date]) -> list[FailedPartition]:
    """The imported partitions (and continuous series) whose newest certification is
    `failed`, oldest first."""
    wanted = {str(partition_key(d, root)) for d in days}
    out = []
    for key in JUDGED:
        table = keys.table(key)
        judged = latest_transitions(
            lake,
            table,
            days[0],
            days[-1],
            ["partition", "symbol", "state", "reason", "recorded_at"],
            by=("partition", "symbol"),
        )
        for partition, symbol, state, reason, _ in judged.sort("partition", "symbol").iter_rows():
            if partition in wanted and State(state) == State.FAILED:
                series = symbol if symbol and symbol != root else None
                out.append(FailedPartition(table, partition, reason or "", series))
    return out


def _accepted_after(
    lake: Lake, root: str, days: list[date], incoming: pl.DataFrame
) -> dict[date, pl.DataFrame]:
    """Each imported session's normalized minutes once `incoming` is appended to the raw
    captures the lake holds (the accepted capture of the front contract, or of another)."""
    table = keys.table(keys.RAW_BARS)
    held = (
        lake.read(table, equals={"symbol": root}, between={"trade_date": (days[0], days[-1])})
        if lake.exists(table)
        else incoming.clear()
    )
    every = pl.concat([conform(held, RAW_BARS), incoming], how="vertical_relaxed")
    accepted = accepted_capture(every.filter(pl.col("trade_date").is_in(days)))
    return {d: accepted.filter(pl.col("trade_date") == d) for d in days}


def _check_root(symbol: str, root: str, symbols: tuple[str, ...]) -> None:
    """The root `--symbol` files its bars under must be one of the home's futures partitions
    (`symbols`): checked from the symbol alone, before the file is read. A symbol other than
    the root itself (a series, a contract) is named with the root it maps to."""
    if root in symbols:
        return
    given = symbol.strip()
    series = series_name(given)
    if series is not None:
        given = f"{given} (the continuous series {series}, filed under {root}'s contracts)"
    elif given.upper() != root:
        given = f"{given} (a contract of {root})"
    raise FileImportError(
        f"{given}: {root} is not a futures partition of this home (partitions: "
        f"{', '.join(symbols)}): add it to the home's instruments file and restart the "
        "platform (nothing was imported)"
    )


def _check_days(bars: FileBars, days: list[date]) -> None:
    """Every trade date must be inside the home's futures partitions: checked before any
    write."""
    first, last = date.fromisoformat(FIRST_TRADE_DATE), date.today() + timedelta(days=1)
    outside = [d for d in days if not first <= d <= last]
    if outside:
        raise FileImportError(
            f"{bars.path.name}: trade dates {outside[0]}..{outside[-1]} are outside the "
            f"partitions {first}..{last}; import bars inside that range (nothing was imported)"
        )


def _days(bars: FileBars) -> list[DayReport]:
    """Per session: rows, contract, and the completeness check on exactly the imported rows."""
    now = datetime.now(UTC)
    out = []
    for (day,), rows in bars.bars.group_by("trade_date", maintain_order=True):
        found = checks.completeness(rows, [(bars.root, day)], now=now).metadata
        worst = found["worst"][0] if found["worst"] else {}
        first, last = rows["ts"].min(), rows["ts"].max()
        out.append(
            DayReport(
                trade_date=day,
                contract=",".join(sorted(rows["contract"].unique().to_list())),
                rows=rows.height,
                first_bar=first,  # type: ignore[arg-type]
                last_bar=last,  # type: ignore[arg-type]
                expected_bars=found["expected_bars"],
                missing_minutes=found["missing_minutes"],
                no_trade_minutes=found["no_trade_minutes"],
                unexpected_bars=found["unexpected_bars"],
                missing_runs=tuple(worst.get("missing_runs", ())),
                note=_edge_note(bars, day, first, last),  # type: ignore[arg-type]
            )
        )
    return sorted(out, key=lambda d: d.trade_date)


def _edge_note(bars: FileBars, day: date, first: datetime, last: datetime) -> str:
    """Say so when the file starts or ends inside this session (its gap is the file's edge)."""
    s = calendars.session(bars.root, day)
    if s is None:
        return ""
    file_first, file_last = bars.bars["ts"].min(), bars.bars["ts"].max()
    minute = timedelta(minutes=1)
    if first == file_first and first > s.open:
        return f"the file starts inside this session (open {s.open:%Y-%m-%d %H:%M} UTC)"
    if last == file_last and last + minute < s.close:
        return f"the file ends inside this session (close {s.close:%Y-%m-%d %H:%M} UTC)"
    return ""


def _checks(instance: dg.DagsterInstance, run_id: str) -> list[CheckReport]:
    """The asset check evaluations a run logged."""
    out = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        ev = record.dagster_event.event_specific_data  # type: ignore[union-attr]
        out.append(
            CheckReport(
                asset=ev.asset_key.to_user_string(),
                check=ev.check_name,
                partition=ev.partition,
                passed=ev.passed,
                severity=ev.severity.value,
                metadata={k: v.value for k, v in ev.metadata.items()},
            )
        )
    return out


#: The checks that fail when a session holds none of its front contract's bars: they count
#: what is absent, which an import of another month leaves missing, not failed.
_COUNTING = {
    (keys.table(keys.NORMALIZED_BARS), "completeness"),
    (keys.table(keys.DAILY_BARS), "completeness"),
}


def _missing_fronts(root: str, found: list[CheckReport]) -> list[CheckReport]:
    """`found`, with each failed counting check of a session that holds no bars of its front
    contract (its minutes' completeness found none present: the file's bars that day are of
    another month) marked missing, naming the contract, as readiness judges it."""
    normalized = keys.table(keys.NORMALIZED_BARS)
    empty = {
        c.partition
        for c in found
        if c.asset == normalized
        and c.check == "completeness"
        and c.partition
        and c.metadata.get("present_bars") == 0
        and c.metadata.get("expected_bars", 0) > 0
    }
    out = []
    for c in found:
        if not c.passed and c.partition in empty and (c.asset, c.check) in _COUNTING:
            day = date.fromisoformat(c.partition.split("|")[0])
            front = front_contract(root, day).local_symbol
            why = f"no bars of {front}, the front contract of {root}, on {day}"
            c = replace(c, missing=why)
        out.append(c)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
