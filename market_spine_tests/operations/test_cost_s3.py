"""Cost on a lake in an S3 bucket (a real S3-compatible server in its own process): the bytes of
every table are counted from the bucket's objects, `cost --record` writes the cost per day
into the bucket's lake, where Spine SQL reads it, and the lake's requests to the store are
counted per component from the store's access log and priced."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from typer.testing import CliRunner

from market_spine.api.app import create_app
from market_spine.catalog.registry import CATALOG
from market_spine.cli import app
from market_spine.client import Spine
from market_spine.errors import InvalidInput
from market_spine.futures import keys
from market_spine.futures.partitions import partition_key
from market_spine.home import instance as home_instance
from market_spine.lake.requester import run_of
from market_spine.operations.cost.daily import record_home_cost
from market_spine.operations.cost.object_requests import NOT_CONFIGURED
from market_spine.operations.cost.prices import PRICES_FILE
from market_spine.operations.cost.report import component_of, home_cost
from market_spine.operations.cost.storage import stored_bytes
from market_spine.operations.cost.table import COST_DAILY
from market_spine.runs.launch import create_run, execute
from market_spine.settings import Settings
from market_spine_tests.kit.api import auth_headers, serving_app
from market_spine_tests.kit.run_homes import DAY
from market_spine_tests.kit.s3 import RequestCounter, S3Server


def _objects(s3: S3Server, settings: Settings, dataset: str) -> dict[str, int]:
    """Each object of a table in the bucket, by key, with its size."""
    bucket, _, prefix = settings.lake_uri.removeprefix("s3://").partition("/")
    pages = s3.client().get_paginator("list_objects_v2")
    found: dict[str, int] = {}
    for page in pages.paginate(Bucket=bucket, Prefix=f"{prefix}/{dataset}/"):
        found.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return found


def _s3_home(s3: S3Server, home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings of a home (its environment set) whose lake is in a new bucket."""
    env = s3.lake_env(home, s3.bucket())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env(env)


def test_cost_is_recorded_into_the_s3_lake_and_its_bytes_counted_there(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    settings = _s3_home(s3, home, monkeypatch)
    with home_instance(settings):
        pass  # the home's instance exists, as after its first run
    # A subscription costs every day something, so each refresh writes rows.
    (home / PRICES_FILE).write_text("[subscriptions]\nthetadata = 30\n")

    for _ in range(2):  # a second refresh replaces the days: the first version's files are kept
        result = CliRunner().invoke(app, ["cost", "--json", "--record", "--days", "2"])
        assert result.exit_code == 0, result.output

    lake = settings.lake()
    assert lake.exists(COST_DAILY)
    assert not (home / "lake" / COST_DAILY).exists(), "cost was recorded in the local folder"
    recorded = Spine(settings=settings, warn_empty=False).sql(
        "select component, day, subscription_usd, storage_usd from operations.cost_daily "
        "order by day, component"
    )
    unused = recorded.filter(recorded["component"] == "providers")
    # Yesterday in full; today as far as it had gone at the refresh, a moment ago.
    now = datetime.now(UTC)
    elapsed = (now - now.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds()
    assert unused["subscription_usd"].to_list() == pytest.approx([1.0, elapsed / 86400], abs=1e-3)
    # The second refresh measured the table the first one wrote, in the bucket.
    assert recorded.filter(recorded["component"] == "operations")["storage_usd"].sum() > 0

    [cost] = [b for b in stored_bytes(lake, home, list(CATALOG)) if b.dataset == COST_DAILY]
    objects = _objects(s3, settings, COST_DAILY)
    assert cost.current > 0 and cost.kept > 0
    assert cost.total == sum(objects.values())


def _kind_and_key(request: str) -> tuple[str, str, str]:
    """(kind, key or listed prefix, S3 operation) of a request the counting proxy forwarded
    (`METHOD /bucket/key?query`, path-style)."""
    method, _, target = request.partition(" ")
    parts = urlsplit(target)
    _, _, key = parts.path.lstrip("/").partition("/")
    query = parse_qs(parts.query, keep_blank_values=True)
    if method == "GET" and not key:
        return "list", query.get("prefix", [""])[0], "REST.GET.BUCKET"
    if method == "POST" and "delete" in query:
        return "delete", key, "REST.POST.MULTI_OBJECT_DELETE"
    what = "OBJECT" if key else "BUCKET"
    kind = {"GET": "get", "HEAD": "head", "DELETE": "delete"}.get(method, "put")
    return kind, key, f"REST.{method}.{what}"


def _access_log(requests: list[str] | list[tuple[str, str]], bucket: str, at: datetime) -> str:
    """The requests (each with the User-Agent it carried, where given) as the store's server
    access log records them (S3's line format)."""
    lines = []
    for made in requests:
        request, agent = made if isinstance(made, tuple) else (made, "spine")
        _, key, operation = _kind_and_key(request)
        method, _, target = request.partition(" ")
        shown = "-" if operation == "REST.GET.BUCKET" else quote(key) or "-"
        lines.append(
            f"owner {bucket} [{at:%d/%b/%Y:%H:%M:%S %z}] 127.0.0.1 requester REQ {operation} "
            f'{shown} "{method} {target} HTTP/1.1" 200 - 0 - 1 - "-" "{agent}" -'
        )
    return "\n".join(lines) + "\n"


@dataclass
class CountedHome:
    """A home (its environment set) whose lake is in a new bucket, reached through a proxy
    that sees every request it makes, its access logs to go in a second bucket."""

    bucket: str
    logs: str
    counter: RequestCounter


@pytest.fixture
def counted_home(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], CountedHome]]:
    """Makes the test's CountedHome with the price sheet given."""
    counters: list[RequestCounter] = []

    def make(prices: str) -> CountedHome:
        home = tmp_path / "home"
        bucket, logs = s3.bucket(), s3.bucket()
        env = s3.lake_env(home, bucket, MARKET_SPINE_LAKE_ACCESS_LOG=f"s3://{logs}/access")
        home.mkdir(parents=True)
        (home / PRICES_FILE).write_text(prices)
        counter = RequestCounter(s3.endpoint).__enter__()
        counters.append(counter)
        for name, value in (env | {"MARKET_SPINE_LAKE_ENDPOINT": counter.endpoint}).items():
            monkeypatch.setenv(name, value)
        return CountedHome(bucket, logs, counter)

    yield make
    for counter in counters:
        counter.__exit__(None, None, None)


