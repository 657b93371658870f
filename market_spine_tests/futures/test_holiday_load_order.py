"""Sessions on both sides of a weekday holiday loaded later first: the earlier session's run
rebuilds the later one too (its series may change), in two blocks the holiday splits, and the
continuous datasets' checks judge each session on its own rows, once. Real runs through Dagster
into a real Delta lake, for each built-in root."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from market_spine.futures import keys
from market_spine.futures.partitions import partition_key
from market_spine.markets import calendars
from market_spine_tests.kit.homes import settings_for
from market_spine_tests.kit.run_homes import open_instance, run_days

#: The Wednesday before Thanksgiving 2026 and the Friday after it: no session between them.
EARLIER, LATER = date(2026, 11, 25), date(2026, 11, 27)
#: Each continuous dataset and the key it holds one row of.
CONTINUOUS = {
    keys.CONTINUOUS_BARS: ("series", "ts"),
    keys.CONTINUOUS_DAILY: ("series", "trade_date"),
}


def validity(home: Path, run_id: str, asset: dg.AssetKey) -> dict[str, dg.AssetCheckEvaluation]:
    """The run's validity evaluations of `asset`, by partition key."""
    with open_instance(home) as instance:
        records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
    found = [r.dagster_event.event_specific_data for r in records]
    return {e.partition: e for e in found if e.asset_key == asset and e.check_name == "validity"}


@pytest.mark.parametrize("symbol", ["CL", "NG", "ES"])
def test_an_earlier_session_loaded_after_one_past_a_holiday_passes_validity(
    home: Path, symbol: str
) -> None:
    assert calendars.trading_days(symbol, EARLIER, LATER) == [EARLIER, LATER]
    assert run_days(home, symbol, LATER).success
    later_first = run_days(home, symbol, EARLIER)
    assert later_first.success, later_first.failure
    assert later_first.failed_checks == ()
    lake = settings_for(home).lake()
    for asset, key in CONTINUOUS.items():
        judged = validity(home, later_first.run_id, asset)
        # The run judged the later session too: it was rebuilt beside the earlier one.
        assert set(judged) == {str(partition_key(d, symbol)) for d in (EARLIER, LATER)}
        for evaluation in judged.values():
            assert evaluation.passed, evaluation.metadata
            assert evaluation.metadata["duplicate_keys"].value == 0
        rows = lake.read(keys.table(asset), equals={"symbol": symbol})
        assert set(rows["trade_date"]) == {EARLIER, LATER}
        assert rows.filter(pl.struct(*key).is_duplicated()).is_empty()
