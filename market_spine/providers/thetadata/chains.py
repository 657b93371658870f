"""The `thetadata` ChainProvider: an EOD chain from ThetaTerminal assembled from three requests —
the EOD report, open interest and the index close — into the platform's chain columns."""

from __future__ import annotations

import json
from datetime import date

import polars as pl

from market_spine.providers.base import CHAIN_SCHEMA, ChainCapture, QuoteCapture
from market_spine.providers.thetadata import ThetaDataClient

#: The index whose close is the chain's underlying price (SPXW options are on SPX too).
UNDERLYING = "SPX"


class ThetaDataChainProvider:
    """Fetches SPX/SPXW EOD chains through a ThetaDataClient (its tier cap and retries apply)."""

    name = "thetadata"

    def __init__(self, client: ThetaDataClient) -> None:
        self.client = client

    def fetch_chain(self, root: str, day: date) -> ChainCapture:
        """The day's chain; the payload keeps the EOD report's bytes, the provenance of the rows."""
        eod = self.client.eod_chain(root, day)
        request = {**eod.request, "joined": ["open_interest", f"index_eod:{UNDERLYING}"]}
        if eod.chain.is_empty():
            return ChainCapture(self.name, request, eod.payload, pl.DataFrame(schema=CHAIN_SCHEMA))
        interest = self.client.open_interest(root, day).select(
            "root", "expiration", "strike", "right", "open_interest"
        )
        closes = self.client.index_closes(UNDERLYING, day, day)
        spot = closes["close"][0] if closes.height else None
        chain = (
            eod.chain.join(interest, on=["root", "expiration", "strike", "right"], how="left")
            .with_columns(
                open_interest=pl.col("open_interest").fill_null(0),
                underlying_price=pl.lit(spot, dtype=pl.Float64),
            )
            .select(pl.col(c).cast(t) for c, t in CHAIN_SCHEMA.items())
        )
        notes = json.dumps({"open_interest_rows": interest.height, "underlying": spot})
        return ChainCapture(self.name, {**request, "notes": notes}, eod.payload, chain)

    def fetch_quotes(self, root: str, expiration: date, day: date) -> QuoteCapture:
        """A day of 1-minute quotes of every contract of one expiration."""
        return self.client.quotes(root, expiration, day)
