"""Option-chain checks as pure functions: each returns a CheckOutcome with counts and the
worst offenders, so an operator sees what is wrong and where. Each dataset's checks are
declared once (name, description, blocking) at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from market_spine.catalog.vocabulary import conform
from market_spine.certification.tables import FLAG_FINDING_SCHEMA
from market_spine.check_kit import CheckDef, CheckOutcome, judge, rows_by
from market_spine.markets.expirations import (
    ROOTS,
    is_trading_day,
    traded_expirations,
)
from market_spine.options import quote_sides
from market_spine.pricing.black import NO_TIME_LEFT

WORST = 10
#: Share of two-sided quotes that may be crossed or locked before the day is blocked.
MAX_CROSSED_SHARE = 0.01
#: Share of two-sided quotes whose implied vol must solve.
MIN_CONVERGENCE = 0.95
IV_BOUNDS = (0.01, 5.0)
#: Price slack (index points) before a monotonicity or convexity breach counts.
ARBITRAGE_SLACK = 0.05


def _examples(frame: pl.DataFrame, columns: list[str]) -> list[dict[str, str]]:
    return [
        {k: str(v) for k, v in row.items()} for row in frame.select(columns).head(WORST).to_dicts()
    ]


def completeness(chain: pl.DataFrame, days: list[date]) -> CheckOutcome:
    """Every expiration that trades on each trading day has quotes, per root and day: the
    SPXW expiring that day (0DTE) included, an SPX monthly past its last trading day not. A day
    the exchange is closed owes nothing: it is counted in `closed_days`, not as missing
    expirations."""
    served = set(chain.select("root", "trade_date", "expiration").unique().iter_rows())
    closed = [day for day in days if not is_trading_day(day)]
    missing: list[str] = []
    expected_total = 0
    for day in (d for d in days if is_trading_day(d)):
        for root in ROOTS:
            expected = traded_expirations(root, day)
            expected_total += len(expected)
            missing += [f"{root} {day} → {e}" for e in expected if (root, day, e) not in served]
    return CheckOutcome(
        not missing,
        {
            "expected_expirations": expected_total,
            "missing_expirations": len(missing),
            "closed_days": [d.isoformat() for d in closed],
            "worst": missing[:WORST],
        },
    )


@dataclass(frozen=True)
class RootCompleteness:
    """One root's chain on one day against the calendar: expirations owed (none on a day the
    exchange is closed), those with quotes, those without, and contracts that did not trade."""

    root: str
    expected: int
    present: int
    missing: int
    no_trade: int


def root_completeness(chain: pl.DataFrame, day: date) -> list[RootCompleteness]:
    """Each root's completeness on `day` from the day's chain (the completeness check's rule:
    every expiration trading that day is owed quotes)."""
    found = []
    for root in ROOTS:
        rows = chain.filter(pl.col("root") == root)
        owed = set(traded_expirations(root, day)) if is_trading_day(day) else set()
        served = set(rows["expiration"].unique().to_list())
        quiet = rows.filter(pl.col("volume").fill_null(0) == 0).height
        found.append(
            RootCompleteness(root, len(owed), len(owed & served), len(owed - served), quiet)
        )
    return found


def quotes(chain: pl.DataFrame) -> CheckOutcome:
    """Crossed (bid > ask) and locked (bid = ask) two-sided quotes fail. A few of them (at most
    MAX_CROSSED_SHARE of the two-sided quotes) is a warning: a crossed quote has no mid and so no
    vol, and one bad print must not hold back a whole day; more is a feed fault, and blocks. A
    quote missing a side (zero price or zero size: see `quote_sides`) is neither: it is counted
    as one-sided (or empty), and has no mid to mislead anything downstream."""
    both = chain.filter(quote_sides.two_sided())
    crossed = both.filter(pl.col("bid") > pl.col("ask"))
    locked = both.filter(pl.col("bid") == pl.col("ask"))
    bad = crossed.height + locked.height
    share = bad / both.height if both.height else 0.0
    return CheckOutcome(
        bad == 0,
        {
            "contracts": chain.height,
            **quote_sides.side_counts(chain),
            "crossed": crossed.height,
            "locked": locked.height,
            "crossed_or_locked_share": round(share, 6),
            "worst": _examples(pl.concat([crossed, locked]), ["bid", "ask"]),
        },
        warn_only=share <= MAX_CROSSED_SHARE,
        flagged=_flags(
            pl.concat(
                [
                    crossed.with_columns(
                        kind=pl.lit(CROSSED_QUOTE),
                        value=pl.col("bid") - pl.col("ask"),
                        score=1 + (pl.col("bid") - pl.col("ask")) / ARBITRAGE_SLACK,
                    ),
                    locked.with_columns(
                        kind=pl.lit(LOCKED_QUOTE), value=pl.lit(0.0), score=pl.lit(1.0)
                    ),
                ]
            )
        ),
    )


#: Flag kinds the option-chain checks give the rows they find.
CROSSED_QUOTE = "crossed_quote"
LOCKED_QUOTE = "locked_quote"
CALL_SPREAD_ARBITRAGE = "call_spread_arbitrage"
BUTTERFLY_ARBITRAGE = "butterfly_arbitrage"
#: Flag kinds the greeks checks give the contracts they find.
IV_OUT_OF_BOUNDS = "iv_out_of_bounds"
PARITY_BREACH = "parity_breach"


def _flags(found: pl.DataFrame) -> pl.DataFrame | None:
    """Contracts a check found, with `kind`, `score` and `value`, as flags beside the data;
    None for rows without OSI symbols (raw captures: their normalized chain is flagged)."""
    if "osi" not in found.columns:
        return None
    return conform(
        found.with_columns(
            symbol=pl.col("root"),
            instrument=pl.col("osi"),
            ts=pl.lit(None, FLAG_FINDING_SCHEMA["ts"]),
        ),
        FLAG_FINDING_SCHEMA,
    )


def convergence(greeks: pl.DataFrame) -> CheckOutcome:
    """The implied vol solves for at least 95 % of two-sided quotes; the rest carry a reason
    (in their row, so they are not flagged again: deep in-the-money quotes below intrinsic
    are common and harmless one by one). One-sided and empty quotes have no mid to solve, and
    expiring contracts on their last day no time left to solve over: they are only counted."""
    expiring = pl.col("iv_reason") == NO_TIME_LEFT
    quoted = greeks.filter(quote_sides.two_sided() & ~expiring)
    solved = quoted.filter(pl.col("iv_converged")).height
    rate = solved / quoted.height if quoted.height else 1.0
    reasons = quoted.filter(~pl.col("iv_converged")).group_by("iv_reason").len().to_dicts()
    sides = quote_sides.side_counts(greeks)
    return CheckOutcome(
        rate >= MIN_CONVERGENCE,
        {
            "quoted": quoted.height,
            "solved": solved,
            "rate": round(rate, 4),
            "unsolved_by_reason": reasons,
            "one_sided": sides["one_sided"],
            "empty": sides["empty"],
            "expiring": greeks.filter(expiring).height,
        },
    )


def iv_bounds(greeks: pl.DataFrame) -> CheckOutcome:
    """Solved implied vols lie in a sane band; each vol outside it is flagged, scored by how
    many times beyond its bound it lies (1 = at the bound)."""
    lo, hi = IV_BOUNDS
    out = greeks.filter(pl.col("iv").is_not_null() & ~pl.col("iv").is_between(lo, hi))
    iv = pl.col("iv")
    return CheckOutcome(
        out.is_empty(),
        {"outside": out.height, "bounds": [lo, hi], "worst": _examples(out, ["iv"])},
        flagged=_flags(
            out.with_columns(
                kind=pl.lit(IV_OUT_OF_BOUNDS),
                value=iv,
                score=pl.when(iv > hi).then(iv / hi).otherwise(lo / pl.max_horizontal(iv, 1e-9)),
            )
        ),
    )


def no_arbitrage(chain: pl.DataFrame) -> CheckOutcome:
    """No tradeable static arbitrage in the calls of each expiry: a higher strike never bids
    above a lower strike's ask (monotonicity), and no butterfly can be bought for a credit
    (convexity: wings at the ask, body at the bid)."""
    # Only offered calls take part; an absent bid never bids above anything.
    calls = (
        chain.filter((pl.col("right") == "C") & quote_sides.has_ask())
        .with_columns(bid=pl.when(quote_sides.has_bid()).then(pl.col("bid")).otherwise(0.0))
        .sort("strike")
    )
    monotone = convex = 0
    worst: list[str] = []
    found: list[pl.DataFrame] = []
    for (root, day, expiration), group in calls.group_by(
        "root", "trade_date", "expiration", maintain_order=True
    ):
        k = group["strike"].to_numpy()
        bid, ask = group["bid"].to_numpy(), group["ask"].to_numpy()
        if k.size < 3:
            continue
        credit = bid[1:] - ask[:-1]
        rises = np.flatnonzero(credit > ARBITRAGE_SLACK)
        weight = (k[2:] - k[1:-1]) / (k[2:] - k[:-2])
        fly = weight * ask[:-2] + (1 - weight) * ask[2:] - bid[1:-1]
        bends = np.flatnonzero(fly < -ARBITRAGE_SLACK)
        monotone += rises.size
        convex += bends.size
        worst += [f"{root} {day} {expiration} bid above ask at K={k[i + 1]}" for i in rises[:2]]
        worst += [f"{root} {day} {expiration} butterfly credit at K={k[i + 1]}" for i in bends[:2]]
        for kind, at, value in (
            (CALL_SPREAD_ARBITRAGE, rises, credit[rises]),
            (BUTTERFLY_ARBITRAGE, bends, -fly[bends]),
        ):
            if at.size:
                found.append(
                    group[at + 1].with_columns(
                        kind=pl.lit(kind),
                        value=pl.Series(value),
                        score=pl.Series(value / ARBITRAGE_SLACK),
                    )
                )
    return CheckOutcome(
        monotone == 0 and convex == 0,
        {"monotonicity_breaches": monotone, "convexity_breaches": convex, "worst": worst[:WORST]},
        flagged=_flags(
            pl.concat(found)
            if found
            else calls.clear().with_columns(
                kind=pl.lit(None, pl.String()),
                value=pl.lit(None, pl.Float64()),
                score=pl.lit(None, pl.Float64()),
            )
        ),
    )


def parity(greeks: pl.DataFrame) -> CheckOutcome:
    """Put-call parity residuals C − P − D·(F − K) against each expiry's fitted forward: a
    residual wider than the two quotes' combined half-spreads (plus a tick) fails."""
    pairs = (
        greeks.filter(pl.col("mid").is_not_null())
        .with_columns(half=(pl.col("ask") - pl.col("bid")) / 2)
        .pivot(
            on="right",
            index=["root", "trade_date", "expiration", "strike", "forward", "discount"],
            values=["mid", "half"],
        )
        .drop_nulls(["mid_C", "mid_P"])
        .with_columns(
            residual=pl.col("mid_C")
            - pl.col("mid_P")
            - pl.col("discount") * (pl.col("forward") - pl.col("strike")),
            allowed=pl.col("half_C") + pl.col("half_P") + 0.10,
        )
    )
    bad = pairs.filter(pl.col("residual").abs() > pl.col("allowed"))
    worst = bad.sort(pl.col("residual").abs(), descending=True).head(WORST)
    # Both legs of a breaching pair are flagged: either quote may be the wrong one.
    pair = ["root", "trade_date", "expiration", "strike"]
    legs = greeks.filter(pl.col("mid").is_not_null()).join(
        bad.select(*pair, "residual", "allowed"), on=pair, how="inner"
    )
    return CheckOutcome(
        bad.is_empty(),
        {
            "pairs": pairs.height,
            "breaches": bad.height,
            "max_abs_residual": round(float(pairs["residual"].abs().max() or 0.0), 4),
            "worst": [
                f"{r['root']} {r['expiration']} K={r['strike']} residual={r['residual']:.2f}"
                for r in worst.to_dicts()
            ],
        },
        flagged=_flags(
            legs.with_columns(
                kind=pl.lit(PARITY_BREACH),
                value=pl.col("residual"),
                score=pl.col("residual").abs() / pl.col("allowed"),
            )
        ),
    )


