"""Recording audit entries without slowing what is audited: `record` only appends to an
in-memory batch; a background thread writes batches to the home's store every half second (or
sooner when a batch grows large), and whatever is pending is written when the process exits
(`flush_all`). One recorder per home per process; entries for a home that never comes to
exist (a command refused before creating it) are dropped at exit. Entries the store cannot take
(its PostgreSQL down) are kept and written when it is back; those still held when the process
exits wait in the home's spool for the next process. Each entry keeps the time it happened, so
one written late says when it was."""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from market_spine.audit.entry import Entry
from market_spine.audit.store import AuditStore
from market_spine.config.identity import os_user

#: Seconds between background writes.
FLUSH_EVERY_S = 0.5
#: A batch this large is written at once rather than waiting for the next tick.
FLUSH_AT = 10_000
#: Ticks with nothing to write after which the thread ends; the next entry starts another.
IDLE_TICKS = 4
#: Entries kept in memory while the store cannot take them (the newest, past it).
HELD = 100_000
#: Where a process leaves the entries its store could not take before it exited.
SPOOL = "audit-spool.jsonl"

_lock = threading.Lock()
_recorders: dict[Path, Recorder] = {}
#: The recorders by the path callers gave, resolved or not.
_by_given: dict[Path, Recorder] = {}


class Recorder:
    """Batches entries for one home and writes them from a daemon thread, which lives while
    entries arrive: a process that touched many homes (a server, a test run) keeps no thread
    per home it no longer uses."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self._pending: list[tuple] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._store: AuditStore | None = None
        self._thread: threading.Thread | None = None

    def record(
        self,
        actor: str,
        action: str,
        dataset: str = "",
        params: dict[str, Any] | None = None,
        outcome: str = "ok",
    ) -> None:
        """Queue one entry stamped now; written within `FLUSH_EVERY_S`."""
        # A bare tuple and the clock's float: the entry is formed when written, off this thread.
        entry = (time.time(), actor, action, dataset, params, outcome)
        with self._lock:
            self._pending.append(entry)
            size = len(self._pending)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="audit-recorder", daemon=True
                )
                self._thread.start()
        if size >= FLUSH_AT:
            self._wake.set()

    def flush(self, *, final: bool = False) -> int:
        """Write every pending entry now; how many were written. Until the home exists the
        entries wait (a command may create it), and the `final` flush drops them. A store
        that cannot take them (its database down) keeps them for the next flush, at most
        HELD entries, and the `final` flush leaves them in the home's spool, which the next
        recorder of the home writes first."""
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return 0
            if self._store is None and not self.home.is_dir():
                if not final:
                    with self._lock:
                        self._pending[:0] = batch
                return 0
            try:
                if self._store is None:
                    self._store = AuditStore(self.home)
                    batch = claim_spool(self.home) + batch
                self._store.append([_entry(*pending) for pending in batch])
            except Exception:
                self._store = None
                if final:
                    spool(self.home, batch)
                else:
                    with self._lock:
                        self._pending[:0] = batch[-HELD:]
                raise
            return len(batch)

    def _run(self) -> None:
        idle = 0
        while True:
            self._wake.wait(FLUSH_EVERY_S)
            self._wake.clear()
            try:
                written = self.flush()
            except Exception:  # a failed write keeps nothing back from the next one
                written = 1
            idle = 0 if written else idle + 1
            if idle < IDLE_TICKS:
                continue
            with self._lock:
                # Entries waiting for their home keep the thread; under the lock `record`
                # either sees this thread still set or starts the next one.
                if not self._pending:
                    self._thread = None
                    return
            idle = 0

    @property
    def running(self) -> bool:
        """Whether a writer thread is alive for this home."""
        return self._thread is not None


def spool_path(home: Path) -> Path:
    """The home's spool of entries its store could not take (`<home>/audit/`, private)."""
    return Path(home) / "audit" / SPOOL


def spool(home: Path, batch: list[tuple]) -> None:
    """Append `batch` to the home's spool (one JSON entry a line)."""
    path = spool_path(home)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        for entry in batch:
            out.write(json.dumps(list(entry), sort_keys=True, default=str) + "\n")


def claim_spool(home: Path) -> list[tuple]:
    """The entries processes left in the home's spool, oldest first, taken out of it ([]
    without one): renamed first, so two processes never both take them; once read they are
    this recorder's to write (or to spool again at exit)."""
    claimed = spool_path(home).with_name(f"{SPOOL}.{os.getpid()}.{threading.get_ident()}")
    try:
        os.rename(spool_path(home), claimed)
    except FileNotFoundError:
        return []
    try:
        lines = claimed.read_text(encoding="utf-8").splitlines()
    finally:
        claimed.unlink(missing_ok=True)
    return [tuple(json.loads(line)) for line in lines if line.strip()]


def _entry(
    at: float, actor: str, action: str, dataset: str, params: dict | None, outcome: str
) -> Entry:
    stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="microseconds")
    return Entry(stamp, actor, action, dataset, params or {}, outcome)


def recorder(home: Path) -> Recorder:
    """The process's recorder of `home`."""
    found = _by_given.get(home)
    if found is not None:  # the common case, on every read: no path resolution
        return found
    key = Path(home).resolve()
    with _lock:
        found = _recorders.get(key)
        if found is None:
            found = _recorders[key] = Recorder(key)
        _by_given[home] = found
        return found


@cache
def _this_user() -> str:
    """This process's OS user, looked up once (the lookup may read the password database)."""
    return os_user()


def record(
    home: Path,
    action: str,
    dataset: str = "",
    params: dict[str, Any] | None = None,
    outcome: str = "ok",
    *,
    actor: str | None = None,
) -> None:
    """Queue an entry in `home`'s trail; `actor` defaults to this process's OS user."""
    recorder(home).record(actor or _this_user(), action, dataset, params, outcome)


def flush_all() -> None:
    """Write what every recorder of this process holds (at exit, and before a hard stop)."""
    with _lock:
        found = list(_recorders.values())
    for one in found:
        try:
            one.flush(final=True)
        except Exception:  # exiting goes on; the entries of a broken home are lost, not fatal
            continue


atexit.register(flush_all)
