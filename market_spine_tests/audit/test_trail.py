"""The audit trail's store: entries chained, append-only, private; `verify` catches every way
of tampering (edit, insertion, deletion in the middle and at the end)."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import sqlite3
import stat
import time
from pathlib import Path

import pytest

from market_spine.audit.entry import Entry, chain_hash
from market_spine.audit.recorder import Recorder
from market_spine.audit.store import AuditStore, db_path, head_path
from market_spine.audit.verify import verify
from market_spine.errors import InvalidInput


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


def written(home: Path, n: int = 10) -> Path:
    store = AuditStore(home)
    store.append(entries(n))
    store.close()
    return db_path(home)


def raw(db: Path) -> sqlite3.Connection:
    """A connection as an attacker with the file would open it: triggers dropped."""
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("DROP TRIGGER entries_no_update")
    con.execute("DROP TRIGGER entries_no_delete")
    return con


def test_entries_are_chained_and_intact(home: Path) -> None:
    written(home, 25)
    found = verify(home)
    assert found.intact, found.problems
    assert found.entries == 25
    rows = sqlite3.connect(db_path(home)).execute("SELECT * FROM entries ORDER BY seq").fetchall()
    assert rows[0][7] == "0" * 64
    for before, after in itertools.pairwise(rows):
        assert after[7] == before[8]
    assert head_path(home).read_text().split() == ["25", rows[-1][8]]


def test_the_store_refuses_updates_and_deletes(home: Path) -> None:
    con = sqlite3.connect(written(home), isolation_level=None)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("UPDATE entries SET actor = 'mallory' WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("DELETE FROM entries WHERE seq = 3")


def test_the_trail_is_private(home: Path) -> None:
    written(home)
    folder = db_path(home).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_edit_is_detected(home: Path) -> None:
    raw(written(home)).execute("UPDATE entries SET actor = 'mallory' WHERE seq = 4")
    found = verify(home)
    assert not found.intact
    assert any("entry 4" in p and "edited" in p for p in found.problems), found.problems


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(home: Path) -> None:
    con = raw(written(home))
    seq, at, _, action, dataset, params, outcome, prev, _ = con.execute(
        "SELECT * FROM entries WHERE seq = 4"
    ).fetchone()
    forged = chain_hash(prev, seq, at, "mallory", action, dataset, params, outcome)
    con.execute("UPDATE entries SET actor = 'mallory', hash = ? WHERE seq = 4", (forged,))
    found = verify(home)
    assert any(p.startswith("entry 5: its previous hash") for p in found.problems), found.problems


def test_an_insertion_is_detected(home: Path) -> None:
    con = raw(written(home))
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
    found = verify(home)
    assert not found.intact
    assert any(p.startswith("entry 7") for p in found.problems), found.problems


def test_a_deletion_in_the_middle_is_detected(home: Path) -> None:
    raw(written(home)).execute("DELETE FROM entries WHERE seq = 6")
    found = verify(home)
    assert any("entries removed" in p for p in found.problems), found.problems


def test_a_deletion_at_the_end_is_detected_by_the_head(home: Path) -> None:
    raw(written(home)).execute("DELETE FROM entries WHERE seq >= 9")
    found = verify(home)
    assert found.problems[1:] == [
        "the head file says entry 10 ends the log but the log ends at entry 8 "
        "(entries removed from the end)"
    ]
    assert "triggers" in found.problems[0]  # dropped to delete


def test_verify_without_a_trail_says_so(home: Path) -> None:
    home.mkdir()
    with pytest.raises(InvalidInput, match="has no audit trail"):
        verify(home)


def _append_many(home: str, actor: str) -> None:
    recorder = Recorder(Path(home))
    for i in range(300):
        recorder.record(actor, "spine.read", "bars", {"i": i})
        if i % 50 == 0:
            recorder.flush()
    recorder.flush()


def test_processes_appending_at_once_keep_one_chain(home: Path) -> None:
    home.mkdir()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_append_many, args=(str(home), f"p{i}")) for i in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    found = verify(home)
    assert found.intact, found.problems
    assert found.entries == 900


def test_a_recorder_writes_in_the_background_and_drops_entries_of_a_missing_home(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    recorder = Recorder(home)
    recorder.record("alice", "spine.read", "bars", {"symbol": "CL"})
    deadline = time.monotonic() + 10
    while not head_path(home).is_file() and time.monotonic() < deadline:
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
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
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
