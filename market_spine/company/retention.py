"""Retention of company datasets: the rows older than a dataset's `retention_days` leave its
raw captures and its silver table, as a lake commit of each (versioned, so the deletion is
itself on record and versions before it, pinned ones above all, still read the old rows until
maintenance prunes what no pin keeps).

What "older" means follows what the rows are: a daily dataset's business date; an
unpartitioned fact's capture time; a dimension's versions that stopped being true (its current
versions are kept however old, with the captures they came from, so a rebuild gives the same
silver table).

A partition whose rows are all gone (a daily dataset's business date, an unpartitioned fact's
capture) leaves readiness too, and its certification becomes `expired` with the cutoff and the
deleting version as the reason, so nothing reports as ready what no longer exists.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from market_spine.certification import judgment_index, ledger
from market_spine.certification.rules import State
from market_spine.certification.tables import READINESS_LOG
from market_spine.company.config import DatasetConfig
from market_spine.company.tables import (
    BUSINESS_DATE,
    VALID_FROM,
    VALID_TO,
    WHOLE_TABLE,
    is_company_table,
    raw_table,
    silver_table,
)
from market_spine.lake.store import Lake
from market_spine.version import package_version

#: The commit metadata `deleted_by` of a retention deletion.
RETENTION_OPERATION = "company retention"
_EARLIEST_DAY = WHOLE_TABLE[0].date()
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Expired:
    """Rows one retention pass deleted from one table: how many, those older than `cutoff`
    (UTC), and the Delta version of the deletion. A daily dataset's rows go by business date:
    `kept_from` is the first one kept (every earlier one was deleted), None for the others."""

    dataset: str
    rows: int
    cutoff: datetime
    version: int
    kept_from: date | None = None

    def __str__(self) -> str:
        which = older(self.cutoff, self.kept_from)
        return f"{self.dataset}: {self.rows} rows {which} deleted (version {self.version})"


def older(cutoff: datetime, kept_from: date | None) -> str:
    """What retention deletes, as the rows go: by business date when they have one (every
    date before `kept_from`), else by time (captured or replaced before `cutoff`, UTC)."""
    if kept_from is not None:
        return f"of business dates before {kept_from}"
    return f"older than {cutoff:%Y-%m-%d %H:%M} UTC"


def _expire(
    lake: Lake,
    dataset: str,
    window: dict[str, tuple[Any, Any]],
    survive: Callable[[pl.DataFrame], pl.DataFrame] | None,
    cutoff: datetime,
    run_id: str,
    kept_from: date | None = None,
) -> Expired | None:
    """Delete the rows in `window` (all of them, or all but those `survive` keeps) as one
    commit; `kept_from`: the first business date kept, for a daily dataset."""
    if not lake.exists(dataset):
        return None
    found = lake.read(dataset, between=window)
    survivors = survive(found) if survive is not None else found.clear()
    removed = found.height - survivors.height
    if removed == 0:
        return None
    commit = lake.replace(
        dataset,
        survivors,
        between=window,
        metadata={
            "run_id": run_id,
            "deleted_by": RETENTION_OPERATION,
            "cutoff": cutoff.isoformat(),
            "rows_deleted": removed,
        },
    )
    return Expired(dataset, removed, cutoff, commit.version, kept_from)


def past_retention_note(config: DatasetConfig, left_out: int, kept: int, now: datetime) -> str:
    """What a capture left out as past the retention, in a sentence naming the rows, the
    first business date kept and the setting; a capture that kept nothing says so."""
    assert config.retention_days is not None
    first = (now - timedelta(days=config.retention_days)).date()
    what = (
        f"all {left_out} rows captured were"
        if kept == 0
        else f"{left_out} of {left_out + kept} rows captured were"
    )
    return (
        f"{what} left out: their business dates are before {first}, past retention_days "
        f"{config.retention_days} (maintenance would delete them); raise retention_days to "
        "keep them"
    )


def within_retention(config: DatasetConfig, rows: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """A daily dataset's `rows` (with their business date) that its retention still keeps at
    `now`: a capture does not bring in what maintenance would delete."""
    if config.retention_days is None or BUSINESS_DATE not in rows.columns:
        return rows
    first = (now - timedelta(days=config.retention_days)).date()
    return rows.filter(pl.col(BUSINESS_DATE) >= first)


def expire(lake: Lake, config: DatasetConfig, now: datetime, run_id: str) -> list[Expired]:
    """Delete what is past `config`'s retention at `now` (tz-aware) from its silver table, then
    from its raw captures; what was deleted, per table (nothing without a retention)."""
    if config.retention_days is None:
        return []
    cutoff = now - timedelta(days=config.retention_days)
    raw, silver = raw_table(config), silver_table(config)
    done: list[Expired | None] = []
    if config.partitioning.kind == "daily":
        kept_from = cutoff.date()
        days: dict[str, tuple[Any, Any]] = {
            BUSINESS_DATE: (_EARLIEST_DAY, kept_from - timedelta(days=1))
        }
        if days[BUSINESS_DATE][1] >= _EARLIEST_DAY:
            done += [_expire(lake, t, days, None, cutoff, run_id, kept_from) for t in (silver, raw)]
    elif config.kind == "fact":
        captured = {"captured_at": (WHOLE_TABLE[0], cutoff - _TICK)}
        done += [_expire(lake, t, captured, None, cutoff, run_id) for t in (silver, raw)]
    else:
        done += _expire_versions(lake, config, cutoff, run_id)
    if config.partitioning.kind == "daily" or config.kind == "fact":
        done.append(_expire_judgments(lake, config, cutoff, now, run_id))
    return [e for e in done if e is not None]


def _expire_judgments(
    lake: Lake, config: DatasetConfig, cutoff: datetime, now: datetime, run_id: str
) -> Expired | None:
    """Drop the readiness rows of the silver partitions whose rows retention deleted (a daily
    dataset's business dates before the cutoff's; a fact's captures taken before it) as one
    commit, and record each such partition's certification as `expired`, saying why."""
    silver = silver_table(config)
    daily = config.partitioning.kind == "daily"
    last = cutoff.date() - timedelta(days=1) if daily else cutoff.date()
    if last < _EARLIEST_DAY or not lake.exists(READINESS_LOG):
        return None
    window: dict[str, tuple[Any, Any]] = {"trade_date": (_EARLIEST_DAY, last)}
    found = lake.read(READINESS_LOG, equals={"dataset": silver}, between=window)
    gone = found if daily else found.filter(pl.col("captured_at") < cutoff)
    if gone.is_empty():
        return None
    keys = gone["partition"].unique().to_list()
    commit = judgment_index.drop(
        lake,
        silver,
        window["trade_date"],
        keys,
        {
            "run_id": run_id,
            "deleted_by": RETENTION_OPERATION,
            "cutoff": cutoff.isoformat(),
            "rows_deleted": gone.height,
        },
    )
    version = lake.version(silver)
    kept_from = cutoff.date() if daily else None
    reason = (
        f"its rows were deleted by {RETENTION_OPERATION} (retention_days "
        f"{config.retention_days}: {older(cutoff, kept_from)}; {silver} version "
        f"{version}); versions before it still read them"
    )
    latest = ledger.latest_transitions(lake, silver, _EARLIEST_DAY, last).filter(
        pl.col("partition").is_in(keys) & (pl.col("state") != State.EXPIRED.value)
    )
    transitions = [
        {
            **row,
            "state": State.EXPIRED.value,
            "previous_state": row["state"],
            "reason": reason,
            "run_id": run_id,
            "code_version": package_version(),
            "delta_version": version,
            "recorded_at": now,
        }
        for row in latest.to_dicts()
    ]
    ledger.record(lake, transitions, [], [], run_id)
    return Expired(READINESS_LOG, gone.height, cutoff, commit.version, kept_from)


def _expire_versions(
    lake: Lake, config: DatasetConfig, cutoff: datetime, run_id: str
) -> list[Expired | None]:
    """A dimension: versions that stopped being true before `cutoff` go; of the captures
    before it, only the rows a kept version came from stay."""
    silver, raw = silver_table(config), raw_table(config)
    versions = {VALID_FROM: (WHOLE_TABLE[0], cutoff - _TICK)}

    def still_true(rows: pl.DataFrame) -> pl.DataFrame:
        return rows.filter(pl.col(VALID_TO).is_null() | (pl.col(VALID_TO) >= cutoff))

    done = [_expire(lake, silver, versions, still_true, cutoff, run_id)]
    if not lake.exists(silver):
        return done
    origin = [*config.keys, "capture_id"]
    kept = lake.read(silver, columns=origin).unique()

    def kept_versions_came_from(rows: pl.DataFrame) -> pl.DataFrame:
        return rows.join(kept, on=origin, how="semi")

    captured = {"captured_at": (WHOLE_TABLE[0], cutoff - _TICK)}
    done.append(_expire(lake, raw, captured, kept_versions_came_from, cutoff, run_id))
    return done


def expire_all(
    lake: Lake, declared: Iterable[DatasetConfig], now: datetime, run_id: str
) -> list[Expired]:
    """`expire` for every dataset in `declared`."""
    return [e for config in declared for e in expire(lake, config, now, run_id)]


@dataclass(frozen=True)
class Undeclared:
    """A lake table in the company area that no dataset declares (its file removed, renamed
    or not loading): no retention is known for it, so maintenance deletes none of its rows."""

    table: str

    def __str__(self) -> str:
        return (
            f"{self.table} is a company table no dataset file declares, so its retention is "
            "unknown and none of its rows were deleted: restore or fix its file "
            "(`market-spine company validate` names files that do not load), or remove the "
            "table if the dataset is gone"
        )


def undeclared(tables: Iterable[str], declared: Iterable[DatasetConfig]) -> list[Undeclared]:
    """The company tables among `tables` (lake table names) that no config of `declared`
    owns, in name order."""
    owned = {t for config in declared for t in (raw_table(config), silver_table(config))}
    return [Undeclared(t) for t in sorted(tables) if is_company_table(t) and t not in owned]
