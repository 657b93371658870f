"""The certification travels with every read: a `certification` column on Spine's bars, the
`X-Certification` header on the API, and `certified_only` refusing data that is not certified."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from market_spine.client import Spine
from market_spine.errors import NotCertified
from market_spine.futures.partitions import partition_key
from market_spine.providers.resource import MarketDataResource
from market_spine.runs.launch import domain_assets, resources
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import settings_for

CLOSED, LIVE = date(2024, 3, 4), date(2024, 3, 5)


@pytest.fixture(scope="module")
def half_final(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """CL on 2024-03-04 captured after its close (certified), on 2024-03-05 during its session
    (preliminary)."""
    home = tmp_path_factory.mktemp("half-final") / "home"
    settings = settings_for(home)
    with dg.instance_for_test() as instance:
        for day, now in ((CLOSED, "2024-03-05T12:00:00Z"), (LIVE, "2024-03-05T15:30:00Z")):
            result = dg.materialize(
                domain_assets(settings, "futures"),
                partition_key=partition_key(day, "CL"),
                resources=resources(settings, MarketDataResource(frozen_now=now)),
                instance=instance,
            )
            assert result.success
    return home


def test_every_row_says_its_session_s_certification(half_final) -> None:
    spine = Spine(half_final)
    both = spine.bars("CL", CLOSED, LIVE)
    by_day = dict(both.select("trade_date", "certification").unique().iter_rows())
    assert by_day == {CLOSED: "certified", LIVE: "preliminary"}
    daily = spine.daily("CL", CLOSED, LIVE).sort("trade_date")
    assert daily["certification"].to_list() == ["certified", "preliminary"]


def test_certified_only_refuses_preliminary_sessions_and_names_them(half_final) -> None:
    spine = Spine(half_final)
    assert spine.bars("CL", CLOSED, certified_only=True).height > 1000
    with pytest.raises(NotCertified, match=r"CL 2024-03-05 \(preliminary\)"):
        spine.bars("CL", CLOSED, LIVE, certified_only=True)
    with pytest.raises(NotCertified, match="not certified"):
        spine.daily("CL", LIVE, certified_only=True)


def test_the_api_sends_the_read_s_certification(half_final) -> None:
    with serving(half_final) as client:
        closed = client.get("/v1/bars", params={"symbol": "CL", "start": "2024-03-04"})
        assert closed.status_code == 200 and closed.headers["X-Certification"] == "certified"
        assert set(r["certification"] for r in closed.json()["data"]) == {"certified"}
        live = client.get("/v1/bars/daily", params={"symbol": "CL", "start": "2024-03-05"})
        assert live.headers["X-Certification"] == "preliminary"
        both = {"symbol": "CL", "start": "2024-03-04", "end": "2024-03-05", "limit": 10}
        mixed = client.get("/v1/bars", params=both)
        assert mixed.headers["X-Certification"] == "mixed"  # the whole read, not the page
        refused = client.get("/v1/bars", params={**both, "certified_only": "true"})
        assert refused.status_code == 409 and refused.json()["field"] == "certified_only"
        assert "2024-03-05 (preliminary)" in refused.json()["error"]


def test_a_failed_partition_refused_names_its_failing_check_and_the_repair() -> None:
    import polars as pl

    from market_spine.certification.status import require_certified

    rows = pl.DataFrame(
        {"symbol": ["ES", "ES"], "trade_date": [CLOSED, LIVE]},
    ).with_columns(certification=pl.Series(["failed", "preliminary"]))
    reasons = {(CLOSED, "ES"): "certifying check failed: completeness"}
    with pytest.raises(NotCertified) as refused:
        require_certified(
            rows, "normalized/futures_bars_1m", ["symbol", "trade_date"], lambda: reasons
        )
    said = str(refused.value)
    assert f"ES {CLOSED} FAILED (certifying check failed: completeness)" in said
    assert f"`market-spine process --date {CLOSED} --symbols ES --domain futures`" in said
    assert f"`market-spine readiness --symbol ES --start {CLOSED} --end {CLOSED}`" in said
    # The preliminary day keeps its own advice; a failed day alone is never told to wait.
    assert "wait for it" in said
    failed_only = rows.head(1)
    with pytest.raises(NotCertified) as alone:
        require_certified(
            failed_only, "normalized/futures_bars_1m", ["symbol", "trade_date"], lambda: reasons
        )
    assert "wait" not in str(alone.value) and "clean capture" not in str(alone.value)
