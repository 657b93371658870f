"""httpx client of the ThetaTerminal v3 REST API for SPX/SPXW option chains.

The terminal is a local process with a per-tier cap on outstanding requests; this client caps
itself at that tier (it never relies on 429s), retries transient faults with jittered
exponential backoff inside a bounded budget, and turns each fatal status into an error that says
what to fix.
"""

from __future__ import annotations

import calendar
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import httpx
import polars as pl
from pydantic import SecretStr
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from market_spine.config.secrets import split_credentials
from market_spine.errors import InvalidInput
from market_spine.markets.expirations import session_bounds, settlement
from market_spine.observability.metrics import (
    count_error,
    count_pacing_violation,
    count_pacing_wait,
    count_request,
)
from market_spine.providers.base import QUOTE_SCHEMA, QuoteCapture
from market_spine.providers.thetadata.errors import (
    ThetaDataBadPayload,
    ThetaDataBadRequest,
    ThetaDataPermission,
    ThetaDataTooLarge,
    ThetaDataUnavailable,
    ThetaDataWrongHost,
    _Malformed,
    _Transient,
)
from market_spine.providers.thetadata.payloads import (
    EOD_SCHEMA,
    OPEN_INTEREST_SCHEMA,
    _cast,
    _column,
    _eod_frame,
    _index_frame,
    _open_interest_frame,
    _parse,
    _quote_frame,
    _to_date,
)
from market_spine.settings import DEFAULT_THETADATA_URL

logger = logging.getLogger(__name__)

SOURCE = "thetadata"
#: Outstanding requests the terminal serves at once, by subscription tier (v3).
TIER_CONCURRENCY = {"free": 1, "value": 2, "standard": 4, "pro": 8}
_TRANSIENT_STATUS = {429, 474, 477, 571}
#: Response formats the client parses (the terminal also has html, for people).
FORMATS = ("csv", "json", "ndjson")
#: Quote intervals the terminal accepts (its default is 1s; we always send one).
INTERVALS = (
    "tick",
    "10ms",
    "100ms",
    "500ms",
    "1s",
    "5s",
    "10s",
    "15s",
    "30s",
    "1m",
    "5m",
    "10m",
    "15m",
    "30m",
    "1h",
)
_ET = ZoneInfo("America/New_York")


@dataclass(frozen=True)
class EodCapture:
    """One EOD chain fetch: what was asked, the bytes that came back, the parsed chain."""

    source: str
    request: dict[str, Any]
    payload: bytes
    chain: pl.DataFrame
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Reply:
    """One answered HTTP request: its status, raw bytes and the frame parsed from them."""

    status: int
    payload: bytes
    frame: pl.DataFrame


T = TypeVar("T")


