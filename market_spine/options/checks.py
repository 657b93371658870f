"""Option-chain checks as pure functions: each returns a CheckOutcome with counts and the
worst offenders, so an operator sees what is wrong and where."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from market_spine.assetkit import CheckOutcome
from market_spine.markets.expirations import is_trading_day, listed_expirations
from market_spine.options.keys import ROOTS

WORST = 10
#: Share of quoted (non-zero bid) contracts whose implied vol must solve.
MIN_CONVERGENCE = 0.95
IV_BOUNDS = (0.01, 5.0)
#: Price slack (index points) before a monotonicity or convexity breach counts.
ARBITRAGE_SLACK = 0.05


def _examples(frame: pl.DataFrame, columns: list[str]) -> list[dict[str, str]]:
    return [
        {k: str(v) for k, v in row.items()} for row in frame.select(columns).head(WORST).to_dicts()
    ]


def completeness(chain: pl.DataFrame, days: list[date]) -> CheckOutcome:
    """Every expiration the calendar lists on each trading day (and that has not settled by the
    EOD snapshot) has quotes, per root and day. A day the exchange is closed owes nothing: it is
    counted in `closed_days`, not as missing expirations."""
    served = set(chain.select("root", "trade_date", "expiration").unique().iter_rows())
    closed = [day for day in days if not is_trading_day(day)]
    missing: list[str] = []
    expected_total = 0
    for day in (d for d in days if is_trading_day(d)):
        for root in ROOTS:
            expected = [e for e in listed_expirations(root, day) if e > day]
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


def quotes(chain: pl.DataFrame) -> CheckOutcome:
    """Crossed (bid > ask) and locked (bid = ask > 0) quotes fail; zero bids are counted."""
    crossed = chain.filter(pl.col("bid") > pl.col("ask"))
    locked = chain.filter((pl.col("bid") == pl.col("ask")) & (pl.col("bid") > 0))
    zero_bid = chain.filter(pl.col("bid") == 0).height
    return CheckOutcome(
        crossed.is_empty() and locked.is_empty(),
        {
            "contracts": chain.height,
            "crossed": crossed.height,
            "locked": locked.height,
            "zero_bids": zero_bid,
            "worst": _examples(pl.concat([crossed, locked]), ["bid", "ask"]),
        },
    )


def convergence(greeks: pl.DataFrame) -> CheckOutcome:
    """The implied vol solves for at least 95 % of quoted contracts; the rest carry a reason."""
    quoted = greeks.filter(pl.col("bid") > 0)
    solved = quoted.filter(pl.col("iv_converged")).height
    rate = solved / quoted.height if quoted.height else 1.0
    reasons = quoted.filter(~pl.col("iv_converged")).group_by("iv_reason").len().to_dicts()
    return CheckOutcome(
        rate >= MIN_CONVERGENCE,
        {
            "quoted": quoted.height,
            "solved": solved,
            "rate": round(rate, 4),
            "unsolved_by_reason": reasons,
        },
    )


def iv_bounds(greeks: pl.DataFrame) -> CheckOutcome:
    """Solved implied vols lie in a sane band."""
    lo, hi = IV_BOUNDS
    out = greeks.filter(pl.col("iv").is_not_null() & ~pl.col("iv").is_between(lo, hi))
    return CheckOutcome(
        out.is_empty(),
        {"outside": out.height, "bounds": [lo, hi], "worst": _examples(out, ["iv"])},
    )


def no_arbitrage(chain: pl.DataFrame) -> CheckOutcome:
    """No tradeable static arbitrage in the calls of each expiry: a higher strike never bids
    above a lower strike's ask (monotonicity), and no butterfly can be bought for a credit
    (convexity: wings at the ask, body at the bid)."""
    calls = chain.filter((pl.col("right") == "C") & (pl.col("ask") > 0)).sort("strike")
    monotone = convex = 0
    worst: list[str] = []
    for (root, day, expiration), group in calls.group_by(
        "root", "trade_date", "expiration", maintain_order=True
    ):
        k = group["strike"].to_numpy()
        bid, ask = group["bid"].to_numpy(), group["ask"].to_numpy()
        if k.size < 3:
            continue
        rises = np.flatnonzero(bid[1:] > ask[:-1] + ARBITRAGE_SLACK)
        weight = (k[2:] - k[1:-1]) / (k[2:] - k[:-2])
        fly = weight * ask[:-2] + (1 - weight) * ask[2:] - bid[1:-1]
        bends = np.flatnonzero(fly < -ARBITRAGE_SLACK)
        monotone += rises.size
        convex += bends.size
        worst += [f"{root} {day} {expiration} bid above ask at K={k[i + 1]}" for i in rises[:2]]
        worst += [f"{root} {day} {expiration} butterfly credit at K={k[i + 1]}" for i in bends[:2]]
    return CheckOutcome(
        monotone == 0 and convex == 0,
        {"monotonicity_breaches": monotone, "convexity_breaches": convex, "worst": worst[:WORST]},
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
    return CheckOutcome(
        short.is_empty() and empty.is_empty(),
        {
            "contracts": per_contract.height,
            "short_contracts": short.height,
            "missing_minutes": missing,
            "expirations_without_quotes": empty.height,
            "worst": _examples(
                short.sort(pl.col("expected") - pl.col("minutes"), descending=True),
                ["trade_date", "expiration", "strike", "right", "minutes", "expected"],
            ),
        },
    )
