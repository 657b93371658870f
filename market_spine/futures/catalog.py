"""Catalog entries of the futures tables: meaning, grain, partitioning, columns, lineage."""

from __future__ import annotations

from datetime import date

from market_spine.catalog.vocabulary import (
    PROVENANCE_DESCRIPTIONS,
    DatasetSpec,
    SchemaChange,
    columns_of,
)
from market_spine.futures import keys
from market_spine.futures.schemas import (
    CONTINUOUS_BARS,
    CONTINUOUS_DAILY,
    DAILY_BARS,
    NORMALIZED_BARS,
    RAW_BARS,
    ROLLS,
)

OWNER = "team:market-data"
PARTITIONING = "trade date (CME session date, UTC+2 day boundary) × symbol"
_V1 = (SchemaChange(1, date(2026, 11, 1), "first version"),)

BAR_DESCRIPTIONS: dict[str, str] = {
    "ts": "Start of the bar's minute (UTC); bars are stamped at their open.",
    "trade_date": "The CME session the bar belongs to (a Sunday-evening bar is Monday's).",
    "symbol": "Futures root: CL, NG, ES or a configured root such as 6E.",
    "contract": "The contract traded, as the local symbol (e.g. CLZ4), chosen by the roll rule.",
    "open": "First trade price of the bar.",
    "high": "Highest trade price of the bar.",
    "low": "Lowest trade price of the bar.",
    "close": "Last trade price of the bar.",
    "volume": "Contracts traded in the bar.",
    "vwap": "Volume-weighted average trade price (null when the source does not give one).",
    "trades": "Number of trades in the bar (null when the source does not give it).",
    "bar_count": "Minute bars the day was built from.",
    "expected_bars": "Minute bars the session's calendar expects (holidays, early closes aware).",
    **PROVENANCE_DESCRIPTIONS,
    "capture_id": "ULID of the capture the rows came from (the newest capture of the session).",
}

RAW_BARS_SPEC = DatasetSpec(
    name=keys.table(keys.RAW_BARS),
    description=(
        "1-minute futures bars exactly as the source sent them: one capture per provider call, "
        "append-only, with capture id, time, source, request and payload SHA-256."
    ),
    owner=OWNER,
    grain="one row per bar per capture",
    partitioning=PARTITIONING,
    columns=columns_of(RAW_BARS, {**BAR_DESCRIPTIONS, **PROVENANCE_DESCRIPTIONS}),
    history=_V1,
)
NORMALIZED_BARS_SPEC = DatasetSpec(
    name=keys.table(keys.NORMALIZED_BARS),
    description=(
        "1-minute futures bars, one row per (symbol, ts) from the newest capture of each session; "
        "each partition replaced atomically, so every past state stays readable by time travel."
    ),
    owner=OWNER,
    grain="one row per symbol and minute",
    partitioning=PARTITIONING,
    columns=columns_of(NORMALIZED_BARS, BAR_DESCRIPTIONS),
    history=_V1,
    upstream=(RAW_BARS_SPEC.name,),
    keys=("symbol", "ts"),
    # A minute's OHLCV and contract are the same whoever reports them; its vwap and trade
    # count are each source's own estimate, so a capture over the stream's minutes that
    # differs only there does not revise them.
    derived_values=("vwap", "trades"),
)
DAILY_BARS_SPEC = DatasetSpec(
    name=keys.table(keys.DAILY_BARS),
    description=(
        "Daily OHLCV per symbol and CME session, built from the normalized minutes, with the "
        "bar count against the calendar's expectation."
    ),
    owner=OWNER,
    grain="one row per symbol and trade date",
    partitioning=PARTITIONING,
    columns=columns_of(DAILY_BARS, BAR_DESCRIPTIONS),
    history=_V1,
    upstream=(NORMALIZED_BARS_SPEC.name,),
    keys=("symbol", "trade_date"),
)