class ThetaDataClient:
    """Synchronous ThetaTerminal v3 client, safe to share between threads.

    `max_attempts` and `max_retry_seconds` bound the retry loop of each request; backoff is
    random-exponential between `backoff_initial` and `backoff_max` seconds.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_THETADATA_URL,
        tier: str = "standard",
        timeout: float = 30.0,
        fmt: str = "csv",
        max_attempts: int = 6,
        max_retry_seconds: float = 60.0,
        backoff_initial: float = 0.25,
        backoff_max: float = 8.0,
        credentials: SecretStr | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        if tier not in TIER_CONCURRENCY:
            raise InvalidInput(f"tier {tier!r} is not one of {sorted(TIER_CONCURRENCY)}")
        if fmt not in FORMATS:
            raise InvalidInput(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
        # User info in the URL is a credential: it is sent as basic auth, and the URL kept (and
        # shown in every message and log) without it.
        base_url, in_url = split_credentials(base_url)
        credentials = credentials or in_url
        self.base_url = base_url.rstrip("/")
        self.tier = tier
        self.fmt = fmt
        self.concurrency = TIER_CONCURRENCY[tier]
        self.max_attempts = max_attempts
        self.max_retry_seconds = max_retry_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        # The tier cap: held only while a request is in flight, never during a backoff sleep.
        self._slots = threading.BoundedSemaphore(self.concurrency)
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=4)
        auth = None
        if credentials is not None:
            user, _, password = credentials.get_secret_value().partition(":")
            auth = httpx.BasicAuth(user, password)
        # An https:// terminal's certificate is checked against `ca_bundle` (a PEM file) when
        # given, else the system's CAs.
        verify: ssl.SSLContext | bool = True
        if ca_bundle:
            verify = ssl.create_default_context(cafile=ca_bundle)
        self._http = httpx.Client(timeout=timeout, limits=limits, auth=auth, verify=verify)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ThetaDataClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API --------------------------------------------------------------------------

    def expirations(self, symbol: str) -> list[date]:
        """Every expiration of `symbol` the terminal has: past ones as well as those listed
        today (the list takes no date)."""
        reply = self._fetch("/option/list/expirations", {"symbol": symbol})
        if reply.frame.is_empty():
            return []
        column = _column(reply.frame, "expiration")
        return sorted(_to_date(column, "expiration").to_list())

    def strikes(self, symbol: str, expiration: date) -> list[float]:
        """Every strike (dollars) `expiration` ever had, a past expiration's included."""
        params = {"symbol": symbol, "expiration": f"{expiration:%Y%m%d}"}
        reply = self._fetch("/option/list/strikes", params)
        if reply.frame.is_empty():
            return []
        return sorted(_cast(_column(reply.frame, "strike"), pl.Float64, "strike").to_list())

    def eod_chain(self, symbol: str, day: date, expiration: date | None = None) -> EodCapture:
        """The EOD report of every contract of `symbol` on `day` (empty on a holiday)."""
        return self.eod_history(symbol, day, day, expiration)

    def eod_history(
        self, symbol: str, start: date, end: date, expiration: date | None = None
    ) -> EodCapture:
        """EOD reports over [start, end]; a range the terminal calls too large (570) is split
        in halves and the halves merged."""
        if end < start:
            raise InvalidInput(f"end {end} is before start {start}")
        request = {
            "path": "/option/history/eod",
            "symbol": symbol,
            "expiration": "*" if expiration is None else f"{expiration:%Y%m%d}",
            "start_date": f"{start:%Y%m%d}",
            "end_date": f"{end:%Y%m%d}",
            "format": self.fmt,
        }
        replies = list(self._eod_split(symbol, start, end, request["expiration"]))
        frames = [r.frame for r in replies if not r.frame.is_empty()]
        chain = pl.concat(frames) if frames else pl.DataFrame(schema=EOD_SCHEMA)
        payload = b"".join(r.payload for r in replies if r.status == 200)
        # Split requests concatenate their bodies; the sizes let an auditor cut them apart.
        notes = {
            "requests": len(replies),
            "statuses": [r.status for r in replies],
            "payload_sizes": [len(r.payload) for r in replies if r.status == 200],
        }
        return EodCapture(SOURCE, request, payload, chain, notes)

    def eod_chains(
        self, symbol: str, days: Iterable[date], expiration: date | None = None
    ) -> dict[date, EodCapture]:
        """Several days' chains fetched in parallel, at most the tier's cap at once."""
        days = list(days)
        captures = self._parallel(lambda d: self.eod_chain(symbol, d, expiration), days)
        return dict(zip(days, captures, strict=True))

    def open_interest(self, symbol: str, day: date, expiration: date | None = None) -> pl.DataFrame:
        """Open interest of every contract as published on `day` (empty when none)."""
        params = {
            "symbol": symbol,
            "expiration": "*" if expiration is None else f"{expiration:%Y%m%d}",
            "date": f"{day:%Y%m%d}",
        }
        reply = self._fetch("/option/history/open_interest", params, _open_interest_frame)
        if reply.frame.is_empty():
            return pl.DataFrame(schema=OPEN_INTEREST_SCHEMA)
        return reply.frame

    def quotes(
        self, symbol: str, expiration: date, day: date, interval: str = "1m"
    ) -> QuoteCapture:
        """One day of interval quotes for every contract of one expiration (empty when none),
        on the minute grid of `quote_grid`. A request the terminal calls too large (570) is
        split into shorter time windows; the capture's payload is then the pieces' bodies in
        order and its request lists their sizes."""
        if interval not in INTERVALS:
            raise InvalidInput(f"interval {interval!r} is not one of {', '.join(INTERVALS)}")
        window = session_window(day)
        base = {"symbol": symbol, "expiration": f"{expiration:%Y%m%d}", "interval": interval}
        request = {
            "path": "/option/history/quote",
            **base,
            "date": f"{day:%Y%m%d}",
            **window,
            "format": self.fmt,
        }
        replies = [
            r for r in self._quote_split(base, day, day, *_window_ms(window)) if r.status == 200
        ]
        frames = [r.frame for r in replies if not r.frame.is_empty()]
        if not frames:
            return QuoteCapture(SOURCE, request, b"", pl.DataFrame(schema=QUOTE_SCHEMA))
        if len(replies) > 1:
            request = {
                **request,
                "requests": len(replies),
                "payload_sizes": [len(r.payload) for r in replies],
            }
        quotes = quote_grid(_merge_quotes(frames), symbol, expiration)
        return QuoteCapture(SOURCE, request, b"".join(r.payload for r in replies), quotes)

    def iter_quotes(
        self, symbol: str, expiration: date, days: Iterable[date], interval: str = "1m"
    ) -> Iterator[QuoteCapture]:
        """Day after day of quotes, in order, without holding more than the tier's cap of days:
        up to `concurrency` requests run ahead while the caller consumes (streams, never
        accumulates a month in memory)."""
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            ahead: deque = deque()
            for day in days:
                ahead.append(pool.submit(self.quotes, symbol, expiration, day, interval))
                if len(ahead) >= self.concurrency:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()

    def quote_history(
        self, symbol: str, expiration: date, start: date, end: date, interval: str = "1m"
    ) -> pl.DataFrame:
        """Interval quotes of one expiration over [start, end] in as few requests as the
        terminal allows: multi-day quote requests need an expiration and span at most a month,
        so the range is cut into month windows; a window the terminal calls too large (570) is
        halved, by days and then by time of day (empty when none). Rows are kept on each day's
        grid (`quote_grid`): one time window serves every day, so an early close's day is
        trimmed to its own session."""
        if end < start:
            raise InvalidInput(f"end {end} is before start {start}")
        if interval not in INTERVALS or INTERVALS.index(interval) < INTERVALS.index("1m"):
            raise InvalidInput(f"interval {interval!r}: multi-day quotes need 1m or longer")
        base = {"symbol": symbol, "expiration": f"{expiration:%Y%m%d}", "interval": interval}
        # The full day's window; each day's rows are trimmed to its own grid afterwards.
        window = _window_ms(FULL_DAY_WINDOW)
        frames = [
            r.frame
            for first, last in month_windows(start, end)
            for r in self._quote_split(base, first, last, *window)
            if r.status == 200 and not r.frame.is_empty()
        ]
        if not frames:
            return pl.DataFrame(schema=QUOTE_SCHEMA)
        return quote_grid(_merge_quotes(frames), symbol, expiration)

    def index_closes(self, symbol: str, start: date, end: date) -> pl.DataFrame:
        """Index closing levels (`trade_date`, `close`) over [start, end] (empty when none)."""
        params = {"symbol": symbol, "start_date": f"{start:%Y%m%d}", "end_date": f"{end:%Y%m%d}"}
        reply = self._fetch("/index/history/eod", params, _index_frame)
        if reply.frame.is_empty():
            return pl.DataFrame(schema={"trade_date": pl.Date(), "close": pl.Float64()})
        return reply.frame

    # -- machinery ---------------------------------------------------------------------------

    def _parallel(self, fn: Callable[[Any], T], items: list[Any]) -> list[T]:
        # The shared semaphore bounds requests across all callers; the pool only sizes threads.
        with ThreadPoolExecutor(max_workers=max(1, min(len(items), self.concurrency))) as pool:
            return list(pool.map(fn, items))

    def _eod_split(self, symbol: str, start: date, end: date, expiration: str) -> Iterator[_Reply]:
        params = {
            "symbol": symbol,
            "expiration": expiration,
            "start_date": f"{start:%Y%m%d}",
            "end_date": f"{end:%Y%m%d}",
        }
        try:
            reply = self._fetch("/option/history/eod", params, _eod_frame)
        except ThetaDataTooLarge:
            if start == end:
                raise ThetaDataTooLarge(
                    f"ThetaTerminal says one day of {symbol} EOD (expiration {expiration}) on "
                    f"{start} is too large (570): request fewer expirations at a time"
                ) from None
            middle = start + timedelta(days=(end - start).days // 2)
            logger.info("thetadata 570 for %s..%s: splitting at %s", start, end, middle)
            yield from self._eod_split(symbol, start, middle, expiration)
            yield from self._eod_split(symbol, middle + timedelta(days=1), end, expiration)
            return
        yield reply

    def _quote_split(
        self, base: dict[str, str], first: date, last: date, start_ms: int, end_ms: int
    ) -> Iterator[_Reply]:
        """Quotes of days [first, last] between two Eastern times of day (ms, inclusive): a
        570 halves the days, then the time window on whole minutes, down to one minute of one
        day, which raises ThetaDataTooLarge."""
        days = (
            {"date": f"{first:%Y%m%d}"}
            if first == last
            else {"start_date": f"{first:%Y%m%d}", "end_date": f"{last:%Y%m%d}"}
        )
        params = {**base, **days, "start_time": _clock(start_ms), "end_time": _clock(end_ms)}
        try:
            reply = self._fetch("/option/history/quote", params, _quote_frame)
        except ThetaDataTooLarge:
            if first < last:
                middle = first + timedelta(days=(last - first).days // 2)
                logger.info("thetadata 570 for quotes %s..%s: splitting at %s", first, last, middle)
                yield from self._quote_split(base, first, middle, start_ms, end_ms)
                yield from self._quote_split(
                    base, middle + timedelta(days=1), last, start_ms, end_ms
                )
                return
            half = (end_ms - start_ms + 1) // 2 // _MINUTE_MS * _MINUTE_MS
            if half == 0:
                raise ThetaDataTooLarge(
                    f"ThetaTerminal says one minute of {base['symbol']} quotes (expiration "
                    f"{base['expiration']}, interval {base['interval']}) on {first} from "
                    f"{_clock(start_ms)} is too large (570): use a longer interval"
                ) from None
            middle = start_ms + half
            logger.info(
                "thetadata 570 for quotes on %s %s..%s: splitting at %s",
                first,
                _clock(start_ms),
                _clock(end_ms),
                _clock(middle),
            )
            yield from self._quote_split(base, first, last, start_ms, middle - 1)
            yield from self._quote_split(base, first, last, middle, end_ms)
            return
        yield reply

    def _fetch(
        self,
        path: str,
        params: dict[str, str],
        mapper: Callable[[pl.DataFrame], pl.DataFrame] | None = None,
    ) -> _Reply:
        """One logical request: retried on transient faults (an unparseable body included, so
        `mapper` runs inside the loop), then parsed or mapped to an error."""
        params = {**params, "format": self.fmt}
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_retry_seconds),
            wait=wait_random_exponential(multiplier=self.backoff_initial, max=self.backoff_max),
            reraise=False,
        )
        try:
            return retrying(self._attempt, path, params, mapper)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            attempts = exc.last_attempt.attempt_number
            where = f"{self.base_url}{path} {params}"
            if isinstance(last, _Malformed):
                raise ThetaDataBadPayload(
                    f"ThetaTerminal returned an unparseable body {attempts} times for {where}: "
                    f"{last}"
                ) from last
            raise ThetaDataUnavailable(
                f"ThetaTerminal at {self.base_url} still failing after {attempts} attempts for "
                f"{path} {params}: {last}. Is the terminal running and connected? Retry later."
            ) from last

    def _attempt(
        self,
        path: str,
        params: dict[str, str],
        mapper: Callable[[pl.DataFrame], pl.DataFrame] | None,
    ) -> _Reply:
        url = f"{self.base_url}{path}"
        with self._tier_slot():
            started = time.perf_counter()
            count_request(SOURCE, path)
            try:
                response = self._http.get(url, params=params)
                payload = response.content
            except httpx.TransportError as exc:
                # Timeouts, refused or dropped connections, truncated bodies: all transient.
                ms = (time.perf_counter() - started) * 1000
                logger.info(
                    "thetadata GET %s %s -> %s in %.1f ms", path, params, type(exc).__name__, ms
                )
                count_error(SOURCE, "transport")
                raise _Transient(f"{type(exc).__name__}: {exc}") from exc
            ms = (time.perf_counter() - started) * 1000
        status = response.status_code
        if status not in (200, 472):
            count_error(SOURCE, f"http_{status}")
        if status == 429:
            count_pacing_violation(SOURCE)
        logger.info(
            "thetadata GET %s %s -> %d in %.1f ms (%d bytes)",
            path,
            params,
            status,
            ms,
            len(payload),
        )
        # Only error bodies are text worth decoding; a 200 may be megabytes of CSV.
        text = "" if status == 200 else response.text
        try:
            reply = self._classify(path, params, status, payload, text)
            if mapper is not None and status == 200:
                reply = _Reply(status, payload, mapper(reply.frame))
        except _Malformed:
            count_error(SOURCE, "malformed")
            raise
        return reply

    @contextmanager
    def _tier_slot(self) -> Iterator[None]:
        """Hold one of the tier's request slots, counting the wait when all were taken."""
        if not self._slots.acquire(blocking=False):
            started = time.perf_counter()
            self._slots.acquire()
            count_pacing_wait(SOURCE, time.perf_counter() - started)
        try:
            yield
        finally:
            self._slots.release()

    def _classify(
        self, path: str, params: dict[str, str], status: int, payload: bytes, text: str
    ) -> _Reply:
        message = text.strip()[:300]
        if status == 200:
            return _Reply(status, payload, _parse(payload, self.fmt))
        if status == 472:
            # No data (holiday, nothing listed): an empty answer, not a failure.
            return _Reply(status, payload, pl.DataFrame())
        if status == 471 and path.startswith("/index/"):
            raise ThetaDataPermission(
                f"ThetaData refused index data at {path} (471: {message}): index data is a "
                "separate ThetaData subscription from options; add it, or do without the index "
                "(option chains then take their underlying from put-call parity)"
            )
        if status == 471:
            raise ThetaDataPermission(
                f"ThetaData subscription tier too low for {path} (471: {message}); the client is "
                f"configured as tier {self.tier!r}: upgrade the subscription or request less"
            )
        if status == 473:
            names = ", ".join(f"{k}={v}" for k, v in params.items())
            raise ThetaDataBadRequest(
                f"ThetaTerminal rejected a parameter of {path} (473: {message}); sent {names}"
            )
        if status == 476:
            raise ThetaDataWrongHost(
                f"ThetaTerminal refused the request (476: {message}): requests from 127.0.0.1 and "
                "localhost were mixed; use one host name (127.0.0.1) everywhere"
            )
        if status == 570:
            names = ", ".join(f"{k}={v}" for k, v in params.items())
            raise ThetaDataTooLarge(
                f"ThetaTerminal refused {path} as too large (570: {message}); sent {names}: ask "
                "for less at once (one expiration, a shorter date range or time window)"
            )
        if status == 404:
            host = httpx.URL(self.base_url).host or "127.0.0.1"
            raise ThetaDataBadRequest(
                f"{self.base_url}{path} answered 404: this is not a v3 terminal URL: use "
                f"http://{host}:25503/v3 (the v2 API is not supported); set thetadata_url"
            )
        if status in _TRANSIENT_STATUS or status >= 500:
            raise _Transient(f"HTTP {status}: {message}")
        raise ThetaDataBadRequest(f"ThetaTerminal answered {status} to {path} {params}: {message}")