#: A listed expiration losing more than this share of its strikes overnight is suspicious.
MAX_STRIKE_DROP = 0.2


def strike_continuity(chain: pl.DataFrame, previous: pl.DataFrame) -> CheckOutcome:
    """Strikes per (root, expiration) against the previous trading day's chain: exchanges add
    strikes as the index moves but do not delist many at once, so a large drop means lost data."""
    counts = (
        pl.concat([previous, chain], how="diagonal_relaxed")
        .group_by("root", "expiration", "trade_date")
        .agg(strikes=pl.col("strike").n_unique())
    )
    compared = (
        counts.sort("trade_date")
        .with_columns(before=pl.col("strikes").shift(1).over("root", "expiration"))
        .filter(pl.col("trade_date").is_in(chain["trade_date"].unique().implode()))
        .drop_nulls("before")
    )
    drops = compared.filter(pl.col("strikes") < (1 - MAX_STRIKE_DROP) * pl.col("before"))
    return CheckOutcome(
        drops.is_empty(),
        {
            "expirations_compared": compared.height,
            "drops": drops.height,
            "worst": [
                f"{r['root']} {r['expiration']} {r['trade_date']}: {r['before']} → {r['strikes']}"
                for r in drops.head(WORST).to_dicts()
            ],
        },
    )


