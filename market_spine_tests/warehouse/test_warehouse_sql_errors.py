"""A warehouse query DuckDB cannot run is a clear error naming what can be queried, never a
bare DuckDB exception, and it is audited as failed."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from market_spine.audit.recorder import flush_all
from market_spine.audit.store import AuditStore
from market_spine.client import Spine
from market_spine.errors import InvalidInput
from market_spine.warehouse.paths import warehouse_path
from market_spine_tests.kit.homes import settings_for


def test_a_bad_warehouse_query_names_the_tables_and_is_audited_as_failed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    path = warehouse_path(home)
    path.parent.mkdir(parents=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.mart_readiness as select 'certified' as state")
    spine = Spine(settings=settings_for(home), warn_empty=False)
    with pytest.raises(InvalidInput) as raised:
        spine.warehouse_sql("select no_such_column from marts.mart_readiness")
    assert not isinstance(raised.value, duckdb.Error)
    message = str(raised.value)
    assert "no_such_column" in message and "marts.mart_readiness" in message
    assert spine.warehouse_sql("select state from marts.mart_readiness")["state"][0] == "certified"

    flush_all()
    store = AuditStore(home)
    try:
        rows = [r for chunk in store.rows(action="spine.warehouse_sql") for r in chunk]
    finally:
        store.close()
    assert [r[6] for r in rows] == ["failed", "ok"]
    assert "no_such_column" in json.loads(rows[0][5])["error"]
