"""`?as_certified=DATE` over HTTP: what was certified by the end of that day (UTC), pinned to
its version across pages, refused clearly when nothing was certified by then."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from market_spine.certification.pins import certified_version
from market_spine.client import BARS_1M, BARS_DAILY, OPTION_CHAIN, OPTION_GREEKS
from market_spine.lake import Lake
from market_spine.operations.retention import maintain_lake
from market_spine.runs.launch import materialize_options
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.operations.test_retention import DAY, run

TODAY = datetime.now(UTC).date().isoformat()
YESTERDAY = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
BARS = f"/v1/bars?symbol=CL&start={DAY}"


@pytest.fixture
def revised_home(home: Path, instance: dg.DagsterInstance) -> Path:
    """CL on DAY certified, then revised (spikes), then maintained at retention 0."""
    run(home, instance)
    run(home, instance, defects=["spikes"])
    maintain_lake(Lake(home / "lake"), 0, "test-run")
    return home


def test_bars_as_certified_answer_the_certified_version(revised_home: Path) -> None:
    lake = Lake(revised_home / "lake")
    pinned = certified_version(lake, BARS_1M, TODAY).version
    with serving(revised_home) as client:
        now = client.get(BARS)
        then = client.get(f"{BARS}&as_certified={TODAY}")
        daily = client.get(f"/v1/bars/daily?symbol=CL&start={DAY}&as_certified={TODAY}")
    assert now.status_code == then.status_code == daily.status_code == 200
    assert now.headers["X-Certification"] == "revised"
    assert then.headers["X-Certification"] == "certified"
    assert then.headers["X-Delta-Version"] == str(pinned)
    assert then.json()["as_certified"] == TODAY and then.json()["version"] == pinned
    closes_now = [r["close"] for r in now.json()["data"]]
    closes_then = [r["close"] for r in then.json()["data"]]
    assert len(closes_now) == len(closes_then) and closes_now != closes_then
    assert daily.headers["X-Certification"] == "certified"
    assert daily.headers["X-Delta-Version"] == str(
        certified_version(lake, BARS_DAILY, TODAY, BARS_1M).version
    )


def test_pages_of_a_certified_read_stay_on_its_version(revised_home: Path) -> None:
    with serving(revised_home) as client:
        first = client.get(f"{BARS}&as_certified={TODAY}&limit=100")
        link = first.headers["Link"].split(">")[0].lstrip("<")
        second = client.get(link)
        whole = client.get(f"{BARS}&as_certified={TODAY}")
    assert first.status_code == second.status_code == 200, second.text
    assert "as_of=" in link and "as_certified=" in link
    rows = first.json()["data"] + second.json()["data"]
    assert rows == whole.json()["data"][: len(rows)]
    assert second.headers["X-Certification"] == "certified"


def test_nothing_certified_by_then_is_a_409_and_a_bad_date_a_422(revised_home: Path) -> None:
    with serving(revised_home) as client:
        early = client.get(f"{BARS}&as_certified={YESTERDAY}")
        bad = client.get(f"{BARS}&as_certified=last-tuesday")
        both = client.get(f"{BARS}&as_certified={TODAY}&as_of=999")
    assert early.status_code == 409 and early.json()["field"] == "as_certified"
    assert f"was certified by the end of {YESTERDAY}" in early.json()["error"]
    assert bad.status_code == 422 and bad.json()["field"] == "as_certified"
    assert both.status_code == 422 and "different versions" in both.json()["error"]


def test_the_chain_as_certified_reads_the_greeks_of_the_certifying_run(
    home: Path, instance: dg.DagsterInstance
) -> None:
    day = date(2024, 3, 5)
    assert materialize_options(settings_for(home), day, day, instance=instance).success
    lake = Lake(home / "lake")
    greeks = certified_version(lake, OPTION_GREEKS, TODAY, OPTION_CHAIN).version
    with serving(home) as client:
        chain = client.get(f"/v1/options/chain?date={day}&as_certified={TODAY}&limit=5")
        surface = client.get(f"/v1/options/surface?date={day}&as_certified={TODAY}")
        early = client.get(f"/v1/options/chain?date={day}&as_certified={YESTERDAY}")
    assert chain.status_code == surface.status_code == 200, chain.text
    assert chain.headers["X-Delta-Version"] == str(greeks)
    assert chain.headers["X-Certification"] == "certified"
    assert early.status_code == 409


def test_readiness_and_reads_agree_on_a_revised_session(revised_home: Path) -> None:
    """The minutes were revised: readiness and a read of each dataset say the same state of
    the session, the daily bars' being their own judgment (preliminary while the minutes they
    come from are revised), not the minutes'."""
    with serving(revised_home) as client:
        ready = client.get(f"/v1/readiness?symbol=CL&start={DAY}&end={DAY}").json()["data"]
        minutes = client.get(BARS)
        daily = client.get(f"/v1/bars/daily?symbol=CL&start={DAY}")
    assert all(r["run_id"] for r in ready)  # each row names the run that computed it
    states = {r["dataset"]: r["state"] for r in ready if r["symbol"] == "CL"}
    assert states[BARS_1M] == minutes.headers["X-Certification"] == "revised"
    assert states[BARS_DAILY] == daily.headers["X-Certification"] == "preliminary"
