"""The audit trail's store, in a SQLite file and in PostgreSQL: entries chained, append-only,
private; `verify` catches every way of tampering (edit, insertion, deletion in the middle and
at the end); processes appending at once keep one chain."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from market_spine.audit.entry import Entry, chain_hash
from market_spine.audit.recorder import Recorder
from market_spine.audit.store import (
    _POSTGRES_SCHEMA,
    _SCHEMA,
    GUARD_TRIGGERS,
    POSTGRES_GUARDS,
    AuditStore,
    audit_database,
    audit_dir,
    db_path,
    head_path,
    read_head,
)
from market_spine.audit.verify import verify
from market_spine.errors import InvalidInput
from market_spine.state_db import DATABASE_ERRORS, StateConnection
from market_spine_tests.kit.postgres import PostgresServer
from market_spine_tests.kit.state_db import stored_text, use_postgres


def entries(n: int, actor: str = "alice") -> list[Entry]:
    return [
        Entry(
            f"2026-11-30T08:00:{i % 60:02d}.000000+00:00",
            actor,
            "http.get",
            "bars",
            {"i": i},
            "200",
        )
        for i in range(n)
    ]


def written(home: Path, n: int = 10) -> None:
    store = AuditStore(home)
    store.append(entries(n))
    store.close()


def raw(home: Path) -> StateConnection:
    """A connection as an attacker with the database (its file, or PostgreSQL's superuser)
    would open it: the append-only triggers dropped."""
    database = audit_database(home)
    con = database.connect()
    if database.shared:
        for name, *_ in POSTGRES_GUARDS:
            con.execute(f"DROP TRIGGER {name} ON entries")
    else:
        for name in GUARD_TRIGGERS:
            con.execute(f"DROP TRIGGER {name}")
    return con


def restore_guards(con: StateConnection) -> None:
    """What an attacker covering their tracks does after the rewrite: the triggers back."""
    con.script(_POSTGRES_SCHEMA if con.postgres else _SCHEMA)


def set_head(home: Path, con: StateConnection, seq: int, digest: str) -> None:
    """Rewrite the head beside the trail (the head file, or the head table)."""
    if con.postgres:
        con.execute("UPDATE head SET seq = ?, hash = ? WHERE id = 1", (seq, digest))
    else:
        head_path(home).write_text(f"{seq} {digest}\n", encoding="ascii")


def stored_rows(home: Path) -> list[tuple]:
    with audit_database(home).connect() as con:
        return [tuple(r) for r in con.execute("SELECT * FROM entries ORDER BY seq").fetchall()]


def test_entries_are_chained_and_intact(state_home: Path) -> None:
    home = state_home
    written(home, 25)
    found = verify(home)
    assert found.intact, found.problems
    assert found.entries == 25
    rows = stored_rows(home)
    assert rows[0][7] == "0" * 64
    for before, after in itertools.pairwise(rows):
        assert after[7] == before[8]
    head = read_head(home)
    assert head is not None and (head.seq, head.hash) == (25, rows[-1][8])
    if audit_database(home).shared:
        assert not audit_dir(home).exists()  # nothing of the trail is kept on the node
    else:
        assert head_path(home).read_text().split() == ["25", rows[-1][8]]


def test_the_store_refuses_updates_and_deletes(state_home: Path) -> None:
    written(state_home)
    with audit_database(state_home).connect() as con:
        with pytest.raises(DATABASE_ERRORS, match="append-only"):
            con.execute("UPDATE entries SET actor = 'mallory' WHERE seq = 3")
        with pytest.raises(DATABASE_ERRORS, match="append-only"):
            con.execute("DELETE FROM entries WHERE seq = 3")
    assert verify(state_home).intact


def test_postgresql_refuses_truncate_and_a_superuser_in_replica_mode_too(
    postgres: PostgresServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(postgres, monkeypatch)
    written(home)
    with audit_database(home).connect() as con:
        with pytest.raises(DATABASE_ERRORS, match="append-only"):
            con.execute("TRUNCATE entries")
        # A replication session skips ordinary triggers; the guards fire in every session.
        con.execute("SET session_replication_role = replica")
        with pytest.raises(DATABASE_ERRORS, match="append-only"):
            con.execute("UPDATE entries SET actor = 'mallory' WHERE seq = 3")
        with pytest.raises(DATABASE_ERRORS, match="append-only"):
            con.execute("DELETE FROM entries")
    found = verify(home)
    assert found.intact and found.entries == 10


def test_the_trail_is_private(home: Path) -> None:
    written(home)
    folder = db_path(home).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_edit_is_detected(state_home: Path) -> None:
    written(state_home)
    with raw(state_home) as con:
        con.execute("UPDATE entries SET actor = 'mallory' WHERE seq = 4")
    found = verify(state_home)
    assert not found.intact
    assert any("entry 4" in p and "edited" in p for p in found.problems), found.problems
    # Stopping at the first problem ends the read, and the snapshot, cleanly.
    assert len(verify(state_home, max_problems=1).problems) == 1


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(state_home: Path) -> None:
    written(state_home)
    with raw(state_home) as con:
        seq, at, _, action, dataset, params, outcome, prev, _ = con.execute(
            "SELECT * FROM entries WHERE seq = 4"
        ).fetchone()
        forged = chain_hash(prev, seq, at, "mallory", action, dataset, params, outcome)
        con.execute("UPDATE entries SET actor = 'mallory', hash = ? WHERE seq = 4", (forged,))
    found = verify(state_home)
    assert any(p.startswith("entry 5: its previous hash") for p in found.problems), found.problems


def test_an_insertion_is_detected(state_home: Path) -> None:
    written(state_home)
    with raw(state_home) as con:
        # Make room after entry 5 and slip in a well-formed entry chained to it.
        for seq in range(10, 5, -1):
            con.execute("UPDATE entries SET seq = seq + 1 WHERE seq = ?", (seq,))
        prev = con.execute("SELECT hash FROM entries WHERE seq = 5").fetchone()[0]
        at, params = "2026-11-30T08:00:05.500000+00:00", json.dumps({})
        digest = chain_hash(prev, 6, at, "mallory", "http.get", "bars", params, "200")
        con.execute(
            "INSERT INTO entries VALUES (6, ?, 'mallory', 'http.get', 'bars', ?, '200', ?, ?)",
            (at, params, prev, digest),
        )
    found = verify(state_home)
    assert not found.intact
    assert any(p.startswith("entry 7") for p in found.problems), found.problems


def test_a_deletion_in_the_middle_is_detected(state_home: Path) -> None:
    written(state_home)
    with raw(state_home) as con:
        con.execute("DELETE FROM entries WHERE seq = 6")
    found = verify(state_home)
    assert any("entries removed" in p for p in found.problems), found.problems


def test_a_deletion_at_the_end_is_detected_by_the_head(state_home: Path) -> None:
    written(state_home)
    with raw(state_home) as con:
        con.execute("DELETE FROM entries WHERE seq >= 9")
    found = verify(state_home)
    kept = "the head table" if audit_database(state_home).shared else "the head file"
    assert found.problems[1:] == [
        f"{kept} says entry 10 ends the log but the log ends at entry 8 "
        "(entries removed from the end)"
    ]
    assert "triggers" in found.problems[0]  # dropped to delete


def test_an_emptied_trail_is_reported_not_taken_for_none(state_home: Path) -> None:
    written(state_home, 5)
    with raw(state_home) as con:
        con.execute("DELETE FROM entries")
    found = verify(state_home)
    kept = "the head table" if audit_database(state_home).shared else "the head file"
    assert found.entries == 0 and found.problems[1:] == [
        f"{kept} says entry 5 ends the log but the log ends at entry 0 "
        "(entries removed from the end)"
    ]


def test_a_removed_head_is_reported(state_home: Path) -> None:
    written(state_home, 3)
    with audit_database(state_home).connect() as con:
        if con.postgres:
            con.execute("DELETE FROM head")
        else:
            head_path(state_home).unlink()
    [problem] = verify(state_home).problems
    assert problem.endswith("is missing: the end of the log is unanchored")
    assert read_head(state_home) is None


def test_verify_without_a_trail_says_so(state_home: Path) -> None:
    state_home.mkdir()
    with pytest.raises(InvalidInput, match="has no audit trail"):
        verify(state_home)
    assert read_head(state_home) is None
    # Asking made nothing: the trail appears with the first entry recorded.
    assert stored_text(audit_database(state_home)) == "" and not audit_dir(state_home).exists()
    with pytest.raises(InvalidInput, match="has no audit trail"):
        AuditStore(state_home, create=False)


def test_a_home_with_a_bad_setting_still_records_in_its_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_SPINE_SIM_SEED", "seven")
    written(home, 2)
    assert db_path(home).is_file() and verify(home).entries == 2
    # Until `state copy` carries it over, the home's file stays the trail, wherever
    # state_database points.
    monkeypatch.setenv("MARKET_SPINE_STATE_DATABASE", "postgresql://spine@db:5432/spine")
    store = AuditStore(home)
    assert not store.database.shared
    store.close()
    # Without one, a bad setting beside a named state_database leaves no doubt-free place.
    db_path(home).rename(db_path(home).with_name("audit.sqlite.copied"))
    with pytest.raises(InvalidInput, match="MARKET_SPINE_SIM_SEED"):
        AuditStore(home)


def _append_many(home: str, actor: str, start: Any) -> None:
    start.wait(120)
    recorder = Recorder(Path(home))
    for i in range(300):
        recorder.record(actor, "spine.read", "bars", {"i": i})
        if i % 5 == 0:
            recorder.flush()
    recorder.flush()


def test_processes_appending_at_once_keep_one_chain(state_home: Path) -> None:
    home = state_home
    home.mkdir()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    workers = [ctx.Process(target=_append_many, args=(str(home), f"p{i}", start)) for i in range(3)]
    for w in workers:
        w.start()
    start.set()  # every process past its imports first, so their appends overlap
    for w in workers:
        w.join(120)
        assert w.exitcode == 0
    found = verify(home)
    assert found.intact, found.problems
    assert found.entries == 900
    rows = stored_rows(home)
    assert [r[0] for r in rows] == list(range(1, 901))
    for i in range(3):
        mine = [json.loads(r[5])["i"] for r in rows if r[2] == f"p{i}"]
        assert mine == list(range(300))


def test_verify_beside_appends_from_another_node_sees_one_instant(
    postgres: PostgresServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head is read in the snapshot the entries are: a head committed by another node
    after the entries were read is not taken for entries removed from the end."""
    use_postgres(postgres, monkeypatch)
    written(home, 10)
    stop = threading.Event()

    def keep_appending() -> None:
        store = AuditStore(home)
        while not stop.is_set():
            store.append(entries(2, "other-node"))
        store.close()

    other = threading.Thread(target=keep_appending)
    other.start()
    try:
        results = [verify(home) for _ in range(40)]
    finally:
        stop.set()
        other.join()
    assert [r.problems for r in results if not r.intact] == []
    assert results[-1].entries > results[0].entries >= 10


def test_an_appender_whose_connection_the_server_dropped_reconnects(
    postgres: PostgresServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(postgres, monkeypatch)
    store = AuditStore(home)
    store.append(entries(2))
    pid = store.con.raw.info.backend_pid  # type: ignore[union-attr]
    with audit_database(home).connect() as admin:
        admin.execute("SELECT pg_terminate_backend(?)", (pid,))
    assert store.append(entries(3)).seq == 5  # a long-lived recorder's next batch is kept
    store.close()
    assert verify(home).entries == 5


@pytest.mark.parametrize(
    ("sabotage", "altered"),
    [
        ("ALTER TABLE entries DISABLE TRIGGER entries_no_update", ["entries_no_update"]),
        # Enabled as an ordinary trigger, skipped by a session in the replica role.
        ("ALTER TABLE entries ENABLE TRIGGER entries_no_delete", ["entries_no_delete"]),
        ("DROP TRIGGER entries_no_truncate ON entries", ["entries_no_truncate"]),
        (
            "DROP TRIGGER entries_no_update ON entries; CREATE TRIGGER entries_no_update "
            "BEFORE UPDATE ON entries FOR EACH ROW WHEN (false) EXECUTE FUNCTION "
            "entries_append_only(); ALTER TABLE entries ENABLE ALWAYS TRIGGER entries_no_update",
            ["entries_no_update"],
        ),
        (
            "DROP TRIGGER entries_no_update ON entries; CREATE TRIGGER entries_no_update "
            "BEFORE UPDATE OF hash ON entries FOR EACH ROW EXECUTE FUNCTION "
            "entries_append_only(); ALTER TABLE entries ENABLE ALWAYS TRIGGER entries_no_update",
            ["entries_no_update"],
        ),
        (
            "DROP TRIGGER entries_no_delete ON entries; CREATE TRIGGER entries_no_delete "
            "BEFORE INSERT ON entries FOR EACH ROW EXECUTE FUNCTION entries_append_only(); "
            "ALTER TABLE entries ENABLE ALWAYS TRIGGER entries_no_delete",
            ["entries_no_delete"],
        ),
        (
            "CREATE OR REPLACE FUNCTION entries_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
            [name for name, *_ in POSTGRES_GUARDS],
        ),
    ],
)
def test_postgresql_guards_disabled_or_defanged_by_a_superuser_are_reported_and_restored(
    postgres: PostgresServer,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    sabotage: str,
    altered: list[str],
) -> None:
    use_postgres(postgres, monkeypatch)
    written(home, 3)
    with audit_database(home).connect() as con:
        con.script(sabotage)
    [problem] = verify(home).problems
    assert problem.startswith(f"the append-only triggers {', '.join(altered)} are missing or ")
    written(home, 1)  # a process opening the trail to append puts its guards back as made
    assert verify(home).intact


def test_a_recorder_writes_in_the_background_and_drops_entries_of_a_missing_home(
    state_home: Path, tmp_path: Path
) -> None:
    home = state_home
    home.mkdir()
    recorder = Recorder(home)
    recorder.record("alice", "spine.read", "bars", {"symbol": "CL"})
    deadline = time.monotonic() + 10
    while read_head(home) is None and time.monotonic() < deadline:
        time.sleep(0.05)  # no flush called: the background thread writes it
    assert verify(home).entries == 1
    missing = Recorder(tmp_path / "nowhere")
    missing.record("alice", "cli.process")
    assert missing.flush() == 0  # waits: the command may create the home
    (tmp_path / "nowhere").mkdir()
    assert missing.flush() == 1
    gone = Recorder(tmp_path / "never")
    gone.record("alice", "cli.status")
    assert gone.flush(final=True) == 0 and gone.flush() == 0
    assert not (tmp_path / "never").exists()


def test_an_idle_recorders_thread_ends_and_the_next_entry_starts_another(
    state_home: Path,
) -> None:
    home = state_home
    home.mkdir()
    recorder = Recorder(home)
    recorder.record("alice", "spine.read", "bars")
    assert recorder.running
    deadline = time.monotonic() + 20
    while recorder.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not recorder.running  # idle: no thread kept per home a process used once
    assert verify(home).entries == 1
    recorder.record("bob", "spine.read", "bars")
    assert recorder.running
    deadline = time.monotonic() + 20
    while verify(home).entries < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert verify(home).entries == 2  # written by the new thread, no flush called


def test_verify_beside_appends_in_the_same_home_sees_no_false_removal(home: Path) -> None:
    """The head file is written under the append's lock, outside any read snapshot: a check
    reading entries while another writer appends must not take the newer head for a log cut
    short."""
    written(home, 5)
    stop = threading.Event()

    def keep_appending() -> None:
        store = AuditStore(home)
        n = 0
        while not stop.is_set():
            n += 1
            store.append(
                [Entry("2024-03-05T14:00:00+00:00", "p", "spine.read", "", {"n": n}, "ok")]
            )
        store.close()

    writer = threading.Thread(target=keep_appending)
    writer.start()
    try:
        for _ in range(40):
            checked = verify(home)
            assert checked.intact, checked.problems
    finally:
        stop.set()
        writer.join()
    assert verify(home).intact