def test_the_lakes_requests_are_counted_per_component_from_the_stores_access_log(
    s3: S3Server, counted_home: Callable[[str], CountedHome]
) -> None:
    counted = counted_home(
        "[subscriptions]\nthetadata = 30\n"
        "[per_1k_object_requests]\nget = 1.0\nhead = 2.0\nput = 10.0\nlist = 100.0\n"
    )
    bucket, logs, counter = counted.bucket, counted.logs, counted.counter
    with home_instance(Settings.from_env()):
        pass
    recorded = CliRunner().invoke(app, ["cost", "--record", "--days", "1"])
    assert recorded.exit_code == 0, recorded.output
    # The lake's bucket's requests (`cost` also lists the access log's bucket).
    seen = [
        r for r in counter.requests if urlsplit(r.split(" ", 1)[1]).path.split("/")[1] == bucket
    ]
    # The store logs each request, as its server access logging would (what the report does
    # after this is not in the log).
    s3.client().put_object(
        Bucket=logs,
        Key="access/2026-01-01-00-00-00-LOG",
        Body=_access_log(seen, bucket, datetime.now(UTC)),
    )

    expected: dict[str, Counter[str]] = {}
    for made in seen:
        kind, key, _ = _kind_and_key(made)
        parts = key.removeprefix("lake").strip("/").split("/")
        dataset = "/".join(parts[:2]) if len(parts) >= 2 else None
        component = component_of(dataset) if dataset else "lake"
        expected.setdefault(component, Counter())[kind] += 1
    assert expected["operations"]["put"] > 0 and expected["operations"]["list"] > 0

    settings = Settings.from_env()
    report = home_cost(settings, since="1d", by="component")
    found = {line.key: line for line in report.lines if line.object_requests}
    assert {k: dict(v) for k, v in expected.items()} == {
        k: line.object_requests for k, line in found.items()
    }
    prices = {"get": 1.0, "head": 2.0, "put": 10.0, "list": 100.0, "delete": 0.0}
    for component, kinds in expected.items():
        assert found[component].object_requests_usd == pytest.approx(
            sum(n / 1000 * prices[k] for k, n in kinds.items())
        )
    assert sum(report.totals.object_requests.values()) == len(seen)

    # The day's record carries them too, per dataset, priced the same.
    rows = record_home_cost(settings, days=1)
    assert rows["object_requests"].sum() == len(seen) > 0
    assert rows["object_requests_usd"].sum() == pytest.approx(
        report.totals.object_requests_usd, rel=1e-9
    )
    recorded = settings.lake().read(COST_DAILY)
    assert recorded["object_requests"].sum() == len(seen)

    # The operators' API serves the same counts.
    api = create_app(settings)
    with serving_app(api, role=None) as client:
        answer = client.get(
            "/v1/cost",
            params={"by": "component", "since": "1d"},
            headers=auth_headers(api, "operator"),
        )
    assert answer.status_code == 200, answer.text
    served = {line["key"]: line["object_requests"] for line in answer.json()["lines"]}
    assert {k: served[k] for k in expected} == {k: dict(v) for k, v in expected.items()}


