"""Futures contract look-up for the fake TWS: what a request's contract fields resolve to.

Contracts come from `market_spine.markets.instruments` (CL/NG on NYMEX, ES on CME and any configured
root). conIds are deterministic and decodable, so a conId stays valid across fake restarts.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import date, datetime

from market_spine.errors import SpineError
from market_spine.fakes.tws.protocol import ContractFields, encode
from market_spine.markets import instruments

_ROOT_UNIT = 10_000_000  # conId = root code * unit + year * 100 + month
_EXCHANGE_ALIASES = {"GLOBEX": "CME", "NYMEX": "NYMEX", "CME": "CME"}
_ROOT_TZ = "US/Central"


@dataclass(frozen=True)
class FutureSpec:
    """One listed futures contract as the fake TWS knows it."""

    root: str
    year: int
    month: int
    exchange: str
    currency: str
    multiplier: float
    tick_size: float
    last_trade_date: date
    name: str

    @property
    def con_id(self) -> int:
        return _root_code(self.root) * _ROOT_UNIT + self.year * 100 + self.month

    @property
    def local_symbol(self) -> str:
        return instruments.Contract(self.root, self.year, self.month).local_symbol

    @property
    def contract_month(self) -> str:
        return f"{self.year}{self.month:02d}"


def _root_code(root: str) -> int:
    return zlib.crc32(root.encode()) % 200 + 1


def _spec(root: str, year: int, month: int) -> FutureSpec:
    inst = instruments.get_instrument(root)
    c = instruments.contract(inst.root, year, month)
    return FutureSpec(
        root=inst.root,
        year=year,
        month=month,
        exchange=inst.exchange,
        currency=inst.currency,
        multiplier=float(inst.multiplier),
        tick_size=float(inst.tick_size),
        last_trade_date=c.last_trade_date,
        name=inst.name,
    )


def _from_con_id(con_id: int) -> FutureSpec | None:
    code, ym = divmod(con_id, _ROOT_UNIT)
    year, month = divmod(ym, 100)
    for root in instruments.known_symbols():
        if _root_code(root) == code:
            try:
                return _spec(root, year, month)
            except SpineError:
                return None
    return None


def _candidates(c: ContractFields, today: date) -> list[FutureSpec]:
    """Contracts matching the symbol / month / local-symbol fields, before the filters."""
    if c.con_id:
        found = _from_con_id(c.con_id)
        return [found] if found else []
    try:
        if c.local_symbol:
            parsed = instruments.parse_local_symbol(c.local_symbol, near=today)
            return [_spec(parsed.root, parsed.year, parsed.month)]
        root = instruments.get_instrument(c.symbol).root
    except SpineError:
        return []
    when = c.last_trade_date_or_month.strip()
    if len(when) == 6 and when.isdigit():
        try:
            return [_spec(root, int(when[:4]), int(when[4:]))]
        except SpineError:
            return []
    if len(when) == 8 and when.isdigit():
        day = datetime.strptime(when, "%Y%m%d").date()
        # The contract month is at most two months after its last trade date (CL, NG).
        out = []
        for offset in range(3):
            y, m = divmod(day.year * 12 + day.month - 1 + offset, 12)
            try:
                spec = _spec(root, y, m + 1)
            except SpineError:
                continue
            if spec.last_trade_date == day:
                out.append(spec)
        return out
    if when:
        return []
    # No month: every listed contract of the next year (ambiguous, as on TWS).
    out = []
    for offset in range(13):
        y, m = divmod(today.year * 12 + today.month - 1 + offset, 12)
        try:
            out.append(_spec(root, y, m + 1))
        except SpineError:
            continue
    return out


def resolve(c: ContractFields, today: date, include_expired: bool) -> list[FutureSpec]:
    """The contracts a request names ([] = TWS error 200: no security definition)."""
    if c.sec_type not in ("FUT", ""):
        return []
    exchange = _EXCHANGE_ALIASES.get(c.exchange.upper(), c.exchange.upper()) if c.exchange else ""
    out = []
    for spec in _candidates(c, today):
        if exchange and exchange != spec.exchange:
            continue
        if c.currency and c.currency.upper() != spec.currency:
            continue
        if c.symbol and c.symbol.upper() != spec.root:
            continue
        if not include_expired and spec.last_trade_date < today:
            continue
        out.append(spec)
    return out


def contract_details(req_id: int, s: FutureSpec) -> bytes:
    """Message 10 for server version >= 164 (no version field), in the decoder's order."""
    hours = "20241113:1700-20241114:1600"  # a fixed sample; clients of the fake do not use it
    return encode(
        10,
        req_id,
        s.root,  # symbol
        "FUT",
        s.last_trade_date.strftime("%Y%m%d"),  # lastTradeDate (ib_async splits on '-' or ' ')
        0,  # strike
        "",  # right
        s.exchange,
        s.currency,
        s.local_symbol,
        s.root,  # marketName
        s.root,  # tradingClass
        s.con_id,
        s.tick_size,  # minTick
        f"{s.multiplier:g}",
        "ACTIVETIM,AD,ADJUST,ALERT,LMT,MKT,STP",  # orderTypes
        s.exchange,  # validExchanges
        1,  # priceMagnifier
        0,  # underConId
        s.name,  # longName
        "",  # primaryExchange
        s.contract_month,
        "",  # industry
        "",  # category
        "",  # subcategory
        _ROOT_TZ,  # timeZoneId
        hours,  # tradingHours
        hours,  # liquidHours
        "",  # evRule
        "",  # evMultiplier
        0,  # number of secIds
        1,  # aggGroup
        s.root,  # underSymbol
        "IND",  # underSecType
        "32",  # marketRuleIds
        s.last_trade_date.strftime("%Y%m%d"),  # realExpirationDate
        "",  # stockType
        1,  # minSize
        1,  # sizeIncrement
        1,  # suggestedSizeIncrement
    )
