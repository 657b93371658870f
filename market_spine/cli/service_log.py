"""What `market-spine up` shows of its Dagster services: every line goes to the home's service log
(`<home>/logs/dagster.log`), and only what needs the operator reaches the console — a service's
errors, each in full with its stack trace, and any uncaught traceback.

The services' console is otherwise a flood: every event of every run the UI, a schedule or a
sensor launches (Dagster's default run logger is DEBUG when a run's config names no logger), dbt's
whole output, start-up and shutdown warnings. A run's own records stay off the console even when
they are errors: the run watch (`run_watch`) says on one line that the run failed and why, and
its logs in the UI keep the detail.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

#: The folder of the home's service logs.
LOGS_DIR = "logs"
SERVICE_LOG = "dagster.log"
#: How long, after the services exited, their output may take to reach its end: their own
#: lines arrive at once; past this, a process outside their groups (a run worker) holds the
#: pipe open, and a stop must not wait on it.
DRAIN_S = 5.0

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
#: A Python logging record as Dagster formats it: `2024-03-05 14:30:00 +0000 - logger - LEVEL - `.
_RECORD = re.compile(
    r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4} - (?P<logger>\S+) - (?P<level>[A-Z]+) - "
    r"(?P<message>.*)$"
)
#: A run's own record: `<job> - <run id> - ...` logged by the run's logger.
_RUN_RECORD = re.compile(r"^\S+ - [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} - ")
_SHOWN_LEVELS = ("ERROR", "CRITICAL")


class ConsoleFilter:
    """Decides, line by line, what of a service's output the console shows (the log keeps all).
    Shown: a service's ERROR or CRITICAL record and the lines that continue it (message, stack
    trace) up to the next record; an uncaught `Traceback` through its exception line."""

    def __init__(self) -> None:
        self._showing = False
        self._bare_traceback = False

    def shows(self, line: str) -> bool:
        """Whether the console shows `line` (one line of output, without its newline)."""
        text = _ANSI.sub("", line)
        record = _RECORD.match(text)
        if record:
            self._bare_traceback = False
            is_run = record["logger"] == "dagster" and _RUN_RECORD.match(record["message"])
            self._showing = record["level"] in _SHOWN_LEVELS and not is_run
            return self._showing
        if text.startswith("Traceback (most recent call last):"):
            self._showing = self._bare_traceback = True
            return True
        if self._bare_traceback and text and not text.startswith(" "):
            # The exception line closes an uncaught traceback: show it, then stop.
            self._showing = self._bare_traceback = False
            return True
        return self._showing


def service_log_path(home: Path) -> Path:
    """Where `up` keeps its services' whole output."""
    return home / LOGS_DIR / SERVICE_LOG


def pump(stream: IO[bytes], log_path: Path, echo: Callable[[str], None]) -> threading.Thread:
    """Copy `stream` (a service's merged stdout and stderr) line by line into `log_path`
    (appended, flushed line by line) and pass the lines the console shows to `echo`, on a daemon
    thread that ends at the stream's end; the thread, started. The log comes first: a console
    that can no longer be written to (a closed terminal) stops the echo, never the copy."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console_filter = ConsoleFilter()

    def copy() -> None:
        echoing = True
        with log_path.open("ab") as log:
            for raw in stream:
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if echoing and console_filter.shows(line):
                    try:
                        echo(line)
                    except Exception:  # the console is gone; the log still wants every line
                        echoing = False

    thread = threading.Thread(target=copy, name="service-log", daemon=True)
    thread.start()
    return thread


def drain(pumps: list[threading.Thread], timeout_s: float = DRAIN_S) -> bool:
    """Wait, once the services have exited, for each pump to copy their output to its end (the
    pipe's end of file), so the log keeps every line they printed, their last ones included;
    False when a pump is still reading after `timeout_s` (a process outside the services'
    groups still holds their output open)."""
    deadline = time.monotonic() + timeout_s
    for thread in pumps:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in pumps)
