"""The platform's stores on each of their databases: a home whose stores are SQLite files, or
one whose `state_database` is a fresh database of the session's real PostgreSQL."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from market_spine.state_db import StateDatabase
from market_spine_tests.kit.postgres import PostgresServer

#: The PII hash key every "node" of a test shares.
PII_HASH_KEY = "pii-" + "0123456789abcdef" * 4
#: The dialects a store's tests run on.
DIALECTS = ("sqlite", "postgresql")


def use_postgres(server: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point this process's `state_database` at a new database of `server` (its password and
    CA through libpq's own variables, as a deployment gives them), with the one PII hash key
    nodes sharing no home must be given; the URI set."""
    database = server.create_database(f"state_{secrets.token_hex(6)}")
    uri = f"postgresql://{server.user}@{server.host}:{server.port}/{database}?sslmode=verify-full"
    monkeypatch.setenv("MARKET_SPINE_STATE_DATABASE", uri)
    monkeypatch.setenv("PGPASSWORD", server.password)
    monkeypatch.setenv("MARKET_SPINE_PII_HASH_KEY", PII_HASH_KEY)
    if server.ca_file is not None:
        monkeypatch.setenv("PGSSLROOTCERT", str(server.ca_file))
    return uri


def stored_text(database: StateDatabase) -> str:
    """Everything a store holds, as text: its SQLite file's bytes, or every row of every
    table of its PostgreSQL schema (to assert what is, and is not, kept)."""
    if not database.shared:
        return database.file.read_bytes().decode("utf-8", "replace") if database.exists() else ""
    with database.connect() as con:
        tables = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                (database.schema,),
            ).fetchall()
        ]
        return "\n".join(
            repr(row) for t in tables for row in con.execute(f'SELECT * FROM "{t}"').fetchall()
        )


def home_of(request: pytest.FixtureRequest, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`home`, its stores on the dialect `request.param` names."""
    if request.param == "postgresql":
        use_postgres(request.getfixturevalue("postgres"), monkeypatch)
    else:
        monkeypatch.delenv("MARKET_SPINE_STATE_DATABASE", raising=False)
    return home


def drop_sessions(server: PostgresServer) -> None:
    """End every session of the test state databases, as a server restart does: the next
    statement of each must log in again."""
    with server.connect() as admin:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND datname LIKE 'state_%'"
            )
