"""A home's first warehouse build reuses the project's partial parse, and a build after a
windowed one reuses the home's: the automation's builds of the models over a load alternate
with builds of the minute fact's window, and each window differs from the last. dbt would parse
the whole project again for every changed --vars; the window comes through the environment,
which re-parses only the models reading it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from market_spine.home import instance as home_instance
from market_spine.runs.launch import launch, materialize_warehouse
from market_spine.warehouse.assets import warehouse_dbt
from market_spine.warehouse.paths import dbt_target_path
from market_spine.warehouse.translator import MINUTE_BARS_KEY
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import DAY, run_days

NEXT_DAY = DAY + timedelta(days=1)

FULL_PARSE = "Unable to do partial parsing"


def _invocation(log: Path, which: int) -> list[str]:
    """The messages of one dbt invocation in the home's dbt.log (JSON lines): 0 the first,
    -1 the last."""
    entries = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    ids = list(dict.fromkeys(e["info"]["invocation_id"] for e in entries))
    return [e["info"]["msg"] for e in entries if e["info"]["invocation_id"] == ids[which]]


def _last_invocation(log: Path) -> list[str]:
    return _invocation(log, -1)


# Two dbt builds of the whole warehouse's first load.
@pytest.mark.timeout(900)
def test_a_build_without_the_minute_fact_reuses_the_windowed_builds_parse(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = settings_for(home)
    assert run_days(home, "CL", DAY).success
    log = dbt_target_path(home) / "dbt.log"
    with home_instance(settings) as instance:
        [windowed] = materialize_warehouse(settings, DAY, DAY, instance=instance)
        assert windowed.success, windowed
        # The home's first build reuses the project's parse, stamped with the home's profile.
        first = _invocation(log, 0)
        assert not [m for m in first if FULL_PARSE in m], first[:5]
        assert any("Partial parsing enabled" in m for m in first), first[:5]
        marts = sorted(
            (k for k in warehouse_dbt.keys if k.path[0] == "marts" and k != MINUTE_BARS_KEY),
            key=lambda k: k.to_user_string(),
        )
        models = launch(settings, marts[:1], instance=instance)
        assert models.success, models.failure
        after_models = _last_invocation(log)
        # Another day's window: only the models reading the window are parsed again.
        next_day = launch(
            settings,
            [MINUTE_BARS_KEY],
            instance=instance,
            partition_range=(NEXT_DAY.isoformat(), NEXT_DAY.isoformat()),
        )
        assert next_day.success, next_day.failure
    assert after_models, "dbt wrote no log for the models' build"
    assert not [m for m in after_models if FULL_PARSE in m], after_models[:5]
    windowed_again = _last_invocation(log)
    assert windowed_again != after_models, "dbt wrote no log for the second window's build"
    assert not [m for m in windowed_again if FULL_PARSE in m], windowed_again[:5]
    assert any(
        "Partial parsing: updated file" in m and "fct_futures_bars_1m" in m for m in windowed_again
    ), [m for m in windowed_again if "arti" in m]
