"""Rolls measured from captured bars: which contract each continuous series holds on a session,
and the roll table (`normalized/futures_rolls`) with the price gap at each roll.

Pure functions over frames. A calendar series holds the front contract of the roll rule (rank 1:
the one after it). A volume series holds the front until the next contract trades more than the
front in a whole session of the roll window, and the next contract from the following session
on (rank 1: the contract after the held one), so a roll is decided from data that existed when
it took effect. Without such a session it rolls with the calendar.

A roll takes effect at the open of its trade date; its gap is `to − from` at the last minute of
the session before in which both contracts have a bar (null when they share none), its ratio
`to / from` at the same minute: what back-adjustment by difference or by ratio uses. The gap is
rounded to the root's tick grid (`Instrument.price_decimals`) here, once, so every reader of the
roll table sums the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.futures.schemas import NORMALIZED_BARS, ROLLS
from market_spine.markets import calendars
from market_spine.markets.instruments import (
    Contract,
    front_contract,
    get_instrument,
    next_contract,
)
from market_spine.markets.rolls import (
    ContinuousSymbol,
    continuous_symbol,
    in_roll_window,
    series_of,
)

#: Calendar days read before a run's first trade date: the roll window's sessions and the
#: session before a roll, across holidays.
LOOKBACK_DAYS = 21

#: Calendar days after a run's last trade date whose sessions its bars can change: a volume
#: roll decided from a session in it (LOOKBACK_DAYS), and the session after the last one so
#: decided, across holidays.
LOOKAHEAD_DAYS = LOOKBACK_DAYS + 7

#: Session volume per (trade date, contract local symbol).
Volumes = Mapping[tuple[date, str], int]


def contract_bars(raw: pl.DataFrame) -> pl.DataFrame:
    """The newest capture of each (symbol, trade date, contract) from raw captures: every
    captured contract's bars, one row per (symbol, contract, ts), in NORMALIZED_BARS columns."""
    if raw.is_empty():
        return conform(raw, NORMALIZED_BARS)
    newest = raw.group_by("symbol", "trade_date", "contract").agg(pl.col("capture_id").max())
    return conform(
        raw.join(newest, on=["symbol", "trade_date", "contract", "capture_id"])
        .unique(["symbol", "contract", "ts"], keep="last", maintain_order=True)
        .sort("symbol", "contract", "ts"),
        NORMALIZED_BARS,
    )


def with_accepted(bars: pl.DataFrame, accepted: pl.DataFrame) -> pl.DataFrame:
    """`bars` (contract bars, as `contract_bars` gives them) with each (symbol, trade date,
    contract) that `accepted` (normalized minutes: the root's front contract) holds taken from
    it instead, in the same order and columns. The normalized minutes are the ones the root
    serves: the accepted capture, and the minutes the stream landed after a live capture's
    end, which no raw capture holds. A series holding the root's contract serves those same
    minutes, so it never lags or differs from its root."""
    if accepted.is_empty():
        return bars
    sessions = ["symbol", "trade_date", "contract"]
    others = bars.join(accepted.select(sessions).unique(), on=sessions, how="anti")
    return pl.concat([others, conform(accepted, NORMALIZED_BARS)], how="vertical_relaxed").sort(
        "symbol", "contract", "ts"
    )


def session_volumes(bars: pl.DataFrame) -> dict[tuple[date, str], int]:
    """Each (trade date, contract)'s session volume in `bars` (one root's contract bars)."""
    totals = bars.group_by("trade_date", "contract").agg(pl.col("volume").sum())
    return {(d, c): int(v) for d, c, v in totals.iter_rows()}


def volume_rolled(root: str, trade_date: date, volumes: Volumes) -> bool:
    """True when the volume series already holds the next contract on `trade_date`: a session
    before it in the same roll window saw the next contract trade more than the front."""
    front = front_contract(root, trade_date)
    nxt = next_contract(front).local_symbol
    if not in_roll_window(root, trade_date):
        return False
    earlier = calendars.trading_days(
        root, trade_date - timedelta(days=LOOKBACK_DAYS), trade_date - timedelta(days=1)
    )
    for day in earlier:
        if front_contract(root, day) != front or not in_roll_window(root, day):
            continue
        held, other = volumes.get((day, front.local_symbol)), volumes.get((day, nxt))
        if held is not None and other is not None and other > held:
            return True
    return False


