"""One store's database on SQLite and on a real PostgreSQL: the same SQL runs on both, a
transaction holds the store's write lock and rolls back whole, and a connection the server
dropped is remade."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from market_spine.errors import InvalidInput, StateUnavailable
from market_spine.settings import Settings
from market_spine.state_db import DATABASE_ERRORS, POSTGRESQL, SQLITE, StateDatabase
from market_spine.state_db.database import postgres_sql
from market_spine.state_db.location import conninfo_of, home_database
from market_spine_tests.kit.postgres import PostgresServer
from market_spine_tests.kit.state_db import PII_HASH_KEY, use_postgres

DDL = "CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"


def _database(state_home: Path) -> StateDatabase:
    return home_database(state_home, "probe", state_home / "probe.sqlite")


def test_the_same_sql_runs_on_both_dialects(state_home: Path) -> None:
    db = _database(state_home)
    with db.session(DDL, named=True) as con:
        con.executemany("INSERT INTO marks VALUES (?, ?)", [("a.json", 1), ("b.parquet", 2)])
        con.execute(
            "INSERT INTO marks VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = "
            "excluded.value",
            ("a.json", 5),
        )
        rows = con.execute("SELECT name, value FROM marks WHERE name LIKE '%.json'").fetchall()
        assert [(r["name"], r["value"]) for r in rows] == [("a.json", 5)]
        assert [tuple(r) for r in rows] == [("a.json", 5)]
    assert db.dialect == (POSTGRESQL if db.shared else SQLITE)


def test_a_failed_transaction_leaves_the_store_as_it_was(state_home: Path) -> None:
    db = _database(state_home)
    with db.session(DDL) as con:
        con.execute("INSERT INTO marks VALUES (?, ?)", ("kept", 1))
        with pytest.raises(DATABASE_ERRORS), con.transaction():
            con.execute("INSERT INTO marks VALUES (?, ?)", ("lost", 2))
            con.execute("INSERT INTO marks VALUES (?, ?)", ("kept", 3))
        assert con.execute("SELECT name, value FROM marks").fetchall() == [("kept", 1)]


def test_concurrent_read_then_write_transactions_take_turns(state_home: Path) -> None:
    """Each writer reads the counter and writes it plus one: without the store's write lock
    two would read the same value and one increment would be lost."""
    db = _database(state_home)
    with db.session(DDL) as con:
        con.execute("INSERT INTO marks VALUES ('counter', 0)")

    def add(times: int) -> None:
        with db.connect() as mine:
            for _ in range(times):
                with mine.transaction():
                    (value,) = mine.execute(
                        "SELECT value FROM marks WHERE name = 'counter'"
                    ).fetchone()
                    time.sleep(0.001)
                    mine.execute("UPDATE marks SET value = ? WHERE name = 'counter'", (value + 1,))

    threads = [threading.Thread(target=add, args=(20,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.session() as con:
        assert con.execute("SELECT value FROM marks WHERE name = 'counter'").fetchone()[0] == 80


def test_a_connection_the_server_dropped_is_remade(
    postgres: PostgresServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restarted or failed-over server drops every session: the next statement, or the next
    transaction, outside a transaction runs on a new connection; inside one it fails."""
    use_postgres(postgres, monkeypatch)
    db = _database(home)

    def dropped() -> int:
        with db.session() as con:
            pid = con.raw.info.backend_pid  # type: ignore[union-attr]
        with db.connect() as admin:
            admin.execute("SELECT pg_terminate_backend(?)", (pid,))
        return pid

    with db.session(DDL) as con:
        con.execute("INSERT INTO marks VALUES ('x', 1)")
    pid = dropped()
    with db.session() as con:
        assert con.execute("SELECT value FROM marks").fetchall() == [(1,)]
        assert con.raw.info.backend_pid != pid  # type: ignore[union-attr]
    dropped()
    with db.session() as con, con.transaction():
        con.execute("UPDATE marks SET value = 2")
    with db.session() as con:
        assert con.execute("SELECT value FROM marks").fetchall() == [(2,)]
        with pytest.raises(DATABASE_ERRORS), con.transaction():
            con.execute("UPDATE marks SET value = 3")
            with db.connect() as admin:
                # A connection of its own, beside the open transaction (and its store lock).
                admin.execute(
                    "SELECT pg_terminate_backend(?)",
                    (con.raw.info.backend_pid,),  # type: ignore[union-attr]
                )
            con.execute("UPDATE marks SET value = 4")
        assert con.execute("SELECT value FROM marks").fetchall() == [(2,)]


def test_each_store_has_its_own_schema(
    postgres: PostgresServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(postgres, monkeypatch)
    one = home_database(home, "one", home / "one.sqlite")
    two = home_database(home, "two", home / "two.sqlite")
    for db, value in ((one, 1), (two, 2)):
        with db.session(DDL) as con:
            con.execute("INSERT INTO marks VALUES ('x', ?)", (value,))
    with one.session() as con:
        assert con.execute("SELECT value FROM marks").fetchall() == [(1,)]
    assert "schema market_spine_two" in two.where() and postgres.password not in two.where()
    assert not (home / "one.sqlite").exists()


def test_placeholders_and_percent_signs_reach_psycopg_as_its_own() -> None:
    assert postgres_sql("SELECT ? WHERE name LIKE '%.json'") == (
        "SELECT %s WHERE name LIKE '%%.json'"
    )


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("mysql://db/x", "is not where the platform's stores can live"),
        ("postgresql://host", "is not where the platform's stores can live"),
        ("postgresql://spine:hunter2@db:5432/spine", "holds a password"),
    ],
)
def test_a_bad_state_database_says_the_fix(home: Path, value: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem) as refused:
        Settings.from_env(
            {
                "MARKET_SPINE_HOME": str(home),
                "MARKET_SPINE_STATE_DATABASE": value,
                "MARKET_SPINE_PII_HASH_KEY": PII_HASH_KEY,
            }
        )
    assert "hunter2" not in str(refused.value)


