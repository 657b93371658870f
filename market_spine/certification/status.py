"""The certification readers see beside the data: each partition's newest state, attached to
the rows a read returns, summarised for a response header, and enforced for readers that
accept certified data only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from market_spine.certification.rules import State
from market_spine.certification.tables import CERTIFICATIONS, READINESS_LOG
from market_spine.errors import NotCertified
from market_spine.lake.store import Lake

#: The column a read's frame carries: its partition's certification.
CERTIFICATION_COLUMN = "certification"
#: What a partition never judged counts as: not (yet) certified.
UNJUDGED = State.PRELIMINARY.value
#: The summary of a read whose partitions are in different states.
MIXED = "mixed"


@dataclass(frozen=True)
class _Cached:
    """A dataset's states, what they were read at (the certifications' version, and the
    readiness log's for a derived dataset) and the lake's change mark when read."""

    states: dict[tuple[Any, ...], str]
    versions: tuple[int, ...]
    mark: str | None


class CertificationStates:
    """The newest state of every judged partition, per dataset, read once per version of
    `operations/certifications` (and of the readiness log for a derived dataset). On object
    storage a read first asks the lake's change mark (one request): while it stands, no
    commit landed and no version is asked at all."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._cached: dict[str, _Cached] = {}

    def of(self, dataset: str) -> dict[tuple[Any, ...], str]:
        """`dataset`'s judged partitions, `(trade_date, symbol)` → state (symbol None for a
        partition of a whole day). A derived dataset (daily bars, continuous series, greeks)
        is judged into the readiness log only, so its states are read there."""
        # Asked before the tables: a commit landing meanwhile changes the mark, so states
        # that already hold it are read again, never kept under the newer mark.
        mark = self.lake.change_mark()
        cached = self._cached.get(dataset)
        if cached is not None and mark is not None and cached.mark == mark:
            return cached.states
        version = self.lake.version(CERTIFICATIONS)
        if version is None:
            return {}
        if cached is not None:
            versions = self._versions(version, len(cached.versions) > 1)
            if cached.versions == versions:
                self._cached[dataset] = _Cached(cached.states, versions, mark)
                return cached.states
        rows = self.lake.read(
            CERTIFICATIONS,
            equals={"dataset": dataset},
            columns=["partition", "trade_date", "symbol", "state", "recorded_at"],
        )
        derived = rows.is_empty() and self.lake.exists(READINESS_LOG)
        if derived:
            rows = self.lake.read(
                READINESS_LOG,
                equals={"dataset": dataset},
                columns=["partition", "trade_date", "symbol", "state", "computed_at"],
            ).rename({"computed_at": "recorded_at"})
            # The log holds one row per symbol of a whole-day partition.
            rows = rows.with_columns(partition=pl.concat_str("partition", "symbol"))
        # In recorded order, so of two partitions on one trade date (two captures of a
        # table judged whole), the one judged last is the date's.
        newest = rows.sort("recorded_at").unique("partition", keep="last").sort("recorded_at")
        states = {
            (d, s): state
            for d, s, state in newest.select("trade_date", "symbol", "state").iter_rows()
        }
        self._cached[dataset] = _Cached(states, self._versions(version, derived), mark)
        return states

    def _versions(self, version: int, derived: bool) -> tuple[int, ...]:
        """What a dataset's cached states were read at: the certifications' version, and the
        readiness log's for a derived dataset."""
        return (version, self.lake.version(READINESS_LOG) or 0) if derived else (version,)

    def attach(
        self, rows: pl.DataFrame, dataset: str, by_symbol: bool, day: str = "trade_date"
    ) -> pl.DataFrame:
        """`rows` with a `certification` column: the state of the partition each row belongs to
        (by its date in column `day`, the trade date unless said otherwise, and symbol when
        `by_symbol`), `preliminary` where none was judged. Cheap for the usual read of one
        symbol: a lookup per date, no join."""
        states = self.of(dataset)
        on = [day, "symbol"] if by_symbol else [day]
        if rows.is_empty() or not set(on) <= set(rows.columns):
            return rows.with_columns(pl.lit(None, pl.String()).alias(CERTIFICATION_COLUMN))
        symbols = rows["symbol"].unique().to_list() if by_symbol else [None]
        days = rows[day].unique().to_list()
        if len(symbols) == 1:
            found = {d: states.get((d, symbols[0]), UNJUDGED) for d in days}
            if len(set(found.values())) == 1:
                return rows.with_columns(pl.lit(found[days[0]]).alias(CERTIFICATION_COLUMN))
            column = pl.col(day).replace_strict(found, return_dtype=pl.String())
            return rows.with_columns(column.alias(CERTIFICATION_COLUMN))
        table = pl.DataFrame(
            [(d, s, v) for (d, s), v in states.items() if s in symbols],
            schema={
                day: pl.Date(),
                "symbol": pl.String(),
                CERTIFICATION_COLUMN: pl.String(),
            },
            orient="row",
        )
        joined = rows.join(table, on=on, how="left", maintain_order="left")
        return joined.with_columns(pl.col(CERTIFICATION_COLUMN).fill_null(UNJUDGED))


def summary(rows: pl.DataFrame) -> str | None:
    """The certification of a read for the `X-Certification` header: the one state all its
    rows share, `mixed` when they differ, None without rows."""
    if CERTIFICATION_COLUMN not in rows.columns or rows.is_empty():
        return None
    found = rows[CERTIFICATION_COLUMN].unique().to_list()
    return found[0] if len(found) == 1 else MIXED


def require_certified(rows: pl.DataFrame, dataset: str, partition: Sequence[str]) -> None:
    """Refuse rows any of whose partitions is not certified, naming them and what to do."""
    if CERTIFICATION_COLUMN not in rows.columns:
        return
    pending = (
        rows.filter(pl.col(CERTIFICATION_COLUMN) != State.CERTIFIED.value)
        .select(*partition, CERTIFICATION_COLUMN)
        .unique(maintain_order=True)
    )
    if pending.is_empty():
        return
    shown = ", ".join(
        f"{' '.join(str(v) for v in r[:-1])} ({r[-1]})" for r in pending.head(5).iter_rows()
    )
    more = f" and {pending.height - 5} more" if pending.height > 5 else ""
    raise NotCertified(
        f"{dataset}: certified data only was asked for, but {pending.height} partition(s) are "
        f"not certified: {shown}{more}. Preliminary data becomes certified once a clean capture "
        "is taken after the session's data is final; ask for an earlier range, or drop "
        "certified_only to read it marked as it is"
    )