def held_contracts(
    root: str, trade_date: date, volumes: Volumes
) -> dict[ContinuousSymbol, Contract]:
    """The contract each continuous series of `root` holds on `trade_date`."""
    front = front_contract(root, trade_date)
    volume_front = next_contract(front) if volume_rolled(root, trade_date, volumes) else front
    base = {"calendar": front, "volume": volume_front}
    return {s: next_contract(base[s.rule], s.rank) for s in series_of(root)}


def holdings(root: str, days: Iterable[date], volumes: Volumes) -> pl.DataFrame:
    """(symbol, trade_date, series, contract) for each trading day among `days`."""
    rows = [
        (root, d, s.name, c.local_symbol)
        for d in days
        if calendars.is_trading_day(root, d)
        for s, c in held_contracts(root, d, volumes).items()
    ]
    return pl.DataFrame(
        rows,
        schema={
            "symbol": pl.String(),
            "trade_date": pl.Date(),
            "series": pl.String(),
            "contract": pl.String(),
        },
        orient="row",
    )


def held_series(held: pl.DataFrame, bars: pl.DataFrame) -> dict[date, frozenset[tuple[str, str]]]:
    """The (series, contract) pairs each trade date of `held` (`holdings`' rows) gives bars
    of in `bars` (the root's contract bars): what a continuous table built then holds."""
    present = bars.select("trade_date", "contract").unique()
    return stored_series(held.join(present, on=["trade_date", "contract"], how="semi"))


def stored_series(rows: pl.DataFrame) -> dict[date, frozenset[tuple[str, str]]]:
    """The (series, contract) pairs of each trade date in continuous rows (minutes, days or
    holdings: trade_date, series, contract)."""
    pairs = rows.select("trade_date", "series", "contract").unique()
    found: dict[date, set[tuple[str, str]]] = {}
    for day, series, contract in pairs.iter_rows():
        found.setdefault(day, set()).add((series, contract))
    return {day: frozenset(p) for day, p in found.items()}


def stale_sessions(
    root: str,
    run: Iterable[date],
    stored: Mapping[date, frozenset[tuple[str, str]]],
    decided: Mapping[date, frozenset[tuple[str, str]]],
) -> list[date]:
    """The sessions after `run` (the trade dates a run rebuilds) among those `stored` (what a
    continuous table holds of each built session, `stored_series`) to rebuild with it: the
    ones whose series hold other contracts than the bars now decide (`decided`, a volume roll
    seen earlier or later), and the ones right after a session the run rebuilds or one so
    changed, since their roll is measured and their jumps judged on the session before. A
    later session's bars are its own: only what earlier sessions decide of it can change."""
    days = set(run)
    if not days:
        return []
    later = sorted(d for d in stored if d > min(days) and d not in days)
    changed = {d for d in later if stored[d] != decided.get(d, frozenset())}
    stale = []
    for day in later:
        before = calendars.previous_trading_day(root, day)
        if day in changed or before in days or before in changed:
            stale.append(day)
    return stale


def measure_rolls(root: str, days: Iterable[date], bars: pl.DataFrame) -> pl.DataFrame:
    """The roll table rows (ROLLS) of `root` taking effect on `days`, measured from `bars` (the
    root's contract bars, reaching LOOKBACK_DAYS before the first day)."""
    volumes = session_volumes(bars)
    decimals = get_instrument(root).price_decimals
    events = []  # (session, previous session, series, from, to)
    for day in days:
        sess = calendars.session(root, day)
        prev = calendars.previous_trading_day(root, day) if sess is not None else None
        if sess is None or prev is None:
            continue
        before, now = held_contracts(root, prev, volumes), held_contracts(root, day, volumes)
        events.extend((sess, prev, s, before[s], to) for s, to in now.items() if before[s] != to)
    # Only the sessions before a roll are needed: select them once rather than split every day.
    needed = bars.filter(pl.col("trade_date").is_in([prev for _, prev, *_ in events]))
    by_session = needed.partition_by("trade_date", "contract", as_dict=True) if events else {}
    rows: list[dict[str, object]] = []
    for sess, prev, series, held, to in events:
        gap = _gap(
            by_session.get((prev, held.local_symbol)),
            by_session.get((prev, to.local_symbol)),
            decimals,
        )
        rows.append(
            {
                "trade_date": sess.trade_date,
                "symbol": root,
                "series": series.name,
                "rule": series.rule,
                "rank": series.rank,
                "roll_ts": sess.open.to_pydatetime(),
                "from_contract": held.local_symbol,
                "to_contract": to.local_symbol,
                **gap,
            }
        )
    return conform(pl.DataFrame(rows, schema=ROLLS), ROLLS) if rows else pl.DataFrame(schema=ROLLS)