def test_a_runs_requests_are_charged_to_its_assets_by_their_user_agent(
    s3: S3Server, counted_home: Callable[[str], CountedHome], request: pytest.FixtureRequest
) -> None:
    counted = counted_home("[per_1k_object_requests]\nget = 1.0\nput = 10.0\n")
    bucket, logs, counter = counted.bucket, counted.logs, counted.counter
    settings = Settings.from_env()
    instance = home_instance(settings)
    request.addfinalizer(instance.dispose)
    key = str(partition_key(DAY, "CL"))
    run = create_run(settings, [keys.RAW_BARS], instance=instance, partition_range=(key, key))
    # The command opens the lake before it executes the run in its own process, as `process`
    # does; every request the run makes still names it, its commits included.
    assert not settings.lake().exists(keys.table(keys.RAW_BARS))
    before = len(counter.requests)
    assert execute(instance, run).success
    during = list(zip(counter.requests, counter.agents, strict=True))[before:]
    assert during and not [r for r, a in during if run_of(a) != run.run_id]
    # Requests made outside the run: a read of what it captured, as a notebook makes.
    assert settings.lake().read(keys.table(keys.RAW_BARS)).height > 0

    made = list(zip(counter.requests, counter.agents, strict=True))
    seen = [(r, a) for r, a in made if urlsplit(r.split(" ", 1)[1]).path.split("/")[1] == bucket]
    ours = [r for r, a in seen if run_of(a) == run.run_id]
    others = [r for r, a in seen if run_of(a) != run.run_id]
    assert ours and others
    assert all(a.startswith("market-spine/") for _, a in seen), {a for _, a in seen}
    s3.client().put_object(
        Bucket=logs,
        Key="access/2026-01-01-00-00-00-LOG",
        Body=_access_log(seen, bucket, datetime.now(UTC)),
    )

    by_asset = home_cost(settings, since="1d", by="asset")
    [raw] = [line for line in by_asset.lines if line.key == keys.RAW_BARS.to_user_string()]
    expected = Counter(_kind_and_key(r)[0] for r in ours)
    assert raw.object_requests == dict(expected)
    prices = by_asset.prices.per_1k_object_requests
    assert prices["get"] == 1.0 and prices["put"] == 10.0
    assert raw.object_requests_usd == pytest.approx(
        sum(n / 1000 * prices.get(kind, 0.0) for kind, n in expected.items())
    )
    assert run.run_id in raw.run_ids
    shown = CliRunner().invoke(app, ["cost", "--by", "asset", "--since", "1d"])
    assert shown.exit_code == 0, shown.output
    assert "User-Agent names it" in " ".join(shown.output.split())
    # By dataset, every request of the lake is charged, the run's and the others alike.
    by_dataset = home_cost(settings, since="1d", by="dataset")
    assert sum(by_dataset.totals.object_requests.values()) == len(seen)
    assert sum(by_asset.totals.object_requests.values()) == len(ours)


def test_requests_that_cannot_be_counted_are_said_so(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with home_instance(_s3_home(s3, tmp_path / "home", monkeypatch)):
        pass
    # No access log configured: the report says its requests are not counted, not "0".
    report = home_cost(Settings.from_env(), since="1d")
    assert report.object_requests_note == NOT_CONFIGURED
    shown = CliRunner().invoke(app, ["cost", "--since", "1d"])
    assert shown.exit_code == 0 and "not counted" in " ".join(shown.output.split())
    # A location that holds no log: said, with what to check.
    empty = s3.bucket()
    monkeypatch.setenv("MARKET_SPINE_LAKE_ACCESS_LOG", f"s3://{empty}/access")
    report = home_cost(Settings.from_env(), since="1d")
    assert f"no access log lines under s3://{empty}/access" in report.object_requests_note
    assert home_cost(Settings.from_env(), since="1d").as_json()["object_requests_note"]
    # A bucket that does not exist: refused in one line naming it.
    monkeypatch.setenv("MARKET_SPINE_LAKE_ACCESS_LOG", "s3://no-such-logs-bucket/logs")
    with pytest.raises(InvalidInput, match="the bucket no-such-logs-bucket does not exist"):
        home_cost(Settings.from_env(), since="1d")
    refused = CliRunner().invoke(app, ["cost", "--since", "1d"])
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert "no-such-logs-bucket does not exist" in " ".join(refused.output.split())
