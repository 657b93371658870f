"""Moving a store from the home's SQLite file into the shared PostgreSQL, row for row: what a
single-machine deployment does once, before its pods leave the home's node.

Only into empty tables (a copy never merges two histories), all of one store in one transaction
(a failure leaves the target as it was), identity columns advanced past the copied ids."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from market_spine.errors import InvalidInput
from market_spine.state_db.database import StateConnection, StateDatabase


@dataclass(frozen=True)
class Copied:
    """What one store's copy moved: rows per table, in the order copied."""

    store: str
    rows: dict[str, int]


def _columns(source: StateDatabase, table: str) -> list[str]:
    with source.connect() as con:
        return [row[1] for row in con.execute(f'PRAGMA table_info("{table}")').fetchall()]


def held_rows(target: StateDatabase, tables: Sequence[str]) -> str:
    """Why `target` cannot take a copy ("" when every table of `tables` is empty)."""
    with target.connect() as con:
        for table in tables:
            (held,) = con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
            if held:
                return (
                    f"{target.where()} already holds {held} rows in {table}: the copy fills "
                    "empty stores only (it never merges two histories); copy before the "
                    "platform's processes use the database"
                )
    return ""


def copy_store(
    source: StateDatabase,
    target: StateDatabase,
    tables: Sequence[str],
    after: Callable[[StateConnection], None] | None = None,
) -> Copied:
    """Copy `tables` of the SQLite store `source` into the same tables of `target` (made by
    the store beforehand), then run `after` in the same transaction (what the store keeps
    elsewhere on SQLite). InvalidInput when the source has no file, a target table already
    holds rows, or a table lacks a column the source has."""
    if source.shared or not target.shared:
        raise InvalidInput("a store is copied from its SQLite file into PostgreSQL only")
    if not source.file.is_file():
        raise InvalidInput(f"{source.file} does not exist: this home has no {source.store} store")
    columns = {t: _columns(source, t) for t in tables}
    copied: dict[str, int] = {}
    refused = held_rows(target, tables)
    if refused:
        raise InvalidInput(refused)
    with source.connect() as src, target.connect() as dst, dst.transaction():
        for table in tables:
            names = columns[table]
            known = {
                r[0]
                for r in dst.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = ? AND table_name = ?",
                    (target.schema, table),
                ).fetchall()
            }
            if missing := [n for n in names if n not in known]:
                raise InvalidInput(
                    f"{target.where()}'s {table} lacks {', '.join(missing)}: upgrade the "
                    "platform where the database was made, then copy again"
                )
            listed = ", ".join(f'"{n}"' for n in names)
            rows = src.execute(f'SELECT {listed} FROM "{table}"').fetchall()
            marks = ", ".join("?" for _ in names)
            dst.executemany(f'INSERT INTO "{table}" ({listed}) VALUES ({marks})', rows)
            for (column,) in dst.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                "AND table_name = ? AND is_identity = 'YES'",
                (target.schema, table),
            ).fetchall():
                dst.execute(
                    f"SELECT setval(pg_get_serial_sequence(?, ?), "
                    f'coalesce((SELECT max("{column}") FROM "{table}"), 0) + 1, false)',
                    (f"{target.schema}.{table}", column),
                )
            copied[table] = len(rows)
        if after is not None:
            after(dst)
    return Copied(target.store, copied)
