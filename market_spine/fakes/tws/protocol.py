"""The TWS API socket protocol, server side: framing, the request fields we parse, the replies.

Every message is a 4-byte big-endian length followed by NUL-terminated text fields; the first
field is the message id. Field orders follow `ib_async/decoder.py` (what the client reads) and
`ib_async/client.py` (what it sends) at server version `SERVER_VERSION`.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from dataclasses import dataclass

#: The version we announce: new enough for ib_async (>= 157), old enough to skip newer fields.
SERVER_VERSION = 176
HANDSHAKE_PREFIX = b"API\0"
_MAX_FRAME = 16 * 1024 * 1024

# Incoming message ids (client -> server).
REQ_OPEN_ORDERS = 5
REQ_ACCOUNT_UPDATES = 6
REQ_EXECUTIONS = 7
REQ_IDS = 8
REQ_CONTRACT_DETAILS = 9
REQ_MANAGED_ACCOUNTS = 17
REQ_HISTORICAL_DATA = 20
CANCEL_HISTORICAL_DATA = 25
REQ_CURRENT_TIME = 49
REQ_REAL_TIME_BARS = 50
CANCEL_REAL_TIME_BARS = 51
REQ_POSITIONS = 61
REQ_ACCOUNT_SUMMARY = 62
START_API = 71
REQ_POSITIONS_MULTI = 74
REQ_ACCOUNT_UPDATES_MULTI = 76
REQ_COMPLETED_ORDERS = 99

#: Names used in the fake's request statistics.
REQUEST_NAMES = {
    REQ_OPEN_ORDERS: "open_orders",
    REQ_ACCOUNT_UPDATES: "account_updates",
    REQ_EXECUTIONS: "executions",
    REQ_IDS: "ids",
    REQ_CONTRACT_DETAILS: "contract_details",
    REQ_MANAGED_ACCOUNTS: "managed_accounts",
    REQ_HISTORICAL_DATA: "historical_data",
    CANCEL_HISTORICAL_DATA: "cancel_historical_data",
    REQ_CURRENT_TIME: "current_time",
    REQ_REAL_TIME_BARS: "real_time_bars",
    CANCEL_REAL_TIME_BARS: "cancel_real_time_bars",
    REQ_POSITIONS: "positions",
    REQ_ACCOUNT_SUMMARY: "account_summary",
    START_API: "start_api",
    REQ_POSITIONS_MULTI: "positions_multi",
    REQ_ACCOUNT_UPDATES_MULTI: "account_updates_multi",
    REQ_COMPLETED_ORDERS: "completed_orders",
}


class ProtocolError(Exception):
    """The peer sent something that is not the TWS API protocol."""


def frame(payload: bytes) -> bytes:
    """`payload` with its 4-byte big-endian length prefix."""
    return struct.pack(">I", len(payload)) + payload


def encode(*fields: object) -> bytes:
    """One framed message: every field as text, each terminated by NUL (None -> empty)."""
    text = "".join(f"{_text(f)}\0" for f in fields)
    return frame(text.encode())


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """The payload of the next length-prefixed frame; IncompleteReadError at EOF."""
    (size,) = struct.unpack(">I", await reader.readexactly(4))
    if size > _MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes is too large")
    return await reader.readexactly(size)


def fields_of(payload: bytes) -> list[str]:
    """The NUL-terminated fields of a frame's payload."""
    parts = payload.decode(errors="backslashreplace").split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


@dataclass(frozen=True)
class ContractFields:
    """The 12 contract fields every request carries, as sent (text)."""

    con_id: int
    symbol: str
    sec_type: str
    last_trade_date_or_month: str
    strike: str
    right: str
    multiplier: str
    exchange: str
    primary_exchange: str
    currency: str
    local_symbol: str
    trading_class: str

    @property
    def identity(self) -> tuple[str, ...]:
        """What makes two requests name "the same contract" (conId when the client has one)."""
        if self.con_id:
            return ("conId", str(self.con_id), self.exchange)
        return (
            self.symbol,
            self.sec_type,
            self.last_trade_date_or_month,
            self.local_symbol,
            self.exchange,
        )

    def describe(self) -> str:
        """A short human form, e.g. "CL 202412 NYMEX" or "CLZ4"."""
        parts = [self.local_symbol or self.symbol, self.last_trade_date_or_month, self.exchange]
        return " ".join(p for p in parts if p)


class FieldCursor:
    """Reads a message's fields in order (the protocol is positional)."""

    def __init__(self, fields: list[str]) -> None:
        self._it: Iterator[str] = iter(fields)

    def text(self) -> str:
        """The next field ('' once the message is exhausted)."""
        return next(self._it, "")

    def int(self, default: int = 0) -> int:
        """The next field as an int (`default` when empty)."""
        raw = self.text()
        return int(raw) if raw.strip() else default

    def bool(self) -> bool:
        """The next field as a 0/1 flag."""
        return self.int() != 0

    def contract(self) -> ContractFields:
        """The next 12 fields as a contract."""
        return ContractFields(
            con_id=self.int(),
            symbol=self.text(),
            sec_type=self.text(),
            last_trade_date_or_month=self.text(),
            strike=self.text(),
            right=self.text(),
            multiplier=self.text(),
            exchange=self.text(),
            primary_exchange=self.text(),
            currency=self.text(),
            local_symbol=self.text(),
            trading_class=self.text(),
        )


# -- replies (server -> client) ------------------------------------------------------------------


def handshake_reply(conn_time: str) -> bytes:
    """The reply to the client's version range: server version and connection time."""
    return encode(SERVER_VERSION, conn_time)


def error(req_id: int, code: int, message: str) -> bytes:
    """Error/notice message 4 (version 2; the trailing advanced-reject JSON is empty)."""
    return encode(4, 2, req_id, code, message, "")


def managed_accounts(accounts: str) -> bytes:
    return encode(15, 1, accounts)


def next_valid_id(order_id: int) -> bytes:
    return encode(9, 1, order_id)


def current_time(epoch_s: int) -> bytes:
    return encode(49, 1, epoch_s)


def position_end() -> bytes:
    return encode(62, 1)


def open_order_end() -> bytes:
    return encode(53, 1)


def completed_orders_end() -> bytes:
    return encode(102)


def account_download_end(account: str) -> bytes:
    return encode(54, 1, account)


def account_update_multi_end(req_id: int) -> bytes:
    return encode(74, 1, req_id)


def position_multi_end(req_id: int) -> bytes:
    return encode(72, 1, req_id)


def exec_details_end(req_id: int) -> bytes:
    return encode(55, 1, req_id)


def account_summary_end(req_id: int) -> bytes:
    return encode(64, 1, req_id)


def contract_details_end(req_id: int) -> bytes:
    return encode(52, 1, req_id)


def historical_data(req_id: int, start: str, end: str, rows: list[tuple[object, ...]]) -> bytes:
    """Message 17: the window and every bar (date, open, high, low, close, volume, wap, count)."""
    fields: list[object] = [17, req_id, start, end, len(rows)]
    for row in rows:
        fields.extend(row)
    return encode(*fields)


def real_time_bar(req_id: int, row: tuple[object, ...]) -> bytes:
    """Message 50: one 5-second bar (time, open, high, low, close, volume, wap, count)."""
    return encode(50, 3, req_id, *row)
