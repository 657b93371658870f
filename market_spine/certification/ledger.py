"""Reading and appending the trust layer's tables through the lake: each partition's current
certification, and the transitions and revisions a run records (one commit per table)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.certification.rules import State
from market_spine.certification.tables import (
    CERTIFICATIONS,
    CERTIFICATIONS_SCHEMA,
    REVISION_ROWS,
    REVISION_ROWS_SCHEMA,
    REVISIONS,
    REVISIONS_SCHEMA,
)
from market_spine.lake.store import Lake


def current_states(
    lake: Lake, dataset: str, first: date, last: date, partitions: Iterable[str] | None = None
) -> dict[str, State]:
    """The newest certification of each partition of `dataset` with a trade date in
    [first, last] (only `partitions` when given); a partition never judged is absent."""
    transitions = latest_transitions(lake, dataset, first, last)
    if partitions is not None:
        transitions = transitions.filter(pl.col("partition").is_in(list(partitions)))
    return {p: State(s) for p, s in transitions.select("partition", "state").iter_rows()}


def latest_transitions(lake: Lake, dataset: str, first: date, last: date) -> pl.DataFrame:
    """The newest transition of each partition of `dataset` with a trade date in [first, last]
    (CERTIFICATIONS_SCHEMA), empty when nothing was judged."""
    if not lake.exists(CERTIFICATIONS):
        return pl.DataFrame(schema=CERTIFICATIONS_SCHEMA)
    rows = lake.read(
        CERTIFICATIONS, equals={"dataset": dataset}, between={"trade_date": (first, last)}
    )
    return rows.sort("recorded_at").unique("partition", keep="last", maintain_order=True)


def append_transitions(lake: Lake, rows: Sequence[dict], run_id: str) -> None:
    """Append certification transitions (dicts of CERTIFICATIONS_SCHEMA) as one commit."""
    if rows:
        frame = pl.DataFrame(list(rows), schema=CERTIFICATIONS_SCHEMA)
        lake.append(CERTIFICATIONS, frame, metadata={"run_id": run_id})


def append_revisions(
    lake: Lake, revisions: Sequence[dict], detail: Sequence[pl.DataFrame], run_id: str
) -> None:
    """Append revisions (dicts of REVISIONS_SCHEMA) and their row detail, one commit each."""
    if not revisions:
        return
    lake.append(
        REVISIONS,
        pl.DataFrame(list(revisions), schema=REVISIONS_SCHEMA),
        metadata={"run_id": run_id},
    )
    rows = pl.concat([conform(d, REVISION_ROWS_SCHEMA) for d in detail], how="vertical")
    if rows.height:
        lake.append(REVISION_ROWS, rows, metadata={"run_id": run_id})
