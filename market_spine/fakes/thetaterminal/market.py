"""The simulated market rendered in ThetaTerminal's columns (EOD, open interest, quotes)."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any

import polars as pl

from market_spine.providers.simulated_option_quotes import simulate_quotes
from market_spine.providers.simulated_options import SimulatedOptionMarket


class TerminalMarket:
    """The simulated market rendered as ThetaTerminal frames (cached: a chain is 30k rows)."""

    def __init__(self, seed: int, no_offer_every: int = 0) -> None:
        self.sim = SimulatedOptionMarket(seed=seed)
        self.chain = lru_cache(maxsize=64)(self.sim.chain)
        self.no_offer_every = no_offer_every

    def eod(self, symbol: str, day: date) -> pl.DataFrame:
        """One day's EOD report in the terminal's columns, with OHLC derived from the quotes."""
        chain = self.chain(symbol, day)
        stamp = day.isoformat()
        mid = ((pl.col("bid") + pl.col("ask")) / 2).round(2)
        traded = pl.col("volume") > 0
        # A deterministic "open" a few ticks away from the close, so OHLC is not degenerate.
        drift = ((pl.col("strike") * 7 + pl.col("volume")) % 5 - 2) * 0.05
        open_ = (pl.col("close") + drift).clip(lower_bound=0.05).round(2)
        report = (
            chain.with_columns(close=mid)
            .with_columns(open=open_)
            .select(
                symbol=pl.col("root"),
                expiration=pl.col("expiration").cast(pl.String),
                strike=pl.col("strike"),
                right=pl.when(pl.col("right") == "C").then(pl.lit("CALL")).otherwise(pl.lit("PUT")),
                created=pl.lit(f"{stamp}T17:15:00.000"),
                last_trade=pl.when(traded)
                .then(pl.lit(f"{stamp}T16:14:59.000"))
                .otherwise(pl.lit(f"{stamp}T00:00:00.000")),
                open=pl.when(traded).then(pl.col("open")).otherwise(0.0),
                high=pl.when(traded).then(pl.max_horizontal("open", "close", "ask")).otherwise(0.0),
                low=pl.when(traded).then(pl.min_horizontal("open", "close", "bid")).otherwise(0.0),
                close=pl.when(traded).then(pl.col("close")).otherwise(0.0),
                volume=pl.col("volume"),
                count=(pl.col("volume") + 2) // 3,
                bid_size=pl.col("bid_size"),
                bid_exchange=pl.lit(5),
                bid=pl.col("bid"),
                bid_condition=pl.lit(50),
                ask_size=pl.col("ask_size"),
                ask_exchange=pl.lit(5),
                ask=pl.col("ask"),
                ask_condition=pl.lit(50),
            )
        )
        if not self.no_offer_every:
            return report
        bid_index = pl.int_range(pl.len()).over(pl.col("bid") > 0)
        no_offer = (pl.col("bid") > 0) & (bid_index % self.no_offer_every == 0)
        return report.with_columns(
            ask=pl.when(no_offer).then(0.0).otherwise(pl.col("ask")),
            ask_size=pl.when(no_offer).then(0).otherwise(pl.col("ask_size")),
        )

    def quotes(
        self, symbol: str, expiration: date, day: date, now: datetime | None
    ) -> pl.DataFrame:
        """One expiration's 1-minute quotes on `day` in the terminal's columns (ET timestamps)."""
        quotes = simulate_quotes(self.sim, symbol, expiration, day, now)
        return quotes.select(
            symbol=pl.col("root"),
            expiration=pl.col("expiration").cast(pl.String),
            strike=pl.col("strike"),
            right=pl.when(pl.col("right") == "C").then(pl.lit("CALL")).otherwise(pl.lit("PUT")),
            timestamp=pl.col("ts")
            .dt.convert_time_zone("America/New_York")
            .dt.strftime("%Y-%m-%dT%H:%M:%S.000"),
            bid_size=pl.col("bid_size"),
            bid_exchange=pl.lit(5),
            bid=pl.col("bid"),
            bid_condition=pl.lit(50),
            ask_size=pl.col("ask_size"),
            ask_exchange=pl.lit(5),
            ask=pl.col("ask"),
            ask_condition=pl.lit(50),
        )

    def index_eod(self, day: date) -> dict[str, Any]:
        """The index's EOD row (close = the simulated SPX close)."""
        close = self.sim.spot(day)
        return {
            "created": f"{day.isoformat()}T17:15:00.000",
            "open": close,
            "high": close,
            "low": close,
            "close": close,
        }

    def open_interest(self, symbol: str, day: date) -> pl.DataFrame:
        """Open interest as published on `day` (06:30 ET)."""
        chain = self.chain(symbol, day)
        return chain.select(
            symbol=pl.col("root"),
            expiration=pl.col("expiration").cast(pl.String),
            strike=pl.col("strike"),
            right=pl.when(pl.col("right") == "C").then(pl.lit("CALL")).otherwise(pl.lit("PUT")),
            timestamp=pl.lit(f"{day.isoformat()}T06:30:00.000"),
            open_interest=pl.col("open_interest"),
        )
