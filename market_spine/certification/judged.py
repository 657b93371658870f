"""What certification last judged: the newest readiness row of each partition, read once per
run from a narrow projection of the readiness log, and the rows a judgment saw.

A run that crashed after its data commit and before certification recorded leaves data no
judgment saw. Diffing the next capture against those rows would miss the revision they hold, so
such a partition is diffed against the version its last judgment recorded, read by time travel.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from market_spine.certification import judgment_index
from market_spine.certification.rules import State
from market_spine.certification.tables import READINESS_LOG, READINESS_LOG_SCHEMA
from market_spine.errors import HistoryPruned
from market_spine.lake.store import Lake

log = logging.getLogger(__name__)

_NEVER = datetime.min.replace(tzinfo=UTC)

#: The readiness log's columns a run needs of each partition's newest judgment: which state it
#: left (for withdrawals) and which capture and table version it judged (for the diff).
NARROW = ["dataset", "partition", "symbol", "state", "capture_id", "delta_version", "computed_at"]


def newest_judgments(lake: Lake, datasets: Sequence[str], first: date, last: date) -> pl.DataFrame:
    """The newest readiness row of each dataset × partition × symbol of `datasets` with a trade
    date in [first, last], in the NARROW columns; empty when none was judged. A lake that
    journals answers from its index of them, without opening the log."""
    if datasets and lake.journal is not None:
        return judgment_index.newest(lake, datasets, first, last)
    if not datasets or not lake.exists(READINESS_LOG):
        return pl.DataFrame(schema={c: READINESS_LOG_SCHEMA[c] for c in NARROW})
    equals = {"dataset": datasets[0]} if len(datasets) == 1 else None
    rows = lake.read(
        READINESS_LOG, equals=equals, between={"trade_date": (first, last)}, columns=NARROW
    )
    if equals is None:
        rows = rows.filter(pl.col("dataset").is_in(list(datasets)))
    rows = rows.cast({c: READINESS_LOG_SCHEMA[c] for c in NARROW})
    return rows.sort("computed_at").unique(
        ["dataset", "partition", "symbol"], keep="last", maintain_order=True
    )


def judged_states(newest: pl.DataFrame, dataset: str) -> dict[str, State]:
    """The certification each judged partition of `dataset` is in, by partition key, from its
    newest judgment among `newest_judgments` rows: every judgment logs the state it left, and
    is committed after the transition it records (`ledger.record`), so it never runs ahead of
    the transitions table. A partition with no judgment (never judged, or its judgments
    dropped by retention) is absent: the transitions table says."""
    return {key: State(row["state"]) for key, row in _newest_of(newest, dataset).items()}


@dataclass(frozen=True)
class LastJudged:
    """A partition's newest judgment: the capture it judged and the table version holding
    the rows it saw (None for rows judged before versions were recorded)."""

    capture_id: str | None
    version: int | None


def last_judged(newest: pl.DataFrame, dataset: str) -> dict[str, LastJudged]:
    """Each judged partition of `dataset` among `newest_judgments` rows, by partition key."""
    return {
        key: LastJudged(row["capture_id"], row["delta_version"])
        for key, row in _newest_of(newest, dataset).items()
    }


def _newest_of(newest: pl.DataFrame, dataset: str) -> dict[str, dict[str, Any]]:
    """`dataset`'s rows among `newest_judgments` rows by partition key, the newest last (a
    partition judged per symbol has a row each: the newest speaks for it). A run's few rows
    are looked through in Python: a query costs more."""
    rows = sorted(
        (r for r in newest.iter_rows(named=True) if r["dataset"] == dataset),
        # Nulls first, as the log's sort puts them.
        key=lambda r: (r["computed_at"] is not None, r["computed_at"] or _NEVER),
    )
    return {r["partition"]: r for r in rows}


def unjudged_since(
    judged: LastJudged | None, replaced: pl.DataFrame | None, replaced_version: int | None
) -> int | None:
    """The version to diff a partition against when none of the rows a run `replaced` (read
    at `replaced_version`) is of the capture its last judgment saw: a run wrote them over it
    and stopped before certifying. None when the judged capture still holds rows there (a
    writer that runs no checks, such as the stream, replaced some minutes and recorded
    itself), and when the judgment names no capture or version to go by.

    The judged version must be older than the one read: rows read at it are the judged ones."""
    if judged is None or judged.version is None or judged.capture_id is None:
        return None  # rows without captures cannot say whether they were judged
    if replaced_version is None or judged.version >= replaced_version:
        return None
    held = (
        replaced["capture_id"]
        if replaced is not None and "capture_id" in replaced.columns
        else pl.Series(dtype=pl.String())
    )
    if held.is_in([judged.capture_id]).any():
        return None
    return judged.version


def judged_rows(
    lake: Lake, dataset: str, columns: Sequence[str], values: Sequence[Any], version: int
) -> pl.DataFrame | None:
    """The partition's rows (selected by `columns` = `values`) at `version`; None when that
    version was pruned, and the caller keeps the rows it has."""
    try:
        return lake.read(dataset, equals=dict(zip(columns, values, strict=True)), as_of=version)
    except HistoryPruned as exc:
        log.warning("%s: no diff against judged version %d (%s)", dataset, version, exc)
        return None
