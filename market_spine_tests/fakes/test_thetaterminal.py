"""The fake ThetaTerminal answers as the v3 API documents, over real HTTP on loopback: defaults,
parameter domains, filters, limits, formats and every endpoint beside the ones the client uses.
One fake serves the whole module (these tests inject no faults)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

import httpx
import polars as pl
import pytest

from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal
from market_spine.markets.expirations import session_bounds
from market_spine.providers.simulated_options import SimulatedOptionMarket

DAY = date(2024, 3, 8)  # a Friday: SPXW 0DTE, and the next expiration is Monday
NEXT = "20240311"
STRIKE = "5100"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with FakeThetaTerminal(FakeThetaConfig(today=DAY)) as fake:
        yield fake.url


def get(url: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(f"{url}{path}", params=params, timeout=60)


def csv(response: httpx.Response) -> pl.DataFrame:
    assert response.status_code == 200, response.text
    assert response.content.endswith(b"\r\n")
    return pl.read_csv(io.BytesIO(response.content), infer_schema_length=None)


def quote(url: str, **params: str) -> httpx.Response:
    base = {"symbol": "SPXW", "expiration": NEXT, "date": f"{DAY:%Y%m%d}", "strike": STRIKE}
    return get(url, "/option/history/quote", **{**base, **params})


# -- defaults: the time window and the interval -----------------------------------------------


def test_quotes_end_at_16_00_unless_asked_for_the_close(url: str) -> None:
    """The terminal's default end_time is 16:00:00 (inclusive): a contract that trades to 16:15
    loses its last quarter hour unless the request names the session's end."""
    default = csv(quote(url, interval="1m", right="call"))["timestamp"]
    assert default.min() == "2024-03-08T09:30:00" and default.max() == "2024-03-08T16:00:00"
    full = csv(quote(url, interval="1m", right="call", end_time="16:14:59.999"))["timestamp"]
    assert full.max() == "2024-03-08T16:14:00" and full.len() == default.len() + 14
    late = csv(quote(url, interval="1m", right="call", start_time="15:00:00", end_time="15:02:00"))
    assert late["timestamp"].to_list() == [f"2024-03-08T15:0{m}:00" for m in range(3)]


def test_the_default_interval_is_one_second(url: str) -> None:
    frame = csv(quote(url, right="put", start_time="10:00:00", end_time="10:00:09"))
    assert frame["timestamp"].to_list() == [f"2024-03-08T10:00:0{s}" for s in range(10)]


DOCUMENTED_INTERVALS = (
    *("tick", "10ms", "100ms", "500ms", "1s", "5s", "10s", "15s", "30s"),
    *("1m", "5m", "10m", "15m", "30m", "1h"),
)


@pytest.mark.parametrize("interval", DOCUMENTED_INTERVALS)
def test_every_documented_interval_is_served(url: str, interval: str) -> None:
    frame = csv(
        quote(url, interval=interval, right="call", start_time="10:00:00", end_time="11:00:00")
    )
    assert frame.height >= 2
    assert frame["timestamp"].min() >= "2024-03-08T10:00:00"


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("interval", "2m"),
        ("interval", "60000"),
        ("right", "C"),
        ("strike", "abc"),
        ("max_dte", "-1"),
        ("strike_range", "0"),
        ("format", "xml"),
        ("start_time", "9am"),
        ("date", "2024-3-8"),
    ],
)
def test_a_value_outside_its_domain_answers_473_naming_it(url: str, param: str, value: str) -> None:
    answer = quote(url, **{"interval": "1m", param: value})
    assert answer.status_code == 473 and param in answer.text


# -- filters --------------------------------------------------------------------------------


def test_filters_select_contracts_instead_of_the_whole_chain(url: str) -> None:
    day = f"{DAY:%Y%m%d}"
    eod = dict(symbol="SPXW", expiration="*", start_date=day, end_date=day)
    whole = csv(get(url, "/option/history/eod", **eod))
    by_strike = csv(get(url, "/option/history/eod", **eod, strike=STRIKE, right="put"))
    assert set(by_strike["strike"]) == {5100.0} and set(by_strike["right"]) == {"PUT"}
    assert (
        by_strike.height
        == whole.filter((pl.col("strike") == 5100.0) & (pl.col("right") == "PUT")).height
    )
    near = csv(get(url, "/option/history/eod", **eod, max_dte="3"))
    # Friday: 0DTE and Monday (three calendar days) only.
    assert sorted(set(near["expiration"])) == ["2024-03-08", "2024-03-11"]
    spot = SimulatedOptionMarket(seed=7).spot(DAY)
    ranged = csv(
        get(url, "/option/history/eod", **{**eod, "strike_range": "2", "expiration": "20240308"})
    )
    strikes = sorted(set(ranged["strike"]))
    assert len(strikes) in (4, 5) and sum(s < spot for s in strikes) == 2
    assert sum(s > spot for s in strikes) == 2
    oi = csv(
        get(
            url,
            "/option/history/open_interest",
            symbol="SPXW",
            expiration="*",
            date=day,
            max_dte="0",
        )
    )
    assert set(oi["expiration"]) == {"2024-03-08"}
    quotes = csv(
        get(
            url,
            "/option/history/quote",
            symbol="SPXW",
            expiration="*",
            date=day,
            interval="1h",
            max_dte="0",
            right="call",
        )
    )
    assert set(quotes["expiration"]) == {"2024-03-08"} and set(quotes["right"]) == {"CALL"}


