"""Catalog entries of the options tables: meaning, grain, partitioning, columns, lineage."""

from __future__ import annotations

from datetime import date

from market_spine.catalog.vocabulary import (
    PROVENANCE_DESCRIPTIONS,
    DatasetFamily,
    SchemaChange,
)
from market_spine.options import keys
from market_spine.options.schemas import (
    GREEKS,
    NORMALIZED_CHAIN,
    RAW_CHAIN,
    RAW_QUOTES,
    SURFACE,
)

_COLUMNS: dict[str, str] = {
    "trade_date": "The Cboe trading day of the quote (Eastern calendar).",
    "root": "Option root: SPX (AM-settled monthlies) or SPXW (PM-settled weeklies and dailies).",
    "expiration": "Expiration date of the contract.",
    "strike": "Strike price in index points.",
    "right": "C for a call, P for a put.",
    "osi": "OCC/OSI option symbol, e.g. 'SPXW  240315C05000000'.",
    "bid": "Best bid at the snapshot (0, or size 0, when nobody bids).",
    "ask": "Best ask at the snapshot (0, or size 0, when nobody offers).",
    "bid_size": "Contracts bid at the best bid.",
    "ask_size": "Contracts offered at the best ask.",
    "volume": "Contracts traded that day.",
    "open_interest": "Open contracts as published the morning of the trade date.",
    "underlying_price": "SPX index close of the trade date.",
    "mid": "(bid + ask) / 2 where both a bid and an offer exist, else null.",
    "days_to_expiry": "Calendar days from the trade date to expiration.",
    "t": "Year fraction (ACT/365, in seconds) from the EOD snapshot (the session close: 16:15 ET, "
    "13:15 ET on an early-close day) to settlement (SPXW: the SPX close, 16:00 or 13:00 ET).",
    "forward": "Forward of the expiry implied from put-call parity across strikes.",
    "discount": "Discount factor of the expiry implied from put-call parity.",
    "iv": "Black-76 implied volatility of the mid; null where none exists (see iv_reason).",
    "iv_bid": "Implied volatility of the bid (null where there is no bid).",
    "iv_ask": "Implied volatility of the ask (null where there is no offer).",
    "iv_converged": "True where the solver reached an implied volatility.",
    "iv_reason": "0 ok; 1 price at or below discounted intrinsic (no time value); 2 at or above "
    "the upper bound; 3 invalid input; 4 no convergence; 5 no mid (a side of the quote is "
    "missing); 6 no time left (an expiring contract on its last day, 0DTE).",
    "delta": "Forward delta ∂V/∂F including the discount factor (spot delta = delta·F/S).",
    "gamma": "∂²V/∂F², to the forward.",
    "vega": "Price change for 1.00 (100 vol points) of implied volatility.",
    "theta": "−∂V/∂t per year with the forward held fixed (divide by 365 for one day).",
    "rho": "∂V/∂r with the forward held fixed (Black-76: −t·V), per 1.00 of rate.",
    "atm_iv": "Implied volatility at the forward (K = F), interpolated in log-moneyness.",
    "rr25": "25-delta risk reversal: IV(25Δ call) − IV(25Δ put).",
    "bf25": "25-delta butterfly: average of the 25Δ wings minus ATM IV.",
    "strikes": "Out-of-the-money strikes with an implied vol used for the expiry.",
    "ts": "Start of the quote's minute (UTC).",
    **PROVENANCE_DESCRIPTIONS,
}
_NEWEST = {"capture_id": "ULID of the capture the rows came from (the newest capture of the day)."}

_OPTIONS = DatasetFamily(
    owner="team:derivatives",
    partitioning="trade date on the Cboe index-options calendar",
    glossary=_COLUMNS,
    history=(SchemaChange(1, date(2026, 11, 1), "first version"),),
)

RAW_CHAIN_SPEC = _OPTIONS.dataset(
    keys.table(keys.RAW_CHAIN),
    RAW_CHAIN,
    description="End-of-day SPX and SPXW chains exactly as the source sent them, one capture per "
    "root and day, append-only, with capture id, request and payload SHA-256.",
    grain="one row per contract per capture",
)
RAW_QUOTES_SPEC = _OPTIONS.dataset(
    keys.table(keys.RAW_QUOTES),
    RAW_QUOTES,
    description="1-minute quotes of every contract of the nearest SPXW expirations (0DTE first), "
    "one append-only capture per expiration and day.",
    grain="one row per contract and minute per capture",
)
NORMALIZED_CHAIN_SPEC = _OPTIONS.dataset(
    keys.table(keys.NORMALIZED_CHAIN),
    NORMALIZED_CHAIN,
    description="One row per contract per day from the newest capture: OSI symbol, quotes, mid, "
    "sizes, volume, open interest, underlying price and time to expiry.",
    grain="one row per contract and trade date",
    upstream=(RAW_CHAIN_SPEC,),
    glossary=_NEWEST,
    keys=("trade_date", "osi"),
)
GREEKS_SPEC = _OPTIONS.dataset(
    keys.table(keys.GREEKS),
    GREEKS,
    description="The normalized chain with parity-implied forward and discount per expiry, "
    "implied vols (mid, bid, ask) and Black-76 greeks; a reason code where no vol exists.",
    grain="one row per contract and trade date",
    upstream=(NORMALIZED_CHAIN_SPEC,),
    glossary=_NEWEST,
    keys=("trade_date", "osi"),
)
SURFACE_SPEC = _OPTIONS.dataset(
    keys.table(keys.SURFACE),
    SURFACE,
    description="Per root and expiry: ATM implied vol, 25-delta risk reversal and butterfly.",
    grain="one row per root, expiration and trade date",
    upstream=(GREEKS_SPEC,),
    keys=("trade_date", "root", "expiration"),
)
#: What each derived options dataset is certified from: its inputs' states decide its own, and
#: an input day that falls from certified withdraws its certification. Intraday quotes are a
#: capture of their own, certified from nothing.
CERTIFIED_FROM: dict[str, tuple[str, ...]] = {
    GREEKS_SPEC.name: (NORMALIZED_CHAIN_SPEC.name,),
    SURFACE_SPEC.name: (GREEKS_SPEC.name,),
}
OPTIONS_DATASETS = (
    RAW_CHAIN_SPEC,
    RAW_QUOTES_SPEC,
    NORMALIZED_CHAIN_SPEC,
    GREEKS_SPEC,
    SURFACE_SPEC,
)
