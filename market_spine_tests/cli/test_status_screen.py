"""What `market-spine status` prints for runs: their partitions said as trade dates of datasets,
their state in words, so a date beside a state never reads as the time it started."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from market_spine.cli.status import render
from market_spine.operations.status_report import StatusReport


def _screen(report: StatusReport) -> str:
    out = Console(file=io.StringIO(), width=200, highlight=False, color_system=None)
    render(report, out)
    return out.file.getvalue()  # type: ignore[attr-defined]


def test_runs_name_their_trade_dates_and_their_state_in_words() -> None:
    report = StatusReport(
        generated_at=datetime(2026, 11, 30, 6, 30, tzinfo=UTC),
        active_runs=[
            {
                "run_id": "6aff5bac-0000-0000-0000-000000000000",
                "status": "STARTED",
                "partitions": "2026-11-30 CL",
                "datasets": ["raw/futures_bars_1m", "normalized/futures_bars_1m"],
                "launched_from": "cli",
                "running_s": 125.0,
                "orphaned": False,
            },
            {
                "run_id": "09898998-0000-0000-0000-000000000000",
                "status": "QUEUED",
                "partitions": "2026-11-27..2026-11-30",
                "datasets": ["marts/dim_date", "marts/fct_option_eod", "marts/fct_vol_surface"],
                "launched_from": "backfill",
                "running_s": None,
                "orphaned": False,
            },
        ],
        failures=[
            {
                "run_id": "969532bd-0000-0000-0000-000000000000",
                "status": "FAILURE",
                "partitions": "2026-11-27 ES",
                "datasets": ["raw/futures_bars_1m"],
                "cause": "the gateway at 127.0.0.1:4002 does not answer",
                "retry_safe": True,
                "retry_reason": "nothing runs over its partitions",
            }
        ],
    )
    screen = _screen(report)
    assert "started 2026" not in screen
    assert (
        "6aff5bac running for 2m 05s, trade date 2026-11-30 CL of raw/futures_bars_1m, "
        "normalized/futures_bars_1m"
    ) in screen
    assert (
        "09898998 queued, trade dates 2026-11-27..2026-11-30 of marts/dim_date, "
        "marts/fct_option_eod +1"
    ) in screen
    assert "969532bd trade date 2026-11-27 ES of raw/futures_bars_1m: the gateway" in screen


def test_a_long_cause_is_one_trimmed_line_and_brackets_stay_text() -> None:
    wordy = (
        "ThetaTerminal at http://127.0.0.1:25503 still failing after 5 attempts: [Errno 111] "
        + ("Connection refused while fetching /v3/option/history/quote; " * 40)
    )
    report = StatusReport(
        generated_at=datetime(2026, 11, 30, 6, 30, tzinfo=UTC),
        failures=[
            {
                "run_id": "969532bd-0000-0000-0000-000000000000",
                "status": "FAILURE",
                "partitions": "2026-11-27",
                "datasets": ["raw/option_quotes"],
                "cause": wordy + "\n  Traceback line",
                "retry_safe": True,
                "retry_reason": "nothing runs over its partitions",
            }
        ],
    )
    screen = _screen(report)
    entry = " ".join(screen[screen.index("969532bd") : screen.index("retry safe")].split())
    assert "[Errno 111] Connection refused" in entry  # markup-like text is shown, not eaten
    assert entry.endswith(" … —") and len(entry) < 240
    assert "Traceback" not in screen


def test_company_runs_are_said_in_days_or_unpartitioned_not_trade_dates() -> None:
    report = StatusReport(
        generated_at=datetime(2026, 11, 30, 6, 30, tzinfo=UTC),
        active_runs=[
            {
                "run_id": "5c0ffee5-0000-0000-0000-000000000000",
                "status": "QUEUED",
                "partitions": "2026-11-24..2026-11-27",
                "datasets": ["normalized/company_orders"],
                "launched_from": "cli",
                "running_s": None,
                "orphaned": False,
            },
        ],
        failures=[
            {
                "run_id": "c11e4750-0000-0000-0000-000000000000",
                "status": "FAILURE",
                "partitions": None,
                "datasets": ["raw/company_clients", "normalized/company_clients"],
                "cause": "the drop folder does not exist",
                "retry_safe": True,
                "retry_reason": "nothing runs over its partitions",
            },
            {
                "run_id": "0dd0dd00-0000-0000-0000-000000000000",
                "status": "FAILURE",
                "partitions": "2026-11-26",
                "datasets": ["normalized/company_orders"],
                "cause": "a check failed",
                "retry_safe": False,
                "retry_reason": "attempts used",
            },
        ],
    )
    screen = _screen(report)
    assert "trade date" not in screen and "retry safe" not in screen
    assert "5c0ffee5 queued, days 2026-11-24..2026-11-27 of normalized/company_orders" in screen
    assert (
        "c11e4750 raw/company_clients, normalized/company_clients (unpartitioned): the drop "
        "folder does not exist — running it again is safe"
    ) in screen
    assert "0dd0dd00 day 2026-11-26 of normalized/company_orders: a check failed" in screen
    assert "running it again is unsafe" in screen