# -- lists ----------------------------------------------------------------------------------


def test_lists_take_symbol_lists_and_star(url: str) -> None:
    both = csv(get(url, "/option/list/expirations", symbol="SPX,SPXW"))
    star = csv(get(url, "/option/list/expirations", symbol="*"))
    assert set(both["symbol"]) == {"SPX", "SPXW"} and both.equals(star)
    strikes = csv(get(url, "/option/list/strikes", symbol="*", expiration="20240315"))
    assert set(strikes["symbol"]) == {"SPX", "SPXW"}
    missing = get(url, "/option/list/strikes", symbol="SPXW", expiration="*")
    assert missing.status_code == 473 and "expiration" in missing.text


def test_contract_and_date_lists(url: str) -> None:
    contracts = csv(
        get(url, "/option/list/contracts/quote", symbol="SPXW", date="20240308", max_dte="0")
    )
    assert contracts.columns == ["symbol", "expiration", "strike", "right"]
    assert set(contracts["expiration"]) == {"2024-03-08"}
    traded = csv(get(url, "/option/list/contracts/trade", date="20240308"))
    assert traded.height > 0 and set(traded["symbol"]) <= {"SPX", "SPXW"}
    dates = csv(get(url, "/option/list/dates/quote", symbol="SPXW", expiration="20240308"))
    assert dates["date"][-1] == "2024-03-08" and dates["date"][0] == "2023-03-06"
    assert (
        get(url, "/option/list/dates/ohlc", symbol="SPXW", expiration="20240308").status_code == 473
    )


# -- endpoints beside the ones the client uses -----------------------------------------------


def test_option_ohlc_and_eod_greeks(url: str) -> None:
    bars = csv(
        get(
            url,
            "/option/history/ohlc",
            symbol="SPXW",
            expiration=NEXT,
            date="20240308",
            interval="5m",
            strike=STRIKE,
            right="call",
        )
    )
    assert bars.columns == [
        "symbol",
        "expiration",
        "strike",
        "right",
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "count",
        "vwap",
    ]
    assert (
        bars.height == 79
    )  # 09:30 to the 16:00 default end and (bars["high"] >= bars["low"]).all()
    star = get(
        url, "/option/history/ohlc", symbol="SPXW", expiration="*", date="20240308", interval="5m"
    )
    assert star.status_code == 473
    greeks = csv(
        get(
            url,
            "/option/history/greeks/eod",
            symbol="SPXW",
            expiration=NEXT,
            start_date="20240308",
            end_date="20240308",
            strike_range="3",
        )
    )
    assert greeks.columns[-5:] == [
        "dual_gamma",
        "implied_vol",
        "iv_error",
        "underlying_timestamp",
        "underlying_price",
    ]
    calls = greeks.filter(pl.col("right") == "CALL")
    assert ((calls["delta"] > 0) & (calls["delta"] < 1)).all() and (greeks["gamma"] > 0).all()
    assert greeks["implied_vol"].is_between(0.05, 1.0).all()


def test_index_price_ohlc_and_a_full_eod_row(url: str) -> None:
    eod = csv(
        get(url, "/index/history/eod", symbol="SPX", start_date="20240304", end_date="20240308")
    )
    assert eod.columns == [
        "created",
        "last_trade",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "count",
        "bid_size",
        "bid_exchange",
        "bid",
        "bid_condition",
        "ask_size",
        "ask_exchange",
        "ask",
        "ask_condition",
    ]
    assert eod.height == 5 and (eod["high"] > eod["low"]).all()
    assert (eod["open"] != eod["close"]).all()
    # Reports are built from 17:15 ET, each at its own time.
    assert eod["created"].n_unique() == 5 and (eod["created"].str.slice(11, 5) >= "17:15").all()
    price = csv(get(url, "/index/history/price", symbol="SPX", date="20240308", interval="1m"))
    assert price.columns == ["timestamp", "price"] and price.height == 391
    assert price["timestamp"][-1] == "2024-03-08T16:00:00"
    ohlc = csv(
        get(
            url,
            "/index/history/ohlc",
            symbol="SPX",
            start_date="20240308",
            end_date="20240308",
            interval="1h",
        )
    )
    assert ohlc["timestamp"].to_list()[:2] == ["2024-03-08T09:00:00", "2024-03-08T10:00:00"]
    assert get(url, "/option/history/trade_greeks/all").status_code == 404


