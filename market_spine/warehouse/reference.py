"""Reference data for the warehouse's dimensions, generated from the platform's own rules.

Every table is built for a list of futures roots. For the built-in roots the seeds in
`market_spine_dbt/seeds/` are written by this module (`python -m market_spine.warehouse.reference`)
rather than typed by hand, so dim_instrument and dim_date always agree with `instruments.py`,
`calendars.py` (with the reviewed special sessions) and `markets/expirations.py`; a test
regenerates them and fails on any drift. A home that configures more roots gets its own seeds
(`warehouse.seeds`).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from pathlib import Path

from market_spine.markets import calendars, expirations
from market_spine.markets.instruments import (
    BUILT_IN_ROOTS,
    MONTH_CODES,
    Contract,
    get_instrument,
)
from market_spine.warehouse.paths import SEEDS_DIR

SEEDS = SEEDS_DIR
#: Calendar days covered by dim_date: the futures history starts in 2019; two years of headroom.
FIRST_DAY, LAST_DAY = date(2019, 1, 1), date(2027, 12, 31)
#: Contract years listed in dim_instrument: ten years, so a local symbol (CLZ4) stays unique.
CONTRACT_YEARS = range(2019, 2029)
OPTION_VENUE = expirations.CALENDAR
_TS = "%Y-%m-%d %H:%M:%S+00:00"

Row = dict[str, object]


def futures_roots(roots: Sequence[str] = BUILT_IN_ROOTS) -> list[Row]:
    """One row per futures root (each registered with `instruments`), sorted: its specification
    and session calendar."""
    rows = []
    for root in sorted(roots):
        inst = get_instrument(root)
        rows.append(
            {
                "root": inst.root,
                "name": inst.name,
                "exchange": inst.exchange,
                "venue": inst.calendar,
                "currency": inst.currency,
                "tick_size": inst.tick_size,
                "price_decimals": inst.price_decimals,
                "multiplier": inst.multiplier,
                "listed_months": inst.listed_months,
                "last_trade_rule": inst.last_trade_rule,
                "roll_rule": inst.roll_rule,
            }
        )
    return rows


def futures_contracts(roots: Sequence[str] = BUILT_IN_ROOTS) -> list[Row]:
    """Every listed contract of CONTRACT_YEARS of each root, with its expiry and the window it is
    the front."""
    rows = []
    for root in sorted(roots):
        inst = get_instrument(root)
        months = [
            Contract(inst.root, y, m)
            for y in CONTRACT_YEARS
            for m in range(1, 13)
            if MONTH_CODES[m - 1] in inst.listed_months
        ]
        previous_roll: date | None = None
        for c in months:
            rows.append(
                {
                    "contract_code": f"{c.root}{MONTH_CODES[c.month - 1]}{c.year}",
                    "root": c.root,
                    "local_symbol": c.local_symbol,
                    "contract_year": c.year,
                    "contract_month": c.month,
                    "last_trade_date": c.last_trade_date.isoformat(),
                    "roll_date": c.roll_date.isoformat(),
                    # The first contract of the range has no predecessor inside it.
                    "front_start_date": previous_roll.isoformat() if previous_roll else "",
                }
            )
            previous_roll = c.roll_date
    return rows


def option_roots(roots: Sequence[str] = BUILT_IN_ROOTS) -> list[Row]:
    """SPX (AM-settled monthlies) and SPXW (PM-settled weeklies and dailies), whatever the futures
    `roots` (taken so that every table is built alike)."""
    del roots
    styles = {"SPX": "AM", "SPXW": "PM"}
    return [
        {
            "root": root,
            "name": "S&P 500 index options" + (" (weeklys)" if root == "SPXW" else ""),
            "exchange": "CBOE",
            "venue": OPTION_VENUE,
            "underlying": "SPX",
            "settlement": styles[root],
            "settle_time_et": expirations.SETTLE_TIME[root].isoformat(),
            "multiplier": 100,
            "currency": "USD",
        }
        for root in expirations.ROOTS
    ]


def _days() -> Iterator[date]:
    d = FIRST_DAY
    while d <= LAST_DAY:
        yield d
        d += timedelta(days=1)


def trading_sessions(roots: Sequence[str] = BUILT_IN_ROOTS) -> list[Row]:
    """One row per venue and calendar day: the session (if any), holiday and early-close flags.

    The futures venues are those the roots trade on; each takes its sessions from `calendars`
    through one of its roots, so CME trade dates and the reviewed special sessions apply; the
    options venue takes its sessions from `expirations` (the Cboe calendar with the same reviewed
    table applied).
    """
    rows: list[Row] = []
    venues = {get_instrument(r).calendar: r for r in sorted(roots, reverse=True)}
    for venue, root in sorted(venues.items()):
        for d in _days():
            s = calendars.session(root, d)
            rows.append(
                _session_row(
                    venue,
                    d,
                    None if s is None else (s.open, s.close),
                    s is not None and s.early_close,
                    s.note if s else "",
                )
            )
    for d in _days():
        times = expirations.session_bounds(d)
        early = expirations.is_early_close(d)
        rows.append(_session_row(OPTION_VENUE, d, times, early, ""))
    return rows


def _session_row(venue: str, d: date, times: tuple | None, early: bool, note: str) -> Row:
    weekday = d.weekday() < 5
    return {
        "venue": venue,
        "date_day": d.isoformat(),
        "is_trading_day": times is not None,
        # A weekday without a session is a holiday; weekends are simply closed.
        "is_holiday": weekday and times is None,
        "is_early_close": early,
        "session_open_utc": times[0].strftime(_TS) if times else "",
        "session_close_utc": times[1].strftime(_TS) if times else "",
        "note": note,
    }


TABLES: dict[str, Callable[[Sequence[str]], list[Row]]] = {
    "ref_futures_roots": futures_roots,
    "ref_futures_contracts": futures_contracts,
    "ref_option_roots": option_roots,
    "ref_trading_sessions": trading_sessions,
}


def render(rows: list[Row]) -> str:
    """CSV text with a header, booleans as true/false, in the seeds' stable column order."""
    import io

    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: str(v).lower() if isinstance(v, bool) else v for k, v in row.items()})
    return out.getvalue()


def write_seeds(folder: Path = SEEDS, roots: Sequence[str] = BUILT_IN_ROOTS) -> list[Path]:
    """(Re)write every seed CSV for `roots`; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, build in TABLES.items():
        path = folder / f"{name}.csv"
        path.write_text(render(build(roots)))
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_seeds():
        print(written)
