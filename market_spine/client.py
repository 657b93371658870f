"""`Spine`: the read API for notebooks — bars by symbol and time range as polars frames, as of
any past version, and SQL over DuckDB where every dataset is a view."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from market_spine.audit.reads import FAILED, audit_read
from market_spine.certification.readiness import (
    READINESS_VIEW,
    Readiness,
    ReadinessQuery,
    current_sql,
)
from market_spine.certification.status import CertificationStates
from market_spine.certification.tables import READINESS_LOG
from market_spine.errors import InvalidInput, NotMaterialized, UnknownSymbol
from market_spine.futures import keys as futures_keys
from market_spine.lake import Lake
from market_spine.lake.arrow import empty_table
from market_spine.lake.journal import journal_apart
from market_spine.lake.sql import attach, lost_table_sql, refused_by, view_sql
from market_spine.markets import calendars, empty_reads
from market_spine.markets.dates import parse_range
from market_spine.markets.empty_reads import EmptyReadWarning, EmptyReason
from market_spine.markets.expirations import ROOTS
from market_spine.markets.instruments import get_instrument
from market_spine.markets.rolls import continuous_symbol, is_continuous
from market_spine.options import keys as options_keys
from market_spine.security.identity import Identity
from market_spine.settings import Settings

if TYPE_CHECKING:
    from market_spine.certification.pins import CertifiedRead

BARS_1M = futures_keys.table(futures_keys.NORMALIZED_BARS)
BARS_DAILY = futures_keys.table(futures_keys.DAILY_BARS)
CONTINUOUS_1M = futures_keys.table(futures_keys.CONTINUOUS_BARS)
CONTINUOUS_DAILY = futures_keys.table(futures_keys.CONTINUOUS_DAILY)
ROLLS = futures_keys.table(futures_keys.ROLLS)
OPTION_CHAIN = options_keys.table(options_keys.NORMALIZED_CHAIN)
OPTION_GREEKS = options_keys.table(options_keys.GREEKS)
OPTION_QUOTES = options_keys.table(options_keys.RAW_QUOTES)
VOL_SURFACE = options_keys.table(options_keys.SURFACE)
#: The certified dataset whose certifications a read `as_certified` follows: the dataset itself,
#: or the one it is derived from.
CERTIFIED_BY = {
    BARS_1M: BARS_1M,
    BARS_DAILY: BARS_1M,
    OPTION_CHAIN: OPTION_CHAIN,
    OPTION_GREEKS: OPTION_CHAIN,
    VOL_SURFACE: OPTION_CHAIN,
}
#: The datasets whose partitions are judged as they are computed, so readiness knows them:
#: the certified ones and every dataset derived from them, in lineage order (company datasets:
#: `readiness_datasets()`).
READINESS_DATASETS = (
    BARS_1M,
    BARS_DAILY,
    CONTINUOUS_1M,
    CONTINUOUS_DAILY,
    OPTION_QUOTES,
    OPTION_CHAIN,
    OPTION_GREEKS,
    VOL_SURFACE,
)


#: Why a read of daily bars refuses a timestamp: what Spine and the API both say.
DAILY_BY_DATE = "daily bars are selected by trade date: pass dates like '2024-03-05'"


def uncertified_series(dataset: str, symbol: str | None) -> str:
    """Why a continuous series (`symbol`, of `dataset`) cannot be read as_certified, and what
    to read instead. Its sessions are judged from the root's minutes, so its rows carry a
    `certification`, but no certification pins a version of the series' own table."""
    series = continuous_symbol(symbol) if symbol else None
    name = series.name if series else "a continuous series"
    root = series.root if series else "ROOT"
    return (
        f"{name} has no certified versions of its own ({dataset} is built from the root's "
        "minutes and judged with them, so its rows say their `certification`, but no "
        f"certification pins a version of it): read the root as_certified (symbol {root}) "
        f"for the certified minutes, or read {name} with certified_only, refused when any "
        "session it holds is not certified"
    )


def readiness_datasets() -> tuple[str, ...]:
    """Every dataset readiness may hold: the market's (READINESS_DATASETS) and each company
    dataset's silver table this process knows (the package's and its home's)."""
    from market_spine.company.catalog import COMPANY_DATASETS

    company = (s.name for s in COMPANY_DATASETS if s.layer == "normalized")
    return (*READINESS_DATASETS, *company)


def view_name(dataset: str) -> str:
    """SQL name of a dataset: normalized and analytics by bare name, other layers prefixed."""
    layer, name = dataset.split("/")
    return name if layer in ("normalized", "analytics") else f"{layer}_{name}"


def readiness_symbols() -> list[str]:
    """The symbols readiness may hold: every configured futures root and the option roots."""
    from market_spine.markets.instruments import known_symbols

    return [*known_symbols(), *ROOTS]


