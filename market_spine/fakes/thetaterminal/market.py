"""The simulated market rendered in ThetaTerminal's v3 columns: EOD reports, open interest,
quotes and OHLC at any interval, EOD greeks, index reports and prices, and the lists (with
their history: every expiration ever listed, every strike an expiration ever had).

Every frame keeps the terminal's column order; times are Eastern wall clock without offset,
with the precision the terminal prints (`created` to the millisecond, interval rows to the
second); what the terminal leaves empty (the last trade of a contract that never traded) is a
null.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from market_spine.fakes.thetaterminal.greeks import TIME_FLOOR, eod_greeks
from market_spine.fakes.thetaterminal.params import INTERVAL_SECONDS, ContractFilter, TooLarge
from market_spine.markets.expirations import (
    expirations,
    first_listed,
    is_trading_day,
    listed_expirations,
    session_bounds,
    session_minutes,
    settlement,
    traded_expirations,
    trades_on,
    years_to_expiry,
)
from market_spine.providers.simulated_option_quotes import index_path, simulate_quotes
from market_spine.providers.simulated_options import (
    DIVIDEND_YIELD,
    RATE,
    SimulatedOptionMarket,
    _rng,
)

_ET = "America/New_York"
CONTRACT = ("symbol", "expiration", "strike", "right")
QUOTE_COLUMNS = (
    "bid_size",
    "bid_exchange",
    "bid",
    "bid_condition",
    "ask_size",
    "ask_exchange",
    "ask",
    "ask_condition",
)
OHLC_COLUMNS = ("open", "high", "low", "close", "volume", "count", "vwap")
_SECOND_FMT = "%Y-%m-%dT%H:%M:%S"
_MILLI_FMT = "%Y-%m-%dT%H:%M:%S%.3f"
_RIGHT = pl.when(pl.col("right") == "C").then(pl.lit("CALL")).otherwise(pl.lit("PUT"))


def _clock(day: date, at: time, jitter_s: float) -> str:
    """`day` at `at` plus `jitter_s` seconds, to the millisecond."""
    stamp = datetime.combine(day, at) + timedelta(seconds=jitter_s)
    return stamp.isoformat(timespec="milliseconds")


class TerminalMarket:
    """The simulated market rendered as ThetaTerminal frames (chains cached: one is 30k rows).

    `history_start` is the first expiration the lists know (ThetaData's option history begins
    in June 2012)."""

    def __init__(
        self,
        seed: int,
        no_offer_every: int = 0,
        history_start: date = date(2012, 6, 1),
        no_open_interest_every: int = 0,
    ) -> None:
        self.seed = seed
        self.no_open_interest_every = no_open_interest_every
        self.sim = SimulatedOptionMarket(seed=seed)
        self.chain = lru_cache(maxsize=64)(self.sim.chain)
        self.no_offer_every = no_offer_every
        self.history_start = history_start
        self._strikes = lru_cache(maxsize=256)(self._strikes_ever)
        # A report is deterministic: build each (symbol, day) once.
        self.eod = lru_cache(maxsize=16)(self.eod)  # type: ignore[method-assign]
        # A closed session's quotes no longer depend on the clock: simulate each once (the
        # costliest answer: every strike at every minute). Few kept, each is ~100k rows.
        self._closed_quotes = lru_cache(maxsize=4)(self._closed_session_quotes)

    # -- report clocks -------------------------------------------------------------------

    def report_created(self, kind: str, symbol: str, day: date) -> str:
        """When the day's EOD report of `symbol` was generated: 17:15 ET plus the seconds the
        terminal's build took (seeded; reports are stamped 17:15–17:20 with milliseconds)."""
        jitter = float(_rng(self.seed, "created", kind, symbol, day.isoformat()).uniform(0, 300))
        return _clock(day, time(17, 15), round(jitter, 3))

    def published(self, kind: str, symbol: str, day: date) -> datetime:
        """When `day`'s report of `kind` is available (UTC): an EOD report (`option`,
        `index`) once it is built, open interest from 06:30 ET that morning."""
        if kind == "open_interest":
            return datetime.combine(day, time(6, 30), ZoneInfo(_ET)).astimezone(UTC)
        local = datetime.fromisoformat(self.report_created(kind, symbol, day))
        return local.replace(tzinfo=ZoneInfo(_ET)).astimezone(UTC)

    def is_expiration(self, symbol: str, expiration: date, today: date) -> bool:
        """True when `expiration` is one the lists name: an expiration of `symbol` between the
        start of the history and the last one listed `today`."""
        listed = listed_expirations(symbol, today)
        end = listed[-1] if listed else today
        return self.history_start <= expiration <= end and expiration in set(
            expirations(symbol, expiration, expiration)
        )

    # -- option EOD ------------------------------------------------------------------------

    def eod(self, symbol: str, day: date) -> pl.DataFrame:
        """One day's EOD report in the terminal's columns, with OHLC derived from the quotes;
        the expiring (0DTE) contracts included. A contract that never traded has zero OHLC and
        no last trade (null)."""
        chain = self.chain(symbol, day)
        mid = ((pl.col("bid") + pl.col("ask")) / 2).round(2)
        traded = pl.col("volume") > 0
        # A deterministic "open" a few ticks away from the close, so OHLC is not degenerate.
        drift = ((pl.col("strike") * 7 + pl.col("volume")) % 5 - 2) * 0.05
        open_ = (pl.col("close") + drift).clip(lower_bound=0.05).round(2)
        last_trade = self._last_trades(symbol, day, chain)
        report = (
            chain.with_columns(close=mid, last_trade=last_trade)
            .with_columns(open=open_)
            .select(
                symbol=pl.col("root"),
                expiration=pl.col("expiration").cast(pl.String),
                strike=pl.col("strike"),
                right=_RIGHT,
                created=pl.lit(self.report_created("option", symbol, day)),
                last_trade=pl.when(traded).then(pl.col("last_trade")),
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

    def _last_trades(self, symbol: str, day: date, chain: pl.DataFrame) -> pl.Series:
        """Each contract's last trade: a seeded instant of the day's session before the
        contract stopped trading (its settlement, or the session's close)."""
        bounds = session_bounds(day)
        if bounds is None or chain.is_empty():
            return pl.Series("last_trade", [None] * chain.height, dtype=pl.String)
        open_, close = bounds
        ends = {
            e: min(close, settlement(symbol, e)) for e in chain["expiration"].unique().to_list()
        }
        span_ms = chain["expiration"].replace_strict(
            {e: (end - open_).total_seconds() * 1000 for e, end in ends.items()},
            return_dtype=pl.Float64,
        )
        rng = _rng(self.seed, "last_trade", symbol, day.isoformat())
        offset_ms = (span_ms * (0.6 + 0.4 * rng.random(chain.height)) - 1000).cast(pl.Int64)
        instants = pl.lit(open_, dtype=pl.Datetime("ms", "UTC")) + pl.duration(
            milliseconds=offset_ms
        )
        return pl.select(
            instants.dt.convert_time_zone(_ET).dt.strftime(_MILLI_FMT).alias("last_trade")
        ).to_series()

    def greeks_eod(self, symbol: str, day: date, version: str) -> pl.DataFrame:
        """The EOD report with the terminal's greeks on the closing quote's mid and the index
        close (`timestamp` is the report's time; the underlying is stamped at its own)."""
        report = self.eod(symbol, day)
        if report.is_empty():
            return report
        spot = self.sim.spot(day)
        expiries = report["expiration"].str.to_date()
        years = {e: years_to_expiry(symbol, e, day) for e in expiries.unique().to_list()}
        t = np.maximum([years[e] for e in expiries], TIME_FLOOR[version])
        mid = ((report["bid"] + report["ask"]) / 2).to_numpy()
        greeks = eod_greeks(
            mid,
            spot,
            report["strike"].to_numpy(),
            t,
            RATE,
            DIVIDEND_YIELD,
            (report["right"] == "CALL").to_numpy(),
        )
        return (
            report.rename({"created": "timestamp"})
            .with_columns(pl.Series(name, values).fill_nan(None) for name, values in greeks.items())
            .with_columns(
                underlying_timestamp=pl.lit(self.report_created("index", "SPX", day)),
                underlying_price=pl.lit(spot),
            )
        )

    def open_interest(self, symbol: str, day: date) -> pl.DataFrame:
        """Open interest as published on `day` around 06:30 ET (seconds vary per contract); with
        `no_open_interest_every`, every n-th contract is left out of the file."""
        chain = self.chain(symbol, day)
        seconds = _rng(self.seed, "oi", symbol, day.isoformat()).integers(0, 20, chain.height)
        stamps = [f"{day.isoformat()}T06:30:{s:02d}" for s in seconds]
        published = chain.select(
            symbol=pl.col("root"),
            expiration=pl.col("expiration").cast(pl.String),
            strike=pl.col("strike"),
            right=_RIGHT,
            timestamp=pl.Series(stamps, dtype=pl.String),
            open_interest=pl.col("open_interest"),
        )
        if not self.no_open_interest_every:
            return published
        # A contract the morning's file does not name has no row at all.
        return published.filter(pl.int_range(pl.len()) % self.no_open_interest_every != 0)

    # -- intraday ----------------------------------------------------------------------------

    def quote_minutes(
        self, symbol: str, expiration: date, day: date, now: datetime | None
    ) -> pl.DataFrame:
        """One expiration's 1-minute quotes on `day` in the terminal's columns, `ts` in ET."""
        bounds = session_bounds(day)
        if bounds is not None and (now or datetime.now(UTC)) >= bounds[1]:
            return self._closed_quotes(symbol, expiration, day, bounds[1])
        return self._simulated_quotes(symbol, expiration, day, now)

    def _closed_session_quotes(
        self, symbol: str, expiration: date, day: date, close: datetime
    ) -> pl.DataFrame:
        """`quote_minutes` of a session that closed at `close`: as seen then, which any later
        clock sees alike."""
        return self._simulated_quotes(symbol, expiration, day, close)

    def _simulated_quotes(
        self, symbol: str, expiration: date, day: date, now: datetime | None
    ) -> pl.DataFrame:
        """See `quote_minutes` (never cached: a live session grows with `now`)."""
        quotes = simulate_quotes(self.sim, symbol, expiration, day, now)
        return quotes.select(
            symbol=pl.col("root"),
            expiration=pl.col("expiration").cast(pl.String),
            strike=pl.col("strike"),
            right=_RIGHT,
            ts=pl.col("ts").dt.convert_time_zone(_ET).dt.replace_time_zone(None),
            bid_size=pl.col("bid_size"),
            bid_exchange=pl.lit(5),
            bid=pl.col("bid"),
            bid_condition=pl.lit(50),
            ask_size=pl.col("ask_size"),
            ask_exchange=pl.lit(5),
            ask=pl.col("ask"),
            ask_condition=pl.lit(50),
        )

    def quote_snapshots(
        self, symbol: str, expiration: date, day: date, now: datetime | None
    ) -> pl.DataFrame:
        """`quote_minutes` plus each contract's closing sample: the terminal stamps an interval
        quote with the instant it samples (the last quote at that timestamp), so the close
        (16:15, an early close's 13:15) and an expiring contract's settlement (16:00) have a
        row too, holding the last quote. `_final` marks it (no sub-minute steps follow it)."""
        minutes = self.quote_minutes(symbol, expiration, day, now)
        if minutes.is_empty():
            return minutes.with_columns(_final=pl.lit(False))
        bounds = session_bounds(day)
        assert bounds is not None
        end = min(bounds[1], settlement(symbol, expiration))
        stamp = end.astimezone(ZoneInfo(_ET)).replace(tzinfo=None)
        if now is not None and now < end:
            # A live session has no close yet.
            return minutes.with_columns(_final=pl.lit(False))
        # Each contract's rows stay together, in the order the contracts were simulated.
        minutes = minutes.with_columns(_final=pl.lit(False))
        first = minutes.select(CONTRACT).unique(maintain_order=True).with_row_index("_c")
        closing = (
            minutes.group_by(CONTRACT, maintain_order=True)
            .last()
            .with_columns(ts=pl.lit(stamp, dtype=minutes.schema["ts"]), _final=pl.lit(True))
        )
        return (
            pl.concat([minutes, closing])
            .join(first, on=list(CONTRACT), how="left", maintain_order="left")
            .sort("_c", "ts", maintain_order=True)
            .drop("_c")
        )

    def ohlc_minutes(
        self, symbol: str, expiration: date, day: date, now: datetime | None
    ) -> pl.DataFrame:
        """One expiration's 1-minute trade bars: seeded trades at the quote's mid (a minute
        without a trade is a bar of zeros)."""
        minutes = self.quote_minutes(symbol, expiration, day, now)
        rng = _rng(self.seed, "ohlc", symbol, expiration.isoformat(), day.isoformat())
        volume = rng.poisson(0.8, minutes.height)
        mid = ((pl.col("bid") + pl.col("ask")) / 2).round(2)
        traded = pl.col("volume") > 0
        bars = minutes.with_columns(
            volume=pl.Series(volume, dtype=pl.Int64), close=mid
        ).with_columns(
            open=pl.col("close").shift(1, fill_value=pl.col("close").first()).over(CONTRACT)
        )
        return bars.select(
            *CONTRACT,
            "ts",
            open=pl.when(traded).then(pl.col("open")).otherwise(0.0),
            high=pl.when(traded).then(pl.max_horizontal("open", "close")).otherwise(0.0),
            low=pl.when(traded).then(pl.min_horizontal("open", "close")).otherwise(0.0),
            close=pl.when(traded).then(pl.col("close")).otherwise(0.0),
            volume=pl.col("volume"),
            count=(pl.col("volume") + 1) // 2,
            vwap=pl.when(traded)
            .then(((pl.col("open") + pl.col("close")) / 2).round(2))
            .otherwise(0.0),
        )

    def index_minutes(self, day: date) -> pl.DataFrame:
        """SPX each minute of the cash session (it ends at the 16:00 close, 13:00 on an early
        close): `ts` ET, `price`."""
        minutes = session_minutes(day)
        if minutes.size == 0:
            return pl.DataFrame(schema={"ts": pl.Datetime("ns"), "price": pl.Float64})
        close_ns = int(settlement("SPXW", day).timestamp()) * 1_000_000_000
        # The close print (16:00, the settlement value) ends the path.
        minutes = minutes[minutes <= close_ns]
        return pl.DataFrame(
            {
                "ts": pl.Series(minutes).cast(pl.Datetime("ns", "UTC")),
                "price": index_path(self.sim, day, minutes),
            }
        ).with_columns(pl.col("ts").dt.convert_time_zone(_ET).dt.replace_time_zone(None))

    def index_eod(self, day: date) -> dict[str, Any]:
        """The index's EOD report: the session's open, high, low and close (the close is the
        settlement print), and no trades or quotes (an index has none)."""
        path = self.index_minutes(day)["price"]
        jitter = float(_rng(self.seed, "index_last", day.isoformat()).uniform(30, 240))
        return {
            "created": self.report_created("index", "SPX", day),
            "last_trade": _clock(day, time(16, 0), round(jitter)).split(".")[0],
            "open": float(path[0]),
            "high": float(path.max()),
            "low": float(path.min()),
            "close": self.sim.spot(day),
            "volume": 0,
            "count": 0,
            "bid_size": 0,
            "bid_exchange": 0,
            "bid": 0.0,
            "bid_condition": 0,
            "ask_size": 0,
            "ask_exchange": 0,
            "ask": 0.0,
            "ask_condition": 0,
        }

    # -- lists -------------------------------------------------------------------------------

    def expirations_ever(self, symbol: str, today: date) -> list[date]:
        """Every expiration of `symbol` from the start of the history to the last one listed
        `today` (past ones included: the list is not a snapshot of today's chain)."""
        listed = listed_expirations(symbol, today)
        end = listed[-1] if listed else today
        return expirations(symbol, self.history_start, end)

    def _strikes_ever(self, symbol: str, expiration: date, today: date) -> tuple[float, ...]:
        """Every strike `expiration` had on any day it traded up to `today` (strikes are added
        as the index moves and never delisted)."""
        strikes: set[float] = set()
        for day in self.trading_days(symbol, expiration, today):
            t = years_to_expiry(symbol, expiration, day)
            strikes.update(self.sim.strikes_for(t, self.sim.spot(day)).tolist())
        return tuple(sorted(strikes))

    def strikes_ever(self, symbol: str, expiration: date, today: date) -> list[float]:
        """See `_strikes_ever` (cached)."""
        return list(self._strikes(symbol, expiration, today))

    def trading_days(self, symbol: str, expiration: date, today: date) -> list[date]:
        """The days contracts of `expiration` traded, up to `today`."""
        start = max(first_listed(symbol, expiration), self.history_start)
        end = min(expiration, today)
        days = (start + timedelta(days=i) for i in range((end - start).days + 1))
        return [d for d in days if is_trading_day(d) and trades_on(symbol, expiration, d)]

    def contracts(self, symbol: str, day: date, kind: str) -> pl.DataFrame:
        """The contracts quoted (`quote`) or traded (`trade`) on `day`."""
        chain = self.chain(symbol, day)
        if kind == "trade":
            chain = chain.filter(pl.col("volume") > 0)
        return chain.select(
            symbol=pl.col("root"),
            expiration=pl.col("expiration").cast(pl.String),
            strike=pl.col("strike"),
            right=_RIGHT,
        )

    def spot(self, day: date) -> float:
        """The index close of `day` (what `strike_range` centres on)."""
        return self.sim.spot(day)


def expirations_within(symbol: str, day: date, max_dte: int | None) -> list[date]:
    """The expirations trading on `day`, within `max_dte` full calendar days when given."""
    traded = traded_expirations(symbol, day) if is_trading_day(day) else []
    return [e for e in traded if max_dte is None or (e - day).days <= max_dte]


def select_contracts(
    frame: pl.DataFrame, day: date, spot: float, selector: ContractFilter
) -> pl.DataFrame:
    """The rows of `frame` (terminal columns) that the request's contract selectors keep."""
    if frame.is_empty():
        return frame
    if selector.strike is not None:
        frame = frame.filter(pl.col("strike").round(3) == selector.strike)
    if selector.right is not None:
        frame = frame.filter(pl.col("right") == selector.right)
    if selector.max_dte is not None:
        dte = (pl.col("expiration").str.to_date() - pl.lit(day)).dt.total_days()
        frame = frame.filter(dte <= selector.max_dte)
    if selector.strike_range is not None:
        n = selector.strike_range
        strikes = frame.select("symbol", "expiration", "strike").unique()
        below = (pl.col("strike") < spot) & (
            pl.col("strike")
            .rank("ordinal", descending=True)
            .over("symbol", "expiration", pl.col("strike") < spot)
            <= n
        )
        above = (pl.col("strike") > spot) & (
            pl.col("strike").rank("ordinal").over("symbol", "expiration", pl.col("strike") > spot)
            <= n
        )
        kept = strikes.filter(below | above | (pl.col("strike") == spot))
        frame = frame.join(kept, on=["symbol", "expiration", "strike"], how="semi")
    return frame


def sample(
    minutes: pl.DataFrame,
    interval: str,
    start: time,
    end: time,
    max_rows: int,
    empty_bar: bool = False,
) -> pl.DataFrame:
    """1-minute rows (`ts` ET) sampled at `interval` within [start, end], `ts` rendered as the
    terminal's `timestamp`. An interval of a minute or more keeps the rows on its grid; a
    shorter one repeats each minute's state at every step of the minute (`empty_bar`: a bar of
    zeros after the first, as no trade falls there); `tick` is every change, to the ms."""
    step = INTERVAL_SECONDS[interval]
    window = (pl.col("ts").dt.time() >= start) & (pl.col("ts").dt.time() <= end)
    fmt = _SECOND_FMT if step is not None and step >= 1 else _MILLI_FMT
    if step is None or step >= 60:
        rows = minutes.filter(window)
        if step is not None:
            of_day = (
                pl.col("ts").dt.hour().cast(pl.Int64) * 3600
                + pl.col("ts").dt.minute().cast(pl.Int64) * 60
            )
            rows = rows.filter(of_day % int(step) == 0)
    else:
        # Only the minutes the window touches are expanded.
        first = datetime.combine(date.min, start).replace(second=0, microsecond=0).time()
        minutes = minutes.filter(pl.col("ts").dt.time().is_between(first, end))
        per_minute = round(60 / step)
        if minutes.height * per_minute > max_rows:
            raise TooLarge
        offsets = pl.DataFrame(
            {"_k": np.arange(per_minute, dtype=np.int64)},
        )
        rows = minutes.join(offsets, how="cross").with_columns(
            ts=pl.col("ts") + pl.duration(milliseconds=pl.col("_k") * int(step * 1000))
        )
        if "_final" in rows.columns:
            rows = rows.filter(~pl.col("_final") | (pl.col("_k") == 0))
        if empty_bar:
            zero = [c for c in OHLC_COLUMNS if c in rows.columns]
            rows = rows.with_columns(
                pl.when(pl.col("_k") == 0).then(pl.col(c)).otherwise(0).alias(c) for c in zero
            )
        rows = rows.drop("_k").filter(window)
    if rows.height > max_rows:
        raise TooLarge
    columns = [c for c in rows.columns if c not in ("ts", "_final")]
    keys = [c for c in columns if c in CONTRACT]
    values = [c for c in columns if c not in CONTRACT]
    stamp = pl.col("ts").dt.strftime(fmt).alias("timestamp")
    return rows.select(*keys, stamp, *values)


def bars(
    minutes: pl.DataFrame,
    interval: str,
    start: time,
    end: time,
    max_rows: int,
    empty_bar: bool = True,
) -> pl.DataFrame:
    """1-minute OHLC bars (`ts` ET) aggregated to `interval` bars stamped at their open; a
    sub-minute interval splits each minute into its steps (`tick` serves the minute bars)."""
    step = INTERVAL_SECONDS[interval]
    if step is None or step <= 60:
        grid = "1m" if step is None or step == 60 else interval
        return sample(minutes, grid, start, end, max_rows, empty_bar=empty_bar)
    keys = [c for c in CONTRACT if c in minutes.columns]
    traded = pl.col("volume") > 0
    grouped = (
        minutes.filter((pl.col("ts").dt.time() >= start) & (pl.col("ts").dt.time() <= end))
        .with_columns(ts=pl.col("ts").dt.truncate(f"{int(step)}s"))
        .group_by(*keys, "ts", maintain_order=True)
        .agg(
            open=pl.col("open").filter(traded).first().fill_null(0.0),
            high=pl.col("high").filter(traded).max().fill_null(0.0),
            low=pl.col("low").filter(traded).min().fill_null(0.0),
            close=pl.col("close").filter(traded).last().fill_null(0.0),
            volume=pl.col("volume").sum(),
            count=pl.col("count").sum(),
            vwap=((pl.col("vwap") * pl.col("volume")).sum() / pl.col("volume").sum())
            .fill_nan(0.0)
            .round(2),
        )
    )
    if grouped.height > max_rows:
        raise TooLarge
    stamp = pl.col("ts").dt.strftime(_SECOND_FMT).alias("timestamp")
    return grouped.select(*keys, stamp, *OHLC_COLUMNS)


def index_sample(
    prices: pl.DataFrame, interval: str, start: time, end: time, max_rows: int
) -> pl.DataFrame:
    """Index prices at each `interval` timestamp (the price then; a report is only sent when
    the price changed, so `tick` is the minute path)."""
    return sample(prices, interval, start, end, max_rows)


def index_bars(
    prices: pl.DataFrame, interval: str, start: time, end: time, max_rows: int
) -> pl.DataFrame:
    """Index OHLC bars: the price path's open, high, low and close per bar; an index has no
    volume, count or vwap (zeros, as the terminal sends)."""
    minutes = prices.with_columns(
        open=pl.col("price"),
        high=pl.col("price"),
        low=pl.col("price"),
        close=pl.col("price"),
        volume=pl.lit(1, dtype=pl.Int64),
        count=pl.lit(0, dtype=pl.Int64),
        vwap=pl.lit(0.0),
    ).drop("price")
    out = bars(minutes, interval, start, end, max_rows, empty_bar=False)
    return out.with_columns(volume=pl.lit(0, dtype=pl.Int64), vwap=pl.lit(0.0))


def now_utc() -> datetime:
    """The wall clock (UTC): a live session is served up to the last closed minute."""
    return datetime.now(UTC)
