"""Continuous futures series (`CL.c.0`, `CL.v.1`, ...): the bars of the contract each series
holds, stored unadjusted, and their back-adjustment applied when they are read.

Why adjustment is applied on read rather than stored: back-adjusting anchors every past price to
the newest contract, so each new roll would change every earlier partition. Stored that way, a
roll would rewrite years of history, every partition would show as revised, and time travel
could not tell a correction from a roll. Stored unadjusted, a partition changes only when its
own bars do; the roll table holds each roll's gap and ratio, and a read adjusts the series to the
last bar it returns (`back_adjust`): the series' latest prices are the traded ones and the
earlier ones move by the gaps of the rolls in between.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

import numpy as np
import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.errors import InvalidInput
from market_spine.futures.schemas import CONTINUOUS_BARS
from market_spine.markets.instruments import get_instrument, known_symbols

#: How a read adjusts a continuous series: none (the traded prices), back-adjusted by adding the
#: gaps of later rolls (difference) or by multiplying by their ratios (ratio).
ADJUSTMENTS = ("none", "difference", "ratio")
PRICES = ("open", "high", "low", "close", "vwap")


def continuous_minutes(bars: pl.DataFrame, held: pl.DataFrame) -> pl.DataFrame:
    """Each series' minutes (CONTINUOUS_BARS), sorted by series and ts, from contract bars in
    time order within each contract (as `rolls.contract_bars` gives them) and the holdings
    (`rolls.holdings`: symbol, trade_date, series, contract): a bar appears once per series
    holding its contract that session."""
    rows = held.sort("series", "trade_date").join(
        bars, on=["symbol", "trade_date", "contract"], how="inner", maintain_order="left_right"
    )
    return conform(rows, CONTINUOUS_BARS)


def adjustment_name(adjust: str) -> str:
    """`adjust` checked against ADJUSTMENTS (case-insensitive); InvalidInput naming them."""
    how = str(adjust).strip().lower()
    if how not in ADJUSTMENTS:
        raise InvalidInput(f"adjust={adjust!r}: use one of {', '.join(ADJUSTMENTS)}")
    return how


def back_adjust(
    bars: pl.DataFrame, rolls: pl.DataFrame, adjust: str, at: str = "ts"
) -> pl.DataFrame:
    """One series' bars (sorted by `at`: `ts` for minutes, `trade_date` for days) back-adjusted
    to its last bar with the rolls of that series (the roll table's rows), plus an `adjustment`
    column: added to prices (difference) or multiplying them (ratio); 0 or 1 after the last roll.

    A roll whose gap was not measured (the contracts shared no minute) leaves the earlier bars'
    adjusted prices null rather than wrong. `adjust="none"` returns the bars unchanged.
    Difference-adjusted prices and their adjustment are on the root's tick grid (the bars' or
    roll table's `symbol`; `price_decimals`), as the gaps are; ratio-adjusted prices are left as
    computed: a ratio moves them off the grid, and rounding them would bend the returns a
    ratio adjustment exists to keep."""
    how = adjustment_name(adjust)
    if how == "none" or bars.is_empty():
        return bars
    key = "roll_ts" if at == "ts" else "trade_date"
    inside = rolls.sort(key).filter(pl.col(key) <= bars[at].max())
    stamps = inside[key].to_numpy()
    column = "gap" if how == "difference" else "ratio"
    values = inside[column].fill_null(np.nan).to_numpy().astype(np.float64)
    # The rolls after each bar (roll time > bar time) are a suffix of the sorted rolls.
    after = np.searchsorted(stamps, bars[at].to_numpy(), side="right")
    if how == "difference":
        suffix = np.concatenate((np.cumsum(values[::-1])[::-1], [0.0]))
    else:
        suffix = np.concatenate((np.cumprod(values[::-1])[::-1], [1.0]))
    factor = pl.Series("adjustment", suffix[after]).fill_nan(None)
    adjusted = bars.with_columns(factor)
    prices = [c for c in PRICES if c in bars.columns]
    if how == "difference":
        places = _decimals(bars, rolls)
        if places is None:  # no root, no rolls: every adjustment is 0
            return adjusted.with_columns(pl.col(c) + pl.col("adjustment") for c in prices)
        return adjusted.with_columns(pl.col("adjustment").round(places)).with_columns(
            (pl.col(c) + pl.col("adjustment")).round(places) for c in prices
        )
    return adjusted.with_columns(pl.col(c) * pl.col("adjustment") for c in prices)


def _decimals(*frames: pl.DataFrame) -> int | None:
    """The price decimals of the root the first of `frames` with a `symbol` names (bars or
    roll table rows, one root's); None when none says."""
    for frame in frames:
        if "symbol" in frame.columns and not frame.is_empty():
            return get_instrument(frame["symbol"][0]).price_decimals
    return None


class RollFixes(Protocol):
    """What a refused back-adjustment says of the rolls it lacks, knowing the lake: which
    sessions or contracts are missing and the command that loads them."""

    def unrecorded(self, series: str, change: tuple[str, date, str, date]) -> str:
        """A change of contract (before, its last day, contract, its first day) no roll of the
        table explains."""
        ...

    def unmeasured(self, roll: dict[str, Any]) -> str:
        """A roll (a roll table row) whose gap or ratio was not measured."""
        ...


def unadjustable(
    series: str,
    bars: pl.DataFrame,
    rolls: pl.DataFrame,
    adjust: str,
    fixes: RollFixes | None = None,
) -> str | None:
    """Why one series' bars (sorted, with `contract` and `trade_date`) cannot be back-adjusted
    as `adjust` says, with the fix (`fixes` says what loads the missing rolls; without it, the
    reads that need none); None when they can. A change of contract between two bars that no
    roll of the roll table explains (the lake holds no roll between them), or a roll inside
    the bars whose gap or ratio was not measured, would leave earlier prices unadjusted or null
    while reading as certified: such a read is refused, never served."""
    how = adjustment_name(adjust)
    if how == "none" or bars.is_empty() or "contract" not in bars.columns:
        return None
    at = "ts" if "ts" in bars.columns else "trade_date"
    key = "roll_ts" if at == "ts" else "trade_date"
    first, last = bars[at].min(), bars[at].max()
    known = set(zip(rolls["from_contract"], rolls["to_contract"], strict=True))
    changes = (
        bars.select("trade_date", "contract")
        .with_columns(before=pl.col("contract").shift(), last=pl.col("trade_date").shift())
        .filter(pl.col("before").is_not_null() & (pl.col("before") != pl.col("contract")))
    )
    refused = f"{series} cannot be back-adjusted by {how}"
    instead = "read a range after it, or read with adjust=none (the traded prices)"
    for day, contract, before, previous in changes.iter_rows():
        if (before, contract) not in known:
            change = (before, previous, contract, day)
            why = (
                fixes.unrecorded(series, change)
                if fixes is not None
                else f"it changes from {before} to {contract} on {day} but the lake holds no "
                "roll between them, so the gap is unknown"
            )
            return f"{refused}: {why}; or {instead}"
    column = "gap" if how == "difference" else "ratio"
    unmeasured = rolls.filter(
        (pl.col(key) > first) & (pl.col(key) <= last) & pl.col(column).is_null()
    )
    if not unmeasured.is_empty():
        roll = unmeasured.row(0, named=True)
        why = (
            fixes.unmeasured(roll)
            if fixes is not None
            else f"its roll from {roll['from_contract']} to {roll['to_contract']} on "
            f"{roll['trade_date']} has no measured {column}"
        )
        return f"{refused}, whose {column} at a roll is unknown: {why}; or {instead}"
    return None


#: The SQL view of the continuous minutes with their back-adjustments, anchored to each
#: series' newest contract (so, unlike a Spine read, its earlier prices move when a roll is
#: added).
ADJUSTED_VIEW = "futures_continuous_adjusted_1m"


def adjusted_view_sql(minutes: str, rolls: str) -> str:
    """DuckDB SQL over the `minutes` and `rolls` views: every continuous minute with
    `adj_difference` (the gaps of the later rolls, summed), `adj_ratio` (their ratios,
    multiplied), the close adjusted each way and `adjustment_note`, why an adjustment is NULL.
    An ASOF join finds each bar's first later roll, whose suffix sum or product is its
    adjustment.

    An adjustment is NULL where it is unknown, as a Spine read refuses it (`unadjustable`):
    when the bar's contract is not the one its next roll leaves (a roll the table lacks), when
    a later roll does not lead to the contract the following one leaves (or, the newest, to the
    series' newest contract), or when a later roll's gap or ratio was not measured. The difference
    adjustment and the close it adjusts are on the root's tick grid, as a Spine read gives
    them; the ratio-adjusted close is left as computed."""
    places = price_decimals_sql()
    return f"""
        with newest as (
            select series, arg_max(contract, ts) as contract from {minutes} group by series
        ),
        chained as (
            select r.series, r.roll_ts, r.from_contract, r.gap, r.ratio,
                r.to_contract = coalesce(
                    lead(r.from_contract) over (partition by r.series order by r.roll_ts),
                    newest.contract
                ) as linked
            from {rolls} r left join newest on r.series = newest.series
        ),
        later as (
            select series, roll_ts, from_contract,
                case when bool_and(linked and gap is not null) over w
                    then sum(gap) over w end as adj_difference,
                case when bool_and(linked and ratio is not null) over w
                    then exp(sum(ln(ratio)) over w) end as adj_ratio,
                bool_and(linked) over w as chain_whole
            from chained
            window w as (partition by series order by roll_ts desc rows unbounded preceding)
        ),
        adjusted as (
            select m.*,
                case
                    when later.series is null and m.contract = newest.contract then 0
                    when m.contract = later.from_contract then later.adj_difference
                end as adj_difference,
                case
                    when later.series is null and m.contract = newest.contract then 1
                    when m.contract = later.from_contract then later.adj_ratio
                end as adj_ratio,
                {adjustment_note_sql("m.contract", "newest.contract", "later")} as adjustment_note
            from {minutes} m
            join newest on m.series = newest.series
            asof left join later on m.series = later.series and later.roll_ts > m.ts
        )
        select * replace (round(adj_difference, {places}) as adj_difference),
            round(close + adj_difference, {places}) as close_difference,
            close * adj_ratio as close_ratio
        from adjusted
    """


def adjustment_note_sql(contract: str, newest: str, later: str) -> str:
    """A DuckDB expression saying why a bar's back-adjustment is unknown (NULL when both are
    known): a roll between its `contract` and the series' `newest` contract is not in the roll
    table, or one was not measured; `later` is the bar's first later roll, with `from_contract`,
    `adj_difference`, `adj_ratio` and `chain_whole` (every roll from it on leads to the next)."""
    between = f"{contract} || ' and the series'' newest contract ' || {newest}"
    return f"""case
        when {later}.series is null and {contract} = {newest} then null
        when {later}.series is not null and {contract} = {later}.from_contract
            and {later}.adj_difference is not null and {later}.adj_ratio is not null then null
        when {later}.series is null or {contract} <> {later}.from_contract
            or not {later}.chain_whole
            then 'a roll between ' || {between} || ' is not in the roll table: load the '
                || 'sessions between them, or read the range with Spine, which adjusts to its '
                || 'last bar'
        else 'a roll between ' || {between} || ' has no measured gap or ratio: load the '
            || 'session before it'
    end"""


def price_decimals_sql(column: str = "symbol") -> str:
    """A DuckDB expression of the price decimals (`Instrument.price_decimals`) of the root in
    `column`, for every root registered now (NULL for another: its prices round to NULL
    rather than off the grid)."""
    whens = " ".join(
        f"when '{root}' then {get_instrument(root).price_decimals}" for root in known_symbols()
    )
    return f"(case {column} {whens} end)"
