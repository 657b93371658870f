"""Which source a session's accepted bars came from, so a capture never silently replaces them.

A (symbol, trade date) partition's accepted bars are the newest capture of each contract in
`raw/futures_bars_1m`: the normalized minutes, the rolls and the continuous series are all
built from them. A provider's capture replaces another provider capture's bars as always (the
hourly re-capture of a live session, over what the stream landed); a provider capture over a
vendor import, or an import over a provider's capture, would replace another kind of source's
data, so it is refused (a command) or skipped with a logged reason (a scheduled run) unless the
caller asks to replace.
An import that would remove minutes a session holds of a contract it brings (its new capture of
that contract lacks some of the accepted one's minutes), certified or not, is refused the same
way; so is one that would leave a session's normalized minutes (what readers see, whatever
wrote them: a capture, a vendor file, the stream) fewer than they are, in any state; a file
that holds every minute already there, and more, adds to the session unasked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from market_spine.certification.ledger import current_states
from market_spine.certification.rules import State
from market_spine.errors import InvalidInput
from market_spine.futures import keys
from market_spine.futures.partitions import partition_key
from market_spine.lake.store import Lake

#: The run tag that lets a run's captures replace another source's accepted bars.
REPLACE_TAG = "market_spine/replace"
#: The source name of vendor-file imports (`providers.file.SOURCE`).
FILE_SOURCE = "file"
#: How many conflicting days a refusal names before it counts the rest.
NAMED_DAYS = 3


class WouldReplace(InvalidInput):
    """A capture or import would replace bars another source wrote, or certified minutes,
    and the caller did not pass `--replace`; nothing was written."""


@dataclass(frozen=True)
class HeldCapture:
    """The accepted capture of one contract of one session: who wrote it and when."""

    contract: str
    capture_id: str
    source: str
    path: str | None  # the vendor file, for an import

    def describe(self) -> str:
        """E.g. `ESH4 from vendor file es.csv (capture 01HX...)` or `ESH4 from ib (...)`."""
        origin = f"vendor file {self.path}" if self.path else self.source
        return f"{self.contract} from {origin} (capture {self.capture_id})"


@dataclass(frozen=True)
class SourceConflict:
    """A session whose accepted bars came (in part) from another source than `writer`."""

    symbol: str
    trade_date: date
    writer: str
    held: tuple[HeldCapture, ...]

    def describe(self) -> str:
        """The session and what it holds from other sources, in a clause."""
        kept = ", ".join(h.describe() for h in self.held)
        return f"{self.symbol} {self.trade_date} holds {kept}"


def held_captures(store: Lake, symbol: str, days: Iterable[date]) -> dict[date, list[HeldCapture]]:
    """The accepted capture of each contract of `symbol`'s sessions among `days` (the newest per
    contract, as the normalized and continuous datasets pick them), by trade date; a session
    with no capture is absent."""
    wanted = sorted(set(days))
    table = keys.table(keys.RAW_BARS)
    if not wanted or not store.exists(table):
        return {}
    rows = (
        store.read(
            table,
            equals={"symbol": symbol},
            between={"trade_date": (wanted[0], wanted[-1])},
            columns=["trade_date", "contract", "capture_id", "source", "request"],
        )
        .filter(pl.col("trade_date").is_in(wanted))
        .unique(["trade_date", "contract", "capture_id"])
        .sort("capture_id")
        .unique(["trade_date", "contract"], keep="last")
        .sort("trade_date", "contract")
    )
    held: dict[date, list[HeldCapture]] = {}
    for day, contract, capture_id, source, request in rows.iter_rows():
        held.setdefault(day, []).append(
            HeldCapture(contract, capture_id, source, _file_path(source, request))
        )
    return held


def _file_path(source: str, request: str | None) -> str | None:
    """The vendor file a capture was imported from (None for a provider's capture)."""
    if source != FILE_SOURCE or not request:
        return None
    try:
        return str(json.loads(request).get("path") or "") or None
    except (ValueError, AttributeError):
        return None


def source_conflicts(
    store: Lake, symbol: str, days: Iterable[date], writer: str
) -> list[SourceConflict]:
    """The sessions of `symbol` among `days` whose accepted bars a capture from source
    `writer` would replace: a provider's capture over a vendor file's bars, or a vendor file
    over a provider's. Oldest first. Provider captures replace one another as always (the
    hourly capture is authoritative over the minutes the stream landed, whichever provider
    each speaks to), and so do vendor files."""
    conflicts = []
    importing = writer == FILE_SOURCE
    for day, held in sorted(held_captures(store, symbol, days).items()):
        others = tuple(h for h in held if (h.source == FILE_SOURCE) != importing)
        if others:
            conflicts.append(SourceConflict(symbol, day, writer, others))
    return conflicts


def refusal(conflicts: list[SourceConflict], action: str) -> str:
    """One line refusing `action` (e.g. `a simulated capture`) over `conflicts` (not empty):
    the days, what they hold and how to proceed."""
    named = "; ".join(c.describe() for c in conflicts[:NAMED_DAYS])
    more = len(conflicts) - NAMED_DAYS
    rest = f" and {more} more session{'s' if more > 1 else ''}" if more > 0 else ""
    return (
        f"{named}{rest}: {action} would replace bars from another source, so nothing was "
        "written; pass --replace to replace them (the revision is recorded today), or leave "
        f"{'that day' if len(conflicts) == 1 else 'those days'} out of the range"
    )


def refuse_conflicts(store: Lake, symbol: str, days: Iterable[date], writer: str) -> None:
    """WouldReplace (`refusal`) when a capture by `writer` of `symbol`'s `days` would replace
    another source's accepted bars."""
    conflicts = source_conflicts(store, symbol, days, writer)
    if conflicts:
        action = "importing this file" if writer == FILE_SOURCE else f"a new {writer} capture"
        raise WouldReplace(refusal(conflicts, action))


#: What every refusal of an import that would cut minutes says to do instead.
CUT_DOWN_FIX = (
    "import a file holding every minute already there (more minutes need no confirmation), "
    "or pass --replace to replace them (the revision is recorded today)"
)


@dataclass(frozen=True)
class MinutesLost:
    """Minutes of one contract's session that a new capture of it would remove."""

    contract: str
    trade_date: date
    held: int  # minutes of the contract's accepted capture (or its certified minutes)
    removed: int  # of them, the minutes the new capture lacks
    capture: HeldCapture
    certified: bool = False  # `held` are the session's normalized minutes, in `state`
    brought: bool = True  # False: the file brings no bar of this contract, its minutes stay
    state: State | None = None  # the normalized minutes' certification (None: never judged)

    def describe(self) -> str:
        """E.g. `ESM4 on 2024-03-05 holds 1,380 minutes (from vendor file es.csv, capture 01HX)
        and the file would remove 1,379 of them`; `is certified with` for certified minutes,
        `is revised (...) with` for revised ones."""
        origin = f"vendor file {self.capture.path}" if self.capture.path else self.capture.source
        held = {
            State.CERTIFIED: "is certified with",
            State.REVISED: "is revised (certified, then changed) with",
        }.get(self.state, "holds")
        if not self.brought:
            fate = "the file brings none of that contract (they stay)"
        elif self.removed:
            fate = f"the file would remove {self.removed:,} of them"
        else:
            fate = "the file would replace every one of them (it lacks none)"
        return (
            f"{self.contract} on {self.trade_date} {held} {self.held:,} minutes (from {origin}, "
            f"capture {self.capture.capture_id}) and {fate}"
        )


def _named(lost: list[MinutesLost]) -> str:
    """The first few clauses, and how many more contract sessions there are."""
    named = "; ".join(m.describe() for m in lost[:NAMED_DAYS])
    more = len(lost) - NAMED_DAYS
    return named + (
        f" (and {more} more contract session{'s' if more > 1 else ''})" if more > 0 else ""
    )


def normalized_minutes_lost(
    store: Lake, symbol: str, incoming: Mapping[date, pl.DataFrame]
) -> list[MinutesLost]:
    """For each session in `incoming` (its new accepted minutes, NORMALIZED_BARS rows) whose
    normalized minutes the new rows would cut, in any state (certified, revised after the
    stream landed minutes, preliminary, failed or never judged): their contract, how many
    there are, how many the new rows lack, the capture they came from and their state. The
    normalized minutes are what readers see, whichever writer landed them (the stream lands
    minutes no raw capture holds), so they are compared, not only the raw captures. Oldest
    first."""
    table = keys.table(keys.NORMALIZED_BARS)
    days = sorted(incoming)
    if not days or not store.exists(table):
        return []
    wanted = {str(partition_key(d, symbol)): d for d in days}
    states = current_states(store, table, days[0], days[-1], wanted)
    held = store.read(
        table,
        equals={"symbol": symbol},
        between={"trade_date": (days[0], days[-1])},
        columns=["trade_date", "ts", "contract", "capture_id"],
    )
    captures = {
        (day, h.capture_id): h for day, hs in held_captures(store, symbol, days).items() for h in hs
    }
    lost = []
    for day in days:
        minutes = held.filter(pl.col("trade_date") == day)
        if minutes.is_empty():
            continue
        removed = int((~minutes["ts"].is_in(incoming[day]["ts"])).sum())
        if not removed:
            continue
        contract, capture_id = minutes["contract"][-1], minutes["capture_id"].max()
        # Minutes no raw capture holds were landed by the stream.
        capture = captures.get((day, capture_id)) or HeldCapture(
            contract, capture_id, "the stream", None
        )
        state = states.get(str(partition_key(day, symbol)))
        lost.append(
            MinutesLost(
                contract, day, minutes.height, removed, capture, certified=True, state=state
            )
        )
    return lost


def refuse_normalized_loss(store: Lake, symbol: str, incoming: Mapping[date, pl.DataFrame]) -> None:
    """WouldReplace naming each session whose normalized minutes an import would cut: its
    contract, day, state, minutes, how many would go and where they came from."""
    lost = normalized_minutes_lost(store, symbol, incoming)
    if lost:
        raise WouldReplace(f"{_named(lost)}: nothing was imported; {CUT_DOWN_FIX}")


def contract_minutes(store: Lake, symbol: str, incoming: pl.DataFrame) -> list[MinutesLost]:
    """For each (trade date, contract) the lake holds of root `symbol` on the days `incoming`
    (new raw rows) covers: its accepted capture's minutes and, for a contract `incoming`
    brings, how many of them `incoming` lacks (they stop being read once it lands); a
    contract it does not bring is `brought=False`. Oldest first."""
    table = keys.table(keys.RAW_BARS)
    if incoming.is_empty() or not store.exists(table):
        return []
    days = incoming["trade_date"].unique().sort().to_list()
    held = (
        store.read(
            table,
            equals={"symbol": symbol},
            between={"trade_date": (days[0], days[-1])},
            columns=["trade_date", "contract", "capture_id", "source", "request", "ts"],
        )
        .filter(pl.col("trade_date").is_in(days))
        .filter(pl.col("capture_id") == pl.col("capture_id").max().over("trade_date", "contract"))
    )
    if held.is_empty():
        return []
    brought = incoming.select("trade_date", "contract", _brought=pl.lit(True)).unique()
    kept = incoming.select("trade_date", "contract", "ts", _new=pl.lit(True))
    counted = (
        held.join(kept, on=["trade_date", "contract", "ts"], how="left")
        .join(brought, on=["trade_date", "contract"], how="left")
        .group_by("trade_date", "contract", "capture_id", "source", "request")
        .agg(
            held=pl.len(),
            removed=pl.col("_new").is_null().sum(),
            brought=pl.col("_brought").is_not_null().any(),
        )
        .sort("trade_date", "contract")
    )
    return [
        MinutesLost(
            contract,
            day,
            n,
            int(removed) if brought else 0,
            HeldCapture(contract, capture_id, source, _file_path(source, request)),
            brought=brought,
        )
        for day, contract, capture_id, source, request, n, removed, brought in counted.iter_rows()
    ]


def contract_minutes_lost(store: Lake, symbol: str, incoming: pl.DataFrame) -> list[MinutesLost]:
    """The contract sessions among `incoming` (new raw rows of root `symbol`) whose accepted
    capture holds minutes `incoming` lacks: that capture would stop being read once `incoming`
    lands. Oldest first."""
    return [m for m in contract_minutes(store, symbol, incoming) if m.brought and m.removed]


def refuse_minutes_lost(store: Lake, symbol: str, incoming: pl.DataFrame) -> None:
    """WouldReplace naming each contract, day and how many of its minutes `incoming` (a
    file's raw rows) would remove, if any."""
    lost = contract_minutes_lost(store, symbol, incoming)
    if lost:
        raise WouldReplace(
            f"{_named(lost)}: the newest capture of a contract's session replaces the one "
            f"before, so nothing was imported; {CUT_DOWN_FIX}"
        )


def refuse_import_conflicts(store: Lake, symbol: str, incoming: pl.DataFrame) -> None:
    """WouldReplace when a file's raw rows (`incoming`, of root `symbol`) fall on sessions a
    provider captured: each provider capture named by contract, day, the minutes it holds and
    how many of them the file would remove, as every cut-down refusal does."""
    days = incoming["trade_date"].unique().to_list()
    conflicts = source_conflicts(store, symbol, days, FILE_SOURCE)
    if not conflicts:
        return
    counted = {
        (m.trade_date, m.capture.capture_id): m for m in contract_minutes(store, symbol, incoming)
    }
    lost = [
        counted[(c.trade_date, h.capture_id)]
        for c in conflicts
        for h in c.held
        if (c.trade_date, h.capture_id) in counted
    ]
    many = len({m.trade_date for m in lost}) > 1
    raise WouldReplace(
        f"{_named(lost)}: importing this file would replace bars from another source, so "
        "nothing was imported; pass --replace to replace them (the revision is recorded "
        f"today), or leave {'those days' if many else 'that day'} out of the file"
    )
