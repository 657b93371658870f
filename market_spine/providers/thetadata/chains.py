"""The `thetadata` ChainProvider: an EOD chain from ThetaTerminal assembled from three requests —
the EOD report, open interest and the index close — into the platform's chain columns.

Index data is a separate ThetaData subscription: without it (471), or on a day the index report
is missing (472), the underlying is the forward put-call parity implies on the chain itself, and
the capture's request says which source the underlying came from."""

from __future__ import annotations

import json
import logging
from datetime import date
from typing import Any

import polars as pl

from market_spine.options.analytics import parity_underlying
from market_spine.providers.base import CHAIN_SCHEMA, ChainCapture, QuoteCapture
from market_spine.providers.thetadata import ThetaDataClient, ThetaDataPermission

logger = logging.getLogger(__name__)

#: The index whose close is the chain's underlying price (SPXW options are on SPX too).
UNDERLYING = "SPX"
#: Where a chain's `underlying_price` came from (the capture request's `underlying_source`).
INDEX_CLOSE = "index_eod"
PARITY_FORWARD = "put_call_parity"


class ThetaDataChainProvider:
    """Fetches SPX/SPXW EOD chains through a ThetaDataClient (its tier cap and retries apply)."""

    name = "thetadata"

    def __init__(self, client: ThetaDataClient) -> None:
        self.client = client
        self._warned = False

    def fetch_chain(self, root: str, day: date) -> ChainCapture:
        """The day's chain; the payload keeps the EOD report's bytes, the provenance of the rows.
        Open interest the terminal does not publish for a contract stays null (never a zero)."""
        eod = self.client.eod_chain(root, day)
        request = {**eod.request, "joined": ["open_interest", f"index_eod:{UNDERLYING}"]}
        if eod.chain.is_empty():
            return ChainCapture(self.name, request, eod.payload, pl.DataFrame(schema=CHAIN_SCHEMA))
        interest = self.client.open_interest(root, day).select(
            "root", "expiration", "strike", "right", "open_interest"
        )
        chain = eod.chain.join(
            interest, on=["root", "expiration", "strike", "right"], how="left"
        ).select(pl.col(c).cast(t) for c, t in CHAIN_SCHEMA.items() if c != "underlying_price")
        underlying, source = self._underlying(root, day, chain)
        chain = chain.with_columns(underlying_price=pl.lit(underlying["price"], dtype=pl.Float64))
        notes = json.dumps({"open_interest_rows": interest.height, "underlying": underlying})
        request = {**request, "underlying_source": source, "notes": notes}
        return ChainCapture(self.name, request, eod.payload, chain)

    def _underlying(
        self, root: str, day: date, chain: pl.DataFrame
    ) -> tuple[dict[str, Any], str | None]:
        """The underlying's level and where it came from: the index close, else the parity
        forward of the chain (None when neither exists)."""
        try:
            closes = self.client.index_closes(UNDERLYING, day, day)
        except ThetaDataPermission:
            why = "the subscription does not include index data (471)"
        else:
            if closes.height and closes["close"][0] is not None:
                return {"price": closes["close"][0]}, INDEX_CLOSE
            why = f"the terminal has no {UNDERLYING} index report for {day} (472)"
        implied = parity_underlying(chain, day)
        self._warn(why)
        if implied is None:
            return {"price": None, "reason": why}, None
        forward, expiration, strikes = implied
        detail = {
            "price": forward,
            "reason": why,
            "expiration": expiration.isoformat(),
            "strikes": strikes,
        }
        return detail, PARITY_FORWARD

    def _warn(self, why: str) -> None:
        """Say once per provider (once per run) why the index close is missing and what to do."""
        if self._warned:
            return
        self._warned = True
        logger.warning(
            "ThetaData %s close unavailable: %s. The chains' underlying_price is the forward "
            "implied by put-call parity near the money (capture request: underlying_source=%s). "
            "For the index close itself, add ThetaData's index subscription.",
            UNDERLYING,
            why,
            PARITY_FORWARD,
        )

    def fetch_quotes(self, root: str, expiration: date, day: date) -> QuoteCapture:
        """A day of 1-minute quotes of every contract of one expiration."""
        return self.client.quotes(root, expiration, day)
