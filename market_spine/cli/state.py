"""`market-spine state copy`: move a single-machine home's stores (API keys, the audit trail,
alerts, the lake's integrity ledger) from their SQLite files into the PostgreSQL that
`state_database` names, once, before the platform's pods leave the home's node."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import typer

from market_spine.cli.console import command_run, console, settings_from_env
from market_spine.errors import InvalidInput
from market_spine.settings import Settings
from market_spine.state_db.database import StateConnection, StateDatabase

state = typer.Typer(help="The platform's stores: copy a home's SQLite stores into PostgreSQL.")


@dataclass(frozen=True)
class StoreFiles:
    """One store: its name, its SQLite file in the home, its tables in copy order, what makes
    its tables in the target, and what it keeps outside its tables on SQLite."""

    store: str
    file: Path
    tables: tuple[str, ...]
    make: Callable[[], object]
    after: Callable[[StateConnection], None] | None = None
    #: Files the store keeps beside its database on SQLite (set aside with it).
    beside: tuple[Path, ...] = ()


def _audit_head_problem(home: Path) -> str:
    """Why the home's trail cannot be copied as it is ("" when its head file names its last
    entry, or it has none): a trail whose head and entries disagree is verified first."""
    from market_spine.audit.store import Head, db_path, head_file, head_path

    with StateDatabase("audit", db_path(home)).connect() as con:
        row = con.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None or head_file(home) == Head(int(row[0]), str(row[1])):
        return ""
    return (
        f"the audit trail's head file {head_path(home)} does not name its last entry "
        f"({row[0]}): run `market-spine audit verify` with state_database unset and resolve "
        "what it reports before copying"
    )


def _audit_head(con: StateConnection) -> None:
    """The copied trail's head: its last entry (the head file named it, `_audit_head_problem`)."""
    row = con.execute("SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1").fetchone()
    if row is not None:
        con.execute("INSERT INTO head (id, seq, hash) VALUES (1, ?, ?)", (row[0], row[1]))


def _stores(settings: Settings) -> list[StoreFiles]:
    from market_spine.audit.store import AuditStore, db_path, head_path
    from market_spine.lake.integrity import LEDGER_FILE
    from market_spine.operations.alerts.store import STATE_FILE, AlertStore
    from market_spine.security.keys import KeyStore

    home = settings.home
    found = [
        StoreFiles("keys", KeyStore(home).path, ("api_keys",), lambda: KeyStore(home).list()),
        StoreFiles(
            "audit",
            db_path(home),
            ("entries",),
            lambda: AuditStore(home),
            _audit_head,
            (head_path(home),),
        ),
        StoreFiles(
            "alerts",
            home / STATE_FILE,
            ("alerts", "deliveries", "marks", "seen_runs", "awaited_retries"),
            lambda: AlertStore(home),
        ),
    ]
    if settings.lake_uri:
        found.append(
            StoreFiles(
                "lake_ledger",
                settings.lake_root / LEDGER_FILE,
                ("data_files", "log_files"),
                lambda: settings.lake().ledger.refusal(),
            )
        )
    return found


@state.command("copy")
def copy_command() -> None:
    """Copy each store this home keeps in a SQLite file (API keys, audit trail, alerts, and for
    a lake on object storage its integrity ledger) into the empty schemas of `state_database`,
    each store in one transaction; the audit trail is verified in its new place. Provider
    counters are not
    copied: they only add up the live processes' requests. Copied files are renamed aside
    (`.copied-<time>`): until then, opening a store whose file is still in the home refuses."""
    from market_spine.audit.store import db_path
    from market_spine.audit.verify import verify
    from market_spine.state_db.copy import copy_store, held_rows
    from market_spine.state_db.location import copying, database_for

    with command_run(dagster=False):
        settings = settings_from_env()
        if not settings.state_database:
            raise InvalidInput(
                "state_database is not set: the stores already live in this home's files; set "
                "it (e.g. `instance`) to say where they should go, then copy"
            )
        with copying():
            present = [s for s in _stores(settings) if s.file.is_file()]
            targets = {s.store: database_for(settings, s.store, s.file) for s in present}
            # Every store is checked before any is copied: a refusal leaves every target empty.
            audit_file = db_path(settings.home)
            problems = [_audit_head_problem(settings.home)] if audit_file.is_file() else []
            for store in present:
                store.make()
                problems.append(held_rows(targets[store.store], store.tables))
            if any(problems):
                raise InvalidInput("; ".join(p for p in problems if p))
            for store in _stores(settings):
                if store.store not in targets:
                    console.print(f"{store.store}: no file in this home, nothing to copy")
                    continue
                source = StateDatabase(store.store, store.file)
                copied = copy_store(source, targets[store.store], store.tables, store.after)
                rows = ", ".join(f"{t} {n}" for t, n in copied.rows.items())
                console.print(f"{store.store}: {rows} → {targets[store.store].where()}")
            if audit_file.is_file():
                checked = verify(settings.home)
                if not checked.intact:
                    raise InvalidInput(
                        "the copied audit trail does not verify: " + "; ".join(checked.problems[:3])
                    )
                console.print(f"audit trail verified in its new place: {checked.entries} entries")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for store in present:
            for moved in _set_aside(store, stamp):
                console.print(f"moved aside: {moved}")
        if (settings.home / "secrets" / "pii_hash.key").is_file():
            console.print(
                "note: this home hashed personal data with a key of its own; pii_hash_key now "
                "replaces it, so rebuild the warehouse (`market-spine process --domain "
                "warehouse`) for masked columns to join with ones hashed from now on"
            )


def _set_aside(store: StoreFiles, stamp: str) -> list[Path]:
    """Rename a copied store's files (the database, its WAL files, what it keeps beside) with
    a `.copied-<stamp>` suffix: kept for checking, never opened again."""
    wal = [store.file.with_name(store.file.name + x) for x in ("-wal", "-shm")]
    files = [store.file, *wal, *store.beside]
    moved = []
    for path in files:
        if path.is_file():
            target = path.with_name(f"{path.name}.copied-{stamp}")
            path.rename(target)
            moved.append(target)
    return moved
