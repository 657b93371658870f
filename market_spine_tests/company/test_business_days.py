"""A daily company dataset counts its days on the UTC calendar, as its rows' business dates
are: a row at 23:30 UTC belongs to that UTC day's partition, whose window is that UTC day, and
at 23:30 UTC no partition of the next day exists yet."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from dagster._core.definitions.partitions.context import partition_loading_context

from market_spine.company import sources
from market_spine.company.catalog import DEFS_FOLDER
from market_spine.company.config import FilesSource, load
from market_spine.company.partitions import business_days
from market_spine.company.tables import BUSINESS_DATE, with_business_date
from market_spine.errors import InvalidInput

ORDERS = load(DEFS_FOLDER / "orders" / "defs.yaml")
LATE = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)


def test_a_row_at_2330_utc_is_in_its_utc_days_partition() -> None:
    row = pl.DataFrame({"ordered_at": [LATE]})
    key = with_business_date(ORDERS, row)[BUSINESS_DATE][0].isoformat()
    days = business_days(ORDERS)
    assert key == "2026-11-26"
    window = days.time_window_for_partition_key(key)
    assert window.start <= LATE < window.end
    assert (window.start, window.end) == (
        datetime(2026, 11, 26, tzinfo=UTC),
        datetime(2026, 11, 27, tzinfo=UTC),
    )
    # At 23:30 UTC the UTC day in progress is the newest partition, not the next one.
    with partition_loading_context(effective_dt=LATE):
        assert days.get_last_partition_key() == "2026-11-26"


def test_a_row_of_the_next_utc_day_is_refused_at_2330_utc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "utc_today", lambda: date(2026, 11, 26))
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "o.csv").write_text(
        "tenant,order_id,client_id,ordered_at,amount,status\n"
        "acme,O1,C1,2026-11-26T23:30:00Z,1.0,open\n"
        "acme,O2,C1,2026-11-27T00:30:00+02:00,1.0,open\n"
        "acme,O3,C1,2026-11-27T00:10:00Z,1.0,open\n"
    )
    source = FilesSource(kind="files", path="drop", pattern="*.csv")
    with pytest.raises(InvalidInput) as caught:
        sources.fetch_files(ORDERS, source, tmp_path, set())
    said = str(caught.value)
    assert "1 of 3 rows" in said and "after today (2026-11-26)" in said
    assert "in data row(s) 3;" in said
