"""Minutes the stream landed reach the warehouse whole: a root streamed before any run built its
session (ES here: no capture, no daily bar) gets its contract key in the minute fact, and the
build after streaming passes every dbt test."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import pytest

from market_spine.api.app import create_app
from market_spine.fakes.tws import FakeTWS, FakeTWSConfig
from market_spine.lake import Lake
from market_spine.lake.resource import LakeResource
from market_spine.providers.ib_connection import IBSettings
from market_spine.providers.ib_pacing import PacingRules
from market_spine.streaming.service import StreamConfig, Streamer
from market_spine.warehouse.assets import warehouse_dbt
from market_spine.warehouse.project import dbt_resource
from market_spine.warehouse.quality import check_results
from market_spine.warehouse.resource import WarehouseResource
from market_spine.warehouse.translator import MINUTE_BARS_KEY
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import futures_day

DAY = date(2024, 3, 5)
#: CL's session was captured at 15:30 UTC; the fake TWS streams CL and ES on from there.
STREAM_START = datetime(2024, 3, 5, 15, 30, tzinfo=UTC)


def _stream(home: Path, seconds: float) -> None:
    """Stream CL and ES from a fake TWS (a market minute per wall second) into `home`."""
    app = create_app(settings_for(home))
    with FakeTWS.running(FakeTWSConfig(start=STREAM_START, speed=60)) as tws:
        config = StreamConfig(
            ("CL", "ES"),
            IBSettings(tws.host, tws.port, client_id=41),
            flush_seconds=0.2,
            pacing=PacingRules().scaled(0.01),
        )
        streamer = Streamer(
            Lake(home / "lake"), config, hub=app.state.hub, clock=tws.server.clock.now
        )
        assert streamer.start() == {"CL": "CLJ4", "ES": "ESH4"}
        try:
            time.sleep(seconds)
        finally:
            streamer.stop()
    assert streamer.stats.minutes > 0


@pytest.mark.timeout(600)
def test_the_warehouse_built_after_streaming_keys_every_minute_and_passes_its_tests(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    settings = settings_for(home)
    resources = {
        "lake": LakeResource(root=str(home / "lake")),
        "dbt": dbt_resource(),
        "warehouse": WarehouseResource(home=str(home)),
    }
    with dg.instance_for_test() as instance:
        futures_day(settings, instance, DAY, "2024-03-05T15:30:00Z")
        _stream(home, 6)
        assert dg.materialize([check_results], instance=instance, resources=resources).success
        everything_else = [k for k in warehouse_dbt.keys if k != MINUTE_BARS_KEY]
        runs = [
            dg.materialize(
                [warehouse_dbt], selection=everything_else, instance=instance, resources=resources
            ),
            dg.materialize(
                [warehouse_dbt],
                selection=[MINUTE_BARS_KEY],
                instance=instance,
                resources=resources,
                partition_key=DAY.isoformat(),
                raise_on_error=False,
            ),
        ]
    failed = [e.check_name for r in runs for e in r.get_asset_check_evaluations() if not e.passed]
    assert failed == []
    assert all(r.success for r in runs)
    with WarehouseResource(home=str(home)).reading() as conn:
        keyed = conn.execute(
            "select split_part(bar_key, '|', 1) as root, count(*), "
            "count(distinct contract_instrument_key), min(contract_instrument_key) "
            "from marts.fct_futures_bars_1m group by 1 order by 1"
        ).fetchall()
    roots = {root: (rows, keys, key) for root, rows, keys, key in keyed}
    # ES's minutes are the stream's alone (no capture, no daily bar), and keyed all the same.
    assert roots["ES"][0] > 0 and roots["ES"][1:] == (1, "FUT:ESH2024")
    assert roots["CL"][1:] == (1, "FUT:CLJ2024")
