"""`market-spine state copy`: a single-machine home's SQLite stores moved into PostgreSQL row
for row: the keys still check, the audit trail verifies with the same chain, the alerts are
the same; a second copy is refused (never merged), and a head file that does not end the
entries stops the copy with nothing copied."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from market_spine.audit.entry import Entry
from market_spine.audit.recorder import flush_all
from market_spine.audit.store import AuditStore, head_path
from market_spine.audit.verify import verify
from market_spine.cli import app
from market_spine.errors import InvalidInput
from market_spine.operations.alerts.conditions import Observation
from market_spine.operations.alerts.rules import Kind, Severity
from market_spine.operations.alerts.store import AlertStore
from market_spine.security.keys import KeyStore
from market_spine.settings import Settings
from market_spine.state_db import StateDatabase
from market_spine.state_db.location import copying
from market_spine_tests.kit.damage import forget_lake_caches
from market_spine_tests.kit.postgres import PostgresServer
from market_spine_tests.kit.s3 import S3Server
from market_spine_tests.kit.state_db import use_postgres

runner = CliRunner()
AT = datetime(2024, 3, 5, 14, tzinfo=UTC)


def _single_machine_home(home: Path) -> str:
    """A home whose stores are SQLite files: a key, 30 audit entries, an open alert; the
    key's token."""
    token = KeyStore(home).create("admin", name="first-admin").token
    store = AuditStore(home)
    for batch in range(3):
        store.append(
            [
                Entry(AT.isoformat(), "key:x", "http.get", "", {"n": batch * 10 + i}, "200")
                for i in range(10)
            ]
        )
    store.close()
    seen = Observation(Kind.CHECK_FAILED, "raw/x:validity", "", True, Severity.ERROR, "x", AT)
    AlertStore(home).open("all", seen, ["hook"])
    return token


def _copy() -> tuple[int, str]:
    result = runner.invoke(app, ["state", "copy"])
    # The command's own audit entry, recorded where this process's settings say now.
    flush_all()
    return result.exit_code, " ".join(result.output.split())


def test_a_homes_stores_move_into_postgresql_whole(
    postgres: PostgresServer, env_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MARKET_SPINE_STATE_DATABASE", raising=False)
    token = _single_machine_home(env_home)
    before = verify(env_home)
    assert before.intact and before.entries == 30

    use_postgres(postgres, monkeypatch)
    # Until copied, the home's files stop the stores from starting afresh in PostgreSQL.
    with pytest.raises(InvalidInput, match="state copy"):
        KeyStore(env_home).check(token)
    code, out = _copy()
    assert code == 0, out
    assert "keys: api_keys 1" in out and "audit: entries 30" in out
    assert not (env_home / "secrets" / "keys.db").exists() and "moved aside" in out
    assert list((env_home / "audit").glob("audit.head.copied-*"))
    assert "alerts: alerts 1" in out and "verified in its new place: 30 entries" in out
    assert KeyStore(env_home).database.shared
    assert KeyStore(env_home).check(token).name == "first-admin"
    # The copied chain, then the copy command's own entry chained after it.
    after = verify(env_home)
    assert after.intact and after.entries == 31
    [alert] = AlertStore(env_home).open_alerts()
    assert alert.subject == "raw/x:validity"
    # The ids go on after the copied ones: a new alert is the second.
    seen = Observation(Kind.CHECK_FAILED, "raw/y:validity", "", True, Severity.ERROR, "y", AT)
    opened = AlertStore(env_home).open("all", seen, ["hook"])
    assert opened is not None and opened.id == alert.id + 1
    # A new entry chains after the copied ones.
    store = AuditStore(env_home)
    store.append([Entry(AT.isoformat(), "key:x", "http.get", "", {}, "200")])
    store.close()
    assert verify(env_home).entries == 32

    code, out = _copy()
    assert code == 0 and "keys: no file in this home, nothing to copy" in out
    # A key file put back (another home's, say) is never merged into the copied keys.
    [copied] = (env_home / "secrets").glob("keys.db.copied-*")
    copied.rename(env_home / "secrets" / "keys.db")
    code, out = _copy()
    assert code == 2 and "already holds 1 rows in api_keys" in out and "never merges" in out


def test_a_head_file_that_does_not_end_the_trail_stops_the_copy(
    postgres: PostgresServer, env_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MARKET_SPINE_STATE_DATABASE", raising=False)
    _single_machine_home(env_home)
    seq, digest = head_path(env_home).read_text().split()
    head_path(env_home).write_text(f"{int(seq) - 1} {digest}\n")
    use_postgres(postgres, monkeypatch)
    code, out = _copy()
    assert code == 2 and "does not name its last entry" in out
    # Nothing was copied, the keys neither; the refused command is recorded where the trail
    # still is, the home's file.
    with copying():
        assert verify(env_home).entries == 0
        assert KeyStore(env_home).list() == []
    assert StateDatabase("audit", env_home / "audit" / "audit.sqlite").connect().execute(
        "SELECT count(*) FROM entries"
    ).fetchone() == (31,)


def test_without_a_state_database_there_is_nothing_to_copy_to(env_home: Path) -> None:
    code, out = _copy()
    assert code == 2 and "state_database is not set" in out


def test_a_lake_on_object_storage_brings_its_ledger(
    postgres: PostgresServer,
    s3: S3Server,
    env_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MARKET_SPINE_STATE_DATABASE", raising=False)
    for name, value in s3.lake_env(env_home, s3.bucket()).items():
        monkeypatch.setenv(name, value)
    lake = Settings.from_env().lake()
    for day in range(3):
        lake.append(
            "raw/copied", pl.DataFrame({"symbol": ["CL"], "n": [day]}), partition_by=["symbol"]
        )
    local = lake.ledger
    files, commits = local.file_records("raw/copied"), local.log_records("raw/copied")
    assert len(commits) == 3

    use_postgres(postgres, monkeypatch)
    forget_lake_caches()
    code, out = _copy()
    assert code == 0 and "lake_ledger: data_files 3, log_files 3" in out, out
    shared = Settings.from_env().lake()
    assert shared.ledger.database is not None
    assert shared.ledger.file_records("raw/copied") == files
    assert shared.ledger.log_records("raw/copied") == commits
    assert shared.read("raw/copied").height == 3
