"""Whether the deployment's daemon runs: its heartbeats in the instance, read with the mark a
clean stop of the services leaves in the home (`<home>/dagster/services.stopped`, the UTC
instant as ISO text). The heartbeats stay in the instance after the daemon stops, and read
alone they would show it beating for a minute or more; with the mark, a beat no newer than the
stop is a stopped daemon's. Starting the services again removes it."""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster as dg

MARK = "services.stopped"
#: A daemon whose last heartbeat is older than this is taken for stopped (it beats every 30 s).
HEARTBEAT_S = 60.0


def mark_path(dagster_home: Path) -> Path:
    return dagster_home / MARK


def mark_stopped(dagster_home: Path, at: datetime | None = None) -> None:
    """Record that the services of this instance stopped cleanly at `at` (default now, UTC)."""
    stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat()
    with contextlib.suppress(OSError):  # a stop goes on whatever the disk says
        mark_path(dagster_home).write_text(stamp + "\n")


def clear_stopped(dagster_home: Path) -> None:
    """The services are starting: no stop stands."""
    mark_path(dagster_home).unlink(missing_ok=True)


def stopped_at(dagster_home: Path) -> datetime | None:
    """When the services last stopped cleanly, if they have not started since; None otherwise
    (or when the mark is unreadable: then the heartbeats alone decide)."""
    try:
        return datetime.fromisoformat(mark_path(dagster_home).read_text().strip())
    except (OSError, ValueError):
        return None


def daemon_running(instance: dg.DagsterInstance, kind: str) -> bool:
    """True when the instance's daemon of `kind` (`BACKFILL`, `QUEUED_RUN_COORDINATOR` ...) beat
    within HEARTBEAT_S seconds and after the services' last clean stop."""
    beat = instance.get_daemon_heartbeats().get(kind)
    if beat is None or time.time() - beat.timestamp >= HEARTBEAT_S:
        return False
    stop = stopped_at(Path(instance.root_directory))
    return stop is None or beat.timestamp > stop.timestamp()