def quote_minutes(quotes: pl.DataFrame, expected: dict[tuple[date, date], int]) -> CheckOutcome:
    """Every contract of each captured (day, expiration) has a quote for each minute the session
    lists before settlement; `expected` maps (day, expiration) to that minute count."""
    per_contract = quotes.group_by("trade_date", "expiration", "strike", "right").agg(
        minutes=pl.len()
    )
    want = pl.DataFrame(
        {
            "trade_date": [d for d, _ in expected],
            "expiration": [e for _, e in expected],
            "expected": list(expected.values()),
        },
        schema={"trade_date": pl.Date(), "expiration": pl.Date(), "expected": pl.Int64()},
    )
    short = per_contract.join(want, on=["trade_date", "expiration"], how="left").filter(
        pl.col("minutes") < pl.col("expected")
    )
    captured = per_contract.select("trade_date", "expiration").unique()
    empty = want.join(captured, on=["trade_date", "expiration"], how="anti")
    missing = int((short["expected"] - short["minutes"]).sum()) if short.height else 0
    owed = per_contract.join(want, on=["trade_date", "expiration"], how="inner")["expected"]
    return CheckOutcome(
        short.is_empty() and empty.is_empty(),
        {
            "contracts": per_contract.height,
            "expected_minutes": int(owed.sum()),
            "short_contracts": short.height,
            "missing_minutes": missing,
            "expirations_without_quotes": empty.height,
            "worst": _examples(
                short.sort(pl.col("expected") - pl.col("minutes"), descending=True),
                ["trade_date", "expiration", "strike", "right", "minutes", "expected"],
            ),
        },
    )


