"""`/readyz` is degraded (still ready) while the newest warehouse build failed, and says why; a
build that succeeds makes it plainly ready again."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from market_spine.api import load_status
from market_spine.runs.launch import materialize_options, materialize_warehouse
from market_spine.warehouse.assets import warehouse_dbt
from market_spine.warehouse.definitions import warehouse_resources
from market_spine.warehouse.translator import MINUTE_BARS_KEY
from market_spine_tests.kit.api import serving
from market_spine_tests.kit.homes import WEEK, home_with_instance, settings_for


def test_readyz_is_degraded_while_the_warehouse_build_failed(
    materialized_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(load_status, "TTL_S", 0.0)
    home = home_with_instance(materialized_home, tmp_path / "home", share_lake=False)
    shutil.copytree(materialized_home / "lake", home / "lake")
    settings = settings_for(home)
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home))
    assert materialize_options(settings, WEEK[1], WEEK[1], instance=instance) is not None
    with serving(home) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["warehouse"]["ok"] is True
        # The minute fact alone on a fresh warehouse fails: the views it reads do not exist yet.
        failed = dg.materialize(
            [warehouse_dbt],
            selection=[MINUTE_BARS_KEY],
            partition_key=WEEK[0].isoformat(),
            instance=instance,
            resources=warehouse_resources(settings),
            raise_on_error=False,
        )
        assert not failed.success
        r = client.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "degraded" and "warehouse" in r.json()["degraded"]
        detail = r.json()["checks"]["warehouse"]["detail"]
        assert f"run {failed.run_id[:8]}" in detail and "warehouse_dbt" in detail
        [repair] = materialize_warehouse(settings, instance=instance)
        assert repair.success, repair
        again = client.get("/readyz")
        assert again.json()["checks"]["warehouse"]["ok"] is True, again.text
        assert again.json()["status"] == "ready"
    instance.dispose()
