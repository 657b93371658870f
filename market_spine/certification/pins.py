"""Which table versions certification pins, and which one a read `as_certified` a date sees.

Every version a certification names (`delta_version` of a `certified` transition in
operations/certifications) is pinned, and so is every version a certifying run committed to a
table derived from the certified one (daily bars from minute bars, greeks and surfaces from the
chain), since those hold the derived rows of what was certified. Maintenance keeps every file a
pinned version references (lake/pruning.py), so a certified state stays readable for good.

A read `as_certified=D` sees what was certified by the end of D (UTC), partition by partition
(dataset x trade date x symbol): each at the version its newest `certified` transition recorded
before midnight UTC after D names, one time-travel read per distinct version; a derived table's
partition at the newest version the run that recorded that transition committed to it by then.
A partition never certified by then is left out, and the read names it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl

from market_spine.certification.rules import State
from market_spine.certification.status import CertificationStates
from market_spine.certification.tables import CERTIFICATIONS, CERTIFICATIONS_SCHEMA
from market_spine.errors import InvalidInput, NotCertified
from market_spine.lake.store import Lake
from market_spine.markets.dates import parse_date

_COLUMNS = ["dataset", "delta_version", "run_id", "recorded_at"]
_PARTITION_COLUMNS = ["trade_date", "symbol", "delta_version", "run_id", "recorded_at"]
_STATE_COLUMNS = ["partition", "trade_date", "symbol", "state"]


def certified_transitions(lake: Lake, before: datetime | None = None) -> pl.DataFrame:
    """Every `certified` transition (dataset, delta_version, run_id, recorded_at), those
    recorded before `before` only when given; empty when nothing was ever certified."""
    if not lake.exists(CERTIFICATIONS):
        return pl.DataFrame(
            schema={
                "dataset": pl.String(),
                "delta_version": pl.Int64(),
                "run_id": pl.String(),
                "recorded_at": pl.Datetime("us", "UTC"),
            }
        )
    rows = lake.read(
        CERTIFICATIONS, equals={"state": State.CERTIFIED.value}, columns=["state", *_COLUMNS]
    ).drop("state")
    if before is not None:
        rows = rows.filter(pl.col("recorded_at") < before)
    return rows


def _commits(lake: Lake, dataset: str) -> list[dict[str, Any]]:
    return lake.history(dataset) if lake.exists(dataset) else []


def pinned_versions(lake: Lake, derived: Mapping[str, Iterable[str]]) -> dict[str, set[int]]:
    """The pinned versions of each table: those certifications name, and those the certifying
    runs committed to the tables `derived` lists for a certified dataset (its descendants)."""
    certified = certified_transitions(lake)
    pins: dict[str, set[int]] = defaultdict(set)
    runs: dict[str, set[str]] = defaultdict(set)
    for dataset, version, run_id, _ in certified.iter_rows():
        if version is not None:
            pins[dataset].add(version)
        runs[dataset].add(run_id)
    for source, targets in derived.items():
        if not runs.get(source):
            continue
        for target in targets:
            pins[target] |= {
                c["version"] for c in _commits(lake, target) if c.get("run_id") in runs[source]
            }
    return dict(pins)


def end_of_day(value: str | date) -> tuple[date, datetime]:
    """The date an `as_certified` names and the instant after it ends (midnight UTC); a
    timestamp or anything else than a date is InvalidInput."""
    if isinstance(value, datetime):
        raise InvalidInput(
            f"as_certified={value.isoformat()} is a timestamp: pass a date like 2024-03-05 (the "
            "state certified by the end of that day, UTC), or use as_of for an instant"
        )
    day = parse_date(value, "as_certified")
    return day, datetime.combine(day + timedelta(days=1), time(), UTC)


#: A partition as a certified read keys it: its trade date and symbol (None: a whole day).
PartitionKey = tuple[date, str | None]


class LeftOutWarning(UserWarning):
    """A read `as_certified` a date left out partitions never certified by then."""


@dataclass(frozen=True)
class CertifiedRead:
    """Where a read `as_certified` a day goes: each partition certified by then and the
    version of `dataset` holding its rows as certified (`versions`), following the
    certifications of `source` (the dataset itself, or the certified one it derives from).
    A partition never certified by then has no entry: the read leaves it out."""

    day: date
    cutoff: datetime
    dataset: str
    source: str
    versions: Mapping[PartitionKey, int]

    @property
    def version(self) -> int:
        """The newest version any partition is read at: what the read's pages are pinned to
        (a later certification by the same day moves it)."""
        return max(self.versions.values())

    def groups(
        self, symbol: str | None, first: date | None, last: date | None
    ) -> dict[int, list[date]]:
        """The trade dates of `symbol` (None: whole-day partitions, or any symbol) in [first,
        last] (None: open) by the version they are read at, one read per version."""
        found: dict[int, list[date]] = defaultdict(list)
        for (day, held), version in sorted(self.versions.items(), key=_by_day):
            if symbol is not None and held not in (symbol, None):
                continue
            if (first is None or day >= first) and (last is None or day <= last):
                found[version].append(day)
        return dict(found)

    def left_out(self, held: Iterable[PartitionKey]) -> list[PartitionKey]:
        """Among the partitions `held` (those the current table holds in a read's range), the
        ones never certified by the cutoff, by trade date."""
        return sorted(
            {p for p in held if p not in self.versions and (p[0], None) not in self.versions},
            key=_by_day,
        )

    def describe(self, left: Sequence[PartitionKey]) -> str:
        """What a read says of the partitions it left out."""
        shown = ", ".join(f"{s} {d}" if s else str(d) for d, s in left[:5])
        more = f" and {len(left) - 5} more" if len(left) > 5 else ""
        return (
            f"{self.dataset} as_certified={self.day}: {len(left)} partition(s) were not certified "
            f"by the end of {self.day} (UTC) and are left out: {shown}{more}. Pass a later date, "
            "or read without as_certified to see them marked as they are"
        )


def _by_day(item: Any) -> tuple[date, str]:
    key = item[0] if isinstance(item[0], tuple) else item
    return key[0], key[1] or ""


def _newest_certified(lake: Lake, source: str, cutoff: datetime) -> pl.DataFrame:
    """The newest `certified` transition of each partition of `source` recorded before
    `cutoff`: trade date, symbol, the version it names and the run that recorded it."""
    if not lake.exists(CERTIFICATIONS):
        return pl.DataFrame(schema={c: CERTIFICATIONS_SCHEMA[c] for c in _PARTITION_COLUMNS})
    rows = lake.read(
        CERTIFICATIONS,
        equals={"dataset": source, "state": State.CERTIFIED.value},
        columns=["dataset", "state", "partition", *_PARTITION_COLUMNS],
    ).filter((pl.col("recorded_at") < cutoff) & pl.col("delta_version").is_not_null())
    return rows.sort("recorded_at").unique("partition", keep="last").select(_PARTITION_COLUMNS)


def certified_version(
    lake: Lake, dataset: str, as_certified: str | date, source: str | None = None
) -> CertifiedRead:
    """Where a read of `dataset` `as_certified` a day goes: each partition at the version its
    newest certification by the end of that day (UTC) names; `source` is the certified dataset
    `dataset` derives from (None: `dataset` is certified itself), whose partitions are then read
    at the version of `dataset` the run that certified them committed. NotCertified when
    nothing of `source` was certified by then."""
    day, cutoff = end_of_day(as_certified)
    source = source or dataset
    found = _newest_certified(lake, source, cutoff)
    if found.is_empty():
        raise NotCertified(
            f"nothing of {source} was certified by the end of {day} (UTC), so there is no "
            f"certified state of {dataset} to read as_certified={day}: pass a later date, or "
            "read the current (possibly preliminary) data without as_certified"
        )
    rows = found.select("trade_date", "symbol", "delta_version", "run_id").iter_rows()
    if dataset == source:
        versions = {(d, s): int(v) for d, s, v, _ in rows}
        return CertifiedRead(day, cutoff, dataset, source, versions)
    limit = cutoff.timestamp() * 1000
    by_run: dict[str, int] = {}
    for c in _commits(lake, dataset):
        run = c.get("run_id")
        if run is not None and c["timestamp"] < limit:
            by_run[run] = max(by_run.get(run, -1), c["version"])
    derived = {(d, s): by_run[run] for d, s, _, run in rows if run in by_run}
    if not derived:
        raise NotCertified(
            f"{dataset} was not written by any run that certified {source} by the end of {day} "
            f"(UTC), so it has no certified state then: pass a later date, or read it without "
            "as_certified"
        )
    return CertifiedRead(day, cutoff, dataset, source, derived)


@dataclass(frozen=True)
class CertifiedRows:
    """What a read `as_certified` found: the rows, and the partitions it left out."""

    rows: pl.DataFrame
    left_out: list[PartitionKey]


def read_certified(
    lake: Lake,
    read: CertifiedRead,
    equals: Mapping[str, Any],
    between: Mapping[str, tuple[Any, Any]],
    columns: list[str] | None = None,
) -> CertifiedRows:
    """The rows of `read.dataset` matching `equals` and `between`, each partition's as it was
    certified: one read per distinct version (by time travel), filtered to the trade dates
    read at it, concatenated. The partitions the current table holds in that range but never
    certified by then are left out and named."""
    symbol = equals.get("symbol")
    span = between.get("trade_date", _trade_dates_near(between.get("ts")))
    wanted = None if columns is None else list(dict.fromkeys([*columns, "trade_date"]))
    frames = []
    for version, days in read.groups(symbol, *span).items():
        narrowed = {**between, "trade_date": (min(days), max(days))}
        rows = lake.read(
            read.dataset, equals=equals, between=narrowed, columns=wanted, as_of=version
        )
        frames.append(rows.filter(pl.col("trade_date").is_in(days)))
    left = left_out(lake, read, equals, between)
    if not frames:
        rows = lake.read(read.dataset, equals=equals, between=between, columns=wanted).clear()
    else:
        # Versions apart may differ in columns a later schema added.
        rows = pl.concat(frames, how="diagonal_relaxed")
    if columns is not None and "trade_date" not in columns:
        rows = rows.drop("trade_date")
    return CertifiedRows(rows, left)


def _trade_dates_near(ts: tuple[Any, Any] | None) -> tuple[date | None, date | None]:
    """Trade dates bars in a `ts` range may carry, with room to spare (a session opening the
    evening before is the next day's): the versions a read of that range needs, not every
    certified one of the symbol. Rows are still selected by `ts`."""
    if ts is None:
        return None, None
    return ts[0].date() - timedelta(days=2), ts[1].date() + timedelta(days=2)


def left_out(
    lake: Lake,
    read: CertifiedRead,
    equals: Mapping[str, Any],
    between: Mapping[str, tuple[Any, Any]],
) -> list[PartitionKey]:
    """The partitions the current table of `read.dataset` holds rows of in a read's range
    (`equals`, `between`) that were never certified by the read's cutoff: one narrow read."""
    symbol = equals.get("symbol")
    held = lake.read(read.dataset, equals=equals, between=between, columns=["trade_date"])
    return read.left_out({(d, symbol) for d in held["trade_date"].unique().to_list()})


def left_out_json(left: Sequence[PartitionKey]) -> list[dict[str, str | None]]:
    """Partitions left out, as an answer's body names them."""
    return [{"trade_date": d.isoformat(), "symbol": s} for d, s in left]


class CertifiedStates(CertificationStates):
    """The certification of rows a certified read returns: every partition it read is read
    as certified, so each is `certified` (a partition never certified by then is not read)."""

    def __init__(self, lake: Lake, read: CertifiedRead) -> None:
        super().__init__(lake)
        self.read = read

    def captures(self, dataset: str) -> dict[tuple[Any, ...], str | None]:
        """None: the rows a certified read sees are those their certified version holds."""
        return {}

    def of(self, dataset: str) -> dict[tuple[Any, ...], str]:
        return dict.fromkeys(self.read.versions, State.CERTIFIED.value)


class VersionStates(CertificationStates):
    """Each partition's certification as it stood at a version of its certified dataset: the
    newest transition naming a version at or before it, so a read `as_of` a version is
    labelled as that version was judged, not as the partition stands today."""

    def __init__(self, lake: Lake, source_version: int) -> None:
        super().__init__(lake)
        self.source_version = source_version

    def _transitions(self, dataset: str) -> pl.DataFrame:
        if not self.lake.exists(CERTIFICATIONS):
            return pl.DataFrame(
                schema={
                    "trade_date": pl.Date(),
                    "symbol": pl.String(),
                    "state": pl.String(),
                    "capture_id": pl.String(),
                }
            )
        rows = self.lake.read(
            CERTIFICATIONS,
            equals={"dataset": dataset},
            columns=[*_STATE_COLUMNS, "capture_id", "delta_version", "recorded_at"],
        ).filter(pl.col("delta_version") <= self.source_version)
        return rows.sort("recorded_at").unique("partition", keep="last")

    def of(self, dataset: str) -> dict[tuple[Any, ...], str]:
        newest = self._transitions(dataset)
        return {
            (d, s): state
            for d, s, state in newest.select("trade_date", "symbol", "state").iter_rows()
        }

    def captures(self, dataset: str) -> dict[tuple[Any, ...], str | None]:
        newest = self._transitions(dataset)
        return {
            (d, s): c for d, s, c in newest.select("trade_date", "symbol", "capture_id").iter_rows()
        }


def version_states(
    lake: Lake, dataset: str, as_of: int | datetime | str, source: str
) -> VersionStates:
    """The states a read of `dataset` `as_of` a version or an instant carries: those at the
    version of `source` (the certified dataset it derives from, or itself) that held when the
    version read was committed."""
    version = lake.resolve_version(dataset, as_of)
    if dataset == source:
        return VersionStates(lake, version)
    committed = next(c["timestamp"] for c in lake.history(dataset) if c["version"] == version)
    instant = datetime.fromtimestamp(committed / 1000, UTC)
    return VersionStates(lake, lake.resolve_version(source, instant))