#: A day's surface must span at least this many expiries to be a term structure.
MIN_EXPIRIES = 5


def term_structure(surface: pl.DataFrame, days: list[date]) -> CheckOutcome:
    """Each trading day has a surface spanning at least `MIN_EXPIRIES` expiries."""
    per_day = surface.group_by("trade_date").len()
    thin = per_day.filter(pl.col("len") < MIN_EXPIRIES)["trade_date"].to_list()
    present = set(surface["trade_date"].to_list())
    missing = [str(d) for d in days if is_trading_day(d) and d not in present]
    return CheckOutcome(
        not thin and not missing,
        {
            "expiries_min": int(per_day["len"].min() or 0),
            "thin_days": [str(d) for d in thin],
            "missing_days": missing,
        },
    )


@dataclass(frozen=True)
class OptionsDay:
    """One day's rows of an options dataset as its checks see them; `previous` is the chain of
    the trading day before (for strike continuity), `expected` the quote minutes each captured
    (day, expiration) owes (for intraday quotes)."""

    day: date
    rows: pl.DataFrame
    previous: pl.DataFrame | None = None
    expected: dict[tuple[date, date], int] | None = None


def judge_days(
    checks: tuple[CheckDef[OptionsDay], ...],
    rows: pl.DataFrame,
    days: list[date],
    previous: Callable[[date], pl.DataFrame] | None = None,
) -> dict[str, dict[str, CheckOutcome]]:
    """Each day's outcome of every check, by partition key; `previous(day)` gives the chain of
    the trading day before when a check needs it."""
    frames = rows_by(rows, ["trade_date"], [(d,) for d in days])
    return {
        d.isoformat(): judge(
            checks, OptionsDay(d, frames[(d,)], previous(d) if previous is not None else None)
        )
        for d in days
    }


