"""Audit entries outlive an outage of the trail's PostgreSQL: a recorder keeps what the store
could not take, writes it once the store is back, and what it still holds at exit waits in the
home's spool for the next process: nothing recorded is lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from market_spine.audit.recorder import Recorder, spool_path
from market_spine.audit.verify import verify
from market_spine_tests.kit.postgres import PostgresServer
from market_spine_tests.kit.state_db import drop_sessions, use_postgres


def test_entries_wait_out_an_outage_then_the_next_process_writes_them(
    postgres: PostgresServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(postgres, monkeypatch)
    home.mkdir()
    first = Recorder(home)
    first.record("key:a", "http.get", "bars", {"n": 1})
    assert first.flush() == 1

    monkeypatch.setenv("PGPASSWORD", "not-the-password")
    drop_sessions(postgres)
    first.record("key:a", "http.get", "bars", {"n": 2})
    with pytest.raises(Exception, match="refused"):
        first.flush()
    first.record("key:a", "http.get", "bars", {"n": 3})
    with pytest.raises(Exception, match="refused"):
        first.flush(final=True)
    assert len(spool_path(home).read_text().splitlines()) == 2

    monkeypatch.setenv("PGPASSWORD", postgres.password)
    second = Recorder(home)
    second.record("root", "cli.status")
    assert second.flush() == 3
    assert not spool_path(home).exists()
    checked = verify(home)
    assert checked.intact and checked.entries == 4
