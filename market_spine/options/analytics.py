"""Option-chain analytics as pure functions over polars frames: forwards and discounts implied
by put-call parity, implied vols and greeks per contract, and the per-expiry surface summary.

The assets (raw → normalized → greeks → surface) call these; tests run them on the simulated
market, whose generating surface is known, to show the pipeline recovers it.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl

from market_spine.markets.expirations import years_to_expiry
from market_spine.options import quote_sides
from market_spine.pricing.black import implied_vol, implied_vol_and_greeks, norm_cdf

#: Strikes within this distance of the spot enter the parity fit (liquid, both sides quoted).
PARITY_BAND = 0.10
#: Quoting deltas of the risk reversal and butterfly.
WING_DELTA = 0.25
#: The columns that name one expiry of one day's chain, leading every per-expiry frame.
_EXPIRY_COLUMNS: dict[str, pl.DataType] = {
    "root": pl.String(),
    "expiration": pl.Date(),
    "t": pl.Float64(),
    "forward": pl.Float64(),
}


def with_mid(chain: pl.DataFrame) -> pl.DataFrame:
    """Add `mid` (null unless both the bid and the offer exist: see `quote_sides`) and `t`
    (years)."""
    frame = chain.with_columns(mid=quote_sides.mid())
    if "t" not in frame.columns:
        if "trade_date" not in frame.columns:
            raise ValueError("the chain needs a trade_date or a t column")
        keys = frame.select("root", "expiration", "trade_date").unique()
        years = [years_to_expiry(r, e, d) for r, e, d in keys.iter_rows()]
        frame = frame.join(
            keys.with_columns(t=pl.Series(years, dtype=pl.Float64)),
            on=["root", "expiration", "trade_date"],
        )
    return frame


def implied_forwards(chain: pl.DataFrame) -> pl.DataFrame:
    """Per (root, expiration): forward F and discount D from C − P = D·(F − K), fitted by least
    squares over near-the-money strikes quoted on both sides."""
    spot = pl.col("underlying_price")
    pairs = (
        chain.filter(
            (pl.col("strike") / spot - 1).abs() <= PARITY_BAND, pl.col("mid").is_not_null()
        )
        .pivot(on="right", index=["root", "expiration", "t", "strike"], values="mid")
        .drop_nulls(["C", "P"])
    )
    rows = []
    for (root, expiration), group in pairs.group_by("root", "expiration", maintain_order=True):
        k = group["strike"].to_numpy()
        y = (group["C"] - group["P"]).to_numpy()
        if k.size < 3:
            continue
        slope, intercept = np.polyfit(k, y, 1)
        discount = -slope
        if not 0 < discount <= 1.0001:
            continue
        rows.append((root, expiration, group["t"][0], intercept / discount, discount, k.size))
    return pl.DataFrame(
        rows,
        schema={
            **_EXPIRY_COLUMNS,
            "discount": pl.Float64,
            "parity_strikes": pl.Int64,
        },
        orient="row",
    )


def parity_underlying(chain: pl.DataFrame, day: date) -> tuple[float, date, int] | None:
    """The SPX forward put-call parity implies on `day`'s EOD chain of one root, for when the
    index close is unavailable. As in the Cboe VIX method, the strike where |C − P| of the mids
    is smallest locates the money; the nearest expiration with time left then has its forward
    fitted over strikes near that one (`implied_forwards`, no assumed rate). Returns (forward
    in index points, the expiration, strikes fitted), or None when no expiration has three
    two-sided pairs near the money."""
    if chain.is_empty():
        return None
    frame = with_mid(chain.with_columns(trade_date=pl.lit(day)))
    pairs = (
        frame.filter(pl.col("mid").is_not_null(), pl.col("t") > 0)
        .pivot(on="right", index=["root", "expiration", "strike"], values="mid")
        .filter(pl.col("C").is_not_null() & pl.col("P").is_not_null())
        if {"C", "P"} <= set(frame["right"].unique().to_list())
        else pl.DataFrame()
    )
    if pairs.is_empty():
        return None
    for (root, expiration), group in pairs.sort("expiration").group_by(
        "root", "expiration", maintain_order=True
    ):
        money = group.sort((pl.col("C") - pl.col("P")).abs())["strike"][0]
        near = frame.filter(pl.col("root") == root, pl.col("expiration") == expiration)
        fitted = implied_forwards(near.with_columns(underlying_price=pl.lit(money)))
        if fitted.height:
            return float(fitted["forward"][0]), expiration, int(fitted["parity_strikes"][0])
    return None


def chain_greeks(chain: pl.DataFrame, forwards: pl.DataFrame) -> pl.DataFrame:
    """Implied vols (mid, bid, ask) and greeks per contract; `iv_converged` is False with a
    `iv_reason` where no vol exists (no time value, no mid of a one-sided quote…) instead of a
    wrong number, and a side that is absent has no vol. An expiry without a parity forward (an
    expiring 0DTE whose puts and calls are no longer both quoted, a thin far expiry) keeps its
    rows with a null forward: no vol, a reason, never a dropped contract."""
    frame = chain.join(
        forwards.select("root", "expiration", "forward", "discount"),
        on=["root", "expiration"],
        how="left",
        maintain_order="left",
    )
    f, k, t, d = (
        frame[c].cast(pl.Float64).fill_null(np.nan).to_numpy()
        for c in ("forward", "strike", "t", "discount")
    )
    is_call = (frame["right"] == "C").to_numpy()
    # An absent side (or mid) is NaN: no vol, and the reason says there was no price.
    prices = frame.select(
        mid=pl.col("mid"),
        bid=pl.when(quote_sides.has_bid()).then(pl.col("bid")),
        ask=pl.when(quote_sides.has_ask()).then(pl.col("ask")),
    ).fill_null(np.nan)
    result, g = implied_vol_and_greeks(prices["mid"].to_numpy(), f, k, t, d, is_call)
    bid = implied_vol(prices["bid"].to_numpy(), f, k, t, d, is_call).vol
    ask = implied_vol(prices["ask"].to_numpy(), f, k, t, d, is_call).vol
    return frame.with_columns(
        iv=pl.Series(result.vol),
        iv_bid=pl.Series(bid),
        iv_ask=pl.Series(ask),
        iv_converged=pl.Series(result.converged),
        iv_reason=pl.Series(result.reason.astype(np.int64)),
        **{name: pl.Series(g[name]) for name in ("delta", "gamma", "vega", "theta", "rho")},
    ).with_columns(
        # No vol, no greeks: a null, never a NaN (an expired 0DTE, a quote without time value).
        pl.col("iv", "iv_bid", "iv_ask", "delta", "gamma", "vega", "theta", "rho").fill_nan(None)
    )


def surface(greeks: pl.DataFrame) -> pl.DataFrame:
    """Per expiry: ATM vol at K = F, 25-delta risk reversal and butterfly, from out-of-the-money
    options (puts below the forward, calls above), interpolated in quoting delta Φ(d1)."""
    rows = []
    for (root, expiration), group in greeks.group_by("root", "expiration", maintain_order=True):
        g = group.filter(pl.col("iv").is_not_null())
        forward, t = group["forward"][0], group["t"][0]
        if forward is None:
            continue
        otm = g.filter(
            ((pl.col("right") == "P") & (pl.col("strike") <= forward))
            | ((pl.col("right") == "C") & (pl.col("strike") > forward))
        ).sort("strike")
        if otm.height < 5:
            continue
        k = np.log(otm["strike"].to_numpy() / forward)
        iv = otm["iv"].to_numpy()
        atm = float(np.interp(0.0, k, iv))
        call_delta = norm_cdf((-k + 0.5 * iv * iv * t) / (iv * np.sqrt(t)))
        order = np.argsort(call_delta)
        c25 = float(np.interp(WING_DELTA, call_delta[order], iv[order]))
        p25 = float(np.interp(1 - WING_DELTA, call_delta[order], iv[order]))
        rows.append(
            (root, expiration, t, forward, atm, c25 - p25, (c25 + p25) / 2 - atm, otm.height)
        )
    return pl.DataFrame(
        rows,
        schema={
            **_EXPIRY_COLUMNS,
            "atm_iv": pl.Float64,
            "rr25": pl.Float64,
            "bf25": pl.Float64,
            "strikes": pl.Int64,
        },
        orient="row",
    ).sort("root", "expiration")
