"""Anomaly flags beside the data: the rows anomaly checks flagged, gathered from a run's
verdicts into `operations/anomaly_flags`, and added to reads as columns (`flag_kinds`,
`flag_score`) for readers who ask for them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import polars as pl

from market_spine.certification.tables import ANOMALY_FLAGS, ANOMALY_FLAGS_SCHEMA
from market_spine.check_kit import CheckOutcome
from market_spine.lake.store import Lake

#: The columns a read with flags gains: the kinds flagged on the row (comma-separated, null
#: when none) and the worst score among them.
FLAG_KINDS_COLUMN = "flag_kinds"
FLAG_SCORE_COLUMN = "flag_score"


def gathered(
    dataset: str,
    verdicts: Mapping[str, Mapping[str, CheckOutcome]],
    partitions: Sequence[str],
    run_id: str,
    recorded_at: datetime,
) -> pl.DataFrame:
    """Every row the checks flagged in the run's `partitions` (by key), as ANOMALY_FLAGS_SCHEMA
    rows: the outcomes' `flagged` frames stamped with dataset, partition, check and run."""
    stamped = {"dataset": dataset, "run_id": run_id, "recorded_at": recorded_at}
    frames = [
        # One query per frame: the stamps and the flags' own columns, in the table's types.
        outcome.flagged.select(
            pl.lit({**stamped, "partition": key, "check_name": check}[name], kind).alias(name)
            if name in (*stamped, "partition", "check_name")
            else pl.col(name).cast(kind)
            for name, kind in ANOMALY_FLAGS_SCHEMA.items()
        )
        for key in partitions
        for check, outcome in verdicts.get(key, {}).items()
        if outcome.flagged is not None and outcome.flagged.height
    ]
    if not frames:
        return pl.DataFrame(schema=ANOMALY_FLAGS_SCHEMA)
    return pl.concat(frames, how="vertical")


def flags_of(lake: Lake, datasets: str | Sequence[str], first: date, last: date) -> pl.DataFrame:
    """The flags of `datasets` (one name or several: a chain's rows are flagged by the chain's
    checks and by its greeks') on trade dates [first, last] (ANOMALY_FLAGS_SCHEMA); a row
    judged several times keeps its flags from the newest judgment of each capture only."""
    if not lake.exists(ANOMALY_FLAGS):
        return pl.DataFrame(schema=ANOMALY_FLAGS_SCHEMA)
    names = [datasets] if isinstance(datasets, str) else list(datasets)
    rows = pl.concat(
        [
            lake.read(ANOMALY_FLAGS, equals={"dataset": d}, between={"trade_date": (first, last)})
            for d in names
        ],
        how="vertical",
    )
    if rows.is_empty():
        return rows
    judgment = ["dataset", "partition", "capture_id"]
    newest = rows.group_by(judgment).agg(pl.col("recorded_at").max())
    return rows.join(newest, on=[*judgment, "recorded_at"], nulls_equal=True)


def attach(rows: pl.DataFrame, flags: pl.DataFrame, on: dict[str, str]) -> pl.DataFrame:
    """`rows` with `flag_kinds` and `flag_score`: the flags found on each row, matched on
    `on` (row column → flag column, e.g. `{"osi": "instrument"}`) and the capture the row holds
    (a flag found in an older capture of the data does not mark newer rows)."""
    keys = dict(on)
    if "capture_id" in rows.columns:
        keys["capture_id"] = "capture_id"
    per_row = (
        flags.group_by(list(keys.values()))
        .agg(
            pl.col("kind").unique().sort().str.join(",").alias(FLAG_KINDS_COLUMN),
            pl.col("score").max().alias(FLAG_SCORE_COLUMN),
        )
        .rename({flag: row for row, flag in keys.items() if flag != row})
    )
    per_row = per_row.with_columns(pl.col(c).cast(rows.schema[c]) for c in keys)
    return rows.join(per_row, on=list(keys), how="left", maintain_order="left")


def read_with_flags(
    lake: Lake, rows: pl.DataFrame, dataset: str | Sequence[str], on: dict[str, str]
) -> pl.DataFrame:
    """`rows` (with a trade_date column) with the flags of `dataset` (one or several whose
    checks judge these rows) attached (`attach`)."""
    if rows.is_empty() or "trade_date" not in rows.columns:
        return rows.with_columns(
            pl.lit(None, pl.String()).alias(FLAG_KINDS_COLUMN),
            pl.lit(None, pl.Float64()).alias(FLAG_SCORE_COLUMN),
        )
    days: Any = rows["trade_date"]
    found = flags_of(lake, dataset, days.min(), days.max())
    return attach(rows, found, {"trade_date": "trade_date", **on})