class Spine:
    """A handle on one Market Spine home; cheap to create, caches table indexes across reads.

    A read that finds no rows warns with an `EmptyReadWarning` saying why (no session then, in
    the future, or not loaded yet); `warn_empty=False` leaves the asking to `empty_reason`.

    Opened with an API `key` (or an `identity`), company datasets are read as that identity
    may see them on every path (`dataset`, `sql`, `catalog`): its tenant's rows only, personal
    data masked without the `pii` scope. Without one, the home's owner reads everything.
    """

    def __init__(
        self,
        home: str | Path | None = None,
        settings: Settings | None = None,
        *,
        warn_empty: bool = True,
        key: str | None = None,
        identity: Identity | None = None,
    ) -> None:
        if settings is None:
            settings = Settings.from_env({"MARKET_SPINE_HOME": str(home)} if home else None)
        self.settings = settings
        from market_spine.company.home_defs import use_home

        # The home's own company datasets join the catalog and readiness this Spine serves.
        use_home(settings.home)
        self.warn_empty = warn_empty
        self.lake: Lake = settings.lake()
        self._con: duckdb.DuckDBPyConnection | None = None
        #: A keyed Spine's private connection computing its scoped tables; `_con` is locked.
        self._scratch: duckdb.DuckDBPyConnection | None = None
        self._locked = False
        self._registered: dict[str, int | None] = {}
        self._states = CertificationStates(self.lake)
        self._readiness = Readiness(self.lake)
        if key is not None:
            identity = _key_identity(settings.home, key)
        self.identity = identity

    @property
    def certification_states(self) -> CertificationStates:
        """The certifications this Spine's reads attach, cached per version of the ledger."""
        return self._states

    def _audit(
        self, action: str, dataset: str, params: dict[str, object], outcome: str = "ok"
    ) -> None:
        """Audit a read under this Spine's identity (its key's, or the OS user's without
        one) with its `outcome`: `ok`, or `failed` for a query that raised."""
        actor = self.identity.actor if self.identity is not None else None
        audit_read(self.settings.home, action, dataset, params, actor=actor, outcome=outcome)

    def dataset(self, name: str) -> pl.DataFrame:
        """A company dataset's silver rows (`clients` or `normalized/company_clients`), as
        this Spine's identity may see them, each with its partition's `certification` (as
        `bars`); none warns (EmptyReadWarning) saying why."""
        from market_spine.company import reading, tenancy

        identity = self.identity or _owner()
        table = reading.silver_name(name, identity)
        self._refuse("spine.dataset", {table: tenancy.refusal(table, identity)}, name=name)
        self._audit("spine.dataset", table, {"name": name})
        rows = reading.read(self.lake, table, identity, self.settings.home, self._states)
        if rows.is_empty() and self.warn_empty:
            from market_spine.company.empty_reads import why_empty

            admin = identity.role == "admin"
            reason = why_empty(self.lake, table, self.settings.home, identity.tenant, admin=admin)
            warnings.warn(EmptyReadWarning(reason), stacklevel=2)
        return rows

    def bars(
        self,
        symbol: str,
        start: str | date | datetime,
        end: str | date | datetime | None = None,
        as_of: int | datetime | str | None = None,
        columns: list[str] | None = None,
        certified_only: bool = False,
        as_certified: str | date | None = None,
        flags: bool = False,
        adjust: str = "none",
    ) -> pl.DataFrame:
        """1-minute bars of a root (`CL`) or of a continuous series (`CL.c.0` by the calendar
        roll, `CL.v.0` by the volume roll; rank 1 is the next contract): dates select whole
        trade dates (inclusive), timestamps select bar opens in [start, end); `as_of` reads the
        table as of a version or a timestamp.

        A continuous series is unadjusted by default; `adjust="difference"` or `"ratio"`
        back-adjusts it to the last bar read (its prices are the traded ones, earlier ones move
        by the gaps or ratios of the rolls in between, in an `adjustment` column); the series'
        `contract` column says which contract each bar is. Rolls: `rolls(root, ...)`.

        Each row's `certification` column says its session's state (certified, preliminary,
        revised, failed); `certified_only=True` raises NotCertified, naming the sessions, when
        any row is not certified. `as_certified=DATE` reads what was certified by the end of
        that day, UTC: each session at the version its newest certification by then names,
        every row `certified`; sessions never certified by then are left out and named in a
        LeftOutWarning (NotCertified when nothing was certified by then). `flags=True` adds
        the anomaly checks' flags on each bar: `flag_kinds` (comma-separated, null when none) and
        `flag_score` (the worst; 1 = at the check's threshold). A continuous series has
        no certified reads of its own: `as_certified` is refused for it."""
        rows, dataset = self._bar_rows(
            (BARS_1M, CONTINUOUS_1M),
            symbol,
            (start, end),
            as_of,
            as_certified,
            columns,
            adjust,
            certified_only,
        )
        if flags and dataset == BARS_1M:
            rows = self._flagged(rows, BARS_1M, {"symbol": "instrument", "ts": "ts"})
        self._warn_if_partial(rows, symbol, start, end, (as_of, as_certified))
        return self._warn_if_empty(rows, dataset, symbol, start, end, as_of=as_of)

    def _bar_rows(
        self,
        datasets: tuple[str, str],
        symbol: str,
        span: tuple[object, object],
        as_of: int | datetime | str | None,
        as_certified: str | date | None,
        columns: list[str] | None,
        adjust: str,
        certified_only: bool,
    ) -> tuple[pl.DataFrame, str]:
        """A root's bars from `datasets[0]`, or a continuous series' from `datasets[1]`
        (adjusted as `adjust` says), with their certification; and the dataset read."""
        plain, continuous = datasets
        if is_continuous(symbol):
            continuous_symbol(symbol)  # a name not served is refused before anything is read
            version, states = self._as_certified(continuous, as_of, as_certified, symbol)
            rows = self._continuous(continuous, symbol, *span, version, columns, adjust)
            return self._certified(rows, certified_only, states, continuous), continuous
        advice = self.contract_advice(symbol, span[0])  # type: ignore[arg-type]
        if advice is not None:
            raise UnknownSymbol(advice)
        _unadjusted(symbol, adjust)
        version, states = self._as_certified(plain, as_of, as_certified)
        rows = self._read(plain, symbol, *span, version, columns)
        return self._certified(rows, certified_only, states, plain), plain

    def contract_advice(self, symbol: str, start: str | date | datetime) -> str | None:
        """For an outright contract (`ESM4`) where bars read a root or a series: the series
        that holds it on `start`'s trade date, and the capture or import that loads its bars
        when the lake holds none (`empty_reads.contract_read`); None for any other symbol or
        a `start` that does not parse (the read reports that)."""
        try:
            lo, _ = parse_range(start, None)
        except InvalidInput:
            return None
        near = lo.date() if isinstance(lo, datetime) else lo
        contract = empty_reads.outright_contract(symbol, near)
        if contract is None:
            return None
        session = calendars.session_at(contract.root, lo) if isinstance(lo, datetime) else None
        day = session.trade_date if session is not None else near
        series = empty_reads.contract_series(contract, day)
        loaded = False
        if series is not None and self.lake.exists(CONTINUOUS_1M):
            held = self.lake.read(
                CONTINUOUS_1M,
                equals={"symbol": contract.root, "series": series},
                between={"trade_date": (day, day)},
                columns=["contract"],
            )
            loaded = contract.local_symbol in held["contract"].to_list()
        raw = futures_keys.table(futures_keys.RAW_BARS)
        imported = (
            self.lake.exists(raw)
            and "file"
            in self.lake.read(
                raw,
                equals={"symbol": contract.root},
                between={"trade_date": (day, day)},
                columns=["source"],
            )["source"].to_list()
        )
        return empty_reads.contract_read(contract, day, loaded, imported)

    def _flagged(
        self, rows: pl.DataFrame, dataset: str | tuple[str, ...], on: dict[str, str]
    ) -> pl.DataFrame:
        """`rows` with the flags `dataset`'s checks found on them (flag_kinds, flag_score),
        matched on `on`."""
        from market_spine.certification.flags import read_with_flags

        return read_with_flags(self.lake, rows, dataset, on)

    def certified_read(
        self, dataset: str, as_certified: str | date, symbol: str | None = None
    ) -> CertifiedRead:
        """Where a read of `dataset` (of `symbol`, when one is read) `as_certified` a date goes:
        the version certified by the end of that day (UTC), following CERTIFIED_BY for derived
        datasets. NotCertified when nothing was certified by then; InvalidInput for a dataset
        that is never certified, and for a continuous series (`uncertified_series`)."""
        from market_spine.certification.pins import certified_version

        if dataset in (CONTINUOUS_1M, CONTINUOUS_DAILY):
            raise InvalidInput(uncertified_series(dataset, symbol))
        if dataset not in CERTIFIED_BY:
            raise InvalidInput(
                f"{dataset} is not certified, so it cannot be read as_certified; certified "
                f"reads cover {', '.join(CERTIFIED_BY)}"
            )
        return certified_version(self.lake, dataset, as_certified, CERTIFIED_BY[dataset])

    def _as_certified(
        self,
        dataset: str,
        as_of: int | datetime | str | None,
        as_certified: str | date | None,
        symbol: str | None = None,
    ) -> tuple[int | datetime | str | CertifiedRead | None, CertificationStates]:
        """Where a read goes and the certification states to attach: `as_of` and the states
        as they stood at that version (today's without it), or each partition as certified by
        the end of `as_certified` (a CertifiedRead, for `_lake_read`), all of them certified."""
        if as_certified is None:
            if as_of is None or dataset not in CERTIFIED_BY:
                return as_of, self._states
            from market_spine.certification.pins import version_states

            return as_of, version_states(self.lake, dataset, as_of, CERTIFIED_BY[dataset])
        if as_of is not None:
            raise InvalidInput(
                "pass as_of (a version or an instant) or as_certified (a date), not both"
            )
        from market_spine.certification.pins import CertifiedStates

        read = self.certified_read(dataset, as_certified, symbol)
        return read, CertifiedStates(self.lake, read)

    def _lake_read(
        self,
        dataset: str,
        equals: dict[str, object],
        between: dict[str, tuple[object, object]],
        columns: list[str] | None,
        at: int | datetime | str | CertifiedRead | None,
    ) -> pl.DataFrame:
        """`dataset`'s matching rows as of `at`: a version or an instant, or a certified read,
        each partition as it was certified (those never certified by then left out, said in a
        LeftOutWarning unless `warn_empty` is off)."""
        from market_spine.certification.pins import CertifiedRead, LeftOutWarning, read_certified

        if not isinstance(at, CertifiedRead):
            return self.lake.read(
                dataset, equals=equals, between=between, columns=columns, as_of=at
            )
        found = read_certified(self.lake, at, equals, between, columns)
        if found.left_out and self.warn_empty:
            warnings.warn(LeftOutWarning(at.describe(found.left_out)), stacklevel=4)
        return found.rows

    def rolls(
        self,
        symbol: str,
        start: str | date | datetime,
        end: str | date | datetime | None = None,
        as_of: int | datetime | str | None = None,
    ) -> pl.DataFrame:
        """The roll table of a root (or of one continuous series, `CL.v.0`) for rolls taking
        effect on trade dates [start, end]: when, from and to which contract, and the gap and
        ratio between them at the last minute both traded. Without `end`, up to the latest
        trade date (`calendars.latest_trade_date`). None warns (EmptyReadWarning) saying why,
        as the API's `empty_reason` does: `no_roll`, `future` or `not_loaded`."""
        root = get_instrument(symbol.split(".")[0]).root
        lo, hi = parse_range(start, end)
        lo, hi = _day(lo), _day(hi)
        if end is None:
            hi = rolls_end(root, lo)
        equals: dict[str, object] = {"symbol": root}
        if is_continuous(symbol):
            equals["series"] = continuous_symbol(symbol).name
        rows = self.lake.read(ROLLS, equals=equals, between={"trade_date": (lo, hi)}, as_of=as_of)
        return self._warn_if_empty(
            rows.sort("trade_date", "series"), ROLLS, symbol, lo, hi, as_of=as_of
        )

    def _continuous(self, dataset, symbol, start, end, as_of, columns, adjust) -> pl.DataFrame:
        """One continuous series' rows of `dataset`, back-adjusted as `adjust` says."""
        from market_spine.futures.continuous import adjustment_name, back_adjust, unadjustable

        how = adjustment_name(adjust)
        series = continuous_symbol(symbol)
        # The contract each bar holds shows the rolls inside the read, even when not asked for.
        asked = columns if how != "none" and columns and "contract" not in columns else None
        wanted = [*columns, "contract"] if asked is not None else columns
        rows = self._read(dataset, series.root, start, end, as_of, wanted, series=series.name)
        if how == "none" or rows.is_empty():
            return rows
        first, last = rows["trade_date"].min(), rows["trade_date"].max()
        rolled = self.lake.read(
            ROLLS,
            equals={"symbol": series.root, "series": series.name},
            between={"trade_date": (first, last)},
            as_of=self._time_of(dataset, as_of),
        )
        problem = unadjustable(series.name, rows, rolled, how, _RollFixes(self.lake, series.root))
        if problem is not None:
            raise InvalidInput(problem)
        adjusted = back_adjust(rows, rolled, how, at="ts" if "ts" in rows.columns else "trade_date")
        return adjusted.drop("contract") if asked is not None else adjusted

    def _time_of(self, dataset: str, as_of: int | datetime | str | None) -> datetime | str | None:
        """The instant a read `as_of` a version of `dataset` stands for, so the roll table is
        read as it was then (a version number is one table's own)."""
        if not isinstance(as_of, int):
            return as_of
        version = self.lake.resolve_version(dataset, as_of)
        entry = next(h for h in self.lake.history(dataset) if h.get("version") == version)
        return datetime.fromtimestamp(entry["timestamp"] / 1000, UTC)

    def _certified(
        self,
        rows: pl.DataFrame,
        certified_only: bool,
        states: CertificationStates,
        dataset: str = BARS_1M,
    ) -> pl.DataFrame:
        """Minute or daily bars with their session's certification as `dataset` (the one
        read) judged it: the state readiness shows for the same partition. Daily bars are
        judged as they are computed (`rules.derive`: preliminary while the minutes they come
        from are revised, never revised themselves); a continuous series as that series of its
        own partition of the root and day, judged apart from the root's other series."""
        from market_spine.certification.status import require_certified

        by = "series" if dataset in (CONTINUOUS_1M, CONTINUOUS_DAILY) else "symbol"
        rows = states.attach(rows, dataset, by_symbol=True, by=by)
        if certified_only:
            require_certified(rows, dataset, [by, "trade_date"], lambda: states.reasons(dataset))
        return rows

    def daily(
        self,
        symbol: str,
        start: str | date | datetime,
        end: str | date | datetime | None = None,
        as_of: int | datetime | str | None = None,
        certified_only: bool = False,
        as_certified: str | date | None = None,
        adjust: str = "none",
    ) -> pl.DataFrame:
        """Daily bars of a root or a continuous series (`CL.c.0`; `adjust` as in `bars`, the
        rolls taking effect at the session's start) for trade dates [start, end], each with its
        session's `certification` (as `bars`; `certified_only` and `as_certified` as there: the
        daily bars the runs that certified minutes by then wrote)."""
        lo, hi = parse_range(start, end)
        if isinstance(lo, datetime):
            raise InvalidInput(DAILY_BY_DATE)
        rows, dataset = self._bar_rows(
            (BARS_DAILY, CONTINUOUS_DAILY),
            symbol,
            (lo, hi),
            as_of,
            as_certified,
            None,
            adjust,
            certified_only,
        )
        self._warn_if_partial(rows, symbol, lo, hi, (as_of, as_certified))
        return self._warn_if_empty(rows, dataset, symbol, lo, hi, as_of=as_of)

    def _read(self, dataset, symbol, start, end, as_of, columns, series=None) -> pl.DataFrame:
        root = get_instrument(symbol).root
        lo, hi = parse_range(start, end)
        if isinstance(lo, datetime) and hi == lo:
            raise InvalidInput(
                "start and end timestamps are equal: the range [start, end) is empty"
            )
        between = _between(lo, hi)
        equals = {"symbol": root} if series is None else {"symbol": root, "series": series}
        rows = self._lake_read(dataset, equals, between, columns, as_of)
        # Files hold time order, but late writes (a backfilled gap) add files out of order.
        key = "ts" if "ts" in rows.columns else "trade_date"
        if key in rows.columns and not rows[key].is_sorted():
            rows = rows.sort(key)
        return rows

    def chain(
        self,
        root: str,
        day: str | date,
        expiration: str | date | None = None,
        as_of: int | datetime | str | None = None,
        certified_only: bool = False,
        as_certified: str | date | None = None,
        flags: bool = False,
    ) -> pl.DataFrame:
        """A day's EOD chain of SPX or SPXW with implied vols and greeks (one row per contract,
        `iv` null with an `iv_reason` where no vol exists), and the root's `certification` that
        day (the greeks' own, as readiness shows it: certified only when the chain they were
        computed from was and their own checks passed); `certified_only=True` raises
        NotCertified when the day is not certified; `as_certified=DATE` reads the greeks the
        runs that certified chains by the end of that day (UTC) wrote. `flags=True` adds the
        flags the chain's and the greeks' checks found on each contract (`flag_kinds`,
        `flag_score`, as `bars`): crossed quotes, arbitrage, unsolved or implausible vols,
        put-call parity breaches."""
        version, states = self._as_certified(OPTION_GREEKS, as_of, as_certified)
        root = _option_root(root)
        trade_date = _one_date(day, "day")
        expiry = None if expiration is None else _one_date(expiration, "expiration")
        equals: dict[str, object] = {"root": root}
        if expiry is not None:
            equals["expiration"] = expiry
        rows = self._lake_read(
            OPTION_GREEKS, equals, {"trade_date": (trade_date, trade_date)}, None, version
        )
        rows = rows.sort("expiration", "right", "strike")
        if as_certified is not None:
            # Read as the chains certified by then: every day it holds is certified.
            rows = states.attach(rows, OPTION_CHAIN, by_symbol=False)
        else:
            if as_of is not None:
                from market_spine.certification.pins import version_states

                states = version_states(self.lake, OPTION_GREEKS, as_of, OPTION_GREEKS)
            # The greeks' own judgment, per root: the chain's says nothing of the vols
            # solved from it, nor of a chain certified after they were computed.
            rows = states.attach(rows, OPTION_GREEKS, by_symbol=True, by="root")
        if certified_only:
            from market_spine.certification.status import require_certified

            require_certified(
                rows, OPTION_GREEKS, ["root", "trade_date"], lambda: states.reasons(OPTION_GREEKS)
            )
        if flags:
            rows = self._flagged(rows, (OPTION_CHAIN, OPTION_GREEKS), {"osi": "instrument"})
        return self._warn_if_empty(
            rows,
            OPTION_GREEKS,
            root,
            trade_date,
            None,
            expiry,
        )

    def quotes(
        self,
        day: str | date,
        expiration: str | date | None = None,
        as_of: int | datetime | str | None = None,
    ) -> pl.DataFrame:
        """A day's 1-minute SPXW quotes (the nearest expirations), from the newest capture of each
        expiration: one row per contract and minute."""
        trade_date = _one_date(day, "day")
        expiry = None if expiration is None else _one_date(expiration, "expiration")
        equals: dict[str, object] = {"root": "SPXW"}
        if expiry is not None:
            equals["expiration"] = expiry
        rows = self.lake.read(
            OPTION_QUOTES,
            equals=equals,
            between={"trade_date": (trade_date, trade_date)},
            as_of=as_of,
        )
        newest = rows.group_by("expiration").agg(pl.col("capture_id").max())
        rows = rows.join(newest, on=["expiration", "capture_id"]).sort(
            "expiration", "right", "strike", "ts"
        )
        return self._warn_if_empty(rows, OPTION_QUOTES, "SPXW", trade_date, None, expiry)

    def surface(
        self,
        day: str | date,
        as_of: int | datetime | str | None = None,
        as_certified: str | date | None = None,
    ) -> pl.DataFrame:
        """A day's volatility surface summary: per root and expiry, ATM vol, 25-delta RR and BF
        (`as_certified` as in `chain`)."""
        trade_date = _one_date(day, "day")
        version, _ = self._as_certified(VOL_SURFACE, as_of, as_certified)
        rows = self._lake_read(
            VOL_SURFACE, {}, {"trade_date": (trade_date, trade_date)}, None, version
        )
        return self._warn_if_empty(
            rows.sort("root", "expiration"), VOL_SURFACE, None, trade_date, None
        )

    def empty_reason(
        self,
        dataset: str,
        symbol: str | None,
        start: str | date | datetime,
        end: str | date | datetime | None = None,
        expiration: date | None = None,
        as_of: int | datetime | str | None = None,
    ) -> EmptyReason:
        """Why a read of `dataset` over [start, end] (`as_of` a version or an instant) found
        no rows: `predates` (the version read is older than the rows the lake holds now),
        `no_session` (a weekend or holiday), `future`, `not_loaded` (run `process` for it; for
        a continuous series on a loaded session, the contract it holds that has no bars),
        `not_listed` (the day is loaded, the expiration is not among its expirations) or, for
        the roll table, `no_roll` (no roll falls in the range)."""
        lo, hi = parse_range(start, end)
        futures = (BARS_1M, BARS_DAILY, CONTINUOUS_1M, CONTINUOUS_DAILY, ROLLS)
        root = get_instrument((symbol or "").split(".")[0]).root if dataset in futures else ""
        if dataset == ROLLS and end is None:
            hi = rolls_end(root, _day(lo))
        if as_of is not None and dataset in futures:
            equals: dict[str, object] = {"symbol": root}
            if symbol and is_continuous(symbol):
                equals["series"] = continuous_symbol(symbol).name
            span = (_day(lo), _day(hi)) if dataset == ROLLS else (lo, hi)
            older = self._predates(dataset, equals, _between(*span), as_of)
            if older is not None:
                return older
        if dataset == ROLLS:
            return empty_reads.rolls(root, _day(lo), _day(hi))
        if dataset in (CONTINUOUS_1M, CONTINUOUS_DAILY) and symbol and is_continuous(symbol):
            absent = self._absent_contract(symbol, _day(lo), _day(hi))
            if absent is not None:
                return absent
        if dataset in (BARS_1M, BARS_DAILY) and symbol and not is_continuous(symbol):
            # A root is its front contract alone: a session holding only other months is
            # missing the front, never served another month's bars.
            absent = self._absent_contract(f"{root}.c.0", _day(lo), _day(hi), front=True)
            if absent is not None:
                return absent
        if dataset in (BARS_1M, BARS_DAILY, CONTINUOUS_1M, CONTINUOUS_DAILY):
            return empty_reads.futures_bars(root, lo, hi)
        day = lo.date() if isinstance(lo, datetime) else lo
        if expiration is not None and self.lake.exists(dataset):
            held = self.lake.read(
                dataset, between={"trade_date": (day, day)}, columns=["expiration"]
            )["expiration"]
            if not held.is_empty():
                return empty_reads.not_listed(day, expiration, held.unique().sort().to_list())
        return empty_reads.option_day(day)

    def _predates(
        self,
        dataset: str,
        equals: dict[str, object],
        between: dict[str, tuple[object, object]],
        as_of: int | datetime | str,
    ) -> EmptyReason | None:
        """`empty_reads.predates` when the version `as_of` names holds no rows matching while
        the newest does, with the first version that holds them (found by halving the
        versions between, since rows once written stay); None otherwise."""
        from deltalake.exceptions import DeltaError

        if not self.lake.exists(dataset):
            return None
        asked = self.lake.resolve_version(dataset, as_of)
        newest = self.lake.resolve_version(dataset, None)

        def holds(version: int | None) -> bool:
            try:
                found = self.lake.read(
                    dataset, equals=equals, between=between, columns=["symbol"], as_of=version
                )
            except (DeltaError, FileNotFoundError):
                return False  # pruned past retention: it cannot be read, so cannot be named
            return not found.is_empty()

        if asked >= newest or not holds(None):
            return None
        lo, hi = asked + 1, newest
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if holds(mid) else (mid + 1, hi)
        return empty_reads.predates(dataset, asked, lo if holds(lo) else None)

    def _absent_contract(
        self, symbol: str, lo: date, hi: date, front: bool = False
    ) -> EmptyReason | None:
        """Why a continuous series has no bars on sessions the lake holds bars of: the
        contract it holds was never captured or imported (`futures.rolls.AbsentContract`,
        naming it and the contract its rank counts from); None when no loaded session explains
        it. `front`: the series is `ROOT.c.0` read as its root, whose front contract is named
        as the root's."""
        from market_spine.futures.roll_table import absent_series
        from market_spine.markets import calendars

        series = continuous_symbol(symbol)
        days = calendars.trading_days(series.root, lo, hi)
        found = [
            a
            for held in absent_series(self.lake, series.root, days).values()
            for a in held
            if a.series == series.name
        ]
        if not found:
            return None
        more = f" (and {len(found) - 1} more sessions)" if len(found) > 1 else ""
        said = found[0].front_reason(series.root) if front else found[0].reason()
        return EmptyReason(empty_reads.NOT_LOADED, said + more)

    def _warn_if_partial(
        self,
        rows: pl.DataFrame,
        symbol: str,
        start: str | date | datetime,
        end: str | date | datetime | None,
        pinned: tuple[object, object],
    ) -> None:
        """PartialReadWarning when bars read over whole trade dates hold some of the range's
        opened sessions but not all (`missing_sessions`); an empty read says why in its own
        warning. Not for a read of the past (`pinned`: its as_of and as_certified; one set
        reads the past, which names what it leaves out itself)."""
        if not self.warn_empty or any(p is not None for p in pinned):
            return
        found = self.missing_sessions(symbol, start, end, rows)
        if found is not None:
            warnings.warn(empty_reads.PartialReadWarning(found[1]), stacklevel=3)

    def missing_sessions(
        self,
        symbol: str,
        start: str | date | datetime,
        end: str | date | datetime | None,
        rows: pl.DataFrame,
    ) -> tuple[list[date], str] | None:
        """The trade dates in [start, end] on which `symbol`'s root had a session that has
        opened, but of which `rows` (bars read over those whole trade dates, with their
        `trade_date` column) hold none, and a sentence naming them with the command that loads
        them; None when nothing is missing, the read is empty (its reason says why) or by time."""
        if rows.is_empty() or "trade_date" not in rows.columns:
            return None
        lo, hi = parse_range(start, end)
        if isinstance(lo, datetime):
            return None
        root = get_instrument(symbol.split(".")[0]).root
        present = set(rows["trade_date"].unique().to_list())
        missing = empty_reads.missing_sessions(root, lo, hi, present)
        if not missing:
            return None
        return missing, empty_reads.partial(symbol, root, lo, hi, missing)

    def _warn_if_empty(
        self,
        rows: pl.DataFrame,
        dataset: str,
        symbol: str | None,
        start: str | date | datetime,
        end: str | date | datetime | None,
        expiration: date | None = None,
        as_of: int | datetime | str | None = None,
    ) -> pl.DataFrame:
        # Every dataset read ends here: the one place it joins the audit trail.
        params = {"symbol": symbol, "start": start, "end": end, "rows": rows.height}
        if expiration is not None:
            params["expiration"] = expiration
        self._audit("spine.read", dataset, params)
        if rows.is_empty() and self.warn_empty:
            reason = self.empty_reason(dataset, symbol, start, end, expiration, as_of)
            # stacklevel 3: the warning points at the caller of bars()/chain()/..., not at Spine.
            warnings.warn(EmptyReadWarning(reason), stacklevel=3)
        return rows

    def changes(
        self, dataset: str, since: int | datetime | str | None = None, detail: bool = False
    ) -> pl.DataFrame:
        """What changed in `dataset` since a Delta version (the revisions that made a later
        version) or an instant (those recorded after it): one row per revised partition with
        rows added, removed and changed, the columns, their largest changes, and the old and
        new versions and captures. `detail=True` gives the rows behind them instead: each
        added or removed row and each changed value. A rerun that changed nothing is none.
        Opened with a key, a company table's revisions need the `pii` scope and no tenant
        (AccessRefused otherwise): they span every tenant in clear."""
        from market_spine.catalog.registry import CATALOG
        from market_spine.certification.changes import revision_rows, revisions_since
        from market_spine.company.tenancy import revisions_refusal

        name = CATALOG.get(dataset).name
        refused = {name: revisions_refusal(name, self.identity)}
        self._refuse("spine.changes", refused, since=None if since is None else str(since))
        found = revisions_since(self.lake, name, since)
        return revision_rows(self.lake, found["revision_id"].to_list()) if detail else found

    def readiness(
        self,
        dataset: str | list[str] | None = None,
        symbols: str | list[str] | None = None,
        start: str | date | None = None,
        end: str | date | None = None,
        *,
        now: datetime | None = None,
    ) -> pl.DataFrame:
        """Is the data ready: one row per dataset, symbol and trade date judged so far, from
        the summary kept as partitions are computed (no data is scanned). Columns (see
        `READINESS_DESCRIPTIONS`): dataset, trade_date, symbol, partition, state (certified,
        preliminary, revised, failed), completeness ((expected − missing) / expected), unit
        (minutes or expirations), expected, present, missing, no_trade, anomalies,
        worst_anomaly_score, worst_anomaly_kind, computed_at, capture_id, captured_at,
        final_at (UTC), freshness_lag_s (seconds, at `now`, default the wall clock), run_id,
        delta_version.

        Filters: `dataset` (one of `readiness_datasets()`, or a list), `symbols` (futures or
        option roots), trade dates [start, end] (dates; either may be open). A bad filter
        raises InvalidInput saying what to pass."""
        from market_spine.certification.readiness import parse_query

        query = parse_query(dataset, symbols, start, end, readiness_datasets(), readiness_symbols())
        return self.readiness_of(query, now=now)

    def readiness_of(self, query: ReadinessQuery, *, now: datetime | None = None) -> pl.DataFrame:
        """`readiness` for filters already checked (`certification.readiness.parse_query`);
        opened for a tenant, as `company.reading.readiness_as` keeps it to its rows."""
        from market_spine.company.reading import readiness_as

        rows = self._readiness.read(query, now or datetime.now(UTC))
        return readiness_as(self.lake, rows, self.identity)

    def catalog(self) -> pl.DataFrame:
        """Every dataset the platform declares, one row each, with live facts from the lake:
        rows, Delta version, newest partition and newest data timestamp (null until built)."""
        from market_spine.catalog.registry import CATALOG
        from market_spine.catalog.registry import facts as live_facts

        facts = live_facts(self.lake, list(CATALOG))
        if self.identity is not None and self.identity.tenant is not None:
            from market_spine.company.reading import tenant_facts

            facts = [
                tenant_facts(self.lake, spec.name, self.identity, fact)
                for spec, fact in zip(CATALOG, facts, strict=True)
            ]
        live = pl.DataFrame(
            {
                "rows": [f.get("rows") for f in facts],
                "delta_version": [f.get("delta_version") for f in facts],
                "newest_partition": [f.get("newest_partition") for f in facts],
                "newest_data_ts": [f.get("newest_data_ts") for f in facts],
                "last_commit": [f.get("last_commit") for f in facts],
            },
            schema={
                "rows": pl.Int64(),
                "delta_version": pl.Int64(),
                "newest_partition": pl.String(),
                "newest_data_ts": pl.String(),
                "last_commit": pl.String(),
            },
        ).with_columns(
            pl.col("newest_partition").str.to_date(),
            pl.col("newest_data_ts").str.to_datetime(time_unit="us", time_zone="UTC"),
            pl.col("last_commit").str.to_datetime(time_unit="us", time_zone="UTC"),
        )
        return pl.concat([CATALOG.frame(), live], how="horizontal")

    def describe(self, dataset: str) -> dict[str, object]:
        """One dataset's catalog entry (columns, schema history, lineage) with its live facts,
        including its last materialization in this home's Dagster instance (its row count as
        this Spine's identity sees it, as in `catalog`)."""
        from market_spine.catalog.registry import describe
        from market_spine.company.reading import tenant_facts
        from market_spine.home import existing_instance

        found = describe(dataset, self.lake, existing_instance(self.settings))
        found["facts"] = tenant_facts(self.lake, found["name"], self.identity, found["facts"])
        return found

    def warehouse_sql(
        self, query: str, timeout_s: float = 60.0, as_of: datetime | str | None = None
    ) -> pl.DataFrame:
        """Run SQL on the dbt warehouse (`marts.*`, `reference.*`) through a read-only DuckDB
        connection, under the warehouse's shared lock so it never meets a build mid-write.

        `as_of` (an instant with zone) answers from the warehouse as it would have been then:
        the marts built into a scratch DuckDB over each lake table's version current at that
        instant (tens of seconds: a whole dbt build), deleted afterwards; the home's warehouse
        file is never touched."""
        from market_spine.warehouse.paths import warehouse_path
        from market_spine.warehouse.reading import query_failed, read_only, refresh_published

        params = {"query": query, "as_of": as_of}
        if self.identity is not None and self.identity.tenant is not None:
            reason = (
                f"{self.identity.actor} is bound to tenant {self.identity.tenant}, and the "
                "warehouse's marts hold every tenant's rows: read company datasets with "
                "`dataset()` or `sql()`, which keep to your tenant"
            )
            self._refuse("spine.warehouse_sql", {"warehouse": reason}, **params)
        if as_of is not None:
            from market_spine.warehouse.as_of import warehouse_as_of

            with warehouse_as_of(self.settings, as_of) as past:
                try:
                    rows = past.sql(query)
                except InvalidInput as exc:
                    failed = {**params, "error": str(exc)}
                    self._audit("spine.warehouse_sql", "warehouse", failed, FAILED)
                    raise
            self._audit("spine.warehouse_sql", "warehouse", params)
            return rows

        refresh_published(self.settings.home, timeout_s, self.settings)
        path = warehouse_path(self.settings.home)
        if not path.is_file():
            raise NotMaterialized(
                f"the warehouse {path} has not been built yet: materialize the warehouse "
                "assets in the Dagster UI (group warehouse) or run `market-spine process`"
            )
        with read_only(self.settings.home, timeout_s) as con:
            try:
                rows = con.sql(query).pl()
            except duckdb.Error as exc:
                failed = {**params, "error": str(exc)}
                self._audit("spine.warehouse_sql", "warehouse", failed, FAILED)
                raise InvalidInput(query_failed(con, exc)) from None
        self._audit("spine.warehouse_sql", "warehouse", params)
        return rows

    def tables(self) -> list[str]:
        """SQL view names available to `sql`, one per dataset in the lake."""
        from market_spine.company.tenancy import refusal
        from market_spine.futures.continuous import ADJUSTED_VIEW

        datasets = [d for d in self.lake.datasets() if refusal(d, self.identity) is None]
        names = [view_name(d) for d in datasets]
        if READINESS_LOG in datasets:
            names.append(READINESS_VIEW)
        if CONTINUOUS_1M in datasets and ROLLS in datasets:
            names.append(ADJUSTED_VIEW)
        return sorted(names)

    def connection(self) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection where every dataset is a view (bare name, and `<layer>.<name>`)
        over the files of its latest version; views follow new versions on each call."""
        if self._con is None:
            # A keyed Spine's own connection never holds the hashing key: its scoped tables
            # are computed, masked, on the private `_scratch` one.
            self._con = self._plain_connection(hashing=self.identity is None)
        from market_spine.company import sql_access, tenancy

        identity = self.identity
        listed = self.lake.datasets()
        for dataset in listed:
            snapshot = self.lake.snapshot(dataset)
            if self._registered.get(dataset) == snapshot.version:
                continue
            if tenancy.refusal(dataset, identity) is not None:
                self._registered[dataset] = snapshot.version  # no view: `sql` says why
                continue
            layer, name = dataset.split("/")
            body = view_sql(snapshot)
            scoped = identity is not None and not sql_access.read_whole(dataset, identity)
            if scoped and self._scratch is None:
                self._scratch = self._plain_connection(hashing=True)
            if body is None:
                # A table with no rows (never written, or emptied by retention) is a typed
                # empty table, registered where its body runs: a scoped copy runs on scratch.
                empty = f"_empty_{layer}_{name}"
                target = self._scratch if scoped else self._con
                assert target is not None
                target.register(empty, empty_table(journal_apart(snapshot.schema)))
                body = f"SELECT * FROM {empty}"
            self._con.execute(f"create schema if not exists {layer}")
            names = (f"{layer}.{name}", view_name(dataset))
            if scoped:
                assert self._scratch is not None
                sql_access.copy_scoped(
                    self._con, self._scratch, dataset, body, names, identity, self.lake
                )
            else:
                body = tenancy.view_sql(dataset, body, identity)
                for each in names:
                    self._con.execute(f"create or replace view {each} as {body}")
            self._registered[dataset] = snapshot.version
            if dataset == READINESS_LOG:
                self._readiness_view()
        self._lost_views(listed)
        self._adjusted_view()
        if identity is not None and not self._locked:
            from market_spine.catalog.registry import CATALOG

            folders = [
                self.lake.location(d)
                for d in tenancy.tenant_free()
                if d in CATALOG.entries and sql_access.read_whole(d, identity)
            ]
            sql_access.lock(self._con, folders)
            self._locked = True
        return self._con

    def _readiness_view(self) -> None:
        """The `readiness` view over the readiness log's view."""
        assert self._con is not None
        self._con.execute(
            f"create or replace view {READINESS_VIEW} as {current_sql(view_name(READINESS_LOG))}"
        )

    def _lost_views(self, listed: Sequence[str]) -> None:
        """Each table whose log is gone (of those `listed` lacks) as a view refusing with its
        damage, under the columns its warehouse source declares: a query over it fails as a
        read does, never answers as if the table were empty or absent."""
        lost = self.lake.lost(listed)
        if not lost:
            return
        from market_spine.warehouse.dbt_plugin.lake_views import declared_sources

        assert self._con is not None
        sources = declared_sources()
        for dataset, damage in lost.items():
            self._registered.pop(dataset, None)
            layer, name = dataset.split("/")
            body = lost_table_sql(damage, sources.get(dataset))
            self._con.execute(f"create schema if not exists {layer}")
            for each in (f"{layer}.{name}", view_name(dataset)):
                self._con.execute(f"create or replace view {each} as {body}")
            if dataset == READINESS_LOG:
                self._readiness_view()

    def _plain_connection(self, *, hashing: bool) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection in UTC that reaches the lake's files and, `hashing`, computes
        masked views' hashes under the home's key."""
        from market_spine.company.masking import use_hash_key
        from market_spine.security.pii_hash_key import pii_hash_key

        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        attach(con, self.lake.storage)
        if hashing:
            use_hash_key(con, pii_hash_key(self.settings.home))
        return con

    def _adjusted_view(self) -> None:
        """The back-adjusted continuous minutes as a view, once both tables exist."""
        from market_spine.futures.continuous import ADJUSTED_VIEW, adjusted_view_sql

        if self._con is None or not all(self.lake.exists(d) for d in (CONTINUOUS_1M, ROLLS)):
            return
        body = adjusted_view_sql(view_name(CONTINUOUS_1M), view_name(ROLLS))
        self._con.execute(f"create or replace view {ADJUSTED_VIEW} as {body}")

    def sql(self, query: str) -> pl.DataFrame:
        """Run a query over the lake's views and return a polars frame; AccessRefused, naming
        the tables and why, when it reads one this Spine's identity may not (audited)."""
        con = self.connection()
        self._refuse("spine.sql", self._refused_in(con, query), query=query)
        try:
            rows = con.execute(query).pl()
        except duckdb.Error as exc:
            from market_spine.company import sql_access

            if self.identity is not None and sql_access.locked_out(exc):
                self._refuse("spine.sql", {"lake": sql_access.LOCKED}, query=query)
            self._audit("spine.sql", "lake", {"query": query, "error": str(exc)}, FAILED)
            damage = refused_by(exc)
            if damage is not None:
                # The query reached rows of a damaged file (lake/sql.py): say which, and the
                # repair, as every other read of it does.
                raise damage from None
            raise InvalidInput(
                f"query failed: {exc}; available tables: {', '.join(self.tables())}"
            ) from exc
        self._audit("spine.sql", "lake", {"query": query})
        self._audit_clear_pii(query, rows.height)
        return rows

    def _refused_in(self, con: duckdb.DuckDBPyConnection, query: str) -> dict[str, str]:
        """The lake tables `query` names that this Spine's identity may not read, with why."""
        from market_spine.company.sql_reads import named_tables
        from market_spine.company.tenancy import refusal

        refused = {
            d: reason
            for d in self.lake.datasets()
            if (reason := refusal(d, self.identity)) is not None
        }
        if not refused:
            return {}
        names = {n.lower(): d for d in refused for n in (view_name(d), d.replace("/", "."))}
        return {names[n]: refused[names[n]] for n in sorted(named_tables(con, query, names))}

    def _refuse(self, action: str, refused: dict[str, str | None], **detail: object) -> None:
        """Audit and raise AccessRefused when `refused` (table -> why, None: allowed) holds a
        reason: the identity, the tables and why are on record."""
        found = {table: why for table, why in refused.items() if why is not None}
        if not found:
            return
        from market_spine.company.tenancy import record_refusal
        from market_spine.errors import AccessRefused

        reason = "; ".join(found.values())
        tables = list(found)
        record_refusal(self.settings.home, self.identity, action, tables, reason, **detail)
        raise AccessRefused(f"{', '.join(tables)} refused: {reason}")

    def _audit_clear_pii(self, query: str, rows: int) -> None:
        """Audit `query` as a clear read of the personal-data columns it read, per company
        table, when this Spine's identity sees them in clear (as `dataset` and the API do)."""
        from market_spine.company.catalog import COMPANY_DATASETS
        from market_spine.company.reading import record_clear_read
        from market_spine.company.sql_reads import pii_read
        from market_spine.futures.continuous import ADJUSTED_VIEW

        identity = self.identity or _owner()
        if not identity.pii or self._con is None:
            return
        tables = {
            name.lower(): spec
            for spec in COMPANY_DATASETS
            if spec.pii
            for name in (view_name(spec.name), spec.name.replace("/", "."))
        }
        if not tables:
            return
        ours = {n.lower() for d in self._registered for n in (view_name(d), d.replace("/", "."))}
        ours |= {READINESS_VIEW, ADJUSTED_VIEW}
        for dataset, columns in pii_read(self._con, query, tables, ours, rows).items():
            record_clear_read(self.settings.home, identity, dataset, columns, rows, query=query)