def _gap(old: pl.DataFrame | None, new: pl.DataFrame | None, decimals: int) -> dict[str, object]:
    """The gap between two contracts at the last minute both have a bar (nulls without one),
    on the tick grid (`decimals` places); the ratio as computed: no grid holds it."""
    empty = {k: None for k in ("gap_ts", "from_price", "to_price", "gap", "ratio", "capture_id")}
    if old is None or new is None:
        return empty
    both = old.select("ts", from_price="close").join(
        new.select("ts", "capture_id", to_price="close"), on="ts"
    )
    if both.is_empty():
        return empty
    last = both.sort("ts").row(-1, named=True)
    return {
        "gap_ts": last["ts"],
        "from_price": last["from_price"],
        "to_price": last["to_price"],
        "gap": round(last["to_price"] - last["from_price"], decimals),
        "ratio": last["to_price"] / last["from_price"],
        "capture_id": last["capture_id"],
    }


def session_contracts(bars: pl.DataFrame) -> dict[date, frozenset[str]]:
    """The contracts with at least one bar on each trade date of `bars` (one root's)."""
    if bars.is_empty():
        return {}
    held = bars.group_by("trade_date").agg(pl.col("contract").unique())
    return {d: frozenset(c) for d, c in held.iter_rows()}


def capture_fix(root: str, day: date, contracts: Iterable[str], imported: bool = False) -> str:
    """How to load `contracts`' bars of `root` on `day`: the capture that takes them (the
    session's captured months) or a vendor file of each. `imported`: the session's bars came
    from a vendor file, which a capture replaces only when asked (`--replace`), so the file is
    named first."""
    from market_spine.markets.rolls import captured_contracts

    wanted = sorted(set(contracts))
    captured = {c.local_symbol for c in captured_contracts(root, day)}
    files = " / ".join(f"`market-spine import bars FILE --symbol {c}`" for c in wanted)
    process = f"market-spine process --date {day} --symbols {root} --domain futures"
    if not set(wanted) <= captured:
        return f"import a vendor file of them ({files})"
    if imported:
        return (
            f"import a vendor file of them ({files}); {root}'s bars of {day} came from a vendor "
            f"file, so a capture replaces them only when asked (`{process} --replace`, it "
            f"captures {', '.join(sorted(captured))} that day)"
        )
    return (
        f"capture them with `{process}` (it captures {', '.join(sorted(captured))} that day) or "
        f"import a vendor file of them ({files})"
    )


def unmeasured_gap(
    root: str, roll: Mapping[str, object], held: frozenset[str] | None, imported: bool = False
) -> dict[str, object]:
    """Why the gap of one roll (a roll table row) was not measured: which of its from / to
    contracts has no bars on the session before it (`held`: the contracts that session has
    bars of; None when not known) and the command that loads them (`capture_fix`;
    `imported`: that session's bars came from a vendor file). The roll table's check and a
    refused back-adjusted read both say it."""
    day = roll["trade_date"]
    assert isinstance(day, date)
    prev = calendars.previous_trading_day(root, day) or day
    pair = (str(roll["from_contract"]), str(roll["to_contract"]))
    missing = [c for c in pair if held is not None and c not in held]
    said = f"{roll['series']} rolls {pair[0]} → {pair[1]} on {day}"
    if missing:
        fix = capture_fix(root, prev, missing, imported)
        why = (
            f"{said}, but the lake holds no {' or '.join(missing)} bars on {prev}, the session "
            f"before, where the gap is measured: {fix}; then run the roll table again for {day}"
        )
    elif held is None:
        why = f"{said}, but its gap on {prev} was not measured: load both contracts' bars"
    else:
        why = (
            f"{said}, but {pair[0]} and {pair[1]} share no bar minute on {prev}, the session "
            f"before: import or capture their whole session "
            f"({capture_fix(root, prev, pair, imported)})"
        )
    return {
        "series": roll["series"],
        "trade_date": str(day),
        "from_contract": pair[0],
        "to_contract": pair[1],
        "missing_contracts": missing,
        "measured_on": str(prev),
        "fix": why,
    }


