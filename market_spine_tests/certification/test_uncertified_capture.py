"""A read labels a partition with its ledger state only for rows of the captures that state
judged: rows of a newer capture, written by a run that stopped before certifying, are
preliminary, whatever the ledger says of the partition."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from ulid import ULID

from market_spine.client import BARS_1M, Spine
from market_spine.errors import NotCertified
from market_spine.futures.partitions import partition_key
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import domain_assets, resources
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 4)


@pytest.fixture(scope="module")
def overwritten(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """CL on DAY certified, then its minutes replaced by another capture's, never certified:
    what a run that died between its data commit and its certification leaves."""
    home = tmp_path_factory.mktemp("overwritten") / "home"
    settings = settings_for(home)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            domain_assets(settings, "futures"),
            partition_key=partition_key(DAY, "CL"),
            resources=resources(settings, MarketDataResource(frozen_now="2024-03-05T12:00:00Z")),
            instance=instance,
        )
        assert result.success
    lake = Spine(home).lake
    rows = lake.read(BARS_1M, equals={"symbol": "CL", "trade_date": DAY})
    assert Spine(home).bars("CL", DAY)["certification"].unique().to_list() == ["certified"]
    # The capture of a run that died after writing: taken after the certified one.
    crashed = str(ULID())
    lake.replace(
        BARS_1M,
        rows.with_columns(pl.lit(crashed).alias("capture_id"), pl.col("close") + 1),
        equals={"symbol": "CL", "trade_date": DAY},
        partition_by=lake.table(BARS_1M).metadata().partition_columns,
    )
    return home, crashed


def test_rows_of_a_capture_never_certified_are_preliminary(overwritten: tuple[Path, str]) -> None:
    home, crashed = overwritten
    bars = Spine(home).bars("CL", DAY)
    assert bars["capture_id"].unique().to_list() == [crashed]
    assert bars["certification"].unique().to_list() == ["preliminary"]


def test_certified_only_refuses_them_and_says_to_re_run_process(
    overwritten: tuple[Path, str],
) -> None:
    with pytest.raises(NotCertified, match=r"CL 2024-03-04 \(preliminary\).*process"):
        Spine(overwritten[0]).bars("CL", DAY, certified_only=True)


def test_the_api_marks_them_preliminary_and_refuses_them_certified_only(
    overwritten: tuple[Path, str],
) -> None:
    with serving(overwritten[0]) as client:
        read = client.get("/v1/bars", params={"symbol": "CL", "start": "2024-03-04"})
        assert read.headers["X-Certification"] == "preliminary"
        refused = client.get(
            "/v1/bars", params={"symbol": "CL", "start": "2024-03-04", "certified_only": "true"}
        )
        assert refused.status_code == 409
