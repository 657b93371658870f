"""The API as an operator meets it: the catalog answers while dbt holds the warehouse and follows
new commits, `/readyz` reports failed loads, no answer reveals a server path, the docs work
offline, the CLI catalog is readable when piped, and empty reads say why."""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import httpx
import polars as pl
import pytest
from typer.testing import CliRunner

from market_spine import Spine
from market_spine.api import load_status
from market_spine.catalog.listing import listing_path
from market_spine.cli import app as cli
from market_spine.lake import Lake
from market_spine.markets.empty_reads import EmptyReadWarning
from market_spine.warehouse.lock import warehouse_lock
from market_spine.warehouse.paths import warehouse_dir, warehouse_path
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import home_with_instance, settings_for

DAY = "2024-03-05"


def _home(materialized_home: Path, root: Path, *, own_lake: bool = False) -> Path:
    """A home over the shared lake (or a copy of its daily table), with a Dagster instance."""
    home = home_with_instance(materialized_home, root / "home", share_lake=not own_lake)
    if own_lake:
        daily = Lake(materialized_home / "lake").read("analytics/futures_bars_daily")
        Lake(home / "lake").append("analytics/futures_bars_daily", daily)
    return home


@pytest.fixture
def home(materialized_home: Path, tmp_path: Path) -> Path:
    return _home(materialized_home, tmp_path)


