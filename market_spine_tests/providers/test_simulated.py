"""Tests of the simulated market: deterministic, calendar-aware, realistic, defective on demand."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import polars as pl
import pytest

from market_spine.errors import InvalidInput, NotATradingDay
from market_spine.markets import calendars, instruments, rolls
from market_spine.providers.base import BAR_SCHEMA, BarCapture
from market_spine.providers.simulated import DEFECTS, SimulatedMarket, SimulatedProvider

SYMBOLS = ("CL", "NG", "ES")
DAY = date(2024, 6, 4)  # an ordinary Tuesday
PRICES = ("open", "high", "low", "close")


@pytest.fixture(scope="module")
def market() -> SimulatedMarket:
    return SimulatedMarket(seed=7)


def _digest(frame: pl.DataFrame) -> str:
    return hashlib.sha256(frame.write_csv().encode()).hexdigest()


def _expected(symbol: str, d: date) -> pd.DatetimeIndex:
    sess = calendars.session(symbol, d)
    assert sess is not None
    return pd.DatetimeIndex(sess.expected_minutes()).as_unit("ns")


def _ts(frame: pl.DataFrame) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(frame["ts"].to_pandas()).as_unit("ns")


# -- determinism ---------------------------------------------------------------------------------


def test_same_call_gives_identical_bars(market: SimulatedMarket) -> None:
    first = market.bars("CL", DAY)
    assert first.equals(market.bars("CL", DAY))
    # Call order does not matter: a fresh market asked for other days first agrees.
    other = SimulatedMarket(seed=7)
    other.bars("CL", DAY + timedelta(days=1))
    other.bars("ES", DAY)
    assert first.equals(other.bars("CL", DAY))


def test_bars_are_identical_in_another_process(market: SimulatedMarket) -> None:
    code = (
        "import hashlib; from datetime import date;"
        "from market_spine.providers.simulated import SimulatedMarket;"
        "f = SimulatedMarket(seed=7).bars('NG', date(2024, 6, 4));"
        "print(hashlib.sha256(f.write_csv().encode()).hexdigest())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == _digest(market.bars("NG", DAY))


def test_seed_changes_the_market() -> None:
    assert (
        not SimulatedMarket(seed=1).bars("ES", DAY).equals(SimulatedMarket(seed=2).bars("ES", DAY))
    )


# -- shape and validity --------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_schema_order_and_identity(market: SimulatedMarket, symbol: str) -> None:
    bars = market.bars(symbol, DAY)
    assert dict(bars.schema) == BAR_SCHEMA
    assert list(bars.columns) == list(BAR_SCHEMA)
    assert bars.height > 1000
    assert bars["ts"].is_sorted() and bars["ts"].n_unique() == bars.height
    assert bars["symbol"].unique().to_list() == [symbol]
    contract = instruments.front_contract(symbol, DAY).local_symbol
    assert bars["contract"].unique().to_list() == [contract]
    assert bars.null_count().sum_horizontal().item() == 0


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_ohlc_consistent_and_on_ticks(market: SimulatedMarket, symbol: str) -> None:
    bars = market.bars(symbol, DAY)
    o, h, lo, c, vwap = (bars[col].to_numpy() for col in (*PRICES, "vwap"))
    assert (lo <= np.minimum(o, c)).all() and (np.maximum(o, c) <= h).all()
    assert ((lo <= vwap) & (vwap <= h)).all()
    assert (lo > 0).all()
    tick = float(instruments.get_instrument(symbol).tick_size)
    for col in PRICES:
        ticks = bars[col].to_numpy() / tick
        assert np.abs(ticks - np.rint(ticks)).max() < 1e-6, col
    volume, trades = bars["volume"].to_numpy(), bars["trades"].to_numpy()
    assert (volume >= 1).all() and (trades >= 1).all() and (trades <= volume).all()


def test_volume_and_volatility_follow_the_day(market: SimulatedMarket) -> None:
    bars = market.bars("ES", DAY).with_columns(
        et_hour=pl.col("ts").dt.convert_time_zone("America/New_York").dt.hour(),
        range=pl.col("high") - pl.col("low"),
    )
    us = bars.filter(pl.col("et_hour").is_between(10, 15))
    asia = bars.filter(pl.col("et_hour").is_between(19, 23))
    assert us["volume"].median() > 3 * asia["volume"].median()
    assert us["range"].mean() > asia["range"].mean()


# -- the calendar --------------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_bars_only_inside_the_session(market: SimulatedMarket, symbol: str) -> None:
    bars = market.bars(symbol, DAY)
    expected = _expected(symbol, DAY)
    assert _ts(bars).isin(expected).all()
    sess = calendars.session(symbol, DAY)
    assert sess is not None
    assert bars["ts"].min() >= sess.open and bars["ts"].max() < sess.close


@pytest.mark.parametrize(
    ("symbol", "d"),
    [
        ("ES", date(2021, 6, 1)),  # the 15:15-15:30 CT daily halt, before its 2021-06-28 removal
        ("CL", date(2024, 5, 28)),  # includes Memorial Day's early-halted trading, then a break
    ],
)
def test_no_bars_in_session_breaks(market: SimulatedMarket, symbol: str, d: date) -> None:
    sess = calendars.session(symbol, d)
    assert sess is not None and sess.breaks
    ts = _ts(market.bars(symbol, d))
    assert ts.isin(_expected(symbol, d)).all()
    for start, end in sess.breaks:
        assert not ((ts >= start) & (ts < end)).any()
        assert (ts < start).any() and (ts >= end).any()  # trading on both sides of the break


@pytest.mark.parametrize("d", [date(2024, 12, 25), date(2024, 6, 8), date(2024, 6, 9)])
def test_no_bars_without_a_session(market: SimulatedMarket, d: date) -> None:
    bars = market.bars("CL", d)
    assert bars.is_empty() and dict(bars.schema) == BAR_SCHEMA
    capture = SimulatedProvider(market).fetch_bars("CL", d)
    assert capture.bars.is_empty()
    assert not market.no_trade_minutes("CL", d).size
    with pytest.raises(NotATradingDay):
        market.daily_level("CL", d)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_no_trade_minutes_explain_every_missing_minute(
    market: SimulatedMarket, symbol: str
) -> None:
    ts = _ts(market.bars(symbol, DAY))
    no_trade = market.no_trade_minutes(symbol, DAY)
    assert not ts.isin(no_trade).any()
    assert ts.union(no_trade).equals(_expected(symbol, DAY))
    if symbol == "NG":
        # Trades arrive as a Poisson process, so only the thinnest market (NG overnight)
        # routinely has silent minutes; liquid ES rarely or never does.
        assert no_trade.size > 0
    et = no_trade.tz_convert("America/New_York")
    minute_of_day = et.hour * 60 + et.minute
    assert ((minute_of_day < 9 * 60) | (minute_of_day >= 14 * 60 + 30)).all()  # thin hours only


# -- prices across days --------------------------------------------------------------------------


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_session_opens_at_previous_close(market: SimulatedMarket, symbol: str) -> None:
    # Overnight; Friday -> Monday across a weekend; 07-03 -> 07-05 across the 07-04 holiday.
    pairs = [
        (date(2024, 6, 3), DAY),
        (date(2024, 5, 31), date(2024, 6, 3)),
        (date(2024, 7, 3), date(2024, 7, 5)),
    ]
    for prev, d in pairs:
        before, after = market.bars(symbol, prev), market.bars(symbol, d)
        assert after["open"][0] == before["close"][-1]
        assert before["close"][-1] == market.daily_level(symbol, prev)


def test_levels_are_realistic(market: SimulatedMarket) -> None:
    for symbol, annual_vol in [("CL", 0.35), ("NG", 0.60), ("ES", 0.18)]:
        days = [DAY + timedelta(days=k) for k in range(-400, 0)]
        levels = [
            market.daily_level(symbol, d) for d in days if calendars.is_trading_day(symbol, d)
        ]
        returns = np.diff(np.log(levels))
        realised = returns.std() * np.sqrt(252)
        assert 0.6 * annual_vol < realised < 1.5 * annual_vol, symbol


def test_far_future_dates_work() -> None:
    d = date(2099, 6, 2)
    if not calendars.is_trading_day("ES", d):
        pytest.skip("the calendar does not reach 2099")
    later = SimulatedMarket(clock=lambda: datetime(2100, 1, 1, tzinfo=UTC))
    assert later.bars("ES", d).height > 1000
    assert SimulatedMarket().bars("ES", d).is_empty()  # not traded yet


def test_contract_rolls(market: SimulatedMarket) -> None:
    roll_day, old, new = instruments.roll_dates("CL", date(2024, 3, 1), date(2024, 12, 31))[0]
    before = next(
        d
        for d in (roll_day - timedelta(days=k) for k in range(1, 10))
        if calendars.is_trading_day("CL", d)
    )
    assert market.bars("CL", before)["contract"].unique().to_list() == [old.local_symbol]
    assert market.bars("CL", roll_day)["contract"].unique().to_list() == [new.local_symbol]
    # Each contract's prices are its own: the new month opens at its own previous close, so
    # the front series gaps at the roll by the spread between the months (contango here).
    new_before = market.bars("CL", before, new.local_symbol)
    assert market.bars("CL", roll_day)["open"][0] == new_before["close"][-1]
    gap = new_before["close"][-1] - market.bars("CL", before)["close"][-1]
    assert gap > 0


def test_both_contracts_trade_the_roll_window(market: SimulatedMarket) -> None:
    roll_day, _old, new = instruments.roll_dates("ES", date(2024, 3, 1), date(2024, 12, 31))[0]
    window = [
        d
        for d in (roll_day - timedelta(days=k) for k in range(12, 0, -1))
        if calendars.is_trading_day("ES", d)
    ][-rolls.ROLL_WINDOW_DAYS :]
    shares = []
    for d in window:
        front, nxt = market.bars("ES", d), market.bars("ES", d, new.local_symbol)
        assert nxt["contract"].unique().to_list() == [new.local_symbol]
        assert nxt["ts"].to_list() == front["ts"].to_list()
        shares.append(nxt["volume"].sum() / front["volume"].sum())
    # The next month's volume grows through the window and overtakes the front before the roll.
    assert shares == sorted(shares)
    assert shares[0] < 1 < shares[-1]


def test_an_expired_or_foreign_contract_is_refused(market: SimulatedMarket) -> None:
    with pytest.raises(InvalidInput, match="stopped trading"):
        market.bars("ES", date(2024, 6, 3), "ESH4")
    with pytest.raises(InvalidInput, match="not a ES contract"):
        market.bars("ES", date(2024, 6, 3), "CLZ4")


# -- live sessions -------------------------------------------------------------------------------


def test_live_session_stops_at_the_clock() -> None:
    # 10:00 ET, liquid hours (no no-trade minutes), plus 30 s into the current minute.
    now = pd.Timestamp(DAY, tz="America/New_York") + pd.Timedelta(hours=10, seconds=30)
    now = now.to_pydatetime()
    live = SimulatedMarket(clock=lambda: now).bars("ES", DAY)
    final = SimulatedMarket(clock=lambda: datetime(2030, 1, 1, tzinfo=UTC)).bars("ES", DAY)
    assert live["ts"].max() + timedelta(minutes=1) <= now
    assert live["ts"].max() >= now - timedelta(minutes=2)
    assert live.equals(final.head(live.height))  # a preliminary capture is a prefix of the final


def test_session_not_yet_open_is_empty() -> None:
    sess = calendars.session("CL", DAY)
    assert sess is not None
    before = (sess.open - pd.Timedelta(minutes=5)).to_pydatetime()
    assert SimulatedMarket(clock=lambda: before).bars("CL", DAY).is_empty()
    at_open = sess.open.to_pydatetime()  # the first minute is still open
    assert SimulatedMarket(clock=lambda: at_open).bars("CL", DAY).is_empty()


# -- defects -------------------------------------------------------------------------------------


def _defective(name: str) -> tuple[pl.DataFrame, dict[str, list[str]], pl.DataFrame]:
    capture = SimulatedProvider(SimulatedMarket(defects=[name])).fetch_bars("ES", DAY)
    return capture.bars, capture.notes["defects"], SimulatedMarket().bars("ES", DAY)


def test_gaps_leave_a_missing_run_in_liquid_hours() -> None:
    bars, notes, clean = _defective("gaps")
    missing = _expected("ES", DAY).difference(_ts(bars))
    unexplained = missing.difference(SimulatedMarket().no_trade_minutes("ES", DAY))
    assert 15 <= len(unexplained) <= 30
    assert (np.diff(unexplained.asi8) == 60_000_000_000).all()  # one consecutive run
    assert [t.isoformat() for t in unexplained] == notes["gaps"]
    assert clean.height - bars.height == len(unexplained)


def test_spikes_make_one_big_return_that_reverts() -> None:
    bars, notes, clean = _defective("spikes")
    returns = np.diff(np.log(bars["close"].to_numpy()))
    robust_sigma = 1.4826 * np.median(np.abs(returns - np.median(returns)))
    k = int(np.argmax(returns))
    assert returns[k] > 25 * robust_sigma and returns[k] > 0.05
    assert returns[k + 1] < -0.05  # back to normal on the next bar
    assert bars["ts"][k + 1].isoformat() == notes["spikes"][0]
    assert bars.height == clean.height


def test_duplicates_repeat_keys() -> None:
    bars, notes, clean = _defective("duplicates")
    dup = bars.filter(pl.struct("symbol", "ts").is_duplicated())
    assert bars.height == clean.height + len(notes["duplicates"]) and len(notes["duplicates"]) >= 1
    assert dup["ts"].unique().len() == len(notes["duplicates"])
    assert bars.unique(maintain_order=True).equals(clean)


def test_crossed_bars_have_high_below_low() -> None:
    bars, notes, _ = _defective("crossed")
    crossed = bars.filter(pl.col("high") < pl.col("low"))
    assert [t.isoformat() for t in crossed["ts"]] == notes["crossed"]
    assert crossed.height >= 1


def test_all_defects_together_and_clean_by_default() -> None:
    capture = SimulatedProvider(SimulatedMarket(defects=DEFECTS)).fetch_bars("CL", DAY)
    assert set(capture.notes["defects"]) == DEFECTS
    assert SimulatedProvider().fetch_bars("CL", DAY).notes == {}


def test_unknown_defect_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="crossed"):
        SimulatedMarket(defects=["gaps", "typo"])


# -- the provider --------------------------------------------------------------------------------


def test_provider_capture() -> None:
    provider = SimulatedProvider(SimulatedMarket(seed=3, defects=["spikes"]))
    capture = provider.fetch_bars("CL", DAY)
    assert isinstance(capture, BarCapture) and capture.source == provider.name == "simulated"
    assert capture.request == {
        "symbol": "CL",
        "trade_date": "2024-06-04",
        "contract": instruments.front_contract("CL", DAY).local_symbol,
        "bar_size": "1 min",
        "what": "TRADES",
        "seed": 3,
        "defects": ["spikes"],
    }
    assert capture.payload == capture.bars.write_csv().encode()
    parsed = pl.read_csv(capture.payload, schema=BAR_SCHEMA)
    assert parsed.equals(capture.bars)
    assert provider.fetch_bars("CL", DAY).payload == capture.payload


def test_unknown_symbol_is_rejected(market: SimulatedMarket) -> None:
    with pytest.raises(InvalidInput):
        market.bars("ZZ", DAY)