# -- limits ---------------------------------------------------------------------------------


def test_documented_limits(url: str) -> None:
    multi = dict(symbol="SPXW", start_date="20240304", end_date="20240308", interval="1m")
    star = get(url, "/option/history/quote", expiration="*", **multi)
    assert star.status_code == 473 and "expiration" in star.text
    month = get(
        url,
        "/option/history/quote",
        expiration=NEXT,
        strike=STRIKE,
        **{**multi, "start_date": "20240208"},
    )
    assert month.status_code == 473 and "1 month" in month.text
    within = get(
        url,
        "/option/history/quote",
        expiration=NEXT,
        strike=STRIKE,
        **{**multi, "start_date": "20240209"},
    )
    assert within.status_code == 200
    fine = get(
        url, "/option/history/quote", expiration=NEXT, strike=STRIKE, **{**multi, "interval": "1s"}
    )
    assert fine.status_code == 473 and "single-day" in fine.text
    greeks = get(
        url,
        "/option/history/greeks/eod",
        symbol="SPXW",
        expiration="*",
        start_date="20240307",
        end_date="20240308",
    )
    assert greeks.status_code == 473 and "one day at a time" in greeks.text
    # EOD has no documented range cap: two months of one expiration come back in one answer.
    eod = csv(
        get(
            url,
            "/option/history/eod",
            symbol="SPXW",
            expiration="20240315",
            start_date="20240102",
            end_date="20240308",
            strike=STRIKE,
        )
    )
    assert eod["created"].str.slice(0, 10).n_unique() > 40


# -- formats and gaps -----------------------------------------------------------------------


def test_ndjson_and_html(url: str) -> None:
    params = dict(interval="1h", right="call")
    rows = [json.loads(line) for line in quote(url, format="ndjson", **params).text.splitlines()]
    assert rows and set(rows[0]) >= {"symbol", "expiration", "strike", "right", "timestamp", "bid"}
    assert len(rows) == csv(quote(url, **params)).height
    assert quote(url, format="html", **params).text.startswith("<table>")


def test_a_contract_that_never_traded_has_no_last_trade(url: str) -> None:
    eod = csv(
        get(
            url,
            "/option/history/eod",
            symbol="SPXW",
            expiration="*",
            start_date="20240308",
            end_date="20240308",
        )
    )
    untraded = eod.filter(pl.col("volume") == 0)
    assert untraded.height > 0 and untraded["last_trade"].null_count() == untraded.height
    traded = eod.filter(pl.col("volume") > 0)
    assert traded["last_trade"].null_count() == 0
    # An expiring contract's last trade comes before its 16:00 settlement.
    zero = traded.filter(pl.col("expiration") == "2024-03-08")
    assert zero.height > 0 and (zero["last_trade"].str.slice(11, 8) < "16:00:00").all()


# -- what does not exist yet, or never did ------------------------------------------------------


def test_reports_of_future_days_answer_no_data(url: str) -> None:
    after = dict(start_date="20240311", end_date="20240311")
    assert (
        get(url, "/option/history/eod", symbol="SPXW", expiration="*", **after).status_code == 472
    )
    oi = get(url, "/option/history/open_interest", symbol="SPXW", expiration="*", date="20240311")
    assert oi.status_code == 472
    assert get(url, "/index/history/eod", symbol="SPX", **after).status_code == 472


@pytest.mark.parametrize(
    ("hour", "minute", "eod", "oi"),
    [(6, 0, 472, 472), (17, 0, 472, 200), (17, 25, 200, 200)],
)
def test_todays_reports_exist_once_built(hour: int, minute: int, eod: int, oi: int) -> None:
    """Open interest is published around 06:30 ET, the EOD reports from 17:15 ET: before, the
    terminal has no data for today."""
    clock = datetime(2024, 3, 8, hour, minute, tzinfo=ZoneInfo("America/New_York"))
    today = dict(start_date="20240308", end_date="20240308")
    with FakeThetaTerminal(FakeThetaConfig(today=DAY, clock=clock)) as fake:
        options = get(fake.url, "/option/history/eod", symbol="SPXW", expiration=NEXT, **today)
        index = get(fake.url, "/index/history/eod", symbol="SPX", **today)
        interest = get(
            fake.url,
            "/option/history/open_interest",
            symbol="SPXW",
            expiration=NEXT,
            date="20240308",
        )
    assert (options.status_code, index.status_code, interest.status_code) == (eod, eod, oi)


