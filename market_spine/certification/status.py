"""The certification readers see beside the data: each partition's newest state, attached to
the rows a read returns, summarised for a response header, and enforced for readers that
accept certified data only."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
    """A dataset's states, what they were read at (the versions of the certifications and of
    the readiness log, -1 for one not made yet) and the lake's change mark when read."""

    states: dict[tuple[Any, ...], str]
    captures: dict[tuple[Any, ...], str | None]
    versions: tuple[int, ...]
    mark: str | None


class CertificationStates:
    """The newest state of every judged partition, per dataset, read once per version of
    `operations/certifications` and of the readiness log. On object
    storage a read first asks the lake's change mark (one request): while it stands, no
    commit landed and no version is asked at all."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._cached: dict[str, _Cached] = {}

    def of(self, dataset: str) -> dict[tuple[Any, ...], str]:
        """`dataset`'s judged partitions, `(trade_date, symbol)` → state (symbol None for a
        partition of a whole day; a continuous series' name where its partition judges each
        series apart). The newest of its transitions and its readiness rows: a derived
        dataset's partitions judged before its transitions were recorded are in the readiness
        log only."""
        return self._judged(dataset).states

    def captures(self, dataset: str) -> dict[tuple[Any, ...], str | None]:
        """The capture each judged partition's newest judgment saw, keyed as `of` (None where
        the judgment recorded none): rows of any other capture were never judged."""
        return self._judged(dataset).captures

    def _judged(self, dataset: str) -> _Cached:
        # Asked before the tables: a commit landing meanwhile changes the mark, so states
        # that already hold it are read again, never kept under the newer mark.
        mark = self.lake.change_mark()
        cached = self._cached.get(dataset)
        if cached is not None and mark is not None and cached.mark == mark:
            return cached
        versions = tuple(
            -1 if (v := self.lake.version(t)) is None else v
            for t in (CERTIFICATIONS, READINESS_LOG)
        )
        if versions == (-1, -1):
            return _Cached({}, {}, versions, mark)
        if cached is not None and cached.versions == versions:
            self._cached[dataset] = _Cached(cached.states, cached.captures, versions, mark)
            return self._cached[dataset]
        columns = ["trade_date", "symbol", "state", "capture_id"]
        found = [
            self.lake.read(table, equals={"dataset": dataset}, columns=[*columns, at]).rename(
                {at: "at"}
            )
            for table, at in ((CERTIFICATIONS, "recorded_at"), (READINESS_LOG, "computed_at"))
            if self.lake.exists(table)
        ]
        newest = pl.concat(found, how="vertical_relaxed").sort("at", maintain_order=True)
        states: dict[tuple[Any, ...], str] = {}
        captures: dict[tuple[Any, ...], str | None] = {}
        for d, s, state, capture in newest.select(columns).iter_rows():
            states[(d, s)], captures[(d, s)] = state, capture
        self._cached[dataset] = _Cached(states, captures, versions, mark)
        return self._cached[dataset]

    def reasons(self, dataset: str) -> dict[tuple[Any, ...], str]:
        """Why each judged partition of `dataset` is in its state, `(trade_date, symbol)` →
        the newest readiness reason (e.g. `certifying check failed: completeness`); read only
        when a refusal names them."""
        if not self.lake.exists(READINESS_LOG):
            return {}
        found = (
            self.lake.read(
                READINESS_LOG,
                equals={"dataset": dataset},
                columns=["trade_date", "symbol", "reason", "computed_at"],
            )
            .sort("computed_at", maintain_order=True)
            .unique(["trade_date", "symbol"], keep="last")
        )
        return {(d, s): r for d, s, r, _ in found.iter_rows() if r}

    def attach(
        self,
        rows: pl.DataFrame,
        dataset: str,
        by_symbol: bool,
        by: str = "symbol",
        day: str = "trade_date",
    ) -> pl.DataFrame:
        """`rows` with a `certification` column: the state of the partition each row belongs to
        (by its date in column `day`, the trade date unless said otherwise, and symbol when
        `by_symbol`), `preliminary` where none was judged.
        `by` names the column holding the symbol its partition was judged by: `series` for a
        continuous series, judged apart from the root's other series (a series judged before
        that takes its root's state). Cheap for the usual read of one symbol: a lookup per
        date, no join."""
        states = self.of(dataset)
        on = [day, by] if by_symbol else [day]
        if rows.is_empty() or not set(on) <= set(rows.columns):
            return rows.with_columns(pl.lit(None, pl.String()).alias(CERTIFICATION_COLUMN))
        symbols = rows[by].unique().to_list() if by_symbol else [None]
        days = rows[day].unique().to_list()

        def key(on_day: Any, symbol: str | None) -> tuple[Any, ...]:
            if (on_day, symbol) not in states and symbol is not None and "." in symbol:
                return (on_day, symbol.split(".")[0])
            return (on_day, symbol)

        def state(on_day: Any, symbol: str | None) -> str:
            return states.get(key(on_day, symbol)) or UNJUDGED

        if len(symbols) == 1:
            found = {d: state(d, symbols[0]) for d in days}
            if len(set(found.values())) == 1:
                rows = rows.with_columns(pl.lit(found[days[0]]).alias(CERTIFICATION_COLUMN))
            else:
                column = pl.col(day).replace_strict(found, return_dtype=pl.String())
                rows = rows.with_columns(column.alias(CERTIFICATION_COLUMN))
        else:
            table = pl.DataFrame(
                [(d, s, state(d, s)) for d in days for s in symbols],
                schema={day: pl.Date(), by: pl.String(), CERTIFICATION_COLUMN: pl.String()},
                orient="row",
            )
            rows = rows.join(table, on=on, how="left", maintain_order="left")
        return self._unjudged_captures(rows, dataset, on, days, symbols, key)

    def _unjudged_captures(
        self,
        rows: pl.DataFrame,
        dataset: str,
        on: list[str],
        days: list[Any],
        symbols: list[str | None],
        key: Callable[[Any, str | None], tuple[Any, ...]],
    ) -> pl.DataFrame:
        """`rows` with those of a capture newer than the newest one their partition's state
        judged marked preliminary: a run wrote them and stopped before certifying, so the
        ledger's state is of rows no longer there. A partition holds several captures (one per
        root, or rows a capture left alone), all at or before the judged one; rows without a
        capture id cannot say, and keep their state."""
        if "capture_id" not in rows.columns:
            return rows
        captures = self.captures(dataset)
        judged = [(d, s, captures.get(key(d, s))) for d in days for s in symbols]
        judged = [j for j in judged if j[2] is not None]
        if not judged:
            return rows
        held = "_judged_capture"
        table = pl.DataFrame(
            [j if len(on) == 2 else (j[0], j[2]) for j in judged],
            schema={
                on[0]: pl.Date(),
                **({on[1]: pl.String()} if len(on) == 2 else {}),
                held: pl.String(),
            },
            orient="row",
        )
        other = pl.col(held).is_not_null() & pl.col("capture_id").is_not_null()
        # Capture ids are ULIDs: their text sorts by the time they were taken.
        other &= pl.col("capture_id") > pl.col(held)
        return (
            rows.join(table, on=on, how="left", maintain_order="left")
            .with_columns(
                pl.when(other)
                .then(pl.lit(UNJUDGED))
                .otherwise(pl.col(CERTIFICATION_COLUMN))
                .alias(CERTIFICATION_COLUMN)
            )
            .drop(held)
        )


def summary(rows: pl.DataFrame) -> str | None:
    """The certification of a read for the `X-Certification` header: the one state all its
    rows share, `mixed` when they differ, None without rows."""
    if CERTIFICATION_COLUMN not in rows.columns or rows.is_empty():
        return None
    found = rows[CERTIFICATION_COLUMN].unique().to_list()
    return found[0] if len(found) == 1 else MIXED


#: What makes a partition in each state certified, as a refusal says it.
_UNTIL_CERTIFIED = {
    State.PRELIMINARY.value: "preliminary data becomes certified once a clean capture is taken "
    "after the session's data is final: wait for it, or ask for an earlier range (a session "
    "already final whose rows were written by a run that did not finish certifying is "
    "certified by re-running `market-spine process --date DAY` for that day)",
    State.REVISED.value: "revised data changed after it was certified: the next clean capture "
    "that leaves it as it is certifies it again",
}


def _repair(partition: tuple[Any, ...], reason: str | None) -> str:
    """A failed partition (`(symbol, trade date)` or `(trade date,)`), the check or input that
    failed it, and the commands that show it and repair it."""
    *named, day = partition if len(partition) > 1 else (None, partition[0])
    symbol = named[0] if named else None
    root = str(symbol).split(".")[0] if symbol else None
    what = f"{symbol} {day}" if symbol else f"{day}"
    why = reason or "a certifying check failed"
    if root:
        show = f"`market-spine readiness --symbol {symbol} --start {day} --end {day}`"
        fix = (
            f"re-capture it with `market-spine process --date {day} --symbols {root} --domain "
            f"futures`, or import a complete vendor file of the session with `market-spine "
            f"import bars FILE --symbol {root} --replace`"
        )
    else:
        show = f"`market-spine readiness --start {day} --end {day}`"
        fix = f"re-capture it with `market-spine process --date {day} --domain options`"
    return f"{what} FAILED ({why}): see {show}; {fix}"


def require_certified(
    rows: pl.DataFrame,
    dataset: str,
    partition: Sequence[str],
    reasons: Callable[[], Mapping[tuple[Any, ...], str]] | None = None,
) -> None:
    """Refuse rows any of whose partitions is not certified, naming them and what to do for
    the state each is in: a failed one with the check (or input) that failed it and the
    commands that show and repair it (`reasons` gives each partition's reason, by
    `(trade_date, symbol)`), a preliminary or revised one with what certifies it."""
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
    states = pending[CERTIFICATION_COLUMN].unique(maintain_order=True).to_list()
    advice = [_UNTIL_CERTIFIED[s] for s in states if s in _UNTIL_CERTIFIED]
    failed = pending.filter(pl.col(CERTIFICATION_COLUMN) == State.FAILED.value)
    if failed.height:
        why = reasons() if reasons is not None else {}
        for r in failed.head(3).iter_rows():
            key = tuple(r[:-1])
            reason = why.get((key[-1], key[0]) if len(key) > 1 else (key[0], None))
            advice.append(_repair(key, reason))
    raise NotCertified(
        f"{dataset}: certified data only was asked for, but {pending.height} partition(s) are "
        f"not certified: {shown}{more}. {'; '.join(advice)}; or drop certified_only to read "
        "it marked as it is"
    )
