"""Keeps futures fresh with no one clicking: hourly re-capture of the live session, and one final
capture of each session right after it closes."""

from collections.abc import Sequence
from datetime import datetime, timedelta

import dagster as dg

from market_spine.futures import keys
from market_spine.futures.partitions import partition_key
from market_spine.markets import calendars

#: A session that closed less than this long ago gets its final (post-close) capture.
FINAL_CAPTURE_WINDOW = timedelta(minutes=65)

# Partitioned like the assets it selects: Dagster takes the home's partitions from them.
futures_job = dg.define_asset_job(
    "futures_bars",
    selection=dg.AssetSelection.assets(*keys.IN_LINEAGE),
    description=(
        "Capture, normalize and aggregate futures bars, rolls and continuous series for the "
        "selected partitions."
    ),
)


def due_partitions(symbols: list[str], now: datetime) -> list[tuple[str, str, str]]:
    """(symbol, trade date, why) for each session that is open now or closed within the window."""
    due = []
    for symbol in symbols:
        for session in calendars.latest_sessions(symbol, now, 2):
            if session.open <= now < session.close:
                due.append((symbol, session.trade_date.isoformat(), "live"))
            elif timedelta(0) <= now - session.close < FINAL_CAPTURE_WINDOW:
                due.append((symbol, session.trade_date.isoformat(), "final"))
    return due


def build_hourly_capture(symbols: Sequence[str]) -> dg.ScheduleDefinition:
    """The hourly capture schedule of the symbols a home captures (`captured_symbols`)."""
    captured = list(symbols)

    @dg.schedule(
        job=futures_job,
        cron_schedule="5 * * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Hourly: re-capture live sessions; once after each close: the final capture.",
    )
    def futures_hourly_capture(context: dg.ScheduleEvaluationContext) -> list[dg.RunRequest]:
        """One run per due (symbol, session), keyed so a retried tick never launches it twice."""
        now = context.scheduled_execution_time
        return [
            dg.RunRequest(
                run_key=f"{symbol}|{day}|{now:%Y%m%dT%H%M}",
                partition_key=partition_key(datetime.fromisoformat(day).date(), symbol),
                tags={"market_spine/capture": why},
            )
            for symbol, day, why in due_partitions(captured, now)
        ]

    return futures_hourly_capture
