"""Cost on a lake in an S3 bucket (a real S3-compatible server in its own process): the bytes of
every table are counted from the bucket's objects, and `cost --record` writes the cost per day
into the bucket's lake, where Spine SQL reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from market_spine.catalog.registry import CATALOG
from market_spine.cli import app
from market_spine.client import Spine
from market_spine.home import instance as home_instance
from market_spine.operations.cost.prices import PRICES_FILE
from market_spine.operations.cost.storage import stored_bytes
from market_spine.operations.cost.table import COST_DAILY
from market_spine.settings import Settings
from market_spine_tests.kit.s3 import S3Server


def _objects(s3: S3Server, settings: Settings, dataset: str) -> dict[str, int]:
    """Each object of a table in the bucket, by key, with its size."""
    bucket, _, prefix = settings.lake_uri.removeprefix("s3://").partition("/")
    pages = s3.client().get_paginator("list_objects_v2")
    found: dict[str, int] = {}
    for page in pages.paginate(Bucket=bucket, Prefix=f"{prefix}/{dataset}/"):
        found.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return found


def test_cost_is_recorded_into_the_s3_lake_and_its_bytes_counted_there(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    env = s3.lake_env(home, s3.bucket())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(env)
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
    assert unused["subscription_usd"].to_list() == pytest.approx([1.0, 1.0])
    # The second refresh measured the table the first one wrote, in the bucket.
    assert recorded.filter(recorded["component"] == "operations")["storage_usd"].sum() > 0

    [cost] = [b for b in stored_bytes(lake, home, list(CATALOG)) if b.dataset == COST_DAILY]
    objects = _objects(s3, settings, COST_DAILY)
    assert cost.current > 0 and cost.kept > 0
    assert cost.total == sum(objects.values())