@pytest.fixture(scope="module")
def shared_home(materialized_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _home(materialized_home, tmp_path_factory.mktemp("ops"))


@pytest.fixture(scope="module")
def api(shared_home: Path) -> Iterator[httpx.Client]:
    with serving(shared_home) as client:
        yield client


def test_catalog_answers_while_a_build_holds_the_warehouse(home: Path) -> None:
    warehouse_dir(home).mkdir(parents=True)
    duckdb.connect(str(warehouse_path(home))).close()  # an (empty) built warehouse
    lock = warehouse_dir(home) / "spine.lock"
    with warehouse_lock(lock), serving(home) as client:  # a dbt build writing
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            r = client.get("/v1/catalog")
            timings.append(time.perf_counter() - started)
            assert r.status_code == 200, r.text
        body = r.json()
        assert body["warehouse_busy"] is True
        assert "spine.lock" not in r.text
        # Each answer comes from memory; the old path waited 10 s on the lock, then failed.
        assert sorted(timings)[len(timings) // 2] < 0.5, timings
        one = client.get("/v1/catalog/normalized/futures_bars_1m")
        assert one.status_code == 200 and one.json()["facts"]["rows"] > 0


def test_catalog_follows_a_new_commit(materialized_home: Path, tmp_path: Path) -> None:
    home = _home(materialized_home, tmp_path, own_lake=True)
    lake = Lake(home / "lake")
    daily = lake.read("analytics/futures_bars_daily")

    def rows(client: httpx.Client) -> int:
        listing = client.get("/v1/catalog").json()["datasets"]
        return next(d for d in listing if d["name"] == "analytics/futures_bars_daily")["facts"][
            "rows"
        ]

    with serving(home) as client:
        assert rows(client) == daily.height
        lake.append("analytics/futures_bars_daily", daily)
        deadline = time.monotonic() + 10
        while rows(client) != 2 * daily.height:
            assert time.monotonic() < deadline, "the listing never followed the commit"
            time.sleep(0.2)


def test_a_failed_load_degrades_readyz_but_keeps_the_replica_ready(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_status, "TTL_S", 0.0)
    instance = dg.DagsterInstance.from_config(str(settings_for(home).dagster_home))
    broken = {"yes": True}

    @dg.asset(key=["analytics", "futures_bars_daily"])
    def futures_bars_daily() -> None:
        if broken["yes"]:
            raise RuntimeError("the source went away")

    with serving(home) as client:
        assert client.get("/readyz").status_code == 200
        dg.materialize([futures_bars_daily], instance=instance, raise_on_error=False)
        r = client.get("/readyz")
        # The replica still serves what the lake holds: never out of the Service for a load.
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "degraded"
        assert r.json()["failed"] == [] and r.json()["degraded"] == ["loads"]
        assert "analytics/futures_bars_daily" in r.json()["checks"]["loads"]["detail"]
        broken["yes"] = False
        dg.materialize([futures_bars_daily], instance=instance)
        repaired = client.get("/readyz")
        assert repaired.status_code == 200 and repaired.json()["status"] == "ready"
    instance.dispose()


def test_no_answer_reveals_a_server_path(
    api: httpx.Client, shared_home: Path, materialized_home: Path, tmp_path: Path
) -> None:
    secrets = {
        str(shared_home),
        str(shared_home.resolve()),
        str(materialized_home.resolve()),
        str(Path(__file__).resolve().parents[1]),
    }
    answers = [
        api.get("/readyz"),
        api.get("/v1/catalog"),
        *(api.get(f"/v1/catalog/{d['name']}") for d in api.get("/v1/catalog").json()["datasets"]),
        api.get("/v1/bars", params={"symbol": "CL", "start": DAY, "as_of": "99"}),
        api.get("/v1/options/chain", params={"date": DAY}),  # never materialized: 404
        api.get("/v1/nothing"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    with serving(empty) as bare:
        answers += [
            bare.get("/readyz"),
            bare.get("/v1/bars", params={"symbol": "CL", "start": DAY}),
        ]
    secrets |= {str(empty), str(empty.resolve())}
    for answer in answers:
        for secret in secrets:
            assert secret not in answer.text, (answer.url, answer.text[:300])
    assert "$MARKET_SPINE_HOME/lake" in answers[-2].text  # the readiness still says which folder


def test_docs_and_redoc_work_offline(api: httpx.Client) -> None:
    for page in ("/docs", "/redoc"):
        r = api.get(page)
        assert r.status_code == 200
        html = r.text
        assert not re.search(r"https?://", html), re.findall(r"https?://\S+", html)
        scripts = re.findall(r'src="([^"]+\.js)"', html)
        assert scripts, html
        for script in scripts:
            asset = api.get(script)
            assert asset.status_code == 200 and len(asset.content) > 100_000, script


def test_cli_catalog_is_plain_when_piped_and_answers_from_the_saved_listing(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKET_SPINE_HOME", str(home))
    runner = CliRunner()
    first = runner.invoke(cli, ["catalog"])
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0].split("\t")[:3] == ["dataset", "grain", "rows"]
    assert all(len(line.split("\t")) == 7 for line in lines)  # one dataset a line, no wrapping
    bars = next(line for line in lines if line.startswith("normalized/futures_bars_1m\t"))
    stored = Lake(home / "lake").read("normalized/futures_bars_1m")
    assert bars.split("\t")[2] == str(stored.height)
    built = json.loads(listing_path(settings_for(home)).read_text())["built_at"]
    again = runner.invoke(cli, ["catalog", "--json"])
    listing = json.loads(again.output)
    assert listing["built_at"] == built  # nothing changed: answered from the saved listing
    assert {d["name"] for d in listing["datasets"]} >= {"normalized/futures_bars_1m"}
    detail = runner.invoke(cli, ["catalog", "normalized/futures_bars_1m"])
    assert detail.exit_code == 0 and "capture_id" in detail.output


EMPTY = [
    # (route, params, code)
    ("/v1/bars", {"symbol": "CL", "start": "2024-03-09"}, "no_session"),  # a Saturday
    ("/v1/bars", {"symbol": "CL", "start": "2024-03-29"}, "no_session"),  # Good Friday
    ("/v1/bars", {"symbol": "CL", "start": "2024-03-11"}, "not_loaded"),
    (
        "/v1/bars",
        {"symbol": "CL", "start": "2024-03-09T12:00:00Z", "end": "2024-03-09T13:00:00Z"},
        "no_session",
    ),
    ("/v1/bars/daily", {"symbol": "NG", "start": "2024-03-12", "end": "2024-03-14"}, "not_loaded"),
]


@pytest.mark.parametrize(("route", "params", "code"), EMPTY)
def test_an_empty_answer_says_why(
    api: httpx.Client, route: str, params: dict[str, str], code: str
) -> None:
    r = api.get(route, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows"] == 0
    assert r.headers["X-Empty-Reason"] == code
    assert body["empty_reason"]["code"] == code and body["empty_reason"]["detail"]
    if code == "not_loaded":
        assert "market-spine process" in body["empty_reason"]["detail"]


def test_a_future_range_says_it_is_in_the_future(api: httpx.Client) -> None:
    nearly = time.gmtime(time.time() + 40 * 86400)
    start = time.strftime("%Y-%m-%d", nearly)
    end = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 44 * 86400))
    body = api.get("/v1/bars/daily", params={"symbol": "ES", "start": start, "end": end}).json()
    assert body["rows"] == 0 and body["empty_reason"]["code"] == "future"


def test_spine_warns_why_a_read_is_empty(shared_home: Path) -> None:
    spine = Spine(settings=settings_for(shared_home))
    with pytest.warns(EmptyReadWarning, match="no session") as caught:
        assert spine.bars("CL", "2024-03-09").is_empty()
    assert caught[0].message.reason.code == "no_session"
    assert caught[0].filename == __file__  # points at the caller's line
    with pytest.warns(EmptyReadWarning, match="--symbols NG"):
        spine.daily("NG", "2024-03-11", "2024-03-12")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not spine.bars("CL", DAY).is_empty()  # data: no warning
    quiet = Spine(settings=settings_for(shared_home), warn_empty=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert quiet.bars("CL", "2024-03-09").is_empty()
    assert isinstance(quiet.bars("CL", DAY), pl.DataFrame)
