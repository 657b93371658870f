"""Which table versions certification pins, and which one a read `as_certified` a date sees.

Every version a certification names (`delta_version` of a `certified` transition in
operations/certifications) is pinned, and so is every version a certifying run committed to a
table derived from the certified one (daily bars from minute bars, greeks and surfaces from the
chain), since those hold the derived rows of what was certified. Maintenance keeps every file a
pinned version references (lake/pruning.py), so a certified state stays readable for good.

A read `as_certified=D` sees what was certified by the end of D (UTC): the newest version a
`certified` transition recorded before midnight UTC after D names; a derived table is read at
the newest version a run that recorded such a transition committed to it by then.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl

from market_spine.certification.rules import State
from market_spine.certification.status import CertificationStates
from market_spine.certification.tables import CERTIFICATIONS
from market_spine.errors import InvalidInput, NotCertified
from market_spine.lake.store import Lake
from market_spine.markets.dates import parse_date

_COLUMNS = ["dataset", "delta_version", "run_id", "recorded_at"]
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


@dataclass(frozen=True)
class CertifiedRead:
    """Where a read `as_certified` a day goes: the table version to read, and the certified
    dataset and its version whose certifications say the state of the rows."""

    day: date
    cutoff: datetime
    dataset: str
    version: int
    source: str
    source_version: int


def certified_version(
    lake: Lake, dataset: str, as_certified: str | date, source: str | None = None
) -> CertifiedRead:
    """The version of `dataset` a read `as_certified` a day sees; `source` is the certified
    dataset `dataset` derives from (None: `dataset` is certified itself). NotCertified when
    nothing of `source` was certified by the end of that day (UTC)."""
    day, cutoff = end_of_day(as_certified)
    source = source or dataset
    found = certified_transitions(lake, cutoff).filter(pl.col("dataset") == source)
    if found.is_empty():
        raise NotCertified(
            f"nothing of {source} was certified by the end of {day} (UTC), so there is no "
            f"certified state of {dataset} to read as_certified={day}: pass a later date, or "
            "read the current (possibly preliminary) data without as_certified"
        )
    source_version = int(found["delta_version"].max())  # type: ignore[arg-type]
    if dataset == source:
        return CertifiedRead(day, cutoff, dataset, source_version, source, source_version)
    runs = set(found["run_id"].to_list())
    limit = cutoff.timestamp() * 1000
    versions = [
        c["version"]
        for c in _commits(lake, dataset)
        if c.get("run_id") in runs and c["timestamp"] < limit
    ]
    if not versions:
        raise NotCertified(
            f"{dataset} was not written by any run that certified {source} by the end of {day} "
            f"(UTC), so it has no certified state then: pass a later date, or read it without "
            "as_certified"
        )
    return CertifiedRead(day, cutoff, dataset, max(versions), source, source_version)


class CertifiedStates(CertificationStates):
    """Each partition's certification as it stood in a certified read: the newest transition
    recorded before its cutoff that names a version at or before the one read."""

    def __init__(self, lake: Lake, read: CertifiedRead) -> None:
        super().__init__(lake)
        self.read = read

    def captures(self, dataset: str) -> dict[tuple[Any, ...], str | None]:
        """None: the rows a certified read sees are those the version it reads holds."""
        return {}

    def of(self, dataset: str) -> dict[tuple[Any, ...], str]:
        if not self.lake.exists(CERTIFICATIONS):
            return {}
        rows = self.lake.read(
            CERTIFICATIONS,
            equals={"dataset": dataset},
            columns=["partition", "trade_date", "symbol", "state", "delta_version", "recorded_at"],
        ).filter(
            (pl.col("recorded_at") < self.read.cutoff)
            & (pl.col("delta_version") <= self.read.source_version)
        )
        newest = rows.sort("recorded_at").unique("partition", keep="last")
        return {
            (d, s): state
            for d, s, state in newest.select("trade_date", "symbol", "state").iter_rows()
        }


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