def test_lists_of_an_expiration_that_never_existed_answer_no_data(url: str) -> None:
    never = "20240309"  # a Saturday
    assert get(url, "/option/list/strikes", symbol="SPXW", expiration=never).status_code == 472
    dates = get(url, "/option/list/dates/quote", symbol="SPXW", expiration=never)
    assert dates.status_code == 472
    assert get(url, "/option/list/strikes", symbol="SPXW", expiration=NEXT).status_code == 200


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/option/history/eod", {"start_date": "20240308", "end_date": "20240308"}),
        ("/option/history/open_interest", {"date": "20240308"}),
        ("/option/history/quote", {"date": "20240308", "interval": "1h"}),
        ("/option/list/strikes", {}),
    ],
)
def test_a_missing_expiration_is_a_missing_required_parameter(
    url: str, path: str, params: dict[str, str]
) -> None:
    answer = get(url, path, symbol="SPXW", **params)
    assert answer.status_code == 473 and "expiration" in answer.text


def test_index_data_is_a_separate_subscription() -> None:
    with FakeThetaTerminal(FakeThetaConfig(today=DAY, index_subscription=False)) as fake:
        index = get(fake.url, "/index/history/eod", symbol="SPX", start_date="20240308",
                    end_date="20240308")  # fmt: skip
        options = get(fake.url, "/option/list/expirations", symbol="SPXW")
    assert index.status_code == 471 and "index" in index.text
    assert options.status_code == 200


# -- the closing samples -------------------------------------------------------------------------


def test_an_interval_quote_is_sampled_at_its_stamp_the_close_included(url: str) -> None:
    """The terminal stamps an interval quote with the instant it samples: an expiring contract
    has a 16:00:00 row (its settlement: the last quote, unchanged), the others a 16:15:00 row
    when the window reaches the close, and nothing follows either."""
    expiring = csv(quote(url, expiration=f"{DAY:%Y%m%d}", interval="1m", right="call"))
    stamps = expiring["timestamp"]
    assert stamps.max() == "2024-03-08T16:00:00" and stamps.len() == 391
    last_two = expiring.tail(2).drop("timestamp")
    assert last_two.row(0) == last_two.row(1)
    closing = csv(quote(url, interval="1m", right="call", end_time="16:20:00"))["timestamp"]
    assert closing.max() == "2024-03-08T16:15:00" and closing.len() == 406
    fine = csv(
        quote(url, interval="500ms", right="call", start_time="16:14:59", end_time="16:20:00")
    )
    assert fine["timestamp"].to_list() == [
        "2024-03-08T16:14:59.000",
        "2024-03-08T16:14:59.500",
        "2024-03-08T16:15:00.000",
    ]


# -- the market's cache ----------------------------------------------------------------------


def test_a_closed_session_s_quotes_are_simulated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every quote and OHLC answer starts from the whole expiration's minutes: a closed
    session's are simulated once, whatever the clock after its close; a live session's grow
    with the clock, so they are simulated for each request."""
    from market_spine.fakes.thetaterminal import market as terminal_market

    calls: list[datetime | None] = []
    simulate = terminal_market.simulate_quotes

    def counted(*args: object, **kwargs: object) -> pl.DataFrame:
        calls.append(args[4] if len(args) > 4 else None)
        return simulate(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(terminal_market, "simulate_quotes", counted)
    market = terminal_market.TerminalMarket(7)
    expiration = date(2024, 3, 11)
    opened, closed = session_bounds(DAY) or (None, None)
    assert opened is not None and closed is not None
    first = market.quote_minutes("SPXW", expiration, DAY, None)
    at_close = market.quote_minutes("SPXW", expiration, DAY, closed)
    assert calls == [closed] and at_close is first
    assert first.equals(market._simulated_quotes("SPXW", expiration, DAY, None))
    calls.clear()
    live = opened + (closed - opened) / 2
    assert market.quote_minutes("SPXW", expiration, DAY, live).equals(
        market.quote_minutes("SPXW", expiration, DAY, live)
    )
    assert calls == [live, live]
    assert 0 < market.quote_minutes("SPXW", expiration, DAY, live).height < first.height