#: The index-options session of a full day (Eastern, inclusive): what a multi-day request
#: asks for, whatever each day's own session.
FULL_DAY_WINDOW = {"start_time": "09:30:00.000", "end_time": "16:14:59.999"}
_MINUTE_MS = 60_000


def session_window(day: date) -> dict[str, str]:
    """`start_time`/`end_time` (Eastern, inclusive) spanning `day`'s index-options session:
    09:30 to the last millisecond before the close (16:15, or 13:15 on an early close); the
    full day's window on a day without a session (the terminal then answers no data).

    The platform's minute grid holds, for each minute the contract trades, the quote in force
    at the minute's start: stamps 09:30 … 16:14 (an expiring contract's last is 15:59, the
    minute before its 16:00 settlement). The terminal stamps an interval quote with the instant
    it samples (the last quote at that timestamp) and its `end_time` is inclusive, so asking up
    to the close would add a 16:15:00 row off the grid: that closing quote is the EOD report's,
    which the EOD chain carries."""
    bounds = session_bounds(day)
    if bounds is None:
        return dict(FULL_DAY_WINDOW)
    open_, close = (b.astimezone(_ET) for b in bounds)
    last = close - timedelta(milliseconds=1)
    return {
        "start_time": open_.strftime("%H:%M:%S.000"),
        "end_time": last.strftime("%H:%M:%S.") + f"{last.microsecond // 1000:03d}",
    }


