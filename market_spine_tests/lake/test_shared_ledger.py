"""The integrity ledger of a lake on object storage, in the PostgreSQL every node reaches when the
home sets `state_database`: nodes with homes of their own (separate processes, as pods on other
machines) check each other's commits, an unreachable database is `StateUnavailable` in one line,
and a local lake keeps its ledger file beside it whatever `state_database` says."""

from __future__ import annotations

import os
import re
import socket
from datetime import date
from pathlib import Path

import pytest

from market_spine.errors import LakeDamaged, StateUnavailable
from market_spine.lake import Lake
from market_spine.lake.files import LogHead, LogListing
from market_spine.lake.integrity import LEDGER_FILE
from market_spine.lake.storage import Storage
from market_spine.lake.verify import verify_lake, verify_ledger
from market_spine.settings import Settings
from market_spine_tests.kit.damage import forget_lake_caches
from market_spine_tests.kit.frames import DS, day_frame, put
from market_spine_tests.kit.postgres import PostgresServer
from market_spine_tests.kit.s3 import S3Server
from market_spine_tests.kit.state_db import use_postgres
from market_spine_tests.lake.ledger_nodes import append, node, read, view

DAY = date(2024, 1, 2)
RAW = "raw/shared_ledger_bars"
#: Appends each node makes in the race: together past a checkpoint (every 10 versions).
APPENDS = 6
#: The one PII hash key the nodes of a deployment sharing no home are given.
PII_KEY = {"MARKET_SPINE_PII_HASH_KEY": "pii-" + "0123456789abcdef" * 4}
#: The home folders of the two nodes.
NODES = ("node-a", "node-b")


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Each test opens its lakes and ledgers afresh, as its own process would."""
    forget_lake_caches()


def _unreachable_database() -> str:
    """A PostgreSQL URI on a loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://spine@127.0.0.1:{port}/spine"


def _commit_key(settings: Settings, dataset: str, version: int) -> tuple[str, str]:
    bucket, _, prefix = settings.lake_uri.removeprefix("s3://").partition("/")
    return bucket, f"{prefix}/{dataset}/_delta_log/{version:020d}.json"


