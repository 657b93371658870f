"""A read `as_certified=DATE` reads each partition at its own last certified version by the
end of that date: two sessions certified at different versions, one of them revised and then
certified again, each read back exactly as certified, on Spine and over HTTP; a session never
certified by then is left out, and the read says so."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from market_spine.certification import ledger
from market_spine.certification.pins import LeftOutWarning
from market_spine.certification.rules import State
from market_spine.client import BARS_1M, Spine
from market_spine.lake import Lake
from market_spine.markets.dates import parse_date
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

FIRST, SECOND, THIRD = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)
#: The days the certifications are recorded on (the end of each is a cutoff).
MONDAY, TUESDAY, WEDNESDAY = date(2024, 3, 11), date(2024, 3, 12), date(2024, 3, 13)


def _minutes(day: date, close: float) -> pl.DataFrame:
    """Three minute bars of CL on trade date `day`, every close `close`."""
    start = datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC)
    return pl.DataFrame(
        {
            "symbol": ["CL"] * 3,
            "trade_date": [day] * 3,
            "ts": [start + timedelta(minutes=i) for i in range(3)],
            "close": [close] * 3,
            "volume": [10, 11, 12],
        }
    )


def _write(lake: Lake, day: date, close: float) -> int:
    """Replace CL's session `day` with bars closing at `close`; the version written."""
    rows = _minutes(day, close)
    if not lake.exists(BARS_1M):
        lake.append(BARS_1M, rows)
    else:
        lake.replace(BARS_1M, rows, equals={"symbol": "CL"}, between={"trade_date": (day, day)})
    version = lake.version(BARS_1M)
    assert version is not None
    return version


def _judge(lake: Lake, day: date, state: State, version: int, on: date) -> None:
    """Record CL's session `day` as `state` at `version`, on the afternoon of `on`."""
    at = datetime(on.year, on.month, on.day, 15, tzinfo=UTC)
    transition: dict[str, Any] = {
        "dataset": BARS_1M,
        "partition": f"{day}|CL",
        "trade_date": day,
        "symbol": "CL",
        "state": state.value,
        "run_id": f"run-{version}",
        "delta_version": version,
        "recorded_at": at,
    }
    ledger.record(lake, [transition], [], [], f"run-{version}")


@pytest.fixture(scope="module")
def certified_apart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FIRST certified on MONDAY; on TUESDAY FIRST replaced (revised) and SECOND certified;
    on WEDNESDAY FIRST replaced again and certified; THIRD written and never certified."""
    home = tmp_path_factory.mktemp("certified_apart") / "home"
    lake = Lake(home / "lake")
    _judge(lake, FIRST, State.CERTIFIED, _write(lake, FIRST, 1.0), MONDAY)
    _judge(lake, FIRST, State.REVISED, _write(lake, FIRST, 2.0), TUESDAY)
    _judge(lake, SECOND, State.CERTIFIED, _write(lake, SECOND, 3.0), TUESDAY)
    _judge(lake, FIRST, State.CERTIFIED, _write(lake, FIRST, 4.0), WEDNESDAY)
    _judge(lake, THIRD, State.PRELIMINARY, _write(lake, THIRD, 5.0), WEDNESDAY)
    return home


def _closes(rows: list[dict[str, Any]]) -> dict[str, set[float]]:
    found: dict[str, set[float]] = {}
    for row in rows:
        found.setdefault(str(row["trade_date"]), set()).add(row["close"])
    return found


#: What each cutoff's certified read holds: each session's closes as certified by then.
EXPECTED = {
    MONDAY: {str(FIRST): {1.0}},
    TUESDAY: {str(FIRST): {1.0}, str(SECOND): {3.0}},
    WEDNESDAY: {str(FIRST): {4.0}, str(SECOND): {3.0}},
}
LEFT_OUT = {
    MONDAY: [str(SECOND), str(THIRD)],
    TUESDAY: [str(THIRD)],
    WEDNESDAY: [str(THIRD)],
}


@pytest.mark.parametrize("on", [MONDAY, TUESDAY, WEDNESDAY])
def test_spine_reads_each_session_as_it_was_certified(certified_apart: Path, on: date) -> None:
    spine = Spine(settings=settings_for(certified_apart))
    with pytest.warns(LeftOutWarning) as caught:
        rows = spine.bars("CL", FIRST, THIRD, as_certified=on)
    assert _closes(rows.to_dicts()) == EXPECTED[on]
    assert set(rows["certification"]) == {"certified"}
    assert rows["ts"].is_sorted()
    [warning] = [w for w in caught if w.category is LeftOutWarning]
    message = str(warning.message)
    assert f"not certified by the end of {on}" in message
    assert all(f"CL {day}" in message for day in LEFT_OUT[on])


def test_the_api_reads_each_session_as_it_was_certified(certified_apart: Path) -> None:
    with serving(certified_apart) as client:
        answers = {
            on: client.get(f"/v1/bars?symbol=CL&start={FIRST}&end={THIRD}&as_certified={on}")
            for on in EXPECTED
        }
    for on, answer in answers.items():
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert _closes(body["data"]) == EXPECTED[on]
        assert answer.headers["X-Certification"] == "certified"
        assert [p["trade_date"] for p in body["left_out"]] == LEFT_OUT[on]
        shown = answer.headers["X-Certification-Left-Out"]
        assert shown == ", ".join(f"CL {day}" for day in LEFT_OUT[on])
        assert f"by the end of {on}" in body["left_out_reason"]


def test_a_read_of_certified_sessions_only_leaves_nothing_out(certified_apart: Path) -> None:
    spine = Spine(settings=settings_for(certified_apart))
    rows = spine.bars("CL", FIRST, SECOND, as_certified=parse_date("2024-03-12", "on"))
    assert _closes(rows.to_dicts()) == EXPECTED[TUESDAY]
    with serving(certified_apart) as client:
        answer = client.get(f"/v1/bars?symbol=CL&start={FIRST}&end={SECOND}&as_certified={TUESDAY}")
    assert answer.json()["left_out"] == []
    assert "X-Certification-Left-Out" not in answer.headers


def test_a_timestamp_range_reads_the_sessions_it_spans_as_certified(
    certified_apart: Path,
) -> None:
    spine = Spine(settings=settings_for(certified_apart))
    start = datetime(FIRST.year, FIRST.month, FIRST.day, 14, 31, tzinfo=UTC)
    end = datetime(SECOND.year, SECOND.month, SECOND.day, 14, 32, tzinfo=UTC)
    rows = spine.bars("CL", start, end, as_certified=TUESDAY)
    assert _closes(rows.to_dicts()) == EXPECTED[TUESDAY]
    assert rows.height == 2 + 2 and rows["ts"].min() == start and rows["ts"].max() < end