def quote_grid(quotes: pl.DataFrame, symbol: str, expiration: date) -> pl.DataFrame:
    """`quotes` (QUOTE_SCHEMA) kept on the platform's minute grid (see `session_window`): stamps
    within their day's session, before its close, and before the expiration's settlement. The
    terminal samples an expiring contract at its 16:00:00 settlement too (and repeats a stale
    quote after it): that row is the settlement's, not a traded minute's."""
    if quotes.is_empty():
        return quotes
    settle = settlement(symbol, expiration)
    local = pl.col("ts").dt.convert_time_zone(str(_ET))
    days = quotes.select(local.dt.date().unique()).to_series().to_list()
    bounds = {d: session_bounds(d) for d in days}
    ends = {d: min(b[1], settle) for d, b in bounds.items() if b is not None}
    opens = {d: b[0] for d, b in bounds.items() if b is not None}
    day = local.dt.date()
    dtype = pl.Datetime("ns", "UTC")
    open_ = day.replace_strict(opens, default=None, return_dtype=dtype)
    end = day.replace_strict(ends, default=None, return_dtype=dtype)
    return quotes.filter((pl.col("ts") >= open_) & (pl.col("ts") < end))


def _merge_quotes(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """Quote pieces of split requests in the terminal's order: by contract, then by time."""
    if len(frames) == 1:
        return frames[0]
    return pl.concat(frames).sort("root", "expiration", "strike", "right", "ts")


def _window_ms(window: dict[str, str]) -> tuple[int, int]:
    """A `start_time`/`end_time` window as milliseconds of the day."""
    start, end = (datetime.strptime(window[k], "%H:%M:%S.%f").time() for k in window)
    return _ms_of_day(start), _ms_of_day(end)


def _ms_of_day(at: clock_time) -> int:
    return ((at.hour * 60 + at.minute) * 60 + at.second) * 1000 + at.microsecond // 1000


def _clock(ms: int) -> str:
    """Milliseconds of the day as the terminal's `HH:MM:SS.mmm`."""
    seconds, milli = divmod(ms, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}"


def month_windows(start: date, end: date) -> list[tuple[date, date]]:
    """[start, end] cut into windows of at most one month each: a window ends the day before
    the same day of the next month (clipped to that month's length)."""
    windows = []
    first = start
    while first <= end:
        year, month = first.year + first.month // 12, first.month % 12 + 1
        limit = date(year, month, min(first.day, calendar.monthrange(year, month)[1]))
        last = min(end, limit - timedelta(days=1))
        windows.append((first, last))
        first = last + timedelta(days=1)
    return windows