def _owner() -> Identity:
    """Who a Spine opened without a key reads as: the home's owner (the OS user), who sees
    every row in clear."""
    from market_spine.config.identity import os_user

    return Identity(f"local:{os_user()}", "admin", method="local", pii=True)


def _key_identity(home: Path, key: str) -> Identity:
    """The identity of an API key of `home`; InvalidInput saying why a key is refused."""
    from market_spine.security.keys import KeyRefused, KeyStore

    try:
        return KeyStore(home).check(key).identity()
    except KeyRefused as exc:
        raise InvalidInput(f"{exc}; ask an admin for a key (`market-spine keys create`)") from None


def _unadjusted(symbol: str, adjust: str) -> None:
    """A root's bars are one contract a session: only continuous series are adjusted."""
    if str(adjust).strip().lower() != "none":
        raise InvalidInput(
            f"adjust={adjust!r} applies to continuous series: read {symbol}.c.0 (calendar roll) "
            f"or {symbol}.v.0 (volume roll) to back-adjust, or leave adjust at 'none'"
        )


class _RollFixes:
    """`continuous.RollFixes` from what the lake holds of a root's sessions: which contracts
    each has bars of and whether they came from a vendor file (a capture replaces those only
    with `--replace`), so the fix names the sessions missing and the command that loads them."""

    def __init__(self, lake: Lake, root: str) -> None:
        self.lake = lake
        self.root = root

    def unrecorded(self, series: str, change: tuple[str, date, str, date]) -> str:
        from market_spine.futures.capture_guard import FILE_SOURCE, held_captures
        from market_spine.futures.rolls import unrecorded_rolls

        _, last, _, first = change
        between = calendars.trading_days(self.root, last, first)
        held = held_captures(self.lake, self.root, between)
        loaded = {d: any(h.source == FILE_SOURCE for h in c) for d, c in held.items()}
        return unrecorded_rolls(series, change, loaded)

    def unmeasured(self, roll: dict[str, object]) -> str:
        from market_spine.futures.capture_guard import FILE_SOURCE, held_captures
        from market_spine.futures.rolls import unmeasured_gap

        day = roll["trade_date"]
        assert isinstance(day, date)
        prev = calendars.previous_trading_day(self.root, day) or day
        held = held_captures(self.lake, self.root, [prev]).get(prev, [])
        contracts = frozenset(h.contract for h in held)
        imported = any(h.source == FILE_SOURCE for h in held)
        return str(unmeasured_gap(self.root, roll, contracts, imported)["fix"])


def _between(lo: date | datetime, hi: date | datetime) -> dict[str, tuple[object, object]]:
    """The lake filter of a parsed range: bar opens in [lo, hi) for timestamps, trade dates
    [lo, hi] for dates."""
    if isinstance(lo, datetime) and isinstance(hi, datetime):
        return {"ts": (lo, hi - timedelta(microseconds=1))}
    return {"trade_date": (lo, hi)}


def _day(point: date | datetime) -> date:
    return point.date() if isinstance(point, datetime) else point


def rolls_end(root: str, start: date) -> date:
    """The last trade date a roll-table read without an end covers: the latest trade date,
    or `start` when that is later (a range never ends before it starts)."""
    from market_spine.markets.calendars import latest_trade_date

    latest = latest_trade_date(root)
    return start if latest is None or latest < start else latest


def _option_root(root: str) -> str:
    upper = root.strip().upper()
    if upper not in ROOTS:
        raise InvalidInput(f"option root {root!r} is not one of {', '.join(ROOTS)}")
    return upper


def _one_date(value: str | date, name: str) -> date:
    point = parse_range(value, None)[0]
    if isinstance(point, datetime):
        raise InvalidInput(f"{name} must be a date like '2024-03-05', not a timestamp")
    return point
