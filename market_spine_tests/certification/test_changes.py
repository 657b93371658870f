""" "What changed since my last run": Spine.changes and GET /v1/revisions over a home whose
certified CL session was revised twice (a spiked capture, then the clean one again), and so
were the daily bars and continuous series recomputed from it."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.catalog.vocabulary import UnknownDataset
from market_spine.client import Spine
from market_spine.errors import InvalidInput
from market_spine.futures.partitions import partition_key
from market_spine.lake.store import Lake
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import domain_assets, resources
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

BARS = "normalized/futures_bars_1m"
DAILY = "analytics/futures_bars_daily"
CONTINUOUS_DAILY = "analytics/futures_continuous_daily"
NEXT_MORNING = "2024-03-06T12:00:00Z"


@pytest.fixture(scope="module")
def revised_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Versions of the CL 2024-03-05 bars: 0 clean, 1 spiked, 2 clean again, 3 unchanged.
    The Dagster run ids, in order, are in `runs.json` beside the home."""
    home = tmp_path_factory.mktemp("revised") / "home"
    settings = settings_for(home)
    runs = []
    with dg.instance_for_test() as instance:
        for defects in ([], ["spikes"], [], []):
            market = MarketDataResource(frozen_now=NEXT_MORNING, defects=defects)
            result = dg.materialize(
                domain_assets(settings, "futures"),
                partition_key=partition_key(date(2024, 3, 5), "CL"),
                resources=resources(settings, market),
                instance=instance,
            )
            assert result.success
            runs.append(result.run_id)
    (home.parent / "runs.json").write_text(json.dumps(runs))
    return home


def run_ids(home: Path) -> list[str]:
    return json.loads((home.parent / "runs.json").read_text())


def test_changes_since_a_version_are_the_revisions_that_made_a_later_one(revised_home) -> None:
    spine = Spine(revised_home)
    every = spine.changes(BARS)
    assert every["new_version"].to_list() == [1, 2] and every["old_version"].to_list() == [0, 1]
    assert every["partition"].to_list() == ["2024-03-05|CL"] * 2
    assert spine.changes(BARS, since=0).height == 2
    assert spine.changes(BARS, since=1)["new_version"].to_list() == [2]
    assert spine.changes(BARS, since="2").is_empty()  # the unchanged rerun made no revision


def test_changes_since_an_instant_are_those_recorded_after_it(revised_home) -> None:
    spine = Spine(revised_home)
    first, second = spine.changes(BARS)["recorded_at"].to_list()
    assert spine.changes(BARS, since=first)["recorded_at"].to_list() == [second]
    assert spine.changes(BARS, since=first.isoformat()).height == 1


def test_detail_gives_the_rows_behind_the_revisions(revised_home) -> None:
    spine = Spine(revised_home)
    revision = spine.changes(BARS, since=1).row(0, named=True)
    rows = spine.changes(BARS, since=1, detail=True)
    assert set(rows["revision_id"]) == {revision["revision_id"]}
    assert rows.filter(pl.col("change") == "changed").height > 0
    assert set(rows["column"].drop_nulls()) == set(revision["columns"].split(","))


def test_a_bad_since_or_dataset_says_what_to_pass(revised_home) -> None:
    spine = Spine(revised_home)
    with pytest.raises(InvalidInput, match="since='yesterday' is not a table version number"):
        spine.changes(BARS, since="yesterday")
    with pytest.raises(UnknownDataset, match="normalized/futures_bars_1m"):
        spine.changes("normalized/nope")
    # A version the table never made is no "nothing changed since".
    newest = Lake(revised_home / "lake").version(BARS)
    assert spine.changes(BARS, since=newest).is_empty()
    with pytest.raises(InvalidInput, match=f"is at version {newest}, so it has no version 999"):
        spine.changes(BARS, since=999)


def test_the_api_answers_what_changed(revised_home) -> None:
    with serving(revised_home) as client:
        answer = client.get("/v1/revisions", params={"dataset": BARS, "since": "1"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["rows"] == 1 and body["data"][0]["new_version"] == 2
        assert body["data"][0]["partition"] == "2024-03-05|CL"
        every = client.get("/v1/revisions", params={"dataset": BARS, "format": "csv"})
        assert every.status_code == 200 and every.text.count("2024-03-05|CL") == 2
        detail = client.get("/v1/revisions", params={"dataset": BARS, "detail": "true"})
        assert detail.json()["rows"] > 0 and "key_json" in detail.json()["columns"]
        bad = client.get("/v1/revisions", params={"dataset": BARS, "since": "soon"})
        assert bad.status_code == 422 and bad.json()["field"] == "since"
        ahead = client.get("/v1/revisions", params={"dataset": BARS, "since": "999"})
        assert ahead.status_code == 422 and ahead.json()["field"] == "since", ahead.text
        assert "no version 999" in ahead.json()["error"]
        unknown = client.get("/v1/revisions", params={"dataset": "raw/nope"})
        assert unknown.status_code == 422 and unknown.json()["field"] == "dataset"


def test_a_derived_partition_recomputed_with_other_values_is_revised(revised_home) -> None:
    spine = Spine(revised_home)
    runs = run_ids(revised_home)
    daily = spine.changes(DAILY)
    assert daily["partition"].to_list() == ["2024-03-05|CL"] * 2
    assert daily["old_version"].to_list() == [0, 1] and daily["new_version"].to_list() == [1, 2]
    assert daily["run_id"].to_list() == runs[1:3]
    spiked = daily.row(0, named=True)
    assert (spiked["rows_added"], spiked["rows_removed"], spiked["rows_changed"]) == (0, 0, 1)
    changed = set(spiked["columns"].split(","))
    assert changed & {"high", "low"} and "capture_id" not in changed
    largest = json.loads(spiked["column_changes_json"])
    assert all(largest[c]["max_abs_change"] for c in changed if c in ("high", "low"))
    minutes = spine.changes(BARS).row(0, named=True)
    assert spiked["old_capture_id"] == minutes["old_capture_id"]
    assert spiked["new_capture_id"] == minutes["new_capture_id"]
    # The rerun that changed nothing recomputed the same values: no revision.
    assert spine.changes(DAILY, since=2).is_empty()
    rows = spine.changes(DAILY, since=0, detail=True).filter(pl.col("change") == "changed")
    assert set(rows["column"]) == changed
    assert spine.changes(CONTINUOUS_DAILY)["new_version"].to_list() == [1, 2]
    with serving(revised_home) as client:
        answer = client.get("/v1/revisions", params={"dataset": DAILY})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["rows"] == 2 and body["data"][0]["partition"] == "2024-03-05|CL"


def test_readiness_names_the_dagster_run_that_judged_each_partition(revised_home) -> None:
    spine = Spine(revised_home)
    last = run_ids(revised_home)[-1]
    ready = spine.readiness(symbols="CL")
    assert ready.height and set(ready["run_id"]) == {last}
    with serving(revised_home) as client:
        answer = client.get("/v1/readiness", params={"symbol": "CL"})
        assert answer.status_code == 200, answer.text
        assert {r["run_id"] for r in answer.json()["data"]} == {last}
