"""`GET /v1/status`: the operator's morning check (`operations.status`) as JSON, computed in the
API's process, where Dagster is already imported and the instance already open, and kept a few
seconds. `market-spine status` reads it from here when this API serves its home, so the command
answers without loading Dagster itself."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query, Request

from market_spine.config.file import SettingSources, settings_path
from market_spine.errors import InvalidInput
from market_spine.operations.status_report import Health, StatusReport
from market_spine.security.bootstrap import served_home
from market_spine.settings import Settings

router = APIRouter(tags=["operations"])

#: A report this young is served again rather than recomputed, unless the caller asks fresher.
STATUS_TTL_S = 10.0


class StatusCache:
    """The latest report with and without the light verify, recomputed when older than
    STATUS_TTL_S; one computation at a time, so a burst of requests costs one.

    The report judges the settings as they are now: after `market-spine config set` changes
    the home's settings file, the next report reads it again (the environment still wins), as
    the runs the daemon launches next will. A file that no longer validates leaves the last good
    settings in force."""

    def __init__(self, settings: Settings, open_instance: Callable[[], Any]) -> None:
        self._settings = settings
        self._file_stamp = _stamp(settings)
        self._open_instance = open_instance
        self._instance: Any = None
        self._lock = threading.Lock()
        self._latest: dict[bool, tuple[float, StatusReport]] = {}

    def report(self, verify: bool, max_age_s: float = STATUS_TTL_S) -> StatusReport:
        """The home's status report, at most `max_age_s` old (0: computed now)."""
        from market_spine.operations.status import collect_status

        with self._lock:
            cached = self._latest.get(verify)
            if cached is not None and time.monotonic() - cached[0] < max_age_s:
                return cached[1]
            if self._instance is None:
                self._instance = self._open_instance()
            report = collect_status(self._current_settings(), self._instance, verify=verify)
            # The API computing the report is up, whatever port its settings name.
            report.health = [
                Health("api", True, "serving (it computed this report)") if h.name == "api" else h
                for h in report.health
            ]
            self._latest[verify] = (time.monotonic(), report)
            return report

    def _current_settings(self) -> Settings:
        """The settings again from the environment and the home's file when the file changed
        since they were last read; the last good ones otherwise."""
        stamp = _stamp(self._settings)
        if stamp != self._file_stamp:
            self._file_stamp = stamp
            home = self._settings.home
            with contextlib.suppress(InvalidInput):
                self._settings = Settings.from_sources(home, SettingSources.of(os.environ, home))
        return self._settings


def _stamp(settings: Settings) -> tuple[int, int] | None:
    """The home settings file's modification time and size; None while there is none."""
    try:
        stat = settings_path(settings.home).stat()
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_size


@router.get("/v1/status")
def status(
    request: Request,
    verify: bool = Query(True, description="Include the light verify of lake and warehouse."),
    max_age: float = Query(
        STATUS_TTL_S, ge=0, le=3600, description="Seconds a kept report may be old; 0: now."
    ),
) -> dict[str, Any]:
    """The morning check as `market-spine status --json` prints it, plus `home_id` (which home
    it describes). At most `max_age` seconds old: `generated_at` says when it was computed."""
    report = request.app.state.status.report(verify, max_age)
    return {**report.as_json(), "home_id": served_home(request.app.state.settings.home)}
