"""The alert state of a home (`<home>/operations/alerts.sqlite`): alerts (open while their
condition fails, one per rule and condition key), the messages owed to each sink, and where the
last evaluation stopped reading the Dagster instance (and the failed runs whose automatic retry
it waits for).

SQLite keeps it in one file that the sensor and the CLI share; each change is one transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from market_spine.operations.alerts.conditions import Observation

STATE_FILE = Path("operations") / "alerts.sqlite"

_SCHEMA = """
create table if not exists alerts (
    id integer primary key,
    rule text not null,
    kind text not null,
    subject text not null,
    partition text not null,
    severity text not null,
    summary text not null,
    datasets text not null,
    owners text not null,
    run_id text,
    details text not null,
    opened_at text not null,
    last_seen_at text not null,
    occurrences integer not null default 1,
    resolved_at text,
    resolved_by text
);
create unique index if not exists one_open_alert
    on alerts (rule, kind, subject, partition) where resolved_at is null;
create table if not exists deliveries (
    id integer primary key,
    alert_id integer not null references alerts (id),
    sink text not null,
    message text not null check (message in ('open', 'resolve')),
    created_at text not null,
    attempts integer not null default 0,
    last_error text,
    delivered_at text,
    dropped_at text
);
create index if not exists pending_deliveries on deliveries (delivered_at, dropped_at);
create table if not exists marks (name text primary key, value text not null);
create table if not exists seen_runs (run_id text primary key, seen_at text not null);
create table if not exists awaited_retries (run_id text primary key, failed_at text not null);
"""


@dataclass(frozen=True)
class Alert:
    """One alert as stored (times are ISO-8601 UTC)."""

    id: int
    rule: str
    kind: str
    subject: str
    partition: str
    severity: str
    summary: str
    datasets: tuple[str, ...]
    owners: tuple[str, ...]
    run_id: str | None
    details: dict[str, Any]
    opened_at: str
    last_seen_at: str
    occurrences: int
    resolved_at: str | None
    resolved_by: str | None

    def as_json(self) -> dict[str, Any]:
        """The alert as a JSON object."""
        return {**self.__dict__, "datasets": list(self.datasets), "owners": list(self.owners)}


@dataclass(frozen=True)
class Pending:
    """A message owed to a sink about an alert."""

    id: int
    sink: str
    message: str
    created_at: str
    attempts: int
    alert: Alert


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _alert(row: sqlite3.Row) -> Alert:
    return Alert(
        id=row["id"],
        rule=row["rule"],
        kind=row["kind"],
        subject=row["subject"],
        partition=row["partition"],
        severity=row["severity"],
        summary=row["summary"],
        datasets=tuple(json.loads(row["datasets"])),
        owners=tuple(json.loads(row["owners"])),
        run_id=row["run_id"],
        details=json.loads(row["details"]),
        opened_at=row["opened_at"],
        last_seen_at=row["last_seen_at"],
        occurrences=row["occurrences"],
        resolved_at=row["resolved_at"],
        resolved_by=row["resolved_by"],
    )


_ALERT_COLUMNS = (
    "a.id, a.rule, a.kind, a.subject, a.partition, a.severity, a.summary, a.datasets, a.owners, "
    "a.run_id, a.details, a.opened_at, a.last_seen_at, a.occurrences, a.resolved_at, "
    "a.resolved_by"
)


class AlertStore:
    """The alert state of one home."""

    def __init__(self, home: Path) -> None:
        self.path = home / STATE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()

    # -- alerts --------------------------------------------------------------------------------

    def open(self, rule: str, seen: Observation, sinks: list[str]) -> Alert | None:
        """Open the rule's alert for `seen` and owe each sink its open message; when it is
        already open, count the occurrence and return None (nothing new to send)."""
        with self._connect() as db:
            row = db.execute(
                "select id from alerts where rule = ? and kind = ? and subject = ? "
                "and partition = ? and resolved_at is null",
                (rule, *seen.key),
            ).fetchone()
            if row is not None:
                db.execute(
                    "update alerts set occurrences = occurrences + 1, last_seen_at = ? "
                    "where id = ?",
                    (_iso(seen.at), row["id"]),
                )
                return None
            cursor = db.execute(
                "insert into alerts (rule, kind, subject, partition, severity, summary, "
                "datasets, owners, run_id, details, opened_at, last_seen_at) "
                "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rule,
                    *seen.key,
                    seen.severity.value,
                    seen.summary,
                    json.dumps(list(seen.datasets)),
                    json.dumps(list(seen.owners)),
                    seen.run_id,
                    json.dumps(seen.details, default=str),
                    _iso(seen.at),
                    _iso(seen.at),
                ),
            )
            alert_id = int(cursor.lastrowid or 0)
            self._owe(db, alert_id, sinks, "open", seen.at)
            return self._get(db, alert_id)

    def resolve(self, seen: Observation, sinks_of: dict[str, list[str]]) -> list[Alert]:
        """Resolve every open alert of `seen`'s key (any rule), owing each of its rule's sinks
        (`sinks_of[rule]`) a resolve message; the alerts resolved."""
        with self._connect() as db:
            ids = [
                r["id"]
                for r in db.execute(
                    "select id from alerts where kind = ? and subject = ? and partition = ? "
                    "and resolved_at is null",
                    seen.key,
                )
            ]
            for alert_id in ids:
                db.execute(
                    "update alerts set resolved_at = ?, resolved_by = ? where id = ?",
                    (_iso(seen.at), seen.summary, alert_id),
                )
                alert = self._get(db, alert_id)
                self._owe(db, alert_id, sinks_of.get(alert.rule, []), "resolve", seen.at)
            return [self._get(db, alert_id) for alert_id in ids]

    def open_keys(self) -> set[tuple[str, str, str]]:
        """The (kind, subject, partition) keys with an open alert."""
        with self._connect() as db:
            rows = db.execute(
                "select distinct kind, subject, partition from alerts where resolved_at is null"
            )
            return {(kind, subject, partition) for kind, subject, partition in rows}

    def open_alerts(self) -> list[Alert]:
        """Every open alert, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                f"select {_ALERT_COLUMNS} from alerts a where resolved_at is null order by id"
            )
            return [_alert(r) for r in rows]

    def alerts(self) -> list[Alert]:
        """Every alert, open or resolved, oldest first."""
        with self._connect() as db:
            return [_alert(r) for r in db.execute(f"select {_ALERT_COLUMNS} from alerts a")]

    def _get(self, db: sqlite3.Connection, alert_id: int) -> Alert:
        row = db.execute(f"select {_ALERT_COLUMNS} from alerts a where id = ?", (alert_id,))
        return _alert(row.fetchone())

    # -- deliveries ----------------------------------------------------------------------------

    def _owe(
        self, db: sqlite3.Connection, alert_id: int, sinks: list[str], message: str, at: datetime
    ) -> None:
        db.executemany(
            "insert into deliveries (alert_id, sink, message, created_at) values (?, ?, ?, ?)",
            [(alert_id, sink, message, _iso(at)) for sink in sinks],
        )

    def pending(self) -> list[Pending]:
        """Messages not yet delivered nor dropped, in the order they were owed."""
        with self._connect() as db:
            rows = db.execute(
                f"select d.id as did, d.sink, d.message, d.created_at, d.attempts, "
                f"{_ALERT_COLUMNS} from deliveries d join alerts a on a.id = d.alert_id "
                "where d.delivered_at is null and d.dropped_at is null order by d.id"
            ).fetchall()
        return [
            Pending(r["did"], r["sink"], r["message"], r["created_at"], r["attempts"], _alert(r))
            for r in rows
        ]

    def pending_count(self) -> dict[int, int]:
        """Undelivered messages per alert id."""
        with self._connect() as db:
            rows = db.execute(
                "select alert_id, count(*) from deliveries where delivered_at is null "
                "and dropped_at is null group by alert_id"
            )
            return {alert_id: n for alert_id, n in rows}

    def delivered(self, delivery_id: int, attempts: int, at: datetime) -> None:
        """Record a message as delivered after `attempts` more tries."""
        with self._connect() as db:
            db.execute(
                "update deliveries set delivered_at = ?, attempts = attempts + ? where id = ?",
                (_iso(at), attempts, delivery_id),
            )

    def failed(
        self, delivery_id: int, attempts: int, error: str, *, drop: bool, at: datetime
    ) -> None:
        """Record a failed delivery; it stays owed unless `drop`."""
        with self._connect() as db:
            db.execute(
                "update deliveries set attempts = attempts + ?, last_error = ?, dropped_at = ? "
                "where id = ?",
                (attempts, error, _iso(at) if drop else None, delivery_id),
            )

    # -- where reading stopped -----------------------------------------------------------------

    def mark(self, name: str) -> str | None:
        """A saved position (a timestamp or storage id, as text); None before the first."""
        with self._connect() as db:
            row = db.execute("select value from marks where name = ?", (name,)).fetchone()
            return None if row is None else str(row["value"])

    def set_mark(self, name: str, value: str) -> None:
        """Save a position."""
        with self._connect() as db:
            db.execute(
                "insert into marks (name, value) values (?, ?) "
                "on conflict (name) do update set value = excluded.value",
                (name, value),
            )

    def seen_run(self, run_id: str) -> bool:
        """Whether an evaluation already read this finished run."""
        with self._connect() as db:
            found = db.execute("select 1 from seen_runs where run_id = ?", (run_id,)).fetchone()
            return found is not None

    def add_seen_runs(self, runs: list[tuple[str, datetime]], keep_after: datetime) -> None:
        """Remember finished runs read (id, update time), forgetting those updated before
        `keep_after` (older than any later reading asks for)."""
        with self._connect() as db:
            db.executemany(
                "insert or ignore into seen_runs (run_id, seen_at) values (?, ?)",
                [(run_id, _iso(at)) for run_id, at in runs],
            )
            db.execute("delete from seen_runs where seen_at < ?", (_iso(keep_after),))

    def awaited_retries(self) -> list[str]:
        """Failed runs read while their automatic retry was still to come, oldest first."""
        with self._connect() as db:
            rows = db.execute("select run_id from awaited_retries order by failed_at").fetchall()
            return [str(row["run_id"]) for row in rows]

    def await_retries(self, runs: list[tuple[str, datetime]]) -> None:
        """Remember failed runs (id, update time) whose automatic retry is to come."""
        with self._connect() as db:
            db.executemany(
                "insert or ignore into awaited_retries (run_id, failed_at) values (?, ?)",
                [(run_id, _iso(at)) for run_id, at in runs],
            )

    def settle_retries(self, run_ids: list[str]) -> None:
        """Forget awaited runs: their retry was launched, or their failure was alerted."""
        with self._connect() as db:
            db.executemany("delete from awaited_retries where run_id = ?", [(r,) for r in run_ids])
