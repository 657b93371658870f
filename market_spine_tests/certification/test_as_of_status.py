"""A read `as_of` a version carries the certification that held at that version, not the
partition's state today."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from market_spine.client import BARS_1M, Spine
from market_spine.errors import NotCertified
from market_spine.futures.partitions import partition_key
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import domain_assets, resources
from market_spine_tests.kit.homes import settings_for

DAY = date(2024, 3, 4)


@pytest.fixture(scope="module")
def captured_twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, int]:
    """CL on DAY captured during its session (preliminary), then after its close (certified),
    then again a day later (certified anew); the home and the minute bars' versions after the
    first two captures."""
    home = tmp_path_factory.mktemp("captured-twice") / "home"
    settings = settings_for(home)
    versions = []
    with dg.instance_for_test() as instance:
        for now in ("2024-03-04T15:30:00Z", "2024-03-05T12:00:00Z", "2024-03-06T12:00:00Z"):
            result = dg.materialize(
                domain_assets(settings, "futures"),
                partition_key=partition_key(DAY, "CL"),
                resources=resources(settings, MarketDataResource(frozen_now=now)),
                instance=instance,
            )
            assert result.success
            versions.append(Spine(home).lake.version(BARS_1M))
    return home, versions[0], versions[1]


def test_a_version_read_before_certification_is_preliminary(captured_twice) -> None:
    home, during, _ = captured_twice
    spine = Spine(home)
    assert spine.bars("CL", DAY)["certification"].unique().to_list() == ["certified"]
    early = spine.bars("CL", DAY, as_of=during)
    assert early.height and early["certification"].unique().to_list() == ["preliminary"]
    with pytest.raises(NotCertified, match=r"CL 2024-03-04 \(preliminary\)"):
        spine.bars("CL", DAY, as_of=during, certified_only=True)


def test_the_certified_version_read_as_of_is_certified(captured_twice) -> None:
    home, _, after = captured_twice
    read = Spine(home).bars("CL", DAY, as_of=after, certified_only=True)
    assert read.height and read["certification"].unique().to_list() == ["certified"]
