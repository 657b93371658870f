"""Which sides of an option quote exist. Vendors send an absent side as a zero price (ThetaData:
ask 0 with ask size 0 when nobody offers), so a side exists only with a positive price and a size
that is not zero; a quote missing a side has no mid, no spread and no implied vol from that side,
and it is one-sided, never crossed.

The rule is written once as polars expressions here and once as SQL in the warehouse's
``quote_side_present`` macro; both take the price and size columns of a quote (EOD chain or
1-minute quotes)."""

from __future__ import annotations

import polars as pl


def side_present(price: str, size: str) -> pl.Expr:
    """True where the side quoted in columns `price` and `size` exists: a positive price and a
    size that is not zero (a missing size does not void a positive price); never null."""
    priced = pl.col(price).fill_nan(None) > 0
    sized = pl.col(size).is_null() | (pl.col(size) != 0)
    return (priced & sized).fill_null(False)


def has_bid() -> pl.Expr:
    """True where the quote has a bid."""
    return side_present("bid", "bid_size")


def has_ask() -> pl.Expr:
    """True where the quote has an offer."""
    return side_present("ask", "ask_size")


def two_sided() -> pl.Expr:
    """True where both sides exist: only such a quote has a mid and a spread."""
    return has_bid() & has_ask()


def one_sided() -> pl.Expr:
    """True where exactly one side exists."""
    return has_bid() ^ has_ask()


def crossed() -> pl.Expr:
    """True where both sides exist and the bid is above the offer: a bad print, not a price."""
    return two_sided() & (pl.col("bid") > pl.col("ask"))


def priced() -> pl.Expr:
    """True where the quote gives a price: both sides, not crossed (a locked quote is a price)."""
    return two_sided() & ~crossed()


def mid() -> pl.Expr:
    """``(bid + ask) / 2`` of a two-sided, uncrossed quote, else null (half a lone bid would sit
    below it; the middle of a crossed quote is no price anyone offered)."""
    return pl.when(priced()).then((pl.col("bid") + pl.col("ask")) / 2).otherwise(None)


def spread() -> pl.Expr:
    """``ask − bid`` of a two-sided, uncrossed quote, else null."""
    return pl.when(priced()).then(pl.col("ask") - pl.col("bid")).otherwise(None)


def side_counts(quotes: pl.DataFrame) -> dict[str, int]:
    """How many quotes have both sides, only a bid (`no_ask`), only an offer (`no_bid`), and
    neither (`empty`); `one_sided` is `no_ask + no_bid`."""
    bid, ask = has_bid(), has_ask()
    row = quotes.select(
        two_sided=(bid & ask).sum(),
        no_ask=(bid & ~ask).sum(),
        no_bid=(~bid & ask).sum(),
        empty=(~bid & ~ask).sum(),
    ).row(0, named=True)
    counts = {k: int(v or 0) for k, v in row.items()}
    return {**counts, "one_sided": counts["no_ask"] + counts["no_bid"]}