def test_instance_means_the_dagster_instances_postgresql(
    postgres: PostgresServer, home: Path
) -> None:
    env = {
        "MARKET_SPINE_HOME": str(home),
        "MARKET_SPINE_PROFILE": "prod",
        "MARKET_SPINE_STATE_DATABASE": "instance",
        "MARKET_SPINE_PII_HASH_KEY": PII_HASH_KEY,
        **postgres.env("spine"),
    }
    settings = Settings.from_env(env)
    conninfo, source = conninfo_of(settings, env)
    assert source == "state_database=instance"
    for part in (f"port={postgres.port}", "dbname=spine", "sslmode=verify-full", "sslrootcert="):
        assert part in conninfo
    unset = {k: v for k, v in env.items() if k != "DAGSTER_PG_HOST"}
    with pytest.raises(InvalidInput, match="reads DAGSTER_PG_HOST"):
        conninfo_of(Settings.from_env(unset), unset)
    dev = {**env, "MARKET_SPINE_PROFILE": "dev"}
    with pytest.raises(InvalidInput, match="is not on PostgreSQL"):
        conninfo_of(Settings.from_env(dev), dev)


def test_a_refused_connection_says_what_to_fix_without_the_password(
    postgres: PostgresServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(postgres, monkeypatch)
    monkeypatch.setenv("PGPASSWORD", "not-the-password")
    db = home_database(home, "refused", home / "refused.sqlite")
    with pytest.raises(StateUnavailable) as refused:
        db.connect()
    message = str(refused.value)
    assert (
        "refused" in message
        and "PGPASSWORD" in message
        and "schema market_spine_refused" in (message)
    )
    assert "not-the-password" not in message and postgres.password not in message


def test_validate_probes_where_the_stores_live_without_making_anything(
    postgres: PostgresServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from market_spine.state_db.location import probe

    assert probe(Settings.from_env({"MARKET_SPINE_HOME": str(home)}), {})[0] is None
    uri = use_postgres(postgres, monkeypatch)
    env = dict(os.environ)
    ok, detail = probe(Settings.for_home(home), env)
    assert ok, detail
    assert "accepts the credentials" in detail and postgres.password not in detail
    database = uri.rsplit("/", 1)[1].split("?")[0]
    assert (
        postgres.count(
            database, "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'market_spine_%'"
        )
        == 0
    )
    wrong = {**env, "PGPASSWORD": "wrong"}
    ok, detail = probe(Settings.for_home(home), wrong)
    assert ok is False and "PGPASSWORD" in detail
    con = postgres.connect(database)
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("CREATE ROLE reader LOGIN PASSWORD 'reader-pw'")
            cur.execute(f'REVOKE CREATE ON DATABASE "{database}" FROM PUBLIC')
    finally:
        con.close()
    reader = uri.replace(f"{postgres.user}@", "reader@")
    monkeypatch.setenv("MARKET_SPINE_STATE_DATABASE", reader)
    ok, detail = probe(Settings.for_home(home), {**env, "PGPASSWORD": "reader-pw"})
    assert ok is False and "may not create schemas" in detail


def test_plain_validate_reaches_the_state_database(
    postgres: PostgresServer, env_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from market_spine.cli import app

    use_postgres(postgres, monkeypatch)
    result = CliRunner().invoke(app, ["config", "validate"])
    out = " ".join(result.output.split())
    assert "ok state:" in out and "accepts the credentials" in out, out
    monkeypatch.setenv("PGPASSWORD", "wrong")
    result = CliRunner().invoke(app, ["config", "validate"])
    out = " ".join(result.output.split())
    assert result.exit_code == 1 and "state: the state database" in out and "PGPASSWORD" in out


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ({"MARKET_SPINE_PII_HASH_KEY": "short"}, "has 5 characters; give at least 32"),
        (
            {"MARKET_SPINE_STATE_DATABASE": "postgresql://spine@db:5432/spine?password=hunter2"},
            "holds a password",
        ),
        (
            {
                "MARKET_SPINE_PROFILE": "prod",
                "MARKET_SPINE_STATE_DATABASE": "postgresql://spine@db:5432/spine?sslmode=disable",
            },
            "sslmode=disable under the prod profile",
        ),
    ],
)
def test_settings_refuse_what_would_leak_or_be_guessed(
    home: Path, extra: dict[str, str], problem: str
) -> None:
    env = {
        "MARKET_SPINE_HOME": str(home),
        "MARKET_SPINE_STATE_DATABASE": "instance",
        "MARKET_SPINE_PII_HASH_KEY": PII_HASH_KEY,
        "MARKET_SPINE_LAKE_URI": "s3://market-spine-lake/lake",
        **extra,
    }
    with pytest.raises(InvalidInput, match=problem) as refused:
        Settings.from_env(env)
    assert "hunter2" not in str(refused.value)


def test_config_set_says_it_changes_this_machine_only_when_nodes_share_no_home(
    env_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from market_spine.cli import app

    result = CliRunner().invoke(app, ["config", "set", "retention_days", "300"])
    assert result.exit_code == 0 and "this machine's settings file only" not in result.output
    monkeypatch.setenv("MARKET_SPINE_STATE_DATABASE", "postgresql://spine@db:5432/spine")
    monkeypatch.setenv("MARKET_SPINE_PII_HASH_KEY", PII_HASH_KEY)
    result = CliRunner().invoke(app, ["config", "set", "retention_days", "200"])
    out = " ".join(result.output.split())
    assert result.exit_code == 0 and "this machine's settings file only" in out
    assert "ConfigMap" in out
