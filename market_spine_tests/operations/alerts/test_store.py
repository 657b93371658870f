"""The alert store on SQLite and on a real PostgreSQL: where evaluations stopped reading is kept,
and processes opening the same alert at once (the daemon's sensor, CLI commands on other nodes)
make one alert and owe its messages once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from market_spine.operations.alerts.conditions import Observation
from market_spine.operations.alerts.rules import Kind, Severity
from market_spine.operations.alerts.store import STATE_FILE, AlertStore, has_state

T0 = datetime(2024, 3, 5, 14, 0, tzinfo=UTC)

#: A process opening the same alert `times` times once the file `go` exists (it says it is
#: ready first); prints how many of its opens made the alert.
OPENER = """
import os, sys, time
from datetime import UTC, datetime
from pathlib import Path
from market_spine.operations.alerts.conditions import Observation
from market_spine.operations.alerts.rules import Kind, Severity
from market_spine.operations.alerts.store import AlertStore

home, go, times = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
store = AlertStore(home)
(go.parent / f"ready-{os.getpid()}").touch()
seen = Observation(
    Kind.CHECK_FAILED, "raw/spx_options_eod:validity", "2024-03-05", True, Severity.ERROR,
    "check raw/spx_options_eod:validity failed", datetime(2024, 3, 5, 14, tzinfo=UTC),
)
while not go.exists():
    time.sleep(0.001)
print(sum(store.open("all", seen, ["hook", "pager"]) is not None for _ in range(times)))
"""


def test_where_reading_stopped_is_kept(state_home: Path) -> None:
    # A reader finds nothing to read in a home that never alerted, and makes no file there.
    assert has_state(state_home) == bool(os.environ.get("MARKET_SPINE_STATE_DATABASE"))
    store = AlertStore(state_home)
    assert has_state(state_home) and store.mark("runs") is None
    store.set_mark("runs", "2024-03-05T14:00:00Z")
    store.set_mark("runs", "2024-03-05T15:00:00Z")
    assert AlertStore(state_home).mark("runs") == "2024-03-05T15:00:00Z"

    store.add_seen_runs([("old", T0 - timedelta(hours=3)), ("new", T0)], T0 - timedelta(hours=4))
    store.add_seen_runs([("new", T0), ("newer", T0)], T0 - timedelta(hours=1))
    assert [store.seen_run(r) for r in ("old", "new", "newer", "never")] == [
        False,
        True,
        True,
        False,
    ]

    store.await_retries([("b", T0 + timedelta(minutes=1)), ("a", T0)])
    store.await_retries([("a", T0)])
    assert store.awaited_retries() == ["a", "b"]
    store.settle_retries(["a"])
    assert store.awaited_retries() == ["b"]
    assert (state_home / STATE_FILE).exists() != store.database.shared


def test_delivery_bookkeeping(state_home: Path) -> None:
    store = AlertStore(state_home)
    seen = Observation(Kind.CHECK_FAILED, "raw/x:validity", "", True, Severity.ERROR, "failed", T0)
    opened = store.open("all", seen, ["hook", "pager"])
    assert opened is not None and opened.id >= 1
    hook, pager = store.pending()
    assert (hook.sink, pager.sink, hook.alert) == ("hook", "pager", opened)
    store.failed(hook.id, 2, "HTTP 500", drop=False, at=T0)
    store.delivered(hook.id, 1, T0)
    store.failed(pager.id, 3, "refused", drop=True, at=T0)
    assert store.pending() == [] and store.pending_count() == {}
    passed = Observation(Kind.CHECK_FAILED, "raw/x:validity", "", False, Severity.ERROR, "ok", T0)
    (resolved,) = store.resolve(passed, {"all": ["hook"]})
    assert resolved.resolved_by == "ok" and store.open_keys() == set()
    assert [p.message for p in store.pending()] == ["resolve"]
    assert store.pending_count() == {opened.id: 1}
    again = store.open("all", seen, ["hook"])
    assert again is not None and again.id > opened.id
    assert [a.id for a in store.alerts()] == [opened.id, again.id]


def test_processes_opening_one_alert_at_once_make_one(state_home: Path, tmp_path: Path) -> None:
    """Each process reads whether the alert is open, then opens it or counts an occurrence:
    without the store's write lock two would both open it (or fail on the one-open index)."""
    AlertStore(state_home)
    go, processes, times = tmp_path / "go", 4, 15
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(state_home), str(go), str(times)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("ready-*"))) < processes and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    made = []
    for opener in openers:
        out, err = opener.communicate(timeout=120)
        assert opener.returncode == 0, err
        made.append(int(out))
    assert sum(made) == 1
    (alert,) = AlertStore(state_home).alerts()
    assert alert.occurrences == processes * times and alert.resolved_at is None
    assert sorted(p.sink for p in AlertStore(state_home).pending()) == ["hook", "pager"]
