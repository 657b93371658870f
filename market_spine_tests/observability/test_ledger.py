"""The provider requests of every process of a home reach the API's `/metrics`: a process that
captures from the ThetaTerminal (as a run's step does, through the market-data resource) writes
its counts to the home's ledger when it exits, and a scrape adds them to the API's own."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from market_spine.api.app import create_app
from market_spine.fakes.thetaterminal import FakeThetaConfig, FakeThetaTerminal
from market_spine.observability import ledger
from market_spine.observability.metrics import count_request
from market_spine_tests.kit.api import serving_app
from market_spine_tests.kit.homes import settings_for
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


def test_a_runs_provider_requests_show_on_the_apis_metrics(tmp_path: Path) -> None:
    home = tmp_path / "home"
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
    assert ledger.ledger_path(home).is_file()


def _as(process: str, path: Path, now: float | None = None) -> None:
    """Flush this process's counters as if it were `process`."""
    mine = ledger.PROCESS
    try:
        ledger.PROCESS = process
        assert ledger.flush(path, now=now)
    finally:
        ledger.PROCESS = mine


def test_a_process_writing_twice_counts_once_and_old_rows_fold(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
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
    with sqlite3.connect(path) as db:
        processes = {p for (p,) in db.execute("SELECT DISTINCT process FROM counts")}
    assert processes == {ledger.FOLDED, ledger.PROCESS}
