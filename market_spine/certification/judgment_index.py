"""The newest judgment of each partition, indexed in the lake's ledger database beside the
journal that stages the readiness log's rows (lake/journal.py).

The first thing a step's certification asks is each partition's newest judgment: the state it
left and the capture and table version it saw. Asked of the readiness log, that opens a Delta
table cold in every run's process (its log, its index, a file read). Here it is a keyed lookup
in the database the step's records are journaled to, written in the same transaction as the
readiness rows, so the index is never ahead of or behind the log. A dataset is indexed from
the readiness log once (`newest_judgments_seeded`), the first time a step asks for it; after
that every judgment keeps its row current. Only a lake that journals keeps the index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

import polars as pl

from market_spine.certification.tables import READINESS_LOG, READINESS_LOG_SCHEMA
from market_spine.lake.commits import CommitInfo
from market_spine.lake.store import Lake

#: The readiness log's columns the index keeps of each partition's newest judgment.
INDEXED = ["dataset", "partition", "symbol", "state", "capture_id", "delta_version", "computed_at"]

INDEX_DDL = """
CREATE TABLE IF NOT EXISTS newest_judgments (
    dataset TEXT NOT NULL, partition TEXT NOT NULL, symbol TEXT NOT NULL,
    trade_date TEXT NOT NULL, state TEXT NOT NULL, capture_id TEXT, delta_version INTEGER,
    computed_at TEXT NOT NULL, PRIMARY KEY (dataset, partition, symbol)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS newest_judgments_by_day ON newest_judgments (dataset, trade_date);
CREATE TABLE IF NOT EXISTS newest_judgments_seeded (dataset TEXT PRIMARY KEY) WITHOUT ROWID;
"""
# A judgment only replaces an older one: a seed read before a step's judgment landed, or two
# steps racing, leave the newest.
_UPSERT = """
INSERT INTO newest_judgments VALUES (?,?,?,?,?,?,?,?)
ON CONFLICT (dataset, partition, symbol) DO UPDATE SET trade_date=excluded.trade_date,
    state=excluded.state, capture_id=excluded.capture_id,
    delta_version=excluded.delta_version, computed_at=excluded.computed_at
WHERE excluded.computed_at >= newest_judgments.computed_at
"""
_SEEDED = "INSERT INTO newest_judgments_seeded VALUES (?) ON CONFLICT (dataset) DO NOTHING"
#: A whole-day partition's row without a symbol, in a key that takes no nulls.
_NO_SYMBOL = ""


def _instant(at: datetime) -> str:
    """A judgment's time as the index orders it: UTC ISO 8601 to the microsecond."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _entry(row: Mapping[str, Any]) -> tuple[Any, ...]:
    symbol = row.get("symbol")
    return (
        row["dataset"],
        row["partition"],
        _NO_SYMBOL if symbol is None else symbol,
        row["trade_date"].isoformat(),
        row["state"],
        row.get("capture_id"),
        row.get("delta_version"),
        _instant(row["computed_at"]),
    )


def indexed(
    lake: Lake, rows: Sequence[Mapping[str, Any]]
) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """The statements that index readiness rows (dicts of READINESS_LOG_SCHEMA), to run in the
    transaction that journals them."""
    if not rows:
        return []
    lake.ledger.prepare(INDEX_DDL)
    return [(_UPSERT, [_entry(r) for r in rows])]


def newest(lake: Lake, datasets: Sequence[str], first: date, last: date) -> pl.DataFrame:
    """The newest judgment of each dataset × partition × symbol of `datasets` with a trade date
    in [first, last], in the INDEXED columns of READINESS_LOG_SCHEMA (as `newest_judgments`
    reads them from the log); each dataset indexed from the log the first time it is asked."""
    lake.ledger.prepare(INDEX_DDL)
    marks = ",".join("?" * len(datasets))
    seeded = {
        d
        for (d,) in lake.ledger.query(
            f"SELECT dataset FROM newest_judgments_seeded WHERE dataset IN ({marks})",
            tuple(datasets),
        )
    }
    for dataset in datasets:
        if dataset not in seeded:
            _seed(lake, dataset)
    found = lake.ledger.query(
        f"SELECT {', '.join(INDEXED)} FROM newest_judgments "
        f"WHERE dataset IN ({marks}) AND trade_date BETWEEN ? AND ? ORDER BY computed_at",
        (*datasets, first.isoformat(), last.isoformat()),
    )
    rows = [
        (d, p, None if s == _NO_SYMBOL else s, st, c, v, datetime.fromisoformat(at))
        for d, p, s, st, c, v, at in found
    ]
    return pl.DataFrame(rows, schema={c: READINESS_LOG_SCHEMA[c] for c in INDEXED}, orient="row")


def _seed(lake: Lake, dataset: str) -> None:
    """Index `dataset`'s newest judgments from the readiness log (none: nothing to index)."""
    entries: list[tuple[Any, ...]] = []
    if lake.exists(READINESS_LOG):
        rows = lake.read(
            READINESS_LOG, equals={"dataset": dataset}, columns=[*INDEXED, "trade_date"]
        )
        rows = rows.sort("computed_at").unique(
            ["dataset", "partition", "symbol"], keep="last", maintain_order=True
        )
        entries = [_entry(r) for r in rows.to_dicts()]
    lake.ledger.write([(_UPSERT, entries), (_SEEDED, [(dataset,)])])


def drop(
    lake: Lake,
    dataset: str,
    window: tuple[date, date],
    partitions: Sequence[str],
    metadata: Mapping[str, Any],
) -> CommitInfo:
    """Delete the readiness rows of `dataset`'s `partitions` with a trade date in `window` as
    one commit (with `metadata`), and their judgments from the index: a partition with none
    is one no judgment covers (retention deleted its rows)."""
    between = {"trade_date": window}
    found = lake.read(READINESS_LOG, equals={"dataset": dataset}, between=between)
    kept = found.filter(~pl.col("partition").is_in(list(partitions)))
    commit = lake.replace(
        READINESS_LOG, kept, equals={"dataset": dataset}, between=between, metadata=metadata
    )
    if lake.journal is not None and partitions:
        lake.ledger.prepare(INDEX_DDL)
        gone = [(dataset, p) for p in partitions]
        lake.ledger.write([("DELETE FROM newest_judgments WHERE dataset=? AND partition=?", gone)])
    return commit