def test_nodes_sharing_one_lake_and_database_check_each_others_commits(
    s3: S3Server, postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = use_postgres(postgres, monkeypatch)
    bucket = s3.bucket()
    libpq = {k: os.environ[k] for k in ("PGPASSWORD", "PGSSLROOTCERT") if k in os.environ}
    envs = [
        s3.lake_env(tmp_path / name, bucket, MARKET_SPINE_STATE_DATABASE=state, **libpq, **PII_KEY)
        for name in NODES
    ]
    settings = Settings.from_env(envs[0])
    client = s3.client()
    with node(envs[0]) as a, node(envs[1]) as b:
        a.submit(append, RAW, DAY, -1, 1).result()
        racing = [a.submit(append, RAW, DAY, 0, APPENDS), b.submit(append, RAW, DAY, 1, APPENDS)]
        for done in racing:
            done.result()

        newest = 2 * APPENDS
        for seen in (a.submit(view, RAW).result(), b.submit(view, RAW).result()):
            # Each node reads every commit, and its ledger holds the other node's too.
            assert seen["rows"] == seen["tagged"] == newest + 1
            assert seen["version"] == seen["head"] == newest
            assert seen["recorded"] == list(range(newest + 1))
        assert not any((tmp_path / name / "lake" / LEDGER_FILE).exists() for name in NODES)

        # A commits once more; its newest commit is edited (valid JSON, the same size) ...
        a.submit(append, RAW, DAY, 0, 1).result()
        bucket_name, key = _commit_key(settings, RAW, newest + 1)
        body = client.get_object(Bucket=bucket_name, Key=key)["Body"].read().decode()
        edited = re.sub(
            r'("timestamp":\d*)(\d)', lambda m: f"{m[1]}{(int(m[2]) + 1) % 10}", body, count=1
        )
        assert edited != body and len(edited) == len(body)
        client.put_object(Bucket=bucket_name, Key=key, Body=edited.encode())
        kind, why = b.submit(read, RAW).result()
        assert kind == "damaged" and f"{newest + 1:020d}.json" in why and "SHA-256" in why

        # ... then removed: B, which never read that version, knows it was committed.
        client.delete_object(Bucket=bucket_name, Key=key)
        kind, why = b.submit(read, RAW, fresh=True).result()
        assert kind == "damaged"
        assert f"version {newest + 1} was committed but its commit file is missing" in why


@pytest.fixture
def pg_lake_settings(
    s3: S3Server, postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """A home whose lake is in a fresh bucket and whose ledger is in a fresh PostgreSQL."""
    state = use_postgres(postgres, monkeypatch)
    return s3.settings(tmp_path / "home", s3.bucket(), MARKET_SPINE_STATE_DATABASE=state, **PII_KEY)


def test_an_s3_lakes_ledger_on_postgresql_verifies_and_keeps_no_file(
    pg_lake_settings: Settings,
) -> None:
    lake = pg_lake_settings.lake()
    put(lake, DAY, "CL", 1.0)
    put(lake, DAY, "CL", 2.0)
    assert lake.ledger.database is not None and lake.ledger.head(DS) == 1
    assert "schema market_spine_lake_ledger" in lake.ledger.where()
    assert verify_ledger(lake, deep=True) == []
    assert not verify_lake(lake, deep=True).damaged
    assert lake.ledger.span(DS) == (DAY, DAY) == lake.ledger.span()
    assert not (pg_lake_settings.lake_root / LEDGER_FILE).exists()


def test_a_connection_the_server_dropped_is_remade_without_a_refusal(
    pg_lake_settings: Settings,
) -> None:
    lake = pg_lake_settings.lake()
    put(lake, DAY, "CL", 1.0)
    database = lake.ledger.database
    assert database is not None
    pid = database.connection().raw.info.backend_pid  # type: ignore[union-attr]
    with database.connect() as admin:
        admin.execute("SELECT pg_terminate_backend(?)", (pid,))
    assert lake.ledger.head(DS) == 0
    assert database.connection().raw.info.backend_pid != pid  # type: ignore[union-attr]


def test_an_unreachable_state_database_is_state_unavailable_in_one_line(
    s3: S3Server, tmp_path: Path
) -> None:
    state = _unreachable_database()
    settings = s3.settings(
        tmp_path / "home", s3.bucket(), MARKET_SPINE_STATE_DATABASE=state, **PII_KEY
    )
    lake = settings.lake()
    port = state.rsplit(":", 1)[1].split("/")[0]
    for attempt in (lambda: put(lake, DAY, "CL", 1.0), lambda: lake.read(DS)):
        with pytest.raises(StateUnavailable) as refused:
            attempt()
        message = str(refused.value)
        assert "\n" not in message and not isinstance(refused.value, LakeDamaged)
        assert "lake_ledger" in message and f"127.0.0.1:{port}" in message
    [finding] = verify_ledger(lake)
    assert finding.damage and "lake_ledger" in finding.problem and "\n" not in finding.problem
    assert not (settings.lake_root / LEDGER_FILE).exists()


def test_a_local_lake_keeps_its_ledger_file_whatever_state_database_says(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        "MARKET_SPINE_HOME": str(home),
        "MARKET_SPINE_PROFILE": "dev",
        "MARKET_SPINE_STATE_DATABASE": _unreachable_database(),
        **PII_KEY,
    }
    lake = Settings.from_env(env).lake()
    put(lake, DAY, "CL", 1.0)
    assert lake.ledger.database is None and lake.ledger.head(DS) == 0
    assert (home / "lake" / LEDGER_FILE).is_file()
    assert verify_ledger(lake) == []


def test_a_corrupt_ledger_file_is_damage_not_a_refusal(tmp_path: Path) -> None:
    lake = Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path / "home")}).lake()
    lake.append(DS, day_frame(DAY, "CL", 1.0), partition_by=["symbol"])
    path = lake.ledger.path
    lake.ledger.close()
    for sidecar in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        sidecar.unlink(missing_ok=True)
    path.write_bytes(b"not a database, " * 512)
    forget_lake_caches()
    lake = Settings.from_env({"MARKET_SPINE_HOME": str(tmp_path / "home")}).lake()
    with pytest.raises(LakeDamaged, match=r"integrity ledger .* cannot be read"):
        lake.read(DS)
    [finding] = verify_ledger(lake)
    assert "quick_check" in finding.problem


@pytest.mark.parametrize("looked_at", ["probed", "listed"])
def test_a_commit_recorded_while_a_reader_looks_at_the_log_is_no_lost_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, looked_at: str
) -> None:
    """Another writer (a node, a process) commits and records between the reader's look at
    the log (its head probed from the newest checkpoint, or the folder listed) and its reading
    of the records: the records must not be ahead of what it saw."""
    root = str(tmp_path / "lake")
    reader, writer = Lake(root), Lake(root)
    put(writer, DAY, "CL", 1.0)
    interleaved: list[str] = []
    if looked_at == "probed":
        probed = LogHead.probed

        def probe_then_commit(storage: Storage, log_dir: str) -> LogHead | None:
            found = probed(storage, log_dir)
            if not interleaved:
                interleaved.append(log_dir)
                put(writer, DAY, "CL", 2.0)
            return found

        monkeypatch.setattr(LogHead, "probed", staticmethod(probe_then_commit))
    else:
        listed = LogListing.of

        def list_then_commit(storage: Storage, log_dir: str) -> LogListing:
            found = listed(storage, log_dir)
            if not interleaved:
                interleaved.append(log_dir)  # the writer's own listings pass through
                put(writer, DAY, "CL", 2.0)
            return found

        monkeypatch.setattr(LogHead, "probed", staticmethod(lambda *_: None))
        monkeypatch.setattr(LogListing, "of", staticmethod(list_then_commit))
    reader.read(DS)
    assert interleaved and writer.version(DS) == 1
    monkeypatch.undo()
    assert reader.read(DS)["close"].unique().to_list() == [2.0]