def unrecorded_rolls(
    series: str,
    change: tuple[str, date, str, date],
    loaded: Mapping[date, bool],
) -> str:
    """Why a series that holds `change`'s first contract through its session and the second
    from its own (before, last day, contract, first day) with no roll between cannot be
    back-adjusted, and what loads the rolls: the calendar rolls of its root falling between,
    the sessions between the lake lacks, and the command that loads them. `loaded`: the
    sessions between the lake holds bars of, True for those imported from a vendor file (a
    capture replaces them only with `--replace`)."""
    from market_spine.markets.instruments import roll_dates
    from market_spine.markets.rolls import continuous_symbol

    before, last, contract, first = change
    root = continuous_symbol(series).root
    said = (
        f"it holds {before} through {last} and {contract} from {first}, but the lake holds no "
        "roll between them, so the gap is unknown"
    )
    due = roll_dates(root, last + timedelta(days=1), first)
    if due:
        roll = f"{due[0][1].local_symbol} → {due[0][2].local_symbol} on {due[0][0]}"
        if len(due) == 1:
            said += f" ({root}'s calendar roll {roll} falls between)"
        else:
            said += f" ({len(due)} calendar rolls of {root} fall between, the first {roll})"
    between = calendars.trading_days(root, last + timedelta(days=1), first - timedelta(days=1))
    missing = [d for d in between if d not in loaded]
    span = missing or between
    if not span:
        return f"{said}: run the roll table for {first} again"
    dates = f"--date {span[0]}" if len(span) == 1 else f"--start {span[0]} --end {span[-1]}"
    command = f"market-spine process {dates} --symbols {root} --domain futures"
    imported = [d for d in between if loaded.get(d) and span[0] <= d <= span[-1]]
    if imported:
        command += (
            f" --replace` (it captures over the {len(imported)} sessions imported from vendor "
            f"files among them), or import the missing sessions' bars (`market-spine import "
            f"bars FILE --symbol {series}`"
        )
    which = _days(missing) if missing else _days(between)
    if missing:
        return f"{said}: load the {len(missing)} {root} sessions missing ({which}) with `{command}`"
    return f"{said}: the sessions between are loaded, so rebuild their rolls with `{command}`"


def _days(days: list[date]) -> str:
    """`2024-03-11`, or `2024-03-11..2026-11-16` for the first and last of several."""
    return str(days[0]) if len(days) == 1 else f"{days[0]}..{days[-1]}"


@dataclass(frozen=True)
class AbsentContract:
    """A continuous series with no bars on a session because the contract it holds has none
    in the lake (never captured or imported): `after` is the contract its rank counts from
    (None for rank 0)."""

    series: str
    trade_date: date
    contract: str
    after: str | None

    def reason(self) -> str:
        """E.g. `no bars for ESM4, the next contract after ESH4, on 2024-03-05: import it
        (...) or capture it`."""
        which = (
            f"the next contract after {self.after}"
            if self.after
            else f"the contract {self.series} holds"
        )
        return (
            f"no bars for {self.contract}, {which}, on {self.trade_date}: import it "
            f"(`market-spine import bars FILE --symbol {self.contract}`) or capture it"
        )

    def front_reason(self, root: str) -> str:
        """Why `root` (whose bars are its roll rule's front contract alone) has none on the
        session: e.g. `no bars for ESH4, the front contract of ES by the roll rule, on
        2024-03-05: ES serves no other month in its place; import it (...) or capture it`."""
        return (
            f"no bars for {self.contract}, the front contract of {root} by the roll rule, on "
            f"{self.trade_date}: {root} serves no other month in its place (the next contract "
            f"is {root}.c.1); import it (`market-spine import bars FILE --symbol "
            f"{self.contract}`) or capture it"
        )


def absent_contracts(held: pl.DataFrame, bars: pl.DataFrame) -> list[AbsentContract]:
    """The (series, session) holdings (`holdings`' rows) whose contract has no bar that session
    in `bars` (the root's contract bars), by trade date and series."""
    present = set(bars.select("trade_date", "contract").unique().iter_rows())
    contracts = {(d, s): c for _, d, s, c in held.iter_rows()}
    out = []
    for _, day, series, contract in held.sort("trade_date", "series").iter_rows():
        if (day, contract) in present:
            continue
        symbol = continuous_symbol(series)
        base = ContinuousSymbol(symbol.root, symbol.rule, 0).name
        after = contracts.get((day, base)) if symbol.rank else None
        out.append(AbsentContract(series, day, contract, after))
    return out