QUOTES_DESCRIPTION = (
    "No crossed or locked two-sided quotes; quotes missing a side are counted as one-sided."
)
RAW_CHAIN_CHECKS: tuple[CheckDef[OptionsDay], ...] = (
    CheckDef(
        "completeness",
        "Every expiration the calendar lists for the day has quotes, per root; a day the "
        "exchange is closed owes none.",
        lambda d: completeness(d.rows, [d.day]),
    ),
    CheckDef("quotes", QUOTES_DESCRIPTION, lambda d: quotes(d.rows)),
)
NORMALIZED_CHAIN_CHECKS: tuple[CheckDef[OptionsDay], ...] = (
    CheckDef("quotes", QUOTES_DESCRIPTION, lambda d: quotes(d.rows), blocking=True),
    CheckDef(
        "no_arbitrage",
        "No call-spread or butterfly arbitrage beyond the quotes' slack.",
        lambda d: no_arbitrage(d.rows),
    ),
    CheckDef(
        "strike_continuity",
        "No expiration loses more than a fifth of its strikes since the previous trading day.",
        lambda d: strike_continuity(d.rows, d.rows.clear() if d.previous is None else d.previous),
    ),
)
GREEKS_CHECKS: tuple[CheckDef[OptionsDay], ...] = (
    CheckDef(
        "convergence",
        "The implied vol solves for at least 95 % of two-sided quotes.",
        lambda d: convergence(d.rows),
        certifying=True,
    ),
    CheckDef(
        "iv_bounds", "Solved implied vols lie between 1 % and 500 %.", lambda d: iv_bounds(d.rows)
    ),
    CheckDef(
        "parity",
        "Put-call parity holds within the quotes' half-spreads against each expiry's forward.",
        lambda d: parity(d.rows),
    ),
)
SURFACE_CHECKS: tuple[CheckDef[OptionsDay], ...] = (
    CheckDef(
        "term_structure",
        f"Each trading day's surface spans at least {MIN_EXPIRIES} expiries.",
        lambda d: term_structure(d.rows, [d.day]),
        certifying=True,
    ),
)
RAW_QUOTES_CHECKS: tuple[CheckDef[OptionsDay], ...] = (
    CheckDef(
        "minute_completeness",
        "Every contract of each captured expiration has a quote for each session minute before "
        "settlement.",
        lambda d: quote_minutes(d.rows, d.expected or {}),
        certifying=True,
    ),
    CheckDef("quotes", QUOTES_DESCRIPTION, lambda d: quotes(d.rows)),
)
