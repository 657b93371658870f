"""The provider requests of every process of a home reach the API's `/metrics`: a process that
captures from the ThetaTerminal (as a run's step does, through the market-data resource) writes
its counts to the home's ledger when it exits, and a scrape adds them to the API's own."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from market_spine.api.app import create_app
from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal
from market_spine.observability import ledger
from market_spine.observability.metrics import count_request
from market_spine_tests.kit.api import serving_app
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.postgres import PostgresServer
from market_spine_tests.kit.state_db import use_postgres
from market_spine_tests.observability.test_metrics import DAY

#: A capture in its own process, through the resource a run's step uses.
CAPTURE = """
import sys
from datetime import date
from market_spine.providers.resource import MarketDataResource
market = MarketDataResource(options_provider="thetadata", thetadata_url=sys.argv[1])
for _ in range(int(sys.argv[2])):
    market.chains().fetch_chain("SPXW", date.fromisoformat(sys.argv[3]))
"""
SERIES = re.compile(
    r'^market_spine_provider_requests_total\{provider="thetadata",request="([^"]+)"\} (\S+)$',
    re.M,
)


def _thetadata_requests(text: str) -> float:
    return sum(float(value) for _, value in SERIES.findall(text))


def test_a_runs_provider_requests_show_on_the_apis_metrics(state_home: Path) -> None:
    """Two runs' processes write their counters (into the home's file, or into the PostgreSQL
    every node reaches): the API, another process, adds both to its own."""
    home = state_home
    settings = settings_for(home)
    env = {**os.environ, "MARKET_SPINE_HOME": str(home)}
    with serving_app(create_app(settings)) as api:
        before = _thetadata_requests(api.get("/metrics").text)
        with FakeThetaTerminal(FakeThetaConfig(today=DAY)) as fake:
            for captures in (2, 1):  # two processes, as two runs' steps
                done = subprocess.run(
                    [sys.executable, "-c", CAPTURE, fake.url, str(captures), DAY.isoformat()],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                assert done.returncode == 0, done.stderr
            sent = fake.stats()["requests_total"]
        after = _thetadata_requests(api.get("/metrics").text)
    assert sent > 0
    assert after - before == sent
    assert ledger.ledger_path(home).is_file() != ledger.ledger_database(home).shared


def _as(process: str, path: ledger.Ledger, now: float | None = None) -> None:
    """Flush this process's counters as if it were `process`."""
    mine = ledger.PROCESS
    try:
        ledger.PROCESS = process
        assert ledger.flush(path, now=now)
    finally:
        ledger.PROCESS = mine


def test_a_process_writing_twice_counts_once_and_old_rows_fold(state_home: Path) -> None:
    path = ledger.ledger_database(state_home)
    count_request("ib", "historical_data")
    key = ("market_spine_provider_requests", '{"provider": "ib", "request": "historical_data"}')
    _as("run-a", path)
    _as("run-a", path)  # its step's teardown, then its exit: the same values again
    counted = ledger.others(path)[key]
    assert counted >= 1
    # This process's own rows are not "others": the API adds its live counts instead.
    assert ledger.flush(path) and ledger.others(path)[key] == counted

    past = time.time() - 2 * ledger.FOLD_AFTER_S
    _as("run-b", path, now=past)
    _as("run-c", path, now=past)
    _as("run-a", path, now=past)
    assert ledger.others(path)[key] == 3 * counted
    assert ledger.flush(path)  # folds the processes silent for a day
    assert ledger.others(path)[key] == 3 * counted
    with path.connect() as db:
        processes = {p for (p,) in db.execute("SELECT DISTINCT process FROM counts").fetchall()}
    assert processes == {ledger.FOLDED, ledger.PROCESS}


def test_a_ledger_is_also_named_by_its_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    assert ledger.others(path) == {} and not path.exists()  # a reader makes no file
    count_request("ib", "historical_data")
    _as("run-a", path)
    key = ("market_spine_provider_requests", '{"provider": "ib", "request": "historical_data"}')
    assert ledger.others(path)[key] >= 1
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT DISTINCT process FROM counts").fetchall() == [("run-a",)]


#: A process that counts `n` requests of `request` and writes them to the home's ledger as it
#: exits, printing the time it began exiting (atexit runs the last registered first).
EXITING = """
import atexit, sys, time
from pathlib import Path
from market_spine.observability import ledger
from market_spine.observability.metrics import count_request
for _ in range(int(sys.argv[3])):
    count_request("thetadata", sys.argv[2])
ledger.flush_at_exit(ledger.ledger_database(Path(sys.argv[1])))
atexit.register(lambda: print(time.time(), flush=True))
"""


def _exiting(home: Path, request: str, n: int) -> tuple[float, str]:
    """Run EXITING; (seconds its exit took, its stderr), once it exited cleanly."""
    done = subprocess.run(
        [sys.executable, "-c", EXITING, str(home), request, str(n)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    ended = time.time()
    assert done.returncode == 0, done.stderr
    return ended - float(done.stdout), done.stderr


def test_processes_on_other_nodes_count_into_postgresql(
    postgres: PostgresServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_postgres(postgres, monkeypatch)
    request = f"chain_{uuid.uuid4().hex[:8]}"
    for n in (2, 3):  # two processes, as two runs' steps on two nodes
        _exiting(home, request, n)
    key = (
        "market_spine_provider_requests",
        json.dumps({"provider": "thetadata", "request": request}, sort_keys=True),
    )
    assert ledger.others(ledger.ledger_database(home))[key] == 5
    assert not ledger.ledger_path(home).exists()


@contextmanager
def _stalled_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a server hung, or a network that
    drops the replies): a client waits until its own timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_an_unanswering_postgresql_is_skipped_quickly_and_silently(
    postgres: PostgresServer,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    uri = use_postgres(postgres, monkeypatch)
    capfd.readouterr()
    count_request("ib", "historical_data")
    with _stalled_server() as port:
        monkeypatch.setenv(
            "MARKET_SPINE_STATE_DATABASE", uri.replace(f":{postgres.port}/", f":{port}/")
        )
        database = ledger.ledger_database(home)
        started = time.monotonic()
        assert not ledger.flush(database)
        assert ledger.others(database) == {}
        took = time.monotonic() - started
        exit_took, stderr = _exiting(home, "historical_data", 1)
    assert took < 4 * ledger.CONNECT_S and exit_took < 2 * ledger.CONNECT_S + 2
    assert stderr == "" and capfd.readouterr() == ("", "")


def test_a_ledger_whose_lock_is_held_is_skipped_after_a_wait(
    postgres: PostgresServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that stopped while writing (its node cut off) holds the ledger's lock until
    its server notices: the others give up on this write rather than wait for it."""
    use_postgres(postgres, monkeypatch)
    monkeypatch.setattr(ledger, "BUSY_S", 1.0)
    database = ledger.ledger_database(home)
    count_request("ib", "historical_data")
    assert ledger.flush(database)
    flushed: list[bool] = []
    writer = threading.Thread(target=lambda: flushed.append(ledger.flush(database)))
    with database.connect() as stopped, stopped.transaction():
        writer.start()
        writer.join(timeout=3 * ledger.BUSY_S)
        assert flushed == [False]
    writer.join()
    assert ledger.flush(database)