CONTINUOUS_DESCRIPTIONS: dict[str, str] = {
    **BAR_DESCRIPTIONS,
    "symbol": "Futures root of the series (CL, NG, ES or a configured root).",
    "series": (
        "Continuous series: ROOT.c.N holds the calendar roll rule's front (N=0) or the contract "
        "after it (N=1); ROOT.v.N the volume roll's."
    ),
    "contract": "The contract the series holds that session (local symbol, e.g. CLZ4).",
    "open": "First trade price of the bar, unadjusted (back-adjustment is applied on read).",
    "high": "Highest trade price of the bar, unadjusted.",
    "low": "Lowest trade price of the bar, unadjusted.",
    "close": "Last trade price of the bar, unadjusted.",
}
ROLL_DESCRIPTIONS: dict[str, str] = {
    "trade_date": (
        "First session the series holds the new contract (the roll takes effect at its open)."
    ),
    "symbol": "Futures root.",
    "series": CONTINUOUS_DESCRIPTIONS["series"],
    "rule": (
        "Roll rule: calendar (the instrument's roll date) or volume (the next contract "
        "out-traded the front in a whole session of the roll window; effective the session after)."
    ),
    "rank": "0 for the held contract's series, 1 for the series of the contract after it.",
    "roll_ts": "When the roll takes effect: the open of the session `trade_date` (UTC).",
    "from_contract": "Contract held before the roll.",
    "to_contract": "Contract held from the roll on.",
    "gap_ts": (
        "The minute the gap is measured at: the last one of the session before the roll in "
        "which both contracts traded (UTC; null when they shared none)."
    ),
    "from_price": "from_contract's close at gap_ts.",
    "to_price": "to_contract's close at gap_ts.",
    "gap": "to_price − from_price: what back-adjustment by difference adds to earlier prices.",
    "ratio": "to_price / from_price: what back-adjustment by ratio multiplies earlier prices by.",
    "capture_id": "ULID of the capture of to_contract's bars the gap was measured in.",
}
ROLLS_SPEC = DatasetSpec(
    name=keys.table(keys.ROLLS),
    description=(
        "The roll table: every roll of each continuous series (calendar and volume rule, rank 0 "
        "and 1), when it takes effect, from and to which contract, and the price gap and ratio "
        "between them at the last minute both traded before it."
    ),
    owner=OWNER,
    grain="one row per series and roll",
    partitioning=PARTITIONING,
    columns=columns_of(ROLLS, ROLL_DESCRIPTIONS),
    history=_V1,
    upstream=(RAW_BARS_SPEC.name, NORMALIZED_BARS_SPEC.name),
    keys=("series", "trade_date"),
    time_column="roll_ts",
)
CONTINUOUS_BARS_SPEC = DatasetSpec(
    name=keys.table(keys.CONTINUOUS_BARS),
    description=(
        "Continuous 1-minute futures series (ROOT.c.0/1 by the calendar roll, ROOT.v.0/1 by the "
        "volume roll): the bars of the contract each series holds, unadjusted. Spine, the API "
        "and the SQL view futures_continuous_adjusted_1m back-adjust them from the roll table."
    ),
    owner=OWNER,
    grain="one row per series and minute",
    partitioning=PARTITIONING,
    columns=columns_of(CONTINUOUS_BARS, CONTINUOUS_DESCRIPTIONS),
    history=_V1,
    upstream=(RAW_BARS_SPEC.name, ROLLS_SPEC.name),
    keys=("series", "ts"),
)
CONTINUOUS_DAILY_SPEC = DatasetSpec(
    name=keys.table(keys.CONTINUOUS_DAILY),
    description=(
        "Daily OHLCV of each continuous series per CME session, from the continuous minutes "
        "(unadjusted), with the bar count against the calendar's expectation."
    ),
    owner=OWNER,
    grain="one row per series and trade date",
    partitioning=PARTITIONING,
    columns=columns_of(CONTINUOUS_DAILY, CONTINUOUS_DESCRIPTIONS),
    history=_V1,
    upstream=(CONTINUOUS_BARS_SPEC.name,),
    keys=("series", "trade_date"),
)
FUTURES_DATASETS = (
    RAW_BARS_SPEC,
    NORMALIZED_BARS_SPEC,
    DAILY_BARS_SPEC,
    ROLLS_SPEC,
    CONTINUOUS_BARS_SPEC,
    CONTINUOUS_DAILY_SPEC,
)
#: What each derived futures dataset is certified from: its inputs' states decide its own, and
#: an input partition that falls from certified withdraws its certification.
CERTIFIED_FROM: dict[str, tuple[str, ...]] = {
    DAILY_BARS_SPEC.name: (NORMALIZED_BARS_SPEC.name,),
    CONTINUOUS_BARS_SPEC.name: (NORMALIZED_BARS_SPEC.name,),
    CONTINUOUS_DAILY_SPEC.name: (CONTINUOUS_BARS_SPEC.name,),
}
